import { describe, expect, it } from 'vitest'
import type { AdminStatus } from '@echonet/node/admin'
import { RESTART_MANIFEST_DOMAIN, signRestartManifest } from '@echonet/node/governance'
import type { RestartManifest } from '@echonet/node/governance'
import { NodeIdentity } from '@echonet/node/identity'
import { witnessLossRunbook } from './witness-loss.ts'
import type { Effect, EffectOutcome, NodeView, Observation, RunbookState } from './types.ts'
import type { CommitteeView } from '../controllers/shared/committee.ts'

/**
 * The WitnessLoss runbook as a pure function: every scenario below is a sequence of
 * (state, observation) → (state, effects), with effect outcomes fed back through `record`.
 * 4 witnesses w0..w3 (w0..w2 lost), 2 standbys s0, s1; restart from block 100.
 */

const ids = new Map<string, NodeIdentity>()
const id = (name: string): NodeIdentity => {
  let x = ids.get(name)
  if (x === undefined) {
    x = NodeIdentity.fromSeed(new Uint8Array(32).fill(ids.size + 1))
    ids.set(name, x)
  }
  return x
}
const did = (n: string): string => id(n).did
const council = ['c0', 'c1', 'c2'].map((c) => id(c))
const COUNCIL = { members: council.map((c) => c.did), threshold: 2 }
const T0 = Date.parse('2026-12-06T12:00:00Z')
const HASH = 'ab'.repeat(32)

function status(name: string, over: Partial<AdminStatus> = {}): AdminStatus {
  return {
    did: did(name),
    peerId: 'x',
    role: name.startsWith('s') ? 'standby' : 'witness',
    chainId: 'echonet-test',
    epoch: 0,
    mode: 'halted',
    haltCode: 'QUORUM_LOST',
    version: '0.1.0',
    finalizedHeight: 100,
    finalizedHash: HASH,
    stateRoot: 'cd'.repeat(32),
    highestCertifiedHeight: 100,
    highestCertifiedHash: HASH,
    highestCertifiedStateRoot: 'cd'.repeat(32),
    lastBlockTimeMs: T0,
    consensus: { height: 101, round: 7, step: 'propose' },
    committee: { totalPower: 4, powerNeeded: 3, powerOnline: 1, members: [] },
    mempool: { size: 0, bytes: 0 },
    peers: { connected: 3, known: 6 },
    ...over,
  }
}

function node(name: string, alive: boolean, over: Partial<AdminStatus> = {}): NodeView {
  const standby = name.startsWith('s')
  return {
    node: name,
    role: standby ? 'standby' : 'witness',
    pool: standby ? 'standbys' : 'witnesses',
    poolMode: standby ? 'Standby' : 'Active',
    promotionPriority: standby ? 10 : 0,
    did: did(name),
    podExists: alive,
    podReady: alive,
    ...(alive ? { ip: `10.0.0.${name.charCodeAt(1)}`, status: status(name, over) } : {}),
  }
}

const committee = (online: readonly string[], epoch = 0, members = ['w0', 'w1', 'w2', 'w3']): CommitteeView => ({
  epoch,
  height: 100,
  members: members.map((m) => ({ did: did(m), power: 1, online: online.includes(m) })),
  totalPower: members.length,
  powerNeeded: Math.floor((2 * members.length) / 3) + 1,
  powerOnline: online.length,
})

function obs(over: Partial<Observation> = {}): Observation {
  return {
    nowMs: T0 + 20_000,
    dryRun: false,
    actions: [{ type: 'PromoteStandbys' }, { type: 'CoordinatedRestart', coordinatedRestart: { timeoutSeconds: 300 } }],
    nodes: [
      node('w0', false),
      node('w1', false),
      node('w2', false),
      node('w3', true),
      node('s0', true),
      node('s1', true),
    ],
    pools: [
      { name: 'witnesses', mode: 'Active', replicas: 4, promotionPriority: 0 },
      { name: 'standbys', mode: 'Standby', replicas: 2, promotionPriority: 10 },
    ],
    stalledMs: 20_000,
    committee: committee(['w3']),
    council: COUNCIL,
    registeredStandbys: [did('s0'), did('s1')],
    resolveRequested: false,
    committeeSize: 4,
    auth: {
      mode: 'policy',
      policy: { agent: did('agent'), maxPromotions: 4, standbys: [did('s0'), did('s1')], quorumLossSeconds: 5 },
    },
    manifestSignatures: [],
    ...over,
  }
}

function manifestFor(witnesses: readonly string[], expiresAtMs: number): RestartManifest {
  return {
    domain: RESTART_MANIFEST_DOMAIN,
    chainId: 'echonet-test',
    epoch: 1,
    height: 100,
    blockHash: HASH,
    stateRoot: 'cd'.repeat(32),
    witnesses: witnesses.map((d) => ({ did: d as RestartManifest['witnesses'][number]['did'], power: 1 })),
    expiresAtMs,
  }
}

/** Answers effects the way healthy nodes would; `deliverFails` names nodes that refuse. */
function answer(e: Effect, deliverFails: ReadonlyMap<string, string> = new Map()): EffectOutcome {
  switch (e.kind) {
    case 'plan':
      return { ok: true, value: manifestFor(e.witnesses, e.expiresAtMs) }
    case 'agentSign':
      return { ok: true, value: 'c2ln' }
    case 'deliver': {
      const code = deliverFails.get(e.node)
      return code === undefined ? { ok: true, value: { epoch: 1, adopted: true } } : { ok: false, code, message: code }
    }
    case 'audit':
      return {
        ok: true,
        value: {
          heights: 102,
          nodes: ['w3'],
          forks: 0,
          badCertificates: 0,
          missing: [],
          message: 'all good',
          lost: 0,
          ok: true,
        },
      }
    case 'restoreResilience':
    case 'applyDefences':
    case 'readDefences':
    case 'liftDefences':
    case 'submitDeclaration':
    case 'setNetworkImage':
    case 'previewFork':
    case 'dhtRebootstrap':
    case 'setRepairPriorities':
    case 'storageRepair':
    case 'event':
      return { ok: true }
  }
}

/** Runs steps until the runbook waits (no effects and a requeue delay) or ends; returns all effects. */
function drive(state: RunbookState, o: Observation, limit = 30): { state: RunbookState; effects: Effect[] } {
  const all: Effect[] = []
  let s = state
  for (let i = 0; i < limit; i++) {
    const r = witnessLossRunbook.step(s, o)
    s = r.next
    for (const e of r.effects) {
      all.push(e)
      s = witnessLossRunbook.record(s, e, answer(e), o.nowMs)
    }
    if (s.phase === 'Resolved' || s.phase === 'Failed') break
    if (r.effects.length === 0 && r.requeueAfterMs > 0) break
  }
  return { state: s, effects: all }
}

const phases = (s: RunbookState): Record<string, string> => Object.fromEntries(s.steps.map((x) => [x.name, x.phase]))
const kinds = (es: readonly Effect[]): string[] => es.filter((e) => e.kind !== 'event').map((e) => e.kind)

describe('WitnessLoss runbook under a standing policy', () => {
  it('runs to the end: survey, set = survivor + promoted standbys, plan, agent signs, every live node gets the manifest, finality, check, resilience', () => {
    let { state, effects } = drive(witnessLossRunbook.initial(T0), obs())
    expect(state.runbook.restartHeight).toBe(100)
    expect(state.runbook.witnessSet?.map((w) => [w.node, w.promoted])).toEqual([
      ['w3', false],
      ['s0', true],
      ['s1', true],
    ])
    expect(kinds(effects)).toEqual(['plan', 'agentSign', 'deliver', 'deliver', 'deliver'])
    expect(effects.filter((e) => e.kind === 'deliver').map((e) => (e as { node: string }).node)).toEqual([
      'w3',
      's0',
      's1',
    ])
    expect(state.phase).toBe('Executing')
    expect(state.runbook.delivered).toEqual(['s0', 's1', 'w3'])
    expect(phases(state).CoordinatedRestart).toBe('Succeeded')
    expect(phases(state).WaitForFinality).toBe('Running')

    // Epoch 1 finalizes block 101: RTO measured from the last block before the fault.
    const resumed = obs({
      nowMs: T0 + 27_000,
      stalledMs: 0,
      nodes: obs().nodes.map((n) =>
        n.status ? { ...n, status: { ...n.status, epoch: 1, finalizedHeight: 101, mode: 'running' as const } } : n,
      ),
      committee: committee(['w3', 's0', 's1'], 1, ['w3', 's0', 's1']),
    })
    ;({ state, effects } = drive(state, resumed))
    expect(state.rtoSeconds).toBe(27)
    expect(kinds(effects)).toEqual(['audit', 'restoreResilience'])
    expect(state.finalizedEventsLost).toBe(0)
    expect(state.phase).toBe('Recovered')
    const restore = effects.find((e) => e.kind === 'restoreResilience')
    // 4 active wanted, 3 in the committee: one lost witness gets a fresh key, two are retired; both standbys were promoted.
    expect(restore).toMatchObject({ plan: { rekey: ['w0'], retire: ['w1', 'w2'], promoted: ['s0', 's1'] } })

    // Resilience restored: 4 in the committee, 2 new live registered standbys.
    const restored = {
      ...resumed,
      nowMs: T0 + 90_000,
      committee: committee(['w3', 's0', 's1', 'w0'], 1, ['w3', 's0', 's1', 'w0']),
      nodes: [...resumed.nodes, node('s2', true, { epoch: 1 }), node('s3', true, { epoch: 1 })],
      registeredStandbys: [did('s2'), did('s3')],
    }
    ;({ state, effects } = drive(state, restored))
    expect(state.phase).toBe('Resolved')
    expect(phases(state).RestoreResilience).toBe('Succeeded')
    expect(state.postMortem).toContain('RTO 27 s')
    expect(state.steps.every((s) => s.phase === 'Succeeded')).toBe(true)
  })

  it('waits for the policy quorum-loss time before acting (nodes check it too)', () => {
    const early = obs({ nowMs: T0 + 3_000, stalledMs: 12_000 })
    const { state, effects } = drive(witnessLossRunbook.initial(T0), early)
    expect(effects).toEqual([])
    expect(state.steps[0]?.phase).toBe('Running')
    expect(state.steps[0]?.message).toMatch(/allows a restart after 5 s/)
  })

  it('never promotes a standby outside the policy list, and caps promotions at maxPromotions', () => {
    const o = obs({
      auth: {
        mode: 'policy',
        policy: { agent: did('agent'), maxPromotions: 1, standbys: [did('s1'), did('s0')], quorumLossSeconds: 5 },
      },
      registeredStandbys: [did('s0'), did('s1')],
    })
    const { state } = drive(witnessLossRunbook.initial(T0), o)
    expect(state.runbook.witnessSet?.filter((w) => w.promoted)).toHaveLength(1)
    const listed = obs({
      auth: {
        mode: 'policy',
        policy: { agent: did('agent'), maxPromotions: 4, standbys: [did('s1')], quorumLossSeconds: 5 },
      },
    })
    expect(drive(witnessLossRunbook.initial(T0), listed).state.runbook.witnessSet?.map((w) => w.node)).toEqual([
      'w3',
      's1',
    ])
  })
})

describe('WitnessLoss runbook: admission and safety', () => {
  it('a network that finalizes again is not touched: the declaration ends as not needed', () => {
    const { state, effects } = drive(
      witnessLossRunbook.initial(T0),
      obs({ stalledMs: 1_000, committee: committee(['w0', 'w1', 'w2', 'w3']) }),
    )
    expect(kinds(effects)).toEqual([])
    expect(state.phase).toBe('Resolved')
    expect(phases(state).Assess).toBe('Skipped')
  })

  it('online but not finalizing is not a witness loss: it fails without acting', () => {
    const { state, effects } = drive(
      witnessLossRunbook.initial(T0),
      obs({ committee: committee(['w0', 'w1', 'w2', 'w3']) }),
    )
    expect(kinds(effects)).toEqual([])
    expect(state.phase).toBe('Failed')
  })

  it('refuses to restart from a fork: two nodes report different blocks at the top height', () => {
    const o = obs()
    const forked = {
      ...o,
      nodes: o.nodes.map((n) =>
        n.node === 's1' && n.status ? { ...n, status: { ...n.status, finalizedHash: 'ef'.repeat(32) } } : n,
      ),
    }
    const { state, effects } = drive(witnessLossRunbook.initial(T0), forked)
    expect(kinds(effects)).toEqual([])
    expect(state.phase).toBe('Failed')
    expect(state.steps[0]?.message).toMatch(/disagree/)
  })

  it('quorum returning between the plan and the first delivery: nothing is sent', () => {
    const first = drive(witnessLossRunbook.initial(T0), obs(), 3) // Assess, Select, Plan
    expect(first.state.runbook.manifest).toBeDefined()
    let s = first.state
    // Authorize runs, then the network finalizes again before any delivery.
    const back = obs({ stalledMs: 500, committee: committee(['w0', 'w1', 'w2', 'w3']) })
    const r = drive(s, back)
    s = r.state
    expect(kinds(r.effects)).toEqual(['agentSign'])
    expect(s.phase).toBe('Failed')
    expect(s.steps.find((x) => x.name === 'CoordinatedRestart')?.message).toMatch(/not sent to any node/)
  })

  it('a new leader resumes at the recorded step: the manifest is never planned again and only the nodes without it are sent it', () => {
    const planned = drive(witnessLossRunbook.initial(T0), obs(), 4).state // … up to AuthorizeRestart
    const manifest = planned.runbook.manifest
    expect(manifest).toBeDefined()
    // The old leader handed it to w3 only, then died: that is what status recorded.
    const resumedState: RunbookState = { ...planned, runbook: { ...planned.runbook, delivered: ['w3'] } }
    const r = witnessLossRunbook.step(resumedState, obs())
    const next = r.effects.length > 0 ? r : witnessLossRunbook.step(r.next, obs())
    expect(next.effects.map((e) => e.kind)).not.toContain('plan')
    const sent = next.effects.filter((e) => e.kind === 'deliver').map((e) => (e as { node: string }).node)
    expect(sent).toEqual(['s0', 's1'])
    expect(next.next.runbook.manifest).toBe(manifest)
  })

  it('a node that refuses the manifest for a security reason fails the step; a node still syncing is retried', () => {
    let s = drive(witnessLossRunbook.initial(T0), obs(), 4).state
    let r = witnessLossRunbook.step(s, obs())
    while (!r.effects.some((e) => e.kind === 'deliver')) r = witnessLossRunbook.step(r.next, obs())
    s = r.next
    for (const e of r.effects) {
      const out: EffectOutcome =
        e.kind === 'deliver' && (e as { node: string }).node === 's0'
          ? { ok: false, code: 'RESTART_NOT_AT_HEIGHT', message: 'syncing' }
          : answer(e)
      s = witnessLossRunbook.record(s, e, out, T0)
    }
    expect(s.phase).toBe('Executing')
    expect(s.runbook.delivered).toEqual(['s1', 'w3'])
    const again = witnessLossRunbook.step(s, obs())
    expect(again.effects.filter((e) => e.kind === 'deliver').map((e) => (e as { node: string }).node)).toEqual(['s0'])
    const refused = witnessLossRunbook.record(
      again.next,
      again.effects.find((e) => e.kind === 'deliver')!,
      { ok: false, code: 'POLICY_VIOLATION', message: 'no' },
      T0,
    )
    expect(refused.phase).toBe('Failed')
  })
})

describe('WitnessLoss runbook: council authorization and dry runs', () => {
  it('waits for council signatures over the recorded manifest, then hands out a council-signed record', () => {
    const council0 = obs({ auth: { mode: 'council' } })
    let { state, effects } = drive(witnessLossRunbook.initial(T0), council0)
    expect(kinds(effects)).toEqual(['plan'])
    const step = state.steps.find((x) => x.name === 'AuthorizeRestart')
    expect(step?.message).toMatch(/awaiting council signatures over manifest [0-9a-f]{64}.*: 0 of 2/)
    const m = manifestFor([did('w3'), did('s0'), did('s1')], 0)
    const planned = (effects[0] as Extract<Effect, { kind: 'plan' }>).expiresAtMs
    const sign = (c: NodeIdentity) => {
      const sig = signRestartManifest(c.signer, c.did, { ...m, expiresAtMs: planned })
      return { did: c.did, signature: Buffer.from(sig.sig).toString('base64') }
    }
    const one = drive(state, { ...council0, manifestSignatures: [sign(council[0]!)] })
    expect(one.state.steps.find((x) => x.name === 'AuthorizeRestart')?.message).toMatch(/1 of 2/)
    ;({ state, effects } = drive(one.state, {
      ...council0,
      manifestSignatures: [sign(council[0]!), sign(council[2]!)],
    }))
    const deliveries = effects.filter((e): e is Extract<Effect, { kind: 'deliver' }> => e.kind === 'deliver')
    expect(deliveries).toHaveLength(3)
    expect(deliveries[0]?.record.mode).toBe('council')
  })

  it('a dry run on a live network plans from whatever block is final by then (a real run would refuse a moved chain)', () => {
    let s = drive(witnessLossRunbook.initial(T0), obs({ dryRun: true, stalledMs: 500 }), 2).state
    const r = witnessLossRunbook.step(s, obs({ dryRun: true, stalledMs: 500 }))
    const plan = r.effects.find((e) => e.kind === 'plan')!
    const moved = {
      ...manifestFor((plan as { witnesses: readonly string[] }).witnesses, 0),
      height: 103,
      blockHash: 'ef'.repeat(32),
    }
    s = witnessLossRunbook.record(r.next, plan, { ok: true, value: moved }, T0)
    expect(s.runbook.restartHeight).toBe(103)
    expect(s.steps.find((x) => x.name === 'PlanRestart')?.phase).toBe('Succeeded')
    const real = witnessLossRunbook.record(r.next, { ...plan, dryRun: false }, { ok: true, value: moved }, T0)
    expect(real.phase).toBe('Failed')
  })

  it('a dry run plans (the plan API is read-only) and changes nothing: no signature, no delivery, no resilience change', () => {
    const { state, effects } = drive(witnessLossRunbook.initial(T0), obs({ dryRun: true }))
    expect(kinds(effects)).toEqual(['plan'])
    expect(state.phase).toBe('Resolved')
    expect(state.runbook.manifestHash).toMatch(/^[0-9a-f]{64}$/)
    expect(state.steps.find((x) => x.name === 'CoordinatedRestart')?.message).toMatch(
      /would hand manifest .* to w3, s0, s1/,
    )
    expect(state.steps.find((x) => x.name === 'RestoreResilience')?.message).toMatch(
      /would give w0 a fresh key; retire w1, w2/,
    )
  })
})
