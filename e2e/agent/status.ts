// Pod status from the agent's view of its processes (pure): container statuses, phase (the
// kubelet's getPhase rules), conditions, and a fingerprint to write only when something changed.
import type { Condition, ContainerState, ContainerStatus, Pod, PodSpec, PodStatus } from './kube/types.ts'

/** RFC 3339 with second precision, as the API stores metav1.Time (so comparisons are stable). */
export function apiTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z')
}

export interface Termination {
  exitCode: number
  reason: string
  message?: string
  startedAt: number
  finishedAt: number
  containerID: string
}

export interface ContainerView {
  name: string
  image: string
  imageID: string
  restartCount: number
  running?: { startedAt: number; containerID: string }
  /** Set when not running: why (ContainerCreating, CrashLoopBackOff, ImageNotMapped, ...). */
  waiting?: { reason: string; message?: string }
  /** Most recent and the one before. */
  last?: Termination
  prev?: Termination
  started: boolean
  ready: boolean
}

function terminatedState(t: Termination): ContainerState {
  return {
    terminated: {
      exitCode: t.exitCode,
      reason: t.reason,
      ...(t.message === undefined ? {} : { message: t.message }),
      startedAt: apiTime(t.startedAt),
      finishedAt: apiTime(t.finishedAt),
      containerID: t.containerID,
    },
  }
}

export function containerStatus(v: ContainerView): ContainerStatus {
  let state: ContainerState
  let lastState: ContainerState = {}
  let containerID: string | undefined
  if (v.running !== undefined) {
    state = { running: { startedAt: apiTime(v.running.startedAt) } }
    containerID = v.running.containerID
    if (v.last !== undefined) lastState = terminatedState(v.last)
  } else if (v.waiting !== undefined) {
    state = {
      waiting: { reason: v.waiting.reason, ...(v.waiting.message === undefined ? {} : { message: v.waiting.message }) },
    }
    if (v.last !== undefined) lastState = terminatedState(v.last)
  } else if (v.last !== undefined) {
    state = terminatedState(v.last)
    containerID = v.last.containerID
    if (v.prev !== undefined) lastState = terminatedState(v.prev)
  } else {
    state = { waiting: { reason: 'ContainerCreating' } }
  }
  return {
    name: v.name,
    image: v.image,
    imageID: v.imageID,
    ...(containerID === undefined ? {} : { containerID }),
    ready: v.running !== undefined && v.ready,
    started: v.running !== undefined && v.started,
    restartCount: v.restartCount,
    state,
    lastState,
  }
}

type Phase = NonNullable<PodStatus['phase']>

/** Whether init containers are all done, still pending, or failed for good. */
export function initProgress(
  spec: Pick<PodSpec, 'initContainers' | 'restartPolicy'>,
  init: ContainerStatus[],
): 'done' | 'pending' | 'failed' {
  for (const c of spec.initContainers ?? []) {
    const s = init.find((x) => x.name === c.name)
    const t = s?.state.terminated
    if (t?.exitCode === 0) continue
    if (t !== undefined && (spec.restartPolicy ?? 'Always') === 'Never') return 'failed'
    return 'pending'
  }
  return 'done'
}

/** The kubelet's getPhase (without sidecar init containers). */
export function podPhase(
  spec: Pick<PodSpec, 'initContainers' | 'containers' | 'restartPolicy'>,
  init: ContainerStatus[],
  app: ContainerStatus[],
  podIsTerminal: boolean,
): Phase {
  const policy = spec.restartPolicy ?? 'Always'
  const progress = initProgress(spec, init)
  if (progress === 'failed') return 'Failed'
  let running = 0
  let waiting = 0
  let stopped = 0
  let succeeded = 0
  for (const c of spec.containers) {
    const s = app.find((x) => x.name === c.name)
    if (s === undefined) {
      waiting++
    } else if (s.state.running !== undefined) {
      running++
    } else if (s.state.terminated !== undefined) {
      stopped++
      if (s.state.terminated.exitCode === 0) succeeded++
    } else if (s.lastState.terminated !== undefined) {
      stopped++
    } else {
      waiting++
    }
  }
  if (progress === 'pending') return 'Pending'
  if (waiting > 0) return 'Pending'
  if (running > 0) return 'Running'
  if (stopped > 0) {
    if (podIsTerminal) return stopped === succeeded ? 'Succeeded' : 'Failed'
    if (policy === 'Always') return 'Running'
    if (stopped === succeeded) return 'Succeeded'
    if (policy === 'Never') return 'Failed'
    return 'Running'
  }
  return 'Pending'
}

function condition(
  type: string,
  ok: boolean,
  reason: string | undefined,
  message: string | undefined,
  prev: Condition[] | undefined,
  now: number,
): Condition {
  const status = ok ? 'True' : 'False'
  const old = prev?.find((c) => c.type === type)
  const lastTransitionTime =
    old?.status === status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : apiTime(now)
  return {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime,
    ...(ok || reason === undefined ? {} : { reason }),
    ...(ok || message === undefined ? {} : { message }),
  }
}

const names = (xs: string[]): string => `[${xs.join(' ')}]`

export interface PodStatusInput {
  pod: Pod
  podIP: string | undefined
  hostIP: string
  startTime: number
  init: ContainerView[]
  app: ContainerView[]
  /** All containers have stopped and will not run again (deletion, or terminal phase). */
  podIsTerminal: boolean
  now: number
}

export const agentConditionTypes = ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'] as const

export function computePodStatus(input: PodStatusInput): PodStatus {
  const { pod, now } = input
  const prev = pod.status?.conditions
  const init = input.init.map(containerStatus)
  const app = input.app.map(containerStatus)
  let phase = podPhase(pod.spec, init, app, input.podIsTerminal)
  // A terminal phase is final (the API rejects going back).
  const old = pod.status?.phase
  if ((old === 'Succeeded' || old === 'Failed') && phase !== old) phase = old
  const completed = phase === 'Succeeded' || phase === 'Failed'

  const progress = initProgress(pod.spec, init)
  const incompleteInit = (pod.spec.initContainers ?? [])
    .filter((c) => init.find((s) => s.name === c.name)?.state.terminated?.exitCode !== 0)
    .map((c) => c.name)
  const unready = app.filter((s) => !s.ready).map((s) => s.name)
  const gates = (pod.spec.readinessGates ?? []).map((g) => g.conditionType)
  const unmetGates = gates.filter((g) => prev?.find((c) => c.type === g)?.status !== 'True')

  const initialized = progress === 'done'
  const containersReady = unready.length === 0 && !completed
  const ready = containersReady && unmetGates.length === 0
  const notReadyReason = completed ? 'PodCompleted' : 'ContainersNotReady'
  const notReadyMessage = completed ? undefined : `containers with unready status: ${names(unready)}`

  const conditions: Condition[] = [
    condition('PodScheduled', true, undefined, undefined, prev, now),
    condition(
      'Initialized',
      initialized || completed,
      completed ? 'PodCompleted' : 'ContainersNotInitialized',
      completed ? undefined : `containers with incomplete status: ${names(incompleteInit)}`,
      prev,
      now,
    ),
    condition('ContainersReady', containersReady, notReadyReason, notReadyMessage, prev, now),
    condition(
      'Ready',
      ready,
      containersReady ? 'ReadinessGatesNotReady' : notReadyReason,
      containersReady
        ? `corresponding condition of pod readiness gate ${JSON.stringify(unmetGates[0])} does not exist or is not True`
        : notReadyMessage,
      prev,
      now,
    ),
  ]
  // Keep conditions owned by others (readiness gates, DisruptionTarget, ...).
  for (const c of prev ?? []) {
    if (!(agentConditionTypes as readonly string[]).includes(c.type)) conditions.push(c)
  }

  return {
    phase,
    conditions,
    hostIP: input.hostIP,
    hostIPs: [{ ip: input.hostIP }],
    ...(input.podIP === undefined ? {} : { podIP: input.podIP, podIPs: [{ ip: input.podIP }] }),
    startTime: apiTime(input.startTime),
    ...((pod.spec.initContainers ?? []).length === 0 ? {} : { initContainerStatuses: init }),
    containerStatuses: app,
  }
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k]
      if (x !== undefined && x !== null) out[k] = canonical(x)
    }
    return out
  }
  return v
}

/** Fingerprint of the status fields the agent manages; equal fingerprints → no write needed. */
export function statusFingerprint(s: PodStatus | undefined): string {
  if (s === undefined) return ''
  const pickState = (st: ContainerState | undefined): ContainerState => st ?? {}
  const pickContainer = (c: ContainerStatus): Partial<ContainerStatus> => ({
    name: c.name,
    image: c.image,
    imageID: c.imageID,
    containerID: c.containerID,
    ready: c.ready,
    started: c.started,
    restartCount: c.restartCount,
    state: pickState(c.state),
    lastState: pickState(c.lastState),
  })
  return JSON.stringify(
    canonical({
      phase: s.phase,
      conditions: (s.conditions ?? [])
        .filter((c) => (agentConditionTypes as readonly string[]).includes(c.type))
        .map((c) => ({
          type: c.type,
          status: c.status,
          reason: c.reason,
          message: c.message,
          lastTransitionTime: c.lastTransitionTime,
        }))
        .sort((a, b) => a.type.localeCompare(b.type)),
      hostIP: s.hostIP,
      podIP: s.podIP,
      startTime: s.startTime,
      initContainerStatuses: (s.initContainerStatuses ?? []).map(pickContainer),
      containerStatuses: (s.containerStatuses ?? []).map(pickContainer),
    }),
  )
}
