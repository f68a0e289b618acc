import { describe, expect, it } from 'vitest'
import { desiredNodeStatus, microTime, nodeLabels, nodeStatusFingerprint, nodeStatusNeedsWrite } from './node.ts'

const cfg = {
  name: 'local-agent-0',
  podCIDR: '127.1.0.0/16',
  capacity: { cpu: '2', memory: '24576000Ki', pods: '110' },
  hostIP: '127.0.0.1',
  kubeletPort: 10250,
  kubeletVersion: 'v1.33.13',
}
const T0 = Date.parse('2026-01-01T00:00:00Z')

describe('node', () => {
  it('labels', () => {
    expect(nodeLabels(cfg)).toMatchObject({
      'kubernetes.io/hostname': 'local-agent-0',
      'echonet.io/local-agent': 'true',
    })
  })

  it('status: Ready and capacity', () => {
    const s = desiredNodeStatus(cfg, undefined, T0)
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'True',
      lastHeartbeatTime: '2026-01-01T00:00:00Z',
    })
    expect(s.allocatable).toEqual(cfg.capacity)
    expect(s.addresses).toEqual([{ type: 'InternalIP', address: '127.0.0.1' }])
    expect(s.daemonEndpoints).toEqual({ kubeletEndpoint: { Port: 10250 } })
  })

  it('writes only on change or after the report interval', () => {
    const written = desiredNodeStatus(cfg, undefined, T0)
    const fiveMin = 300_000
    expect(nodeStatusNeedsWrite(undefined, written, T0, fiveMin)).toBe(true)
    const later = desiredNodeStatus(cfg, written, T0 + 60_000)
    expect(nodeStatusNeedsWrite(written, later, T0 + 60_000, fiveMin)).toBe(false)
    expect(later.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('2026-01-01T00:00:00Z')
    expect(nodeStatusNeedsWrite(written, desiredNodeStatus(cfg, written, T0 + fiveMin), T0 + fiveMin, fiveMin)).toBe(
      true,
    )
    // The node controller marked it Unknown while the agent was down → write at once.
    const unknown = {
      ...written,
      conditions: written.conditions?.map((c) => (c.type === 'Ready' ? { ...c, status: 'Unknown' as const } : c)),
    }
    expect(nodeStatusNeedsWrite(unknown, later, T0 + 60_000, fiveMin)).toBe(true)
  })

  it('compares quantities by value and ignores foreign conditions', () => {
    const s = desiredNodeStatus(cfg, undefined, T0)
    const canonical = {
      ...s,
      capacity: { ...s.capacity, memory: '24000Mi' },
      allocatable: { ...s.allocatable, memory: '24000Mi' },
      conditions: [...(s.conditions ?? []), { type: 'NetworkUnavailable', status: 'False' as const }],
    }
    expect(nodeStatusFingerprint(canonical)).toBe(nodeStatusFingerprint(s))
  })

  it('MicroTime has six fractional digits', () => {
    expect(microTime(T0 + 123)).toBe('2026-01-01T00:00:00.123000Z')
  })
})
