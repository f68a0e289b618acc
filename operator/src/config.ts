import { randomUUID } from 'node:crypto'

/**
 * The operator's configuration, from the environment the Helm chart sets (templates/deployment.yaml).
 * Pure: `parseConfig(env)` either returns a complete config or throws a ConfigError naming the
 * variable, so a bad value stops the process at start instead of misbehaving later.
 */

export interface LeaderElectionConfig {
  readonly namespace: string
  readonly name: string
  readonly identity: string
  readonly leaseDurationMs: number
  readonly renewDeadlineMs: number
  readonly retryPeriodMs: number
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'

export interface OperatorConfig {
  /** Namespaces to watch; empty = all. */
  readonly watchNamespaces: readonly string[]
  /** The operator's own namespace (NetworkPolicy: who may reach the admin port). */
  readonly namespace: string
  readonly podName: string
  readonly nodeImage: string
  readonly leaderElection?: LeaderElectionConfig
  readonly metricsPort: number
  readonly healthPort: number
  /** Address the metrics and health servers bind (the agent gives each pod its own IP). */
  readonly bindAddress: string
  readonly logLevel: LogLevel
  /** How often each network's nodes are polled for status (ms). */
  readonly statusPollMs: number
  /** Heights alone (no condition change) are written to status at most this often (ms). */
  readonly heightRefreshMs: number
  /** How often every node's admin status is polled (outside the reconciles). */
  readonly nodePollMs: number
  /** A seed or SSN pod not ready this long is replaced with a fresh pod and volume. */
  readonly replaceNotReadyAfterMs: number
  /** A seed or SSN pod Terminating this long past its grace period (lost machine) is force-deleted. */
  readonly forceDeleteAfterMs: number
  readonly workers: number
}

export class ConfigError extends Error {
  readonly code = 'INVALID_CONFIG'
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/** A Go-style duration as the chart writes them ("15s", "500ms", "2m", "1m30s") → ms. */
export function parseDuration(name: string, text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y
  let total = 0
  let pos = 0
  if (text === '') throw new ConfigError(`${name}: empty duration`)
  while (pos < text.length) {
    re.lastIndex = pos
    const m = re.exec(text)
    if (m === null) throw new ConfigError(`${name}: "${text}" is not a duration (e.g. 15s, 500ms, 1m30s)`)
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h']
    total += Number(m[1]) * unit
    pos = re.lastIndex
  }
  return Math.round(total)
}

function port(name: string, text: string | undefined, dflt: number): number {
  if (text === undefined || text === '') return dflt
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`${name}: "${text}" is not a TCP port`)
  return n
}

function bool(name: string, text: string | undefined, dflt: boolean): boolean {
  if (text === undefined || text === '') return dflt
  if (text === 'true') return true
  if (text === 'false') return false
  throw new ConfigError(`${name}: expected true or false, got "${text}"`)
}

function positiveInt(name: string, text: string | undefined, dflt: number): number {
  if (text === undefined || text === '') return dflt
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${name}: "${text}" is not a positive integer`)
  return n
}

/**
 * `instanceId` makes the leader-election identity unique per process (controller-runtime's
 * hostname + "_" + uuid): a restarted container of the same pod must not inherit the Lease of the
 * process that died, or the other replica could never take over while the Lease is renewed.
 */
export function parseConfig(
  env: Readonly<Record<string, string | undefined>>,
  instanceId: string = randomUUID(),
): OperatorConfig {
  const podName = env.POD_NAME ?? 'echonet-operator'
  const namespace = env.POD_NAMESPACE ?? 'default'
  const watchNamespaces = (env.ECHONET_WATCH_NAMESPACES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  for (const ns of watchNamespaces)
    if (!DNS_LABEL.test(ns)) throw new ConfigError(`ECHONET_WATCH_NAMESPACES: "${ns}" is not a namespace name`)
  const nodeImage = env.ECHONET_NODE_IMAGE ?? ''
  if (nodeImage === '') throw new ConfigError('ECHONET_NODE_IMAGE: the default node image is required')
  const logLevel = (env.ECHONET_LOG_LEVEL ?? 'info') as LogLevel
  if (!LOG_LEVELS.includes(logLevel))
    throw new ConfigError(`ECHONET_LOG_LEVEL: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`)

  let leaderElection: LeaderElectionConfig | undefined
  if (bool('ECHONET_LEADER_ELECT', env.ECHONET_LEADER_ELECT, false)) {
    const le = {
      namespace: env.ECHONET_LEADER_ELECTION_NAMESPACE ?? namespace,
      name: env.ECHONET_LEADER_ELECTION_ID ?? 'echonet-operator',
      identity: `${podName}_${instanceId}`,
      leaseDurationMs: parseDuration('ECHONET_LEASE_DURATION', env.ECHONET_LEASE_DURATION ?? '15s'),
      renewDeadlineMs: parseDuration('ECHONET_RENEW_DEADLINE', env.ECHONET_RENEW_DEADLINE ?? '10s'),
      retryPeriodMs: parseDuration('ECHONET_RETRY_PERIOD', env.ECHONET_RETRY_PERIOD ?? '2s'),
    }
    if (!(le.retryPeriodMs < le.renewDeadlineMs && le.renewDeadlineMs < le.leaseDurationMs)) {
      throw new ConfigError(
        'leader election: need retryPeriod < renewDeadline < leaseDuration (ECHONET_RETRY_PERIOD, ECHONET_RENEW_DEADLINE, ECHONET_LEASE_DURATION)',
      )
    }
    leaderElection = le
  }
  const metricsPort = port('ECHONET_METRICS_PORT', env.ECHONET_METRICS_PORT, 8080)
  const healthPort = port('ECHONET_HEALTH_PORT', env.ECHONET_HEALTH_PORT, 8081)
  if (metricsPort === healthPort) throw new ConfigError('ECHONET_METRICS_PORT and ECHONET_HEALTH_PORT must differ')
  return {
    watchNamespaces,
    namespace,
    podName,
    nodeImage,
    ...(leaderElection !== undefined ? { leaderElection } : {}),
    metricsPort,
    healthPort,
    // POD_IP is set by the chart; binding it (not 0.0.0.0) lets pods share a host in the local tier.
    bindAddress: env.POD_IP !== undefined && env.POD_IP !== '' ? env.POD_IP : '0.0.0.0',
    logLevel,
    statusPollMs: parseDuration('ECHONET_STATUS_POLL', env.ECHONET_STATUS_POLL ?? '10s'),
    heightRefreshMs: parseDuration('ECHONET_HEIGHT_REFRESH', env.ECHONET_HEIGHT_REFRESH ?? '5m'),
    nodePollMs: parseDuration('ECHONET_NODE_POLL', env.ECHONET_NODE_POLL ?? '2s'),
    replaceNotReadyAfterMs: parseDuration(
      'ECHONET_REPLACE_NOT_READY_AFTER',
      env.ECHONET_REPLACE_NOT_READY_AFTER ?? '5m',
    ),
    forceDeleteAfterMs: parseDuration('ECHONET_FORCE_DELETE_AFTER', env.ECHONET_FORCE_DELETE_AFTER ?? '2m'),
    workers: positiveInt('ECHONET_WORKERS', env.ECHONET_WORKERS, 2),
  }
}
