/**
 * `echonet-operator`: reads its configuration from the environment (the Helm chart's), runs the
 * manager, and exits when it loses leadership (as controller-runtime does: a restarted process
 * campaigns again with a fresh view) or on SIGTERM after a graceful shutdown.
 */
import { pino } from 'pino'
import { ConfigError, parseConfig } from './config.ts'
import type { OperatorConfig } from './config.ts'
import { buildOperator } from './operator.ts'

async function main(): Promise<void> {
  let config: OperatorConfig
  try {
    config = parseConfig(process.env)
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`echonet-operator: ${e.code}: ${e.message}\n`)
      process.exit(2)
    }
    throw e
  }
  const log = pino({ level: config.logLevel, base: { pod: config.podName } })
  const { manager } = buildOperator(config, log, {
    // Called once the controllers stopped after the Lease was lost.
    onLeadershipLost: () => {
      log.error('leadership lost; exiting so that a fresh process campaigns again')
      process.exit(1)
    },
  })
  manager.installSignalHandlers()
  await manager.start()
  void manager.waitForLeadership().then(() => log.info('leading; controllers started'))
  log.info(
    {
      watchNamespaces: config.watchNamespaces.length === 0 ? 'all' : config.watchNamespaces,
      nodeImage: config.nodeImage,
      leaderElection: config.leaderElection !== undefined,
      metricsPort: config.metricsPort,
      healthPort: config.healthPort,
    },
    'echonet-operator started',
  )
}

main().catch((err: unknown) => {
  process.stderr.write(`echonet-operator: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
