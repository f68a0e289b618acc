/**
 * The attacker of bench/attack.ts in its own process, so that the flood does not share an event
 * loop with the honest load generator it is measured against. Argument: the flood's options as
 * JSON (account indexes instead of keys). Prints READY once its events are signed, then the report
 * as one JSON line.
 */
import { runFlood } from '../src/cli/flood.ts'
import { testnetAccount } from '../src/cli/testnet.ts'

const o = JSON.parse(process.argv[2] ?? '{}') as {
  chainId: string
  api: string
  sourceIp: string
  attacker: number
  to: number
  firstNonce: number
  eventsPerSecond: number
  seconds: number
  batch: number
}
const report = await runFlood({
  chainId: o.chainId,
  api: o.api,
  sourceIp: o.sourceIp,
  attacker: testnetAccount(o.attacker),
  to: testnetAccount(o.to).did,
  firstNonce: o.firstNonce,
  eventsPerSecond: o.eventsPerSecond,
  seconds: o.seconds,
  batch: o.batch,
  onSigned: () => console.log('READY'),
})
console.log(JSON.stringify(report))
