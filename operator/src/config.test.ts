import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig, parseDuration } from './config.ts'

const base = { ECHONET_NODE_IMAGE: 'echonet/echonet-node:0.1.0' }

describe('operator configuration from the chart environment', () => {
  it('reads what the chart sets', () => {
    const c = parseConfig(
      {
        ...base,
        POD_NAME: 'op-1',
        POD_NAMESPACE: 'echonet-system',
        POD_IP: '127.1.0.5',
        ECHONET_WATCH_NAMESPACES: 'a, b',
        ECHONET_LEADER_ELECT: 'true',
        ECHONET_LEADER_ELECTION_ID: 'op-leader',
        ECHONET_LEASE_DURATION: '15s',
        ECHONET_RENEW_DEADLINE: '10s',
        ECHONET_RETRY_PERIOD: '2s',
        ECHONET_METRICS_PORT: '8080',
        ECHONET_HEALTH_PORT: '8081',
        ECHONET_LOG_LEVEL: 'debug',
      },
      'abc',
    )
    expect(c.watchNamespaces).toEqual(['a', 'b'])
    expect(c.leaderElection).toEqual({
      namespace: 'echonet-system',
      name: 'op-leader',
      identity: 'op-1_abc',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    })
    expect(c.bindAddress).toBe('127.1.0.5')
    expect(c.logLevel).toBe('debug')
  })

  it('defaults: all namespaces, no leader election, ports 8080/8081', () => {
    const c = parseConfig(base)
    expect(c.watchNamespaces).toEqual([])
    expect(c.leaderElection).toBeUndefined()
    expect([c.metricsPort, c.healthPort]).toEqual([8080, 8081])
    expect(c.bindAddress).toBe('0.0.0.0')
  })

  it.each([
    [{}, /ECHONET_NODE_IMAGE/],
    [{ ...base, ECHONET_METRICS_PORT: '70000' }, /ECHONET_METRICS_PORT/],
    [{ ...base, ECHONET_HEALTH_PORT: '8080' }, /must differ/],
    [{ ...base, ECHONET_LOG_LEVEL: 'loud' }, /ECHONET_LOG_LEVEL/],
    [{ ...base, ECHONET_WATCH_NAMESPACES: 'Bad_NS' }, /not a namespace/],
    [{ ...base, ECHONET_LEADER_ELECT: 'yes' }, /true or false/],
    [{ ...base, ECHONET_LEADER_ELECT: 'true', ECHONET_RENEW_DEADLINE: '20s' }, /retryPeriod < renewDeadline/],
    [{ ...base, ECHONET_LEADER_ELECT: 'true', ECHONET_LEASE_DURATION: 'soon' }, /not a duration/],
  ])('refuses %j with a ConfigError naming the variable', (env, msg) => {
    expect(() => parseConfig(env)).toThrow(ConfigError)
    expect(() => parseConfig(env)).toThrow(msg)
  })

  it('parses Go durations', () => {
    expect(parseDuration('x', '1m30s')).toBe(90_000)
    expect(parseDuration('x', '500ms')).toBe(500)
    expect(parseDuration('x', '1.5s')).toBe(1_500)
    expect(() => parseDuration('x', '10')).toThrow(/not a duration/)
    expect(() => parseDuration('x', '')).toThrow(/empty/)
  })
})
