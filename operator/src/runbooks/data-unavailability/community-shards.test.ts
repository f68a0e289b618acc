import { describe, expect, it } from 'vitest'
import type { AdminStatus, ShardIntakeStatus } from '@echonet/node/admin'
import type { DisasterAction } from '../../api/v1alpha1/types.ts'
import { dataUnavailabilityRunbook } from '../data-unavailability.ts'
import type { Effect, EffectOutcome, NodeView, Observation, RunbookState } from '../types.ts'
import { MAX_OPEN_ATTEMPTS, MAX_WINDOW_MS, REOPEN_GRACE_MS } from './community-shards.ts'

/**
 * The AcceptCommunityShards step and the window it holds, as a pure function of what the nodes
 * report: a witness and three SSNs whose admin status carries their intake window and counters.
 */

const T0 = Date.parse('2026-12-07T12:00:00Z')
const HOUR = 3_600_000
const rb = dataUnavailabilityRunbook
const accept = (over: Partial<NonNullable<DisasterAction['acceptCommunityShards']>> = {}): DisasterAction => ({
  type: 'AcceptCommunityShards',
  acceptCommunityShards: { perIpPerMinute: 20, totalPerMinute: 500, matchReuploads: true, ...over },
})

interface Ssn {
  up?: boolean
  ip?: string
  open?: boolean
  accepted?: number
  rejected?: Record<string, number>
  reuploads?: number
  under?: number
}

function view(name: string, role: NodeView['role'], ip: string, x: Ssn): NodeView {
  const intake: ShardIntakeStatus = {
    open: x.open ?? false,
    accepted: x.accepted ?? 0,
    rejected: x.rejected ?? {},
  }
  const status = {
    did: `did:key:${name}`,
    peerId: `12D3Koo${name}`,
    finalizedHeight: 10,
    storage: role === 'ssn' ? { underReplicated: x.under ?? 0 } : undefined,
    governance: { eventFee: 1 },
    shardIntake: intake,
    content: { published: x.reuploads ?? 0, reuploadsMatched: x.reuploads ?? 0 },
  } as unknown as AdminStatus
  const up = x.up ?? true
  return { node: name, role, podExists: up, podReady: up, ...(up ? { ip, status } : {}) }
}

/** witness-1 and ssn-2..4; `ssns` overrides what each SSN reports. */
function net(ssns: Record<number, Ssn> = {}, witness: Ssn = {}): NodeView[] {
  return [
    view('witness-1', 'witness', '10.0.0.1', witness),
    ...[2, 3, 4].map((i) => view(`ssn-${i}`, 'ssn', ssns[i]?.ip ?? `10.0.0.${i}`, ssns[i] ?? {})),
  ]
}

function obs(nodes: NodeView[], actions: DisasterAction[], over: Partial<Observation> = {}): Observation {
  return {
    nowMs: T0,
    dryRun: false,
    actions,
    nodes,
    pools: [],
    stalledMs: 0,
    committee: undefined,
    council: undefined,
    registeredStandbys: [],
    committeeSize: undefined,
    auth: { mode: 'council' },
    manifestSignatures: [],
    resolveRequested: false,
    nonce: 7,
    expiresAtMs: T0 + 2 * HOUR,
    ...over,
  }
}

function run(
  state: RunbookState,
  o: Observation,
  answer: (e: Effect) => EffectOutcome = () => ({ ok: true }),
): { state: RunbookState; effects: readonly Effect[] } {
  const r = rb.step(state, o)
  let s = r.next
  for (const e of r.effects) s = rb.record(s, e, answer(e), o.nowMs)
  return { state: s, effects: r.effects.filter((e) => e.kind !== 'event') }
}

const phaseOf = (s: RunbookState, name: string) => s.steps.find((x) => x.name === name)?.phase
const cs = (s: RunbookState) => s.runbook.storage?.communityShards
const nodesOf = (effects: readonly Effect[], kind: Effect['kind']) =>
  effects.filter((e) => e.kind === kind).map((e) => (e as { node: string }).node)

/** Assess, then the three skipped steps: the runbook stands at AcceptCommunityShards. */
function atWindow(o: Observation): RunbookState {
  let s = rb.initial(T0)
  for (let i = 0; i < 4; i++) s = run(s, o).state
  expect(phaseOf(s, 'RepairPriority')).toBe('Skipped')
  return s
}

/** Opens the window on every SSN (the step's first reconcile), then the step succeeds. */
function opened(actions: DisasterAction[], ssns: Record<number, Ssn> = {}, witness: Ssn = {}): RunbookState {
  let s = atWindow(obs(net(ssns, witness), actions))
  s = run(s, obs(net(ssns, witness), actions)).state
  const open = Object.fromEntries([2, 3, 4].map((i) => [i, { ...ssns[i], open: true }]))
  s = run(s, obs(net(open, witness), actions, { nowMs: T0 + 1_000 })).state
  expect(phaseOf(s, 'AcceptCommunityShards')).toBe('Succeeded')
  return s
}

describe('the community-shard window of the DataUnavailability runbook', () => {
  it('opens a window on every SSN that answers, with the declared expiry and limits, and not on witnesses', () => {
    const actions = [accept({ durationSeconds: 1800 })]
    const s = atWindow(obs(net(), actions))
    const r = run(s, obs(net(), actions))
    expect(r.effects).toEqual(
      [2, 3, 4].map((i) => ({
        kind: 'openShardIntake',
        node: `ssn-${i}`,
        ip: `10.0.0.${i}`,
        window: {
          expiresAtMs: T0 + 1_800_000,
          perIpPerMinute: 20,
          totalPerMinute: 500,
          reason: 'DataUnavailability declaration: community shards (B.5)',
        },
      })),
    )
    expect(cs(r.state)).toMatchObject({
      openedAt: '2026-12-07T12:00:00Z',
      expiresAt: '2026-12-07T12:30:00Z',
      perIpPerMinute: 20,
      totalPerMinute: 500,
      openOn: ['ssn-2', 'ssn-3', 'ssn-4'],
    })
    // The nodes report it open: the step is done and opens nothing again.
    const open = { 2: { open: true }, 3: { open: true }, 4: { open: true } }
    const done = run(r.state, obs(net(open), actions, { nowMs: T0 + 1_000 }))
    expect(done.effects).toEqual([])
    expect(phaseOf(done.state, 'AcceptCommunityShards')).toBe('Succeeded')
  })

  it("lasts until the declaration's expiry without durationSeconds, and never past what the nodes accept", () => {
    const firstExpiry = (o: Partial<Observation>) => {
      const s = atWindow(obs(net(), [accept()], o))
      const e = run(s, obs(net(), [accept()], o)).effects[0]
      return e?.kind === 'openShardIntake' ? e.window.expiresAtMs : undefined
    }
    expect(firstExpiry({})).toBe(T0 + 2 * HOUR)
    expect(firstExpiry({ expiresAtMs: T0 + 30 * 24 * HOUR })).toBe(T0 + MAX_WINDOW_MS)
    expect(firstExpiry({ expiresAtMs: undefined })).toBe(T0 + MAX_WINDOW_MS)
    // A declaration about to expire opens nothing.
    const late = obs(net(), [accept()], { expiresAtMs: T0 + 10_000 })
    const s = run(atWindow(late), late)
    expect(s.effects).toEqual([])
    expect(phaseOf(s.state, 'AcceptCommunityShards')).toBe('Skipped')
  })

  it('does not hold Repair up: repair rounds run while the window is open, and a new SSN pod gets the window', () => {
    const actions = [accept()]
    let s = opened(actions, { 2: { under: 2 }, 3: { under: 2 }, 4: { under: 2 } })
    // ssn-4 was replaced: a new pod at a new IP that has no window.
    const ssns = { 2: { open: true, under: 2 }, 3: { open: true, under: 2 }, 4: { ip: '10.0.1.4', under: 2 } }
    const r = run(s, obs(net(ssns), actions, { nowMs: T0 + 2_000 }))
    expect(nodesOf(r.effects, 'storageRepair')).toEqual(['ssn-2', 'ssn-3', 'ssn-4'])
    expect(r.effects.find((e) => e.kind === 'openShardIntake')).toMatchObject({
      node: 'ssn-4',
      ip: '10.0.1.4',
      window: { expiresAtMs: T0 + 2 * HOUR, perIpPerMinute: 20, totalPerMinute: 500 },
    })
    s = r.state
    expect(phaseOf(s, 'Repair')).toBe('Running')
    expect(s.timeline.some((t) => t.event.includes('window opened on ssn-4 (10.0.1.4)'))).toBe(true)
    // Opened there now: not again while it reports the window open.
    const later = { ...ssns, 4: { ip: '10.0.1.4', open: true, under: 2 } }
    expect(nodesOf(run(s, obs(net(later), actions, { nowMs: T0 + 3_000 })).effects, 'openShardIntake')).toEqual([])
  })

  it('opens it again on an SSN that restarted (it reports the window closed well after it was opened)', () => {
    const actions = [accept()]
    const s = opened(actions)
    const ssns = { 2: { open: true }, 3: { open: false }, 4: { open: true } }
    // Right after opening a closed report may be the poller's older answer: not yet.
    expect(nodesOf(run(s, obs(net(ssns), actions, { nowMs: T0 + 2_000 })).effects, 'openShardIntake')).toEqual([])
    const late = run(s, obs(net(ssns), actions, { nowMs: T0 + REOPEN_GRACE_MS + 1 }))
    expect(nodesOf(late.effects, 'openShardIntake')).toEqual(['ssn-3'])
  })

  it('reports accepted and rejected shards by code, and matched re-uploads, counted since the window opened', () => {
    const actions = [accept()]
    // Before the window: a probe refused while closed, and a re-upload on the witness.
    let s = opened(actions, { 3: { rejected: { SHARD_INTAKE_CLOSED: 2 } } }, { reuploads: 1 })
    const ssns = {
      2: { open: true, accepted: 3, rejected: { SHARD_MISMATCH: 1 } },
      3: { open: true, accepted: 1, rejected: { SHARD_INTAKE_CLOSED: 2, SHARD_INTAKE_RATE_LIMITED: 4 } },
      4: { open: true },
    }
    s = run(s, obs(net(ssns, { reuploads: 2 }), actions, { nowMs: T0 + 5_000 })).state
    expect(cs(s)?.counts).toEqual({
      accepted: 4,
      rejected: { SHARD_MISMATCH: 1, SHARD_INTAKE_RATE_LIMITED: 4 },
      reuploadsMatched: 1,
    })
    expect(cs(s)?.message).toContain('4 shard(s) accepted, SHARD_INTAKE_RATE_LIMITED 4, SHARD_MISMATCH 1 rejected')
    // ssn-2 is replaced (its counters start again at 0 on the new pod): its counts are kept.
    const replaced = { ...ssns, 2: { ip: '10.0.1.2', accepted: 1 } }
    s = run(s, obs(net(replaced, { reuploads: 2 }), actions, { nowMs: T0 + 6_000 })).state
    expect(cs(s)?.counts).toMatchObject({ accepted: 5, rejected: { SHARD_MISMATCH: 1, SHARD_INTAKE_RATE_LIMITED: 4 } })
    // Without matchReuploads the re-uploads are not reported.
    const quiet = [accept({ matchReuploads: false })]
    expect(cs(run(s, obs(net(replaced, { reuploads: 5 }), quiet, { nowMs: T0 + 7_000 })).state)?.counts).toMatchObject({
      reuploadsMatched: 0,
    })
  })

  it('closes the window on every SSN when people resolve the declaration; the final counts stay and nothing opens again', () => {
    const actions = [accept()]
    let s = opened(actions)
    const ssns = { 2: { open: true, accepted: 2 }, 3: { open: true }, 4: { open: true } }
    const r = run(s, obs(net(ssns), actions, { nowMs: T0 + 10_000, resolveRequested: true }))
    expect(nodesOf(r.effects, 'closeShardIntake')).toEqual(['ssn-2', 'ssn-3', 'ssn-4'])
    s = r.state
    expect(cs(s)).toMatchObject({ closedAt: '2026-12-07T12:00:10Z', openOn: [], counts: { accepted: 2 } })
    expect(cs(s)?.message).toContain('closed on 3 SSN(s): resolved by people; 2 shard(s) accepted')
    // A new pod later gets nothing, and the counts no longer move.
    const after = { 2: { ip: '10.0.1.2', accepted: 9 }, 3: {}, 4: {} }
    const next = run(s, obs(net(after), actions, { nowMs: T0 + 20_000 }))
    expect(nodesOf(next.effects, 'openShardIntake')).toEqual([])
    expect(cs(next.state)?.counts?.accepted).toBe(2)
  })

  it('opens nothing more when people resolve the declaration while the window is still opening', () => {
    const actions = [accept()]
    let s = atWindow(obs(net(), actions))
    // ssn-3 does not answer its admin API yet: the step waits for it.
    s = run(s, obs(net(), actions), (e) =>
      e.kind === 'openShardIntake' && e.node === 'ssn-3'
        ? { ok: false, code: 'UNREACHABLE', message: 'refused' }
        : { ok: true },
    ).state
    const r = run(s, obs(net(), actions, { nowMs: T0 + 5_000, resolveRequested: true }))
    expect(nodesOf(r.effects, 'closeShardIntake')).toEqual(['ssn-2', 'ssn-3', 'ssn-4'])
    expect(nodesOf(r.effects, 'openShardIntake')).toEqual([])
    const next = run(r.state, obs(net(), actions, { nowMs: T0 + 10_000, resolveRequested: true }))
    expect(nodesOf(next.effects, 'openShardIntake')).toEqual([])
    expect(phaseOf(next.state, 'AcceptCommunityShards')).toBe('Succeeded')
    expect(phaseOf(next.state, 'Repair')).toBe('Pending')
  })

  it('closes the window when the runbook is Recovered, and lets it lapse on the nodes at its expiry', () => {
    const actions = [accept()]
    let s = opened(actions)
    const open = { 2: { open: true }, 3: { open: true }, 4: { open: true } }
    // One clean repair round, then Verifying → Recovered.
    s = run(s, obs(net(open), actions, { nowMs: T0 + 2_000 }), () => ({
      ok: true,
      value: { repaired: 0, underReplicated: 0, failed: 0 },
    })).state
    s = run(s, obs(net(open), actions, { nowMs: T0 + 3_000 })).state
    expect(phaseOf(s, 'Repair')).toBe('Succeeded')
    s = run(s, obs(net(open), actions, { nowMs: T0 + 4_000 })).state
    expect(s.phase).toBe('Verifying')
    expect(cs(s)?.closedAt).toBeUndefined()
    const end = run(s, obs(net(open), actions, { nowMs: T0 + 5_000 }))
    expect(end.state.phase).toBe('Recovered')
    expect(nodesOf(end.effects, 'closeShardIntake')).toEqual(['ssn-2', 'ssn-3', 'ssn-4'])

    // Another run whose repair outlasts the window: it lapses on the nodes, no DELETE needed.
    const short = [accept({ durationSeconds: 60 })]
    s = opened(short, { 2: { under: 1 }, 3: { under: 1 }, 4: { under: 1 } })
    const lapse = run(s, obs(net(open), short, { nowMs: T0 + 61_000 }))
    expect(nodesOf(lapse.effects, 'closeShardIntake')).toEqual([])
    expect(cs(lapse.state)).toMatchObject({ closedAt: '2026-12-07T12:01:00Z' })
    expect(cs(lapse.state)?.message).toContain('lapsed on the nodes at 2026-12-07T12:01:00Z')
  })

  it('retries an SSN that refuses, then fails with its code and closes the window where it opened', () => {
    const actions = [accept()]
    let s = atWindow(obs(net(), actions))
    const refuse = (e: Effect): EffectOutcome =>
      e.kind === 'openShardIntake' && e.node === 'ssn-3'
        ? { ok: false, code: 'INVALID_SHARD_INTAKE', message: 'expiresAtMs is not in the future' }
        : { ok: true }
    const ssns = { 2: { open: true }, 4: { open: true } }
    let closes: string[] = []
    for (let i = 0; i <= MAX_OPEN_ATTEMPTS && s.phase !== 'Failed'; i++) {
      const r = run(s, obs(net(i === 0 ? {} : ssns), actions, { nowMs: T0 + i * 5_000 }), refuse)
      if (i > 0) expect(nodesOf(r.effects, 'openShardIntake')).toEqual(r.state.phase === 'Failed' ? [] : ['ssn-3'])
      closes = nodesOf(r.effects, 'closeShardIntake')
      s = r.state
    }
    expect(s.phase).toBe('Failed')
    const step = s.steps.find((x) => x.name === 'AcceptCommunityShards')
    expect(step?.attempts).toBe(MAX_OPEN_ATTEMPTS)
    expect(step?.message).toContain('could not open the window on ssn-3: ssn-3 refused (INVALID_SHARD_INTAKE)')
    expect(phaseOf(s, 'Repair')).toBe('Skipped')
    expect(closes).toEqual(['ssn-2', 'ssn-3', 'ssn-4'])
  })

  it('a dry run opens nothing and says what it would open', () => {
    let s = rb.initial(T0)
    const effects: Effect[] = []
    for (let i = 0; i < 8; i++) {
      const r = run(s, obs(net(), [accept({ durationSeconds: 600 })], { dryRun: true }))
      effects.push(...r.effects)
      s = r.state
    }
    expect(effects).toEqual([])
    expect(s.phase).toBe('Recovered')
    expect(phaseOf(s, 'AcceptCommunityShards')).toBe('Skipped')
    expect(s.runbook.touches).toContain(
      'would open the community-shard window on ssn-2, ssn-3, ssn-4 until 2026-12-07T12:10:00Z (20 per IP, 500 in total per minute)',
    )
    expect(cs(s)).toBeUndefined()
  })
})
