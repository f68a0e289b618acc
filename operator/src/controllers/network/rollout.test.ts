import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { AdminStatus } from '@echonet/node/admin'
import type { NodeRoleLabel } from '../../api/v1alpha1/labels.ts'
import type { NodeObservation } from '../shared/node-poller.ts'
import { CAUGHT_UP_LAG_BLOCKS, DOWN_AFTER_MS, ONLINE_WINDOW_MS, planRollout } from './rollout.ts'
import type { RolloutInput, RolloutNode, RolloutPod } from './rollout.ts'
import { keyOf } from './test-fixtures.ts'

const NOW = 10_000_000
const HEIGHT = 500

/** The example network: 3 seeds, 6 SSNs, 2 standbys, 4 witnesses (powers 1 each unless given). */
function plan(counts = { seed: 3, ssn: 6, standby: 2, witness: 4 }): RolloutNode[] {
  const out: RolloutNode[] = []
  const add = (prefix: string, role: NodeRoleLabel, n: number): void => {
    for (let i = 0; i < n; i++) {
      const node = `${prefix}-${i}`
      out.push({ node, role, podName: `testnet-${node}`, did: keyOf(node).did, desiredHash: 'new' })
    }
  }
  add('seed', 'seed', counts.seed)
  add('ssn', 'ssn', counts.ssn)
  add('standbys', 'standby', counts.standby)
  add('witnesses', 'witness', counts.witness)
  return out
}

function pod(n: RolloutNode, over: Partial<RolloutPod> = {}): RolloutPod {
  return {
    name: n.podName,
    specHash: 'old',
    ready: true,
    terminating: false,
    finished: false,
    crashLooping: false,
    readySinceMs: 0,
    ...over,
  }
}

interface WorldOptions {
  /** Committee members (node names) and their powers; default the 4 witnesses, power 1. */
  committee?: Readonly<Record<string, number>>
  /** Members nobody hears from. */
  silent?: readonly string[]
  /** Per node: status overrides, or `null` for no status. */
  status?: Readonly<Record<string, Partial<AdminStatus> | null>>
  /** Per node: when its status was taken (default NOW). */
  atMs?: Readonly<Record<string, number>>
}

function statusOf(node: string, role: NodeRoleLabel, w: WorldOptions): AdminStatus {
  const committee = w.committee ?? { 'witnesses-0': 1, 'witnesses-1': 1, 'witnesses-2': 1, 'witnesses-3': 1 }
  const members = Object.entries(committee).map(([m, power]) => ({
    did: keyOf(m).did,
    power,
    online: !(w.silent ?? []).includes(m),
  }))
  const total = members.reduce((a, m) => a + m.power, 0)
  const online = members.filter((m) => m.online).reduce((a, m) => a + m.power, 0)
  const k = keyOf(node)
  return {
    did: k.did,
    peerId: k.peerId,
    role,
    chainId: 'echonet-testnet',
    epoch: 0,
    mode: 'running',
    version: '0.1.0',
    finalizedHeight: HEIGHT,
    finalizedHash: 'aa'.repeat(32),
    stateRoot: 'bb'.repeat(32),
    highestCertifiedHeight: HEIGHT,
    highestCertifiedHash: 'aa'.repeat(32),
    highestCertifiedStateRoot: 'bb'.repeat(32),
    lastBlockTimeMs: NOW,
    consensus: { height: HEIGHT + 1, round: 0, step: 'propose' },
    committee: { totalPower: total, powerNeeded: Math.floor((2 * total) / 3) + 1, powerOnline: online, members },
    mempool: { size: 0, bytes: 0 },
    peers: { connected: 14, known: 14 },
    ...(w.status?.[node] ?? {}),
  }
}

function observations(nodes: readonly RolloutNode[], w: WorldOptions = {}): NodeObservation[] {
  return nodes.map((n) => {
    const base = { node: n.node, role: n.role, ready: true }
    if (w.status?.[n.node] === null) return { ...base, error: 'ECONNREFUSED: connection refused' }
    return { ...base, status: statusOf(n.node, n.role, w), atMs: w.atMs?.[n.node] ?? NOW }
  })
}

function input(
  nodes: RolloutNode[],
  pods: Readonly<Record<string, Partial<RolloutPod>>> = {},
  w: WorldOptions = {},
  over: Partial<RolloutInput> = {},
): RolloutInput {
  return {
    nodes,
    pods: nodes.map((n) => pod(n, pods[n.node])),
    observations: observations(nodes, w),
    finalizing: true,
    ssnBudget: 1,
    ...over,
  }
}

/** Only the nodes named are outdated; the others already run the new template. */
function outdatedOnly(nodes: readonly RolloutNode[], names: readonly string[]): Record<string, Partial<RolloutPod>> {
  return Object.fromEntries(nodes.map((n) => [n.node, { specHash: names.includes(n.node) ? 'old' : 'new' }]))
}

const WITNESSES = ['witnesses-0', 'witnesses-1', 'witnesses-2', 'witnesses-3']
const replaced = (i: RolloutInput): string[] => planRollout(i).replace.map((r) => r.node)

describe('planRollout', () => {
  it('a pod held by people (echonet.io/rollout-hold) stays on its template; the others roll on, and the rollout reports what is held', () => {
    const nodes = plan()
    const pods = outdatedOnly(nodes, ['witnesses-0', 'witnesses-1'])
    const held = { ...pods, 'witnesses-0': { specHash: 'old', held: true } }
    expect(replaced(input(nodes, held))).toEqual(['witnesses-1'])
    const onlyHeld = { ...outdatedOnly(nodes, ['witnesses-0']), 'witnesses-0': { specHash: 'old', held: true } }
    const p = planRollout(input(nodes, onlyHeld))
    expect(p.replace).toEqual([])
    expect(p.progress?.waitingFor).toBe('witnesses-0 held on the old template (echonet.io/rollout-hold)')
  })

  it('a council halt does not stop a rollout: the nodes still follow every block', () => {
    const nodes = plan()
    const halted = Object.fromEntries(
      nodes.map((n) => [n.node, { mode: 'halted' as const, haltCode: 'COUNCIL_HALT' as const }]),
    )
    expect(replaced(input(nodes, outdatedOnly(nodes, ['witnesses-2']), { status: halted }))).toEqual(['witnesses-2'])
  })

  it('nothing outdated: nothing to do, no progress to report', () => {
    const nodes = plan()
    const p = planRollout(input(nodes, outdatedOnly(nodes, [])))
    expect(p).toEqual({ replace: [] })
  })

  it('4 witnesses all outdated: exactly one is replaced, the committee keeping 3 of 4 (3 needed)', () => {
    const nodes = plan()
    const p = planRollout(input(nodes, outdatedOnly(nodes, WITNESSES)))
    expect(p.replace).toEqual([
      {
        node: 'witnesses-0',
        role: 'witness',
        podName: 'testnet-witnesses-0',
        reason: 'committee power online without it: 3 of 4, 3 needed',
      },
    ])
    expect(p.progress).toEqual({ updated: 11, total: 15, waitingFor: 'witnesses-0 to be replaced' })
  })

  describe('the next witness only once the replaced one is Ready and caught up', () => {
    const nodes = plan()
    const rest = outdatedOnly(nodes, WITNESSES.slice(1))
    const since = NOW - 20_000
    const wait = (pods: Record<string, Partial<RolloutPod>>, w: WorldOptions = {}): string | undefined => {
      const p = planRollout(input(nodes, pods, w))
      expect(p.replace).toEqual([])
      return p.progress?.waitingFor
    }

    it('while the old pod terminates', () => {
      const terminating = pod(
        nodes.find((n) => n.node === 'witnesses-0')!,
        { terminating: true },
      )
      const i = input(nodes, rest)
      const p = planRollout({ ...i, pods: [...i.pods.filter((x) => x.name !== 'testnet-witnesses-0'), terminating] })
      expect(p.replace).toEqual([])
      expect(p.progress?.waitingFor).toBe('pod testnet-witnesses-0 to terminate')
    })

    it('while it has no pod', () => {
      const i = input(nodes, rest)
      const p = planRollout({ ...i, pods: i.pods.filter((x) => x.name !== 'testnet-witnesses-0') })
      expect(p.replace).toEqual([])
      expect(p.progress).toEqual({ updated: 11, total: 15, waitingFor: 'witnesses-0 to get its pod' })
    })

    it('while its new pod is not Ready', () => {
      expect(wait({ ...rest, 'witnesses-0': { specHash: 'new', ready: false, notReadyForMs: 2_000 } })).toBe(
        'witnesses-0 to become ready',
      )
    })

    it('while its last status predates its pod (the old process answered)', () => {
      expect(
        wait(
          { ...rest, 'witnesses-0': { specHash: 'new', readySinceMs: since } },
          { atMs: { 'witnesses-0': since - 1 } },
        ),
      ).toBe('witnesses-0 to report its status')
      expect(
        wait({ ...rest, 'witnesses-0': { specHash: 'new', readySinceMs: since } }, { status: { 'witnesses-0': null } }),
      ).toBe('witnesses-0 to report its status (ECONNREFUSED: connection refused)')
    })

    it('while it is behind the network or syncing', () => {
      const pods = { ...rest, 'witnesses-0': { specHash: 'new', readySinceMs: since } }
      expect(wait(pods, { status: { 'witnesses-0': { finalizedHeight: HEIGHT - CAUGHT_UP_LAG_BLOCKS - 1 } } })).toBe(
        "witnesses-0 to catch up with the network's height",
      )
      expect(wait(pods, { status: { 'witnesses-0': { mode: 'syncing' } } })).toBe('witnesses-0 to sync (syncing)')
    })

    it('while no other voter has heard it since it started (plus the online window)', () => {
      const pods = { ...rest, 'witnesses-0': { specHash: 'new', readySinceMs: since } }
      expect(wait(pods, { silent: ['witnesses-0'] })).toBe('witnesses-0 to be heard voting')
      // Heard, but in answers too close to its start: that could still be the old process.
      const early = Object.fromEntries(nodes.map((n) => [n.node, since + ONLINE_WINDOW_MS - 1]))
      expect(wait(pods, { atMs: early })).toBe('witnesses-0 to be heard voting')
    })

    it('then the next one goes', () => {
      const pods = { ...rest, 'witnesses-0': { specHash: 'new', readySinceMs: since } }
      expect(replaced(input(nodes, pods, { status: { 'witnesses-0': { finalizedHeight: HEIGHT - 2 } } }))).toEqual([
        'witnesses-1',
      ])
    })
  })

  it('never while another pod of the network is unready or terminating, whatever its role or template', () => {
    const nodes = plan()
    const pods = outdatedOnly(nodes, WITNESSES)
    expect(
      replaced(input(nodes, { ...pods, 'ssn-4': { specHash: 'new', ready: false, notReadyForMs: 60_000 } })),
    ).toEqual([])
    const i = input(nodes, pods)
    const gone = { ...pod(nodes[0]!), name: 'testnet-standbys-7', terminating: true }
    expect(planRollout({ ...i, pods: [...i.pods, gone] }).progress?.waitingFor).toBe(
      'pod testnet-standbys-7 to terminate',
    )
    expect(planRollout({ ...i, finalizing: false }).progress?.waitingFor).toBe('the network to finalize blocks again')
  })

  it('committee power, not pod counts: a member nobody hears leaves no room for another', () => {
    const nodes = plan()
    const p = planRollout(input(nodes, outdatedOnly(nodes, WITNESSES), { silent: ['witnesses-3'] }))
    // witnesses-3 is offline (its pod may look Ready): replacing it costs no power, the others would.
    expect(p.replace.map((r) => r.node)).toEqual(['witnesses-3'])
    // A fifth member this operator does not run is silent: 4 of 5 online, 4 needed, no room at all.
    const committee = { 'witnesses-0': 1, 'witnesses-1': 1, 'witnesses-2': 1, 'witnesses-3': 1, elsewhere: 1 }
    const q = planRollout(input(nodes, outdatedOnly(nodes, WITNESSES), { committee, silent: ['elsewhere'] }))
    expect(q.replace).toEqual([])
    expect(q.progress?.waitingFor).toBe('committee power: without witnesses-0 3 of 5 would be online, 4 needed')
  })

  it('unequal stakes: a member whose absence would cost > 1/3 waits; weaker ones go first', () => {
    const nodes = plan()
    const committee = { 'witnesses-0': 3, 'witnesses-1': 1, 'witnesses-2': 1, 'witnesses-3': 1 }
    // total 6, 5 needed: without witnesses-0 only 3 are online.
    expect(replaced(input(nodes, outdatedOnly(nodes, WITNESSES), { committee }))).toEqual(['witnesses-1'])
    const p = planRollout(input(nodes, outdatedOnly(nodes, ['witnesses-0']), { committee }))
    expect(p.replace).toEqual([])
    expect(p.progress?.waitingFor).toBe('committee power: without witnesses-0 3 of 6 would be online, 5 needed')
  })

  it('order: standbys, then seeds, then SSNs, then committee members', () => {
    const nodes = plan()
    const all = nodes.map((n) => n.node)
    expect(replaced(input(nodes, outdatedOnly(nodes, all)))).toEqual(['standbys-0'])
    expect(
      replaced(
        input(
          nodes,
          outdatedOnly(
            nodes,
            all.filter((n) => !n.startsWith('standbys')),
          ),
        ),
      ),
    ).toEqual(['seed-0'])
    expect(replaced(input(nodes, outdatedOnly(nodes, ['ssn-2', 'witnesses-0', 'ssn-5'])))).toEqual(['ssn-2'])
  })

  it('a promoted standby votes: it goes with the committee members, power-checked', () => {
    const nodes = plan()
    const committee = { 'witnesses-0': 1, 'witnesses-1': 1, 'witnesses-2': 1, 'standbys-1': 1 }
    const p = planRollout(input(nodes, outdatedOnly(nodes, ['standbys-1', 'witnesses-3']), { committee }))
    // witnesses-3 is not in the committee (a non-voter): first.
    expect(p.replace.map((r) => r.node)).toEqual(['witnesses-3'])
    const q = planRollout(input(nodes, outdatedOnly(nodes, ['standbys-1', 'witnesses-0']), { committee }))
    expect(q.replace.map((r) => [r.node, r.reason])).toEqual([
      ['standbys-1', 'committee power online without it: 3 of 4, 3 needed'],
    ])
  })

  it('SSNs: as many at once as the erasure budget (the SSN PDB), never more', () => {
    const nodes = plan()
    const ssns = nodes.filter((n) => n.role === 'ssn').map((n) => n.node)
    expect(replaced(input(nodes, outdatedOnly(nodes, ssns), {}, { ssnBudget: 1 }))).toEqual(['ssn-0'])
    expect(replaced(input(nodes, outdatedOnly(nodes, ssns), {}, { ssnBudget: 2 }))).toEqual(['ssn-0', 'ssn-1'])
    expect(replaced(input(nodes, outdatedOnly(nodes, ['ssn-4']), {}, { ssnBudget: 2 }))).toEqual(['ssn-4'])
    // One SSN still starting uses the budget: nothing more until it is Ready.
    expect(
      replaced(
        input(
          nodes,
          { ...outdatedOnly(nodes, ssns), 'ssn-0': { specHash: 'new', ready: false, notReadyForMs: 1_000 } },
          {},
          { ssnBudget: 2 },
        ),
      ),
    ).toEqual([])
    expect(replaced(input(nodes, outdatedOnly(nodes, ssns), {}, { ssnBudget: 0 }))).toEqual([])
  })

  it('seeds: one at a time while the others are up; a single seed is replaced too (its PDB allows one)', () => {
    const nodes = plan()
    const seeds = ['seed-0', 'seed-1', 'seed-2']
    expect(replaced(input(nodes, outdatedOnly(nodes, seeds)))).toEqual(['seed-0'])
    expect(
      replaced(
        input(nodes, { ...outdatedOnly(nodes, seeds), 'seed-0': { specHash: 'new', ready: false, notReadyForMs: 1 } }),
      ),
    ).toEqual([])
    const one = plan({ seed: 1, ssn: 0, standby: 0, witness: 4 })
    expect(replaced(input(one, outdatedOnly(one, ['seed-0'])))).toEqual(['seed-0'])
  })

  it('an outdated pod that is down already is replaced first, whatever else is down (the way out of a broken template)', () => {
    const nodes = plan()
    const all = nodes.map((n) => n.node)
    const broken = Object.fromEntries(
      nodes.map((n) => [n.node, { specHash: 'old', ready: false, crashLooping: true }] as const),
    )
    // Every pod crash-looping, nobody answers: all of them are replaced at once.
    const none = Object.fromEntries(all.map((n) => [n, null]))
    expect(replaced(input(nodes, broken, { status: none, silent: WITNESSES })).sort()).toEqual([...all].sort())
    // Not Ready long enough counts as down; briefly not Ready does not.
    const pods = { ...outdatedOnly(nodes, ['ssn-1', 'ssn-2']), 'ssn-5': { specHash: 'new', ready: false } }
    expect(
      replaced(input(nodes, { ...pods, 'ssn-2': { specHash: 'old', ready: false, notReadyForMs: DOWN_AFTER_MS } })),
    ).toEqual(['ssn-2'])
    expect(
      replaced(input(nodes, { ...pods, 'ssn-2': { specHash: 'old', ready: false, notReadyForMs: DOWN_AFTER_MS - 1 } })),
    ).toEqual([])
    // A witness whose pod is not Ready but which is heard voting is not down: power rules apply.
    const w = {
      ...outdatedOnly(nodes, WITNESSES),
      'witnesses-2': { specHash: 'old', ready: false, crashLooping: true },
    }
    expect(replaced(input(nodes, w))).toEqual([])
    expect(replaced(input(nodes, w, { silent: ['witnesses-2'] }))).toEqual(['witnesses-2'])
  })

  it('nodes without a desired pod (key missing, re-keying) are neither counted nor waited for', () => {
    const nodes = plan().map((n) => (n.node === 'ssn-5' ? { ...n, desiredHash: undefined } : n))
    const i = input(nodes, outdatedOnly(nodes, ['witnesses-1']))
    const p = planRollout({ ...i, pods: i.pods.filter((x) => x.name !== 'testnet-ssn-5') })
    expect(p.replace.map((r) => r.node)).toEqual(['witnesses-1'])
    expect(p.progress).toMatchObject({ updated: 13, total: 14 })
  })
})

/**
 * A model of the cluster and the nodes under a rollout of the whole example network: every tick
 * the operator plans and deletes; pods then terminate, are re-created, become Ready and are heard
 * in an order fast-check picks. Whatever the order, the budgets hold at every moment and the
 * rollout finishes.
 */
describe('planRollout over a whole rollout (model, property)', () => {
  type Stage = 'old' | 'terminating' | 'gone' | 'starting' | 'new'
  const nodes = plan()
  const TICK = 1_000

  function run(advance: readonly boolean[], ssnBudget: number): { ticks: number; maxDown: number } {
    const stage = new Map<string, Stage>(nodes.map((n) => [n.node, 'old']))
    const readySince = new Map<string, number>()
    let maxDown = 0
    let k = 0
    for (let tick = 1; tick < 2_000; tick++) {
      const now = NOW + tick * TICK
      const up = (n: string): boolean => stage.get(n) === 'old' || stage.get(n) === 'new'
      const silent = WITNESSES.filter((w) => !up(w))
      const pods: RolloutPod[] = nodes.flatMap((n) => {
        const s = stage.get(n.node)!
        if (s === 'gone') return []
        return [
          pod(n, {
            specHash: s === 'old' || s === 'terminating' ? 'old' : 'new',
            ready: up(n.node),
            terminating: s === 'terminating',
            readySinceMs: readySince.get(n.node) ?? 0,
            notReadyForMs: 0,
          }),
        ]
      })
      const obs = observations(nodes, {
        silent,
        status: Object.fromEntries(nodes.filter((n) => !up(n.node)).map((n) => [n.node, null])),
        atMs: Object.fromEntries(nodes.map((n) => [n.node, now])),
      })
      const p = planRollout({ nodes, pods, observations: obs, finalizing: true, ssnBudget })
      if (p.progress === undefined && nodes.every((n) => stage.get(n.node) === 'new')) return { ticks: tick, maxDown }
      for (const r of p.replace) stage.set(r.node, 'terminating')
      // Invariants right after the operator acted.
      const down = nodes.filter((n) => !up(n.node))
      maxDown = Math.max(maxDown, down.length)
      expect(WITNESSES.filter((w) => !up(w)).length).toBeLessThanOrEqual(1)
      expect(down.filter((n) => n.role === 'ssn').length).toBeLessThanOrEqual(ssnBudget)
      expect(down.filter((n) => n.role === 'seed').length).toBeLessThanOrEqual(1)
      expect(new Set(down.map((n) => n.role)).size).toBeLessThanOrEqual(1)
      // The cluster moves on, in the order the property picks (every node eventually).
      for (const n of nodes) {
        const go = (advance[k++ % advance.length] ?? true) || tick % 7 === 0
        if (!go) continue
        const s = stage.get(n.node)!
        if (s === 'terminating') stage.set(n.node, 'gone')
        else if (s === 'gone') stage.set(n.node, 'starting')
        else if (s === 'starting') {
          stage.set(n.node, 'new')
          readySince.set(n.node, now)
        }
      }
    }
    throw new Error('the rollout did not finish')
  }

  it('never more than one witness, one seed, the SSN budget, or one role down; it always finishes', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }), fc.constantFrom(1, 2), (adv, budget) => {
        const r = run(adv, budget)
        expect(r.maxDown).toBeLessThanOrEqual(budget)
      }),
      { numRuns: 200 },
    )
  })
})
