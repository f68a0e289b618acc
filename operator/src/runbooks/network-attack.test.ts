import { describe, expect, it } from 'vitest'
import type { AdminStatus } from '@echonet/node/admin'
import { NodeIdentity } from '@echonet/node/identity'
import type { DisasterAction } from '../api/v1alpha1/types.ts'
import { defencesFor, HOLD_POLL_MS, networkAttackRunbook, UNTIL_RESOLVED_MS } from './network-attack.ts'
import type { Effect, EffectOutcome, NodeView, Observation, RunbookState } from './types.ts'

/**
 * The NetworkAttack runbook as a pure function: (state, observation) → (state, effects), with the
 * effects' outcomes fed back through `record`. Nodes w0, w1, s0 (s0 unreachable at first).
 */

const T0 = Date.parse('2026-12-06T12:00:00Z')
const ATTACKER = NodeIdentity.fromSeed(new Uint8Array(32).fill(9)).did
const rb = networkAttackRunbook

const ACTIONS: DisasterAction[] = [
  {
    type: 'RateLimits',
    rateLimits: {
      perIp: { ratePerSecond: 10, burst: 20 },
      perDid: { ratePerSecond: 5, burst: 5 },
      durationSeconds: 600,
    },
  },
  { type: 'Blocklist', blocklist: { cidrs: ['203.0.113.0/24'], dids: [ATTACKER], durationSeconds: 300 } },
]

function node(name: string, reachable: boolean, ip = `10.0.0.${name.charCodeAt(1)}`): NodeView {
  return {
    node: name,
    role: name.startsWith('s') ? 'ssn' : 'witness',
    podExists: true,
    podReady: reachable,
    ip,
    ...(reachable ? { status: { epoch: 0, finalizedHeight: 50 } as unknown as AdminStatus } : {}),
  }
}

function obs(over: Partial<Observation> = {}): Observation {
  return {
    nowMs: T0,
    dryRun: false,
    actions: ACTIONS,
    nodes: [node('w0', true), node('w1', true), node('s0', false)],
    pools: [],
    stalledMs: 0,
    committee: undefined,
    council: undefined,
    registeredStandbys: [],
    committeeSize: undefined,
    auth: { mode: 'council' },
    manifestSignatures: [],
    resolveRequested: false,
    ...over,
  }
}

/** Runs one step and feeds every effect back as `answer` says; returns the state and the effects. */
function run(
  state: RunbookState,
  o: Observation,
  answer: (e: Effect) => EffectOutcome = () => ({ ok: true }),
): { state: RunbookState; effects: readonly Effect[]; requeue: number } {
  const r = rb.step(state, o)
  let s = r.next
  for (const e of r.effects) s = rb.record(s, e, answer(e), o.nowMs)
  return { state: s, effects: r.effects, requeue: r.requeueAfterMs }
}

describe('defencesFor', () => {
  it('maps the CRD actions to node limits and blocklist entries with their expiry', () => {
    const d = defencesFor(ACTIONS, T0, 'flood')
    expect(d.limits).toEqual({
      set: { httpPerIp: { ratePerSec: 10, burst: 20 }, eventsPerDid: { ratePerSec: 5, burst: 5 } },
      expiresAtMs: T0 + 600_000,
    })
    expect(d.blocklist).toEqual([
      { kind: 'ip', value: '203.0.113.0/24', expiresAtMs: T0 + 300_000, reason: 'flood' },
      { kind: 'did', value: ATTACKER, expiresAtMs: T0 + 300_000, reason: 'flood' },
    ])
  })

  it('without durationSeconds the defences hold until resolved (still with a bound the nodes enforce)', () => {
    const d = defencesFor([{ type: 'Blocklist', blocklist: { peerIds: ['12D3KooWabc'] } }], T0, 'x')
    expect(d.limits).toBeUndefined()
    expect(d.blocklist[0]).toMatchObject({ kind: 'peer', expiresAtMs: T0 + UNTIL_RESOLVED_MS })
  })
})

describe('NetworkAttack runbook', () => {
  it('pushes the defences to every node that answers, then holds: later nodes get them too, counts are read back', () => {
    let s = rb.initial(T0)
    let r = run(s, obs())
    s = r.state
    expect(s.phase).toBe('Executing')
    expect(s.steps.find((x) => x.name === 'Assess')?.phase).toBe('Succeeded')
    expect(s.runbook.survey?.map((x) => [x.node, x.reachable])).toEqual([
      ['w0', true],
      ['w1', true],
      ['s0', false],
    ])
    // Rate limits and a blocklist change nothing on the ledger.
    s = run(s, obs({ nowMs: T0 + 500 })).state
    expect(s.steps.find((x) => x.name === 'SubmitToLedger')?.phase).toBe('Skipped')

    // w1 refuses once (unreachable): w0 takes them, w1 is tried again.
    let refusedOnce = false
    r = run(s, obs({ nowMs: T0 + 1_000 }), (e) => {
      if (e.kind === 'applyDefences' && e.node === 'w1' && !refusedOnce) {
        refusedOnce = true
        return { ok: false, code: 'UNREACHABLE', message: 'connection refused' }
      }
      return { ok: true }
    })
    expect(r.effects.map((e) => e.kind === 'applyDefences' && e.node)).toEqual(['w0', 'w1'])
    s = r.state
    expect(s.runbook.defences?.applied).toEqual(['w0@10.0.0.48'])
    expect(s.runbook.defences?.limitsExpireAt).toBe('2026-12-06T12:10:01Z')
    r = run(s, obs({ nowMs: T0 + 2_000 }))
    expect(r.effects.map((e) => e.kind === 'applyDefences' && e.node)).toEqual(['w1'])
    s = r.state
    r = run(s, obs({ nowMs: T0 + 3_000 }))
    s = r.state
    expect(s.phase).toBe('Verifying')
    expect(r.effects.map((e) => e.kind)).toEqual(['event'])

    // s0 comes up (a new pod): it gets the defences; the counts are read from every reachable node.
    const all = [node('w0', true), node('w1', true), node('s0', true)]
    r = run(s, obs({ nowMs: T0 + 13_000, nodes: all }), (e) =>
      e.kind === 'readDefences' ? { ok: true, value: { throttled: 1234, blocked: 56, nodes: 3 } } : { ok: true },
    )
    expect(r.effects.map((e) => (e.kind === 'applyDefences' ? `apply ${e.node}` : e.kind))).toEqual([
      'apply s0',
      'readDefences',
    ])
    expect(r.requeue).toBe(HOLD_POLL_MS)
    s = r.state
    expect(s.runbook.defences).toMatchObject({ throttled: 1234, blocked: 56 })
    expect(s.runbook.defences?.message).toContain('3 nodes report 1234 throttled, 56 refused by the blocklist')

    // w0's pod is replaced (new IP): the new pod gets them, the old one leaves the record.
    const moved = [node('w0', true, '10.0.1.1'), node('w1', true), node('s0', true)]
    r = run(s, obs({ nowMs: T0 + 23_000, nodes: moved }))
    expect(r.effects.flatMap((e) => (e.kind === 'applyDefences' ? [e.ip] : []))).toEqual(['10.0.1.1'])
    s = r.state
    expect(s.runbook.defences?.applied).not.toContain('w0@10.0.0.48')

    // Past the last expiry (limits, 600 s after the first push) the declaration is Recovered.
    r = run(s, obs({ nowMs: T0 + 1_001_000, nodes: moved }))
    expect(r.state.phase).toBe('Recovered')
    expect(r.effects.map((e) => e.kind === 'event' && e.reason)).toEqual(['DefencesLapsed'])
  })

  it('resolved by people while in force: the defences are lifted from every node first', () => {
    let s = rb.initial(T0)
    for (let i = 0; i < 4; i++) s = run(s, obs({ nowMs: T0 + i * 1_000 })).state
    expect(s.phase).toBe('Verifying')
    const r = run(s, obs({ nowMs: T0 + 20_000, resolveRequested: true }))
    expect(r.effects.flatMap((e) => (e.kind === 'liftDefences' ? [e.node] : []))).toEqual(['w0', 'w1', 's0'])
    expect(r.state.phase).toBe('Recovered')
    expect(r.state.runbook.defences?.lifted).toBe(true)
  })

  it('a dry run pushes nothing and says what it would push', () => {
    const r = run(rb.initial(T0), obs({ dryRun: true }))
    expect(r.effects).toEqual([])
    expect(r.state.phase).toBe('Recovered')
    expect(r.state.runbook.touches?.[0]).toContain('would push to w0: limits httpPerIp 10/s burst 20')
  })

  it('waits while no node answers, without failing', () => {
    const r = run(rb.initial(T0), obs({ nodes: [node('w0', false)] }))
    expect(r.effects).toEqual([])
    expect(r.state.phase).toBe('Executing')
    expect(r.requeue).toBe(HOLD_POLL_MS)
  })

  it('SetParameters goes onto the ledger in the signed declaration before any defences are pushed', () => {
    const actions: DisasterAction[] = [
      { type: 'SetParameters', setParameters: { parameters: { newDidReputationWeight: 100 }, durationSeconds: 600 } },
      ...ACTIONS,
    ]
    let s = rb.initial(T0)
    s = run(s, obs({ actions })).state
    expect(s.runbook.ledger?.actions).toEqual(['set-params'])
    const r = run(s, obs({ actions, nowMs: T0 + 1_000 }))
    expect(r.effects.map((e) => e.kind)).toEqual(['submitDeclaration'])
  })
})
