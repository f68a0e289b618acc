import { describe, expect, it } from 'vitest'
import type { Pod } from './kube/types.ts'
import {
  apiTime,
  computePodStatus,
  containerStatus,
  podPhase,
  statusFingerprint,
  type ContainerView,
} from './status.ts'

const T0 = Date.parse('2026-01-01T00:00:00.000Z')

const view = (over: Partial<ContainerView> = {}): ContainerView => ({
  name: 'app',
  image: 'echonet/x',
  imageID: 'local-agent://echonet/x',
  restartCount: 0,
  started: false,
  ready: false,
  ...over,
})
const running = (over: Partial<ContainerView> = {}): ContainerView =>
  view({ running: { startedAt: T0, containerID: 'local-agent://1' }, started: true, ready: true, ...over })
const term = (exitCode: number) => ({
  exitCode,
  reason: exitCode === 0 ? 'Completed' : 'Error',
  startedAt: T0,
  finishedAt: T0 + 5000,
  containerID: 'c',
})

function pod(over: Partial<Pod['spec']> = {}, status?: Pod['status']): Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: { containers: [{ name: 'app' }], ...over },
    ...(status === undefined ? {} : { status }),
  }
}

describe('apiTime', () => {
  it('has second precision', () => {
    expect(apiTime(T0 + 999)).toBe('2026-01-01T00:00:00Z')
  })
})

describe('containerStatus', () => {
  it('running with the previous termination as lastState', () => {
    const s = containerStatus(running({ restartCount: 1, last: term(137) }))
    expect(s.state).toEqual({ running: { startedAt: '2026-01-01T00:00:00Z' } })
    expect(s.lastState.terminated?.exitCode).toBe(137)
    expect(s.ready).toBe(true)
    expect(s.containerID).toBe('local-agent://1')
  })
  it('waiting (CrashLoopBackOff) keeps the termination in lastState', () => {
    const s = containerStatus(view({ waiting: { reason: 'CrashLoopBackOff', message: 'm' }, last: term(1) }))
    expect(s.state).toEqual({ waiting: { reason: 'CrashLoopBackOff', message: 'm' } })
    expect(s.lastState.terminated?.reason).toBe('Error')
    expect(s.ready).toBe(false)
  })
  it('terminated for good shows the one before as lastState', () => {
    const s = containerStatus(view({ last: term(0), prev: term(1) }))
    expect(s.state.terminated?.reason).toBe('Completed')
    expect(s.lastState.terminated?.exitCode).toBe(1)
  })
  it('nothing yet: ContainerCreating', () => {
    expect(containerStatus(view()).state).toEqual({ waiting: { reason: 'ContainerCreating' } })
  })
})

describe('podPhase', () => {
  const st = (v: ContainerView) => containerStatus(v)
  it.each([
    ['Always', [running()], false, 'Running'],
    ['Always', [view({ waiting: { reason: 'ImageNotMapped' } })], false, 'Pending'],
    ['Always', [view({ waiting: { reason: 'CrashLoopBackOff' }, last: term(1) })], false, 'Running'],
    ['Always', [view({ last: term(0) })], false, 'Running'],
    ['Always', [view({ last: term(0) })], true, 'Succeeded'],
    ['Always', [view({ last: term(143) })], true, 'Failed'],
    ['Never', [view({ last: term(0) })], false, 'Succeeded'],
    ['Never', [view({ last: term(3) })], false, 'Failed'],
    ['OnFailure', [view({ last: term(0) })], false, 'Succeeded'],
    ['OnFailure', [view({ waiting: { reason: 'CrashLoopBackOff' }, last: term(3) })], false, 'Running'],
  ] as const)('policy %s %j terminal=%s → %s', (restartPolicy, views, terminal, want) => {
    expect(podPhase({ containers: [{ name: 'app' }], restartPolicy }, [], views.map(st), terminal)).toBe(want)
  })

  it('init containers: pending until all succeeded; failed with Never', () => {
    const spec = { containers: [{ name: 'app' }], initContainers: [{ name: 'i1' }, { name: 'i2' }] }
    const ok = st(view({ name: 'i1', last: term(0) }))
    const bad = st(view({ name: 'i2', last: term(1) }))
    const runningInit = st(running({ name: 'i2' }))
    expect(podPhase(spec, [ok, runningInit], [], false)).toBe('Pending')
    expect(podPhase({ ...spec, restartPolicy: 'Never' }, [ok, bad], [], false)).toBe('Failed')
    expect(podPhase({ ...spec, restartPolicy: 'Always' }, [ok, bad], [], false)).toBe('Pending')
    expect(podPhase(spec, [ok, st(view({ name: 'i2', last: term(0) }))], [st(running())], false)).toBe('Running')
  })
})

describe('computePodStatus', () => {
  const input = (p: Pod, app: ContainerView[], now = T0 + 10_000) => ({
    pod: p,
    podIP: '127.1.0.7',
    hostIP: '127.0.0.1',
    startTime: T0,
    init: [],
    app,
    podIsTerminal: false,
    now,
  })

  it('ready pod', () => {
    const s = computePodStatus(input(pod(), [running()]))
    expect(s.phase).toBe('Running')
    expect(s.podIP).toBe('127.1.0.7')
    expect(s.podIPs).toEqual([{ ip: '127.1.0.7' }])
    expect(s.hostIP).toBe('127.0.0.1')
    expect(s.startTime).toBe('2026-01-01T00:00:00Z')
    expect(Object.fromEntries((s.conditions ?? []).map((c) => [c.type, c.status]))).toEqual({
      PodScheduled: 'True',
      Initialized: 'True',
      ContainersReady: 'True',
      Ready: 'True',
    })
  })

  it('not ready: reason and message; transition time kept while unchanged', () => {
    const s1 = computePodStatus(input(pod(), [running({ ready: false })], T0 + 1000))
    const ready = s1.conditions?.find((c) => c.type === 'Ready')
    expect(ready).toMatchObject({
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [app]',
    })
    const s2 = computePodStatus(input(pod({}, s1), [running({ ready: false })], T0 + 60_000))
    expect(s2.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe(ready?.lastTransitionTime)
    expect(statusFingerprint(s2)).toBe(statusFingerprint(s1))
    const s3 = computePodStatus(input(pod({}, s2), [running()], T0 + 61_000))
    expect(s3.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime).toBe('2026-01-01T00:01:01Z')
    expect(statusFingerprint(s3)).not.toBe(statusFingerprint(s2))
  })

  it('readiness gates hold Ready back; foreign conditions are kept', () => {
    const p = pod(
      { readinessGates: [{ conditionType: 'example.com/gate' }] },
      {
        conditions: [{ type: 'DisruptionTarget', status: 'True' }],
      },
    )
    const s = computePodStatus(input(p, [running()]))
    expect(s.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ReadinessGatesNotReady',
    })
    expect(s.conditions?.find((c) => c.type === 'DisruptionTarget')?.status).toBe('True')
    const gated = pod(p.spec, { conditions: [{ type: 'example.com/gate', status: 'True' }] })
    expect(computePodStatus(input(gated, [running()])).conditions?.find((c) => c.type === 'Ready')?.status).toBe('True')
  })

  it('a terminal phase sticks', () => {
    const s = computePodStatus(input(pod({ restartPolicy: 'Never' }, { phase: 'Failed' }), [view({ last: term(0) })]))
    expect(s.phase).toBe('Failed')
    expect(s.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('PodCompleted')
  })

  it('fingerprint ignores fields the agent does not manage', () => {
    const s = computePodStatus(input(pod(), [running()]))
    expect(statusFingerprint({ ...s, qosClass: 'BestEffort' } as typeof s)).toBe(statusFingerprint(s))
    expect(statusFingerprint({ ...s, podIP: '127.1.0.8' })).not.toBe(statusFingerprint(s))
  })
})
