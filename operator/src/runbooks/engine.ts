/**
 * Pure helpers every runbook uses to move its state: steps (phase, attempts, start and end,
 * what they did), the timeline, phase changes. The state is immutable: each helper returns a new
 * one, so `step` can be tested as a function of (state, observation).
 */
import type { DeclarationPhase } from '../api/v1alpha1/schema.ts'
import type { Effect, Observation, RunbookRecord, RunbookState, StepResult, StepStatus, SurveyEntry } from './types.ts'

/** Timeline and messages are bounded like the CRD fields that hold them. */
const MAX_TIMELINE = 512
const MAX_MESSAGE = 4096

export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function initialState(steps: readonly string[]): RunbookState {
  return {
    phase: 'Authorized',
    steps: steps.map((name) => ({ name, phase: 'Pending' })),
    timeline: [],
    runbook: {},
  }
}

export function currentStep(state: RunbookState): StepStatus | undefined {
  return state.steps.find((s) => s.phase === 'Pending' || s.phase === 'Running')
}

function clip(s: string): string {
  return s.length <= MAX_MESSAGE ? s : `${s.slice(0, MAX_MESSAGE - 1)}…`
}

function withStep(state: RunbookState, name: string, change: (s: StepStatus) => StepStatus): RunbookState {
  return { ...state, steps: state.steps.map((s) => (s.name === name ? change(s) : s)) }
}

export function note(state: RunbookState, nowMs: number, event: string): RunbookState {
  const timeline = [...state.timeline, { time: iso(nowMs), event: clip(event).slice(0, 1024) }]
  return { ...state, timeline: timeline.slice(-MAX_TIMELINE) }
}

/** Marks a step Running (once: its start time and the timeline entry are written the first time). */
export function startStep(state: RunbookState, name: string, nowMs: number, message?: string): RunbookState {
  const s = state.steps.find((x) => x.name === name)
  if (s === undefined || s.phase === 'Running') return state
  const started = withStep(state, name, (x) => ({
    ...x,
    phase: 'Running',
    startedAt: iso(nowMs),
    ...(message !== undefined ? { message: clip(message) } : {}),
  }))
  return note({ ...started, runbook: { ...started.runbook, step: name } }, nowMs, `${name}: started`)
}

/** Updates a running step's message (what it waits for); no timeline entry. */
export function progress(state: RunbookState, name: string, message: string): RunbookState {
  return withStep(state, name, (x) => (x.message === message ? x : { ...x, message: clip(message) }))
}

export function finishStep(
  state: RunbookState,
  name: string,
  nowMs: number,
  outcome: 'Succeeded' | 'Failed' | 'Skipped',
  message: string,
): RunbookState {
  const done = withStep(state, name, (x) => ({
    ...x,
    phase: outcome,
    message: clip(message),
    ...(x.startedAt === undefined ? { startedAt: iso(nowMs) } : {}),
    finishedAt: iso(nowMs),
  }))
  return note(done, nowMs, `${name}: ${outcome.toLowerCase()} — ${message}`)
}

export function setPhase(state: RunbookState, phase: DeclarationPhase, nowMs: number, why: string): RunbookState {
  if (state.phase === phase) return state
  return note({ ...state, phase }, nowMs, `phase ${phase}: ${why}`)
}

export function remember(state: RunbookState, patch: Partial<RunbookRecord>): RunbookState {
  return { ...state, runbook: { ...state.runbook, ...patch } }
}

/** Steps not started yet become Skipped (a failed or finished runbook leaves none Pending). */
export function skipRest(state: RunbookState, nowMs: number, why: string): RunbookState {
  let s = state
  for (const step of state.steps) if (step.phase === 'Pending') s = finishStep(s, step.name, nowMs, 'Skipped', why)
  return s
}

export function fail(state: RunbookState, step: string, nowMs: number, message: string): RunbookState {
  const failed = finishStep(state, step, nowMs, 'Failed', message)
  return setPhase(skipRest(failed, nowMs, `not run: ${step} failed`), 'Failed', nowMs, message)
}

/** Counts one more attempt of a running step (how often it retried an effect). */
export function attempt(state: RunbookState, name: string): RunbookState {
  return withStep(state, name, (x) => ({ ...x, attempts: (x.attempts ?? 0) + 1 }))
}

/** A step's result: the next state, the effects to carry out, and when to look again. */
export function result(next: RunbookState, effects: readonly Effect[] = [], requeueAfterMs = 0): StepResult {
  return { next, effects, requeueAfterMs }
}

/** A time the status holds (RFC 3339), as epoch ms. */
export function parseIso(t: string | undefined): number | undefined {
  return t === undefined ? undefined : Date.parse(t)
}

export type StepFn = (state: RunbookState, obs: Observation) => StepResult

/**
 * Runs the current step's function. A runbook in one of `done` phases does nothing; once every
 * step is finished, `whenFinished` decides (by default: nothing more to do).
 */
export function runStep(
  state: RunbookState,
  obs: Observation,
  fns: Readonly<Record<string, StepFn>>,
  done: readonly RunbookState['phase'][] = ['Resolved', 'Failed', 'Recovered'],
  whenFinished: StepFn = (s) => result(s),
): StepResult {
  if (done.includes(state.phase)) return result(state)
  const cur = currentStep(state)
  if (cur === undefined) return whenFinished(state, obs)
  const fn = fns[cur.name]
  return fn === undefined ? result(state) : fn(state, obs)
}

/** What each node reported when a runbook assessed the network (status.runbook.survey). */
export function surveyOf(obs: Observation): SurveyEntry[] {
  return obs.nodes.map((n) => ({
    node: n.node,
    ...(n.did !== undefined ? { did: n.did } : {}),
    role: n.role,
    reachable: n.ip !== undefined && n.status !== undefined,
    ...(n.status !== undefined
      ? { epoch: n.status.epoch, height: n.status.finalizedHeight, hash: n.status.finalizedHash }
      : {}),
  }))
}
