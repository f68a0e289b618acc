import { describe, expect, it } from 'vitest'
import type { AdminStatus } from '@echonet/node/admin'
import type { DisasterAction } from '../api/v1alpha1/types.ts'
import { dataUnavailabilityRunbook, REPAIR_ROUND_MS, seedPeers, storageView } from './data-unavailability.ts'
import type { Effect, EffectOutcome, NodeView, Observation, RunbookState } from './types.ts'

/**
 * The DataUnavailability runbook as a pure function: two witnesses, three SSNs and a seed; what
 * the nodes report (reachable or not, content below full redundancy, the incident in force) is
 * what each step waits on.
 */

const T0 = Date.parse('2026-12-07T12:00:00Z')
const rb = dataUnavailabilityRunbook
const PAUSE: DisasterAction = { type: 'PausePoSRSlashing', pausePoSRSlashing: { durationSeconds: 3600 } }
const REBOOT: DisasterAction = { type: 'RebootstrapDHT', rebootstrapDHT: {} }
const PRIO: DisasterAction = {
  type: 'RepairPriority',
  repairPriority: { order: ['CriticalMetadata', 'Recent', 'HighDemand'], contentIds: ['bafyA', 'bafyB'] },
}

interface Spec {
  role: NodeView['role']
  up?: boolean
  under?: number
  quarantined?: number
  inForce?: boolean
}

function node(i: number, x: Spec): NodeView {
  const name = `${x.role}-${i}`
  const status = {
    did: `did:key:${name}`,
    peerId: `12D3Koo${name}`,
    epoch: 0,
    finalizedHeight: 10,
    mode: 'running',
    storage: x.role === 'ssn' ? { underReplicated: x.under ?? 0, quarantined: x.quarantined ?? 0 } : undefined,
    governance: { eventFee: 2, ...(x.inForce === true ? { emergency: { declared: { authorizedBy: 'd7' } } } : {}) },
  } as unknown as AdminStatus
  const up = x.up ?? true
  return {
    node: name,
    role: x.role,
    podExists: up,
    podReady: up,
    ...(up ? { ip: `10.0.0.${i}`, status } : {}),
  }
}

function net(
  o: { ssnDown?: number; seedDown?: boolean; under?: number; quarantined?: number; inForce?: boolean } = {},
): NodeView[] {
  return [
    node(1, { role: 'witness', inForce: o.inForce }),
    node(2, { role: 'witness', inForce: o.inForce }),
    node(3, { role: 'ssn', up: o.ssnDown !== 3, under: o.under, quarantined: o.quarantined }),
    node(4, { role: 'ssn', up: o.ssnDown !== 4, under: o.under }),
    node(5, { role: 'ssn', up: o.ssnDown !== 5, under: o.under }),
    node(6, { role: 'seed', up: o.seedDown !== true }),
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

const phaseOf = (s: RunbookState, name: string) => s.steps.find((x) => x.name === name)?.phase
const kinds = (effects: readonly Effect[]) => effects.map((e) => e.kind)

describe('the DataUnavailability runbook', () => {
  it('classifies what the nodes report', () => {
    expect(storageView(obs(net({ ssnDown: 4 }), [])).classification).toBe('SSNFailure')
    expect(storageView(obs(net({ seedDown: true }), [])).classification).toBe('DHTFailure')
    expect(storageView(obs(net({ seedDown: true, ssnDown: 3 }), [])).classification).toBe('SSNAndDHTFailure')
    expect(storageView(obs(net({ under: 2 }), []))).toMatchObject({
      classification: 'UnderReplicated',
      underReplicated: 2,
    })
    expect(storageView(obs(net(), [])).classification).toBe('None')
    // Content below full redundancy while an SSN has quarantined corrupt shards: corruption.
    expect(storageView(obs(net({ under: 2, quarantined: 3 }), []))).toMatchObject({
      classification: 'Corruption',
      quarantined: 3,
    })
    // Corruption found long ago and repaired since (nothing below k + m) is not an incident.
    expect(storageView(obs(net({ quarantined: 3 }), [])).classification).toBe('None')
  })

  it('puts the storage incident on the ledger, rebootstraps the DHT from the seeds that answer, puts the declared content first, and repairs until every SSN is back at full redundancy', () => {
    const actions = [PAUSE, REBOOT, PRIO]
    let s = rb.initial(T0)
    s = run(s, obs(net({ ssnDown: 4, seedDown: true, under: 3 }), actions)).state
    expect(s.runbook.storage).toMatchObject({ classification: 'SSNAndDHTFailure', ssnsReachable: 2, seedsReachable: 0 })
    expect(s.runbook.ledger?.actions).toEqual(['storage-incident'])
    const sent = run(s, obs(net({ ssnDown: 4, seedDown: true, under: 3 }), actions))
    expect(sent.effects).toEqual([{ kind: 'submitDeclaration', node: 'witness-1', ip: '10.0.0.1', fee: 2 }])
    s = run(sent.state, obs(net({ ssnDown: 4, seedDown: true, under: 3, inForce: true }), actions)).state
    expect(phaseOf(s, 'SubmitToLedger')).toBe('Succeeded')

    // No seed answers yet: nothing to hand out.
    const noSeed = run(s, obs(net({ ssnDown: 4, seedDown: true, under: 3, inForce: true }), actions))
    expect(noSeed.effects).toEqual([])
    s = noSeed.state
    // The new seed answers: every other node that answers gets it; one reached none and retries.
    const boot = run(s, obs(net({ ssnDown: 4, under: 3, inForce: true }), actions), (e) =>
      e.kind === 'dhtRebootstrap' && e.node === 'ssn-3'
        ? { ok: true, value: { dialled: 0 } }
        : { ok: true, value: { dialled: 1 } },
    )
    expect(kinds(boot.effects)).toEqual(['dhtRebootstrap', 'dhtRebootstrap', 'dhtRebootstrap', 'dhtRebootstrap'])
    expect(boot.effects[0]).toMatchObject({ seeds: [{ peerId: '12D3Kooseed-6', addrs: ['/ip4/10.0.0.6/tcp/7000'] }] })
    s = boot.state
    expect(s.runbook.storage?.rebootstrapped).toEqual(['ssn-5', 'witness-1', 'witness-2'])
    const again = run(s, obs(net({ ssnDown: 4, under: 3, inForce: true }), actions), () => ({
      ok: true,
      value: { dialled: 2 },
    }))
    expect(again.effects.map((e) => (e as { node: string }).node)).toEqual(['ssn-3'])
    s = run(again.state, obs(net({ ssnDown: 4, under: 3, inForce: true }), actions)).state
    expect(phaseOf(s, 'RebootstrapDHT')).toBe('Succeeded')

    const prio = run(s, obs(net({ ssnDown: 4, under: 3, inForce: true }), actions))
    expect(prio.effects).toEqual([
      {
        kind: 'setRepairPriorities',
        node: 'ssn-3',
        ip: '10.0.0.3',
        priorities: [
          { cid: 'bafyA', priority: 2 },
          { cid: 'bafyB', priority: 1 },
        ],
      },
      {
        kind: 'setRepairPriorities',
        node: 'ssn-5',
        ip: '10.0.0.5',
        priorities: [
          { cid: 'bafyA', priority: 2 },
          { cid: 'bafyB', priority: 1 },
        ],
      },
    ])
    s = run(prio.state, obs(net({ ssnDown: 4, under: 3, inForce: true }), actions)).state
    expect(phaseOf(s, 'RepairPriority')).toBe('Succeeded')
    s = run(s, obs(net({ ssnDown: 4, under: 3, inForce: true }), actions)).state
    expect(phaseOf(s, 'AcceptCommunityShards')).toBe('Skipped')

    // Repair rounds at most every REPAIR_ROUND_MS; done only when every SSN answers at full redundancy.
    const r1 = run(s, obs(net({ ssnDown: 4, under: 3, inForce: true }), actions), () => ({
      ok: true,
      value: { repaired: 1 },
    }))
    expect(kinds(r1.effects)).toEqual(['storageRepair', 'storageRepair'])
    s = r1.state
    expect(run(s, obs(net({ ssnDown: 4, under: 1, inForce: true }), actions, { nowMs: T0 + 1_000 })).effects).toEqual(
      [],
    )
    // Everything healthy on the SSNs that answer, but one SSN is still missing: not done.
    s = run(s, obs(net({ ssnDown: 4, inForce: true }), actions, { nowMs: T0 + 2_000 })).state
    expect(phaseOf(s, 'Repair')).toBe('Running')
    // A round on all three whose own scan still finds content below k + m: the SSNs' (older)
    // periodic status says 0, but the round decides — not done.
    const r2 = run(s, obs(net({ under: 1, inForce: true }), actions, { nowMs: T0 + REPAIR_ROUND_MS + 1 }), (e) => ({
      ok: true,
      value: { repaired: 1, underReplicated: e.kind === 'storageRepair' && e.node === 'ssn-3' ? 2 : 0, failed: 0 },
    }))
    expect(kinds(r2.effects)).toEqual(['storageRepair', 'storageRepair', 'storageRepair'])
    s = run(r2.state, obs(net({ inForce: true }), actions, { nowMs: T0 + REPAIR_ROUND_MS + 2 })).state
    expect(phaseOf(s, 'Repair')).toBe('Running')
    expect(s.runbook.storage?.round).toMatchObject({ underReplicated: 2, failed: 0 })
    // The next round is clean on every SSN: done.
    const r3 = run(s, obs(net({ inForce: true }), actions, { nowMs: T0 + 2 * REPAIR_ROUND_MS + 3 }), () => ({
      ok: true,
      value: { repaired: 0, underReplicated: 0, failed: 0 },
    }))
    expect(kinds(r3.effects)).toEqual(['storageRepair', 'storageRepair', 'storageRepair'])
    s = run(r3.state, obs(net({ inForce: true }), actions, { nowMs: T0 + 2 * REPAIR_ROUND_MS + 4 })).state
    expect(phaseOf(s, 'Repair')).toBe('Succeeded')
    expect(s.runbook.storage).toMatchObject({ repairRuns: 8, repairedContent: 5, ssnsReachable: 3, underReplicated: 0 })
    expect(s.runbook.storage?.round?.nodes).toHaveLength(3)
    s = run(s, obs(net({ inForce: true }), actions)).state
    expect(s.phase).toBe('Verifying')
    s = run(s, obs(net({ inForce: true }), actions)).state
    expect(s.phase).toBe('Recovered')
  })

  it('skips what the declaration does not ask for, and a dry run touches nothing', () => {
    let s = rb.initial(T0)
    const effects: Effect[] = []
    for (let i = 0; i < 5; i++) {
      const r = run(s, obs(net({ under: 1 }), [PAUSE], { dryRun: true }))
      effects.push(...r.effects.filter((e) => e.kind !== 'event'))
      s = r.state
    }
    expect(effects).toEqual([])
    expect(s.runbook.touches?.[0]).toContain('storage-incident')
    s = rb.initial(T0)
    s = run(s, obs(net(), [])).state
    s = run(s, obs(net(), [])).state
    expect(phaseOf(s, 'SubmitToLedger')).toBe('Skipped')
    s = run(s, obs(net(), [])).state
    expect(phaseOf(s, 'RebootstrapDHT')).toBe('Skipped')
    s = run(s, obs(net(), [])).state
    expect(phaseOf(s, 'RepairPriority')).toBe('Skipped')
    s = run(s, obs(net(), [])).state
    expect(phaseOf(s, 'AcceptCommunityShards')).toBe('Skipped')
  })

  it('takes declared seeds as multiaddrs grouped by peer', () => {
    const o = obs(net(), [
      {
        type: 'RebootstrapDHT',
        rebootstrapDHT: {
          seeds: ['/ip4/10.1.0.1/tcp/7000/p2p/12D3KooA', '/ip4/10.1.0.2/tcp/7000/p2p/12D3KooA', 'garbage'],
        },
      },
    ])
    expect(seedPeers(o)).toEqual([{ peerId: '12D3KooA', addrs: ['/ip4/10.1.0.1/tcp/7000', '/ip4/10.1.0.2/tcp/7000'] }])
  })
})
