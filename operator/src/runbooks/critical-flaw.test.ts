import { describe, expect, it } from 'vitest'
import type { AdminStatus } from '@echonet/node/admin'
import type { DisasterAction } from '../api/v1alpha1/types.ts'
import { criticalFlawRunbook, MAX_SUBMISSIONS, RESUBMIT_MS, upgradedPower } from './critical-flaw.ts'
import type { Effect, EffectOutcome, NodeView, Observation, RunbookState } from './types.ts'

/**
 * The CriticalFlaw runbook as a pure function: (state, observation) → (state, effects), with the
 * effects' outcomes fed back through `record`. Four witnesses of power 1; what the nodes report
 * (the declaration in force, their build) is what the steps wait on.
 */

const T0 = Date.parse('2026-12-07T12:00:00Z')
const NEW = `sha256:${'b'.repeat(64)}`
const OLD = `sha256:${'a'.repeat(64)}`
const rb = criticalFlawRunbook

const UPGRADE: DisasterAction = {
  type: 'ScheduledUpgrade',
  scheduledUpgrade: {
    image: 'echonet/echonet-node:0.2.0',
    height: 100,
    binaryDigest: NEW,
    minVersion: '0.2.0',
    minUpgradedPowerPercent: 67,
  },
}
const PAUSE: DisasterAction = { type: 'PauseModules', pauseModules: { modules: ['payouts'], durationSeconds: 600 } }

interface NodeSpec {
  height: number
  digest?: string
  inForce?: boolean
  haltCode?: AdminStatus['haltCode']
}

function node(i: number, n: NodeSpec): NodeView {
  const status = {
    did: `did:key:w${i}`,
    epoch: 0,
    finalizedHeight: n.height,
    version: n.digest === NEW ? '0.2.0' : '0.1.0',
    binaryDigest: n.digest ?? OLD,
    ...(n.haltCode !== undefined ? { mode: 'halted', haltCode: n.haltCode } : { mode: 'running' }),
    governance: {
      eventFee: 3,
      ...(n.inForce === true ? { emergency: { declared: { authorizedBy: 'd7' }, pauses: [] } } : {}),
    },
  } as unknown as AdminStatus
  return { node: `w${i}`, role: 'witness', podExists: true, podReady: true, ip: `10.0.0.${i}`, status }
}

function obs(nodes: NodeSpec[], actions: DisasterAction[], over: Partial<Observation> = {}): Observation {
  const height = Math.max(...nodes.map((n) => n.height))
  return {
    nowMs: T0,
    dryRun: false,
    actions,
    nodes: nodes.map((n, i) => node(i, n)),
    pools: [],
    stalledMs: 0,
    committee: {
      epoch: 0,
      height,
      members: nodes.map((_, i) => ({ did: `did:key:w${i}`, power: 1, online: true })),
      totalPower: nodes.length,
      powerNeeded: 3,
      powerOnline: nodes.length,
    },
    council: undefined,
    registeredStandbys: [],
    committeeSize: undefined,
    auth: { mode: 'council' },
    manifestSignatures: [],
    resolveRequested: false,
    nonce: 7,
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
  return { state: s, effects: r.effects }
}

const four = (n: NodeSpec): NodeSpec[] => [n, n, n, n]
const stepPhase = (s: RunbookState, name: string) => s.steps.find((x) => x.name === name)?.phase

describe('the CriticalFlaw runbook', () => {
  it('sends the signed declaration to the ledger once, waits until the nodes report it in force, then finishes through Verifying', () => {
    let s = rb.initial(T0)
    s = run(s, obs(four({ height: 10 }), [PAUSE])).state
    expect(stepPhase(s, 'Assess')).toBe('Succeeded')
    expect(s.runbook.ledger?.actions).toEqual(['pause-module payouts'])
    const sent = run(s, obs(four({ height: 10 }), [PAUSE]))
    expect(sent.effects).toEqual([{ kind: 'submitDeclaration', node: 'w0', ip: '10.0.0.0', fee: 3 }])
    s = sent.state
    // Not yet in force and not long ago: no second submission.
    expect(run(s, obs(four({ height: 11 }), [PAUSE], { nowMs: T0 + 1_000 })).effects).toEqual([])
    s = run(s, obs(four({ height: 12, inForce: true }), [PAUSE], { nowMs: T0 + 2_000 })).state
    expect(stepPhase(s, 'SubmitToLedger')).toBe('Succeeded')
    expect(s.runbook.ledger?.appliedAtHeight).toBe(12)
    s = run(s, obs(four({ height: 12, inForce: true }), [PAUSE], { nowMs: T0 + 3_000 })).state
    expect(stepPhase(s, 'RollOut')).toBe('Skipped')
    expect(s.phase).toBe('Executing')
    s = run(s, obs(four({ height: 13, inForce: true }), [PAUSE], { nowMs: T0 + 4_000 })).state
    expect(s.phase).toBe('Verifying')
    s = run(s, obs(four({ height: 13, inForce: true }), [PAUSE], { nowMs: T0 + 5_000 })).state
    expect(s.phase).toBe('Recovered')
  })

  it('resends after RESUBMIT_MS and fails after MAX_SUBMISSIONS when no node reports it in force (the nodes refused it)', () => {
    let s = rb.initial(T0)
    s = run(s, obs(four({ height: 10 }), [PAUSE])).state
    let sends = 0
    for (let i = 0; i <= MAX_SUBMISSIONS; i++) {
      const r = run(s, obs(four({ height: 10 }), [PAUSE], { nowMs: T0 + i * RESUBMIT_MS }), () => ({
        ok: false,
        code: 'COUNCIL_THRESHOLD_NOT_MET',
        message: 'x',
      }))
      sends += r.effects.filter((e) => e.kind === 'submitDeclaration').length
      s = r.state
    }
    expect(sends).toBe(MAX_SUBMISSIONS)
    expect(s.phase).toBe('Failed')
  })

  it('sets the image once, waits for ≥ 67 % of committee power on the new digest, then for blocks past the flag height', () => {
    let s = rb.initial(T0)
    s = run(s, obs(four({ height: 10 }), [UPGRADE])).state
    s = run(s, obs(four({ height: 10 }), [UPGRADE])).state
    s = run(s, obs(four({ height: 11, inForce: true }), [UPGRADE])).state
    expect(stepPhase(s, 'SubmitToLedger')).toBe('Succeeded')
    const first = run(s, obs(four({ height: 12, inForce: true }), [UPGRADE]))
    expect(first.effects).toEqual([{ kind: 'setNetworkImage', image: 'echonet/echonet-node:0.2.0' }])
    s = first.state
    expect(s.runbook.upgrade?.upgradedPowerPercent).toBe(0)
    // Two of four on the new build: 50 % < 67 %, still rolling; the image is not set again.
    const half: NodeSpec[] = [{ height: 20, digest: NEW }, { height: 20, digest: NEW }, { height: 20 }, { height: 20 }]
    const again = run(s, obs(half, [UPGRADE]))
    expect(again.effects).toEqual([])
    s = again.state
    expect(s.runbook.upgrade?.upgradedPowerPercent).toBe(50)
    expect(s.runbook.upgrade?.behind).toEqual(['w2 (0.1.0)', 'w3 (0.1.0)'])
    const three: NodeSpec[] = [
      { height: 30, digest: NEW },
      { height: 30, digest: NEW },
      { height: 30, digest: NEW },
      { height: 30 },
    ]
    s = run(s, obs(three, [UPGRADE])).state
    expect(stepPhase(s, 'RollOut')).toBe('Succeeded')
    expect(s.runbook.upgrade?.upgradedPowerPercent).toBe(75)
    s = run(s, obs(three, [UPGRADE])).state
    expect(s.phase).toBe('Verifying')
    expect(stepPhase(s, 'VerifyUpgrade')).toBe('Running')
    const past: NodeSpec[] = [
      { height: 104, digest: NEW },
      { height: 104, digest: NEW },
      { height: 104, digest: NEW },
      { height: 99, haltCode: 'UPGRADE_REQUIRED' },
    ]
    s = run(s, obs(past, [UPGRADE])).state
    expect(stepPhase(s, 'VerifyUpgrade')).toBe('Succeeded')
    expect(s.runbook.upgrade?.message).toContain('still on the old build and halted: w3')
    s = run(s, obs(past, [UPGRADE])).state
    expect(s.phase).toBe('Recovered')
  })

  it('a dry run sends nothing and sets no image', () => {
    let s = rb.initial(T0)
    const effects: Effect[] = []
    for (let i = 0; i < 4; i++) {
      const r = run(s, obs(four({ height: 10 }), [PAUSE, UPGRADE], { dryRun: true }))
      effects.push(...r.effects)
      s = r.state
    }
    expect(effects).toEqual([])
    expect(s.phase).toBe('Recovered')
    expect(s.runbook.touches?.[0]).toContain('pause-module payouts, upgrade-plan')
  })

  it('upgradedPower counts committee power by the digest each member runs', () => {
    const o = obs([{ height: 1, digest: NEW }, { height: 1 }, { height: 1, digest: NEW }], [UPGRADE])
    expect(upgradedPower(o, NEW)).toEqual({ percent: 66, behind: ['w1 (0.1.0)'] })
  })
})
