/**
 * Prints the chart's example network (charts/echonet-operator/examples/network.yaml) with `n`
 * funded testnet accounts added to its genesis, so that `make up`'s drill can submit events.
 * The accounts' keys are public (testnetAccount): never use this on a real network.
 *
 *   node e2e/cluster/demo-network.ts [n=16] | kubectl apply -n echonet-demo -f -
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import yaml from 'js-yaml'
import { testnetAccount } from '../../node-image/src/cli/testnet.ts'

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const n = Number(process.argv[2] ?? '16')
if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`account count must be 1..1000, got ${process.argv[2]}`)
const docs = yaml.loadAll(readFileSync(join(REPO, 'charts/echonet-operator/examples/network.yaml'), 'utf8')) as {
  kind?: string
  spec?: { genesis?: { accounts?: { did: string; balance: number }[] } }
}[]
const network = docs.find((d) => d.kind === 'EchoNetNetwork')
if (network?.spec?.genesis === undefined) throw new Error('the example has no EchoNetNetwork with a genesis')
network.spec.genesis.accounts = Array.from({ length: n }, (_, i) => ({
  did: testnetAccount(i).did,
  balance: 1_000_000_000,
}))
process.stdout.write(docs.map((d) => yaml.dump(d)).join('---\n'))
