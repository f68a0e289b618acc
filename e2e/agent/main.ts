// EchoNet local node agent — a development/CI stand-in for the kubelet (DESIGN §7, tier 3).
// See e2e/agent/README.md. Not for production.
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent } from './agent.ts'
import { parseFlags, usage } from './flags.ts'
import { KubeClient } from './kube/client.ts'
import { createLogger } from './log.ts'
import { parseQuantity } from './quantity.ts'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), process.env, {
    repoRoot,
    cpus: os.availableParallelism(),
    totalMemBytes: os.totalmem(),
  })
  if (flags.help) {
    process.stdout.write(usage + '\n')
    return
  }
  parseQuantity(flags.memory)
  const log = createLogger(flags.logLevel, { node: flags.nodeName })
  const client = await KubeClient.load(flags.kubeconfig, `echonet-local-agent/${flags.nodeName}`)
  const agent = new Agent(
    client,
    {
      nodeName: flags.nodeName,
      stateDir: flags.stateDir,
      imagesFile: flags.imagesFile,
      ...(flags.imageDir === undefined ? {} : { imageDir: flags.imageDir }),
      repoRoot,
      podCIDR: flags.podCIDR,
      podNetwork: flags.podNetwork,
      capacity: { cpu: flags.cpu, memory: flags.memory, pods: flags.maxPods },
      apiHost: flags.apiHost ?? client.host,
      apiPort: client.port,
      provisioner: flags.provisioner,
      kubeletPort: flags.kubeletPort,
      nodeLabels: flags.nodeLabels,
    },
    log,
  )

  let stopping = false
  const stop = (keepPods: boolean) => (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    log.info('stopping', { signal, keepPods })
    agent.stop(keepPods).then(
      () => {
        log.info('stopped')
        process.exit(0)
      },
      (err: unknown) => {
        log.error('stop failed', { err })
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', stop(false))
  process.on('SIGINT', stop(false))
  process.on('SIGUSR2', stop(true))

  log.info('starting', {
    kubeconfig: flags.kubeconfig,
    stateDir: flags.stateDir,
    images: flags.imagesFile,
    imageDir: flags.imageDir ?? '(host processes)',
    podNetwork: flags.podNetwork,
    api: `${client.host}:${client.port}`,
  })
  await agent.start()
}

main().catch((err: unknown) => {
  process.stderr.write(`local agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
