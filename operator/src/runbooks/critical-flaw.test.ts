import { describe, expect, it } from 'vitest'
import type { AdminStatus, RestartPreview } from '@echonet/node/admin'
import { signRestartManifest } from '@echonet/node/governance'
import { NodeIdentity } from '@echonet/node/identity'
import { decodeManifest } from '@echonet/node/restart'
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
  epoch?: number
  hash?: string
}

const key = (i: number): NodeIdentity => NodeIdentity.fromSeed(new Uint8Array(32).fill(i + 1))
/** Witness i's DID (real keys: a manifest names its witnesses by did:key). */
const W = (i: number): string => key(10 + i).did
const council = [0, 1, 2].map(key)
const COUNCIL = { members: council.map((c) => c.did), threshold: 2 }

function node(i: number, n: NodeSpec): NodeView {
  const status = {
    did: W(i),
    epoch: n.epoch ?? 0,
    finalizedHeight: n.height,
    finalizedHash: n.hash ?? 'ab'.repeat(32),
    version: n.digest === NEW ? '0.2.0' : '0.1.0',
    binaryDigest: n.digest ?? OLD,
    ...(n.haltCode !== undefined ? { mode: 'halted', haltCode: n.haltCode } : { mode: 'running' }),
    governance: {
      eventFee: 3,
      ...(n.inForce === true ? { emergency: { declared: { authorizedBy: 'd7' }, pauses: [] } } : {}),
    },
  } as unknown as AdminStatus
  return { node: `w${i}`, role: 'witness', did: W(i), podExists: true, podReady: true, ip: `10.0.0.${i}`, status }
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
      members: nodes.map((_, i) => ({ did: W(i), power: 1, online: true })),
      totalPower: nodes.length,
      powerNeeded: 3,
      powerOnline: nodes.length,
    },
    council: COUNCIL,
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

describe('the CriticalFlaw runbook: a hard fork with a state edit', () => {
  const H = 20
  const FROZEN = 'cd'.repeat(32)
  const EDIT: DisasterAction = {
    type: 'StateEdit',
    stateEdit: {
      height: H,
      edits: [
        { op: 'put', key: 'acct/x', value: 'BQ==' },
        { op: 'delete', key: 'acct/y' },
      ],
    },
  }
  const RESTART: DisasterAction = { type: 'CoordinatedRestart', coordinatedRestart: { timeoutSeconds: 300 } }
  const actions = [EDIT, RESTART]
  const preview: RestartPreview = {
    chainId: 'echonet-test',
    epoch: 0,
    height: H,
    blockHash: FROZEN,
    stateRoot: 'ee'.repeat(32),
    resultingStateRoot: 'ff'.repeat(32),
    witnesses: [0, 1, 2, 3].map((i) => ({ did: W(i), power: 1 })),
    edits: [
      { op: 'put', key: 'acct/x', valueCbor: 'BQ==', value: 5 },
      { op: 'delete', key: 'acct/y' },
    ],
  }
  const frozen = four({ height: H, hash: FROZEN, inForce: true, haltCode: 'COUNCIL_STOP' })
  const answer = (e: Effect): EffectOutcome => {
    if (e.kind === 'previewFork') return { ok: true, value: preview }
    if (e.kind === 'audit') {
      return {
        ok: true,
        value: {
          heights: 24,
          nodes: ['w0'],
          forks: 0,
          badCertificates: 0,
          missing: [],
          message: 'one chain',
          lost: 0,
          ok: true,
        },
      }
    }
    return { ok: true }
  }

  /** Through SubmitToLedger: the declaration (and with it the stop) is in force. */
  function submitted(): RunbookState {
    let s = rb.initial(T0)
    for (let i = 0; i < 3; i++) s = run(s, obs(four({ height: 10, inForce: i > 0 }), actions)).state
    expect(stepPhase(s, 'SubmitToLedger')).toBe('Succeeded')
    return s
  }

  it("waits for the chain to stop on the edit's block, records the previewed manifest for the council, hands out the council-signed record, and checks the new epoch", () => {
    let s = submitted()
    s = run(s, obs(four({ height: 18, inForce: true }), actions)).state
    expect(stepPhase(s, 'FreezeChain')).toBe('Running')
    const froze = run(s, obs(frozen, actions, { nowMs: T0 + 5_000 }))
    s = froze.state
    expect(stepPhase(s, 'FreezeChain')).toBe('Succeeded')
    expect(s.runbook.restartHeight).toBe(H)
    expect(froze.effects).toEqual([expect.objectContaining({ kind: 'event', reason: 'ChainFrozen' })])

    const planned = run(s, obs(frozen, actions, { nowMs: T0 + 6_000 }), answer)
    expect(planned.effects[0]).toMatchObject({
      kind: 'previewFork',
      node: 'w0',
      edits: [
        { op: 'put', key: 'acct/x', valueCbor: 'BQ==' },
        { op: 'delete', key: 'acct/y' },
      ],
    })
    s = planned.state
    expect(stepPhase(s, 'PlanRestart')).toBe('Succeeded')
    const m = decodeManifest(new Uint8Array(Buffer.from(s.runbook.manifest!, 'base64')))
    expect(m).toMatchObject({ epoch: 1, height: H, blockHash: FROZEN, resultingStateRoot: 'ff'.repeat(32) })
    expect(m.stateEdits).toHaveLength(2)
    expect(s.runbook.witnessSet?.map((w) => w.node)).toEqual(['w0', 'w1', 'w2', 'w3'])

    // One signature is not enough; nothing is handed out.
    const sign = (c: NodeIdentity) => ({
      did: c.did,
      signature: Buffer.from(signRestartManifest(c.signer, c.did, m).sig).toString('base64'),
    })
    const one = run(s, obs(frozen, actions, { nowMs: T0 + 7_000, manifestSignatures: [sign(council[0]!)] }))
    expect(one.effects.filter((e) => e.kind === 'deliver')).toEqual([])
    expect(one.state.steps.find((x) => x.name === 'AuthorizeRestart')?.message).toContain('1 of 2')
    const signed = { manifestSignatures: [sign(council[0]!), sign(council[2]!)] }
    s = run(one.state, obs(frozen, actions, { nowMs: T0 + 8_000, ...signed })).state
    expect(stepPhase(s, 'AuthorizeRestart')).toBe('Succeeded')
    // The chain stopped on purpose (stalled for only a second): the records go out anyway.
    const out = run(s, obs(frozen, actions, { nowMs: T0 + 9_000, stalledMs: 1_000, ...signed }), answer)
    const deliveries = out.effects.filter((e) => e.kind === 'deliver')
    expect(deliveries.map((d) => d.node)).toEqual(['w0', 'w1', 'w2', 'w3'])
    expect(deliveries[0]?.record).toMatchObject({ mode: 'council', manifest: s.runbook.manifest })
    s = run(out.state, obs(frozen, actions, { nowMs: T0 + 10_000, ...signed })).state
    expect(stepPhase(s, 'CoordinatedRestart')).toBe('Succeeded')

    const resumed = four({ height: H + 3, epoch: 1, inForce: true })
    s = run(s, obs(resumed, actions, { nowMs: T0 + 14_000, ...signed })).state
    expect(stepPhase(s, 'WaitForFinality')).toBe('Succeeded')
    expect(s.rtoSeconds).toBe(9)
    const audit = run(s, obs(resumed, actions, { nowMs: T0 + 15_000, ...signed }), answer)
    expect(audit.effects[0]).toMatchObject({ kind: 'audit', expect: { height: H, hash: FROZEN } })
    s = audit.state
    expect(stepPhase(s, 'VerifyFork')).toBe('Succeeded')
    for (let i = 0; i < 3; i++) s = run(s, obs(resumed, actions, { nowMs: T0 + 16_000 + i })).state
    expect(stepPhase(s, 'RollOut')).toBe('Skipped')
    expect(s.phase).toBe('Recovered')
  })

  it("fails, saying why, when the chain is already past the edit's block or the node refuses the edits", () => {
    const late = run(submitted(), obs(four({ height: H + 2, inForce: true }), actions)).state
    expect(late.phase).toBe('Failed')
    expect(late.steps.find((x) => x.name === 'FreezeChain')?.message).toContain('past the edit')
    let s = run(submitted(), obs(frozen, actions)).state
    s = run(s, obs(frozen, actions), () => ({
      ok: false,
      code: 'INVALID_STATE_EDIT',
      message: 'acct/x: not an account',
    })).state
    expect(s.phase).toBe('Failed')
    expect(s.steps.find((x) => x.name === 'PlanRestart')?.message).toContain('INVALID_STATE_EDIT')
  })
})
