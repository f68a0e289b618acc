/**
 * Scenario C's hard fork with a state edit (seed §2.C), run by the CriticalFlaw runbook. Pure.
 * SubmitToLedger put the council-signed declaration on the ledger, and with it a stop right after
 * the edit's block (ledger/declaration-actions.ts): no node executes past it. Then
 *
 *   FreezeChain         wait until the voters stopped on that block (COUNCIL_STOP)
 *   PlanRestart         a node previews the edits on it; the manifest (same witnesses, next
 *                       epoch, the resulting state root) is recorded for the council to sign
 *   AuthorizeRestart    the council signs the manifest (kubectl echonet council sign); a
 *                       standing policy never can, and the nodes check that themselves
 *   CoordinatedRestart  every node gets the signed record, recomputes the edits and refuses any
 *                       other resulting root
 *   WaitForFinality     the new epoch finalizes
 *   VerifyFork          certified blocks read back from several nodes: one chain, the frozen
 *                       block in it
 *
 * The three middle steps are scenario A's (witness-loss/restart.ts), on the manifest recorded here.
 */
import type { StateEditInput } from '@echonet/node/admin'
import { encodeManifest, manifestHash } from '@echonet/node/restart'
import type { DisasterAction } from '../api/v1alpha1/types.ts'
import { attempt, fail, finishStep, iso, progress, remember, result, startStep } from './engine.ts'
import { HardForkPlanError, hardForkManifest } from './hard-fork-manifest.ts'
import type { RestartPreview } from '@echonet/node/admin'
import type { Effect, EffectOutcome, NodeView, Observation, RunbookState, StepResult } from './types.ts'
import {
  AUDIT_BEFORE,
  COUNCIL_MANIFEST_MS,
  MAX_ATTEMPTS,
  POLL_MS,
  b64,
  event,
  manifestOf,
  voter,
} from './witness-loss/common.ts'

export const FORK_STEPS = [
  'FreezeChain',
  'PlanRestart',
  'AuthorizeRestart',
  'CoordinatedRestart',
  'WaitForFinality',
  'VerifyFork',
] as const

type Edit = NonNullable<DisasterAction['stateEdit']>

export function stateEditOf(obs: Observation): Edit | undefined {
  return obs.actions.find((a) => a.type === 'StateEdit')?.stateEdit
}

/** The CRD's edits (values as canonical DAG-CBOR, base64) as the node's preview takes them. */
export function editInputs(edit: Edit): StateEditInput[] {
  return edit.edits.map((e) =>
    e.op === 'delete' ? { op: 'delete', key: e.key } : { op: 'put', key: e.key, valueCbor: e.value ?? '' },
  )
}

const waiting = (s: RunbookState, step: string, msg: string): StepResult => result(progress(s, step, msg), [], POLL_MS)

type Answering = NodeView & { ip: string; status: NonNullable<NodeView['status']> }
const answeringVoter = (n: NodeView): n is Answering => voter(n) && n.ip !== undefined && n.status !== undefined

export function freezeChain(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const edit = stateEditOf(obs)
  let s = startStep(state, 'FreezeChain', now)
  if (edit === undefined) {
    for (const name of FORK_STEPS) s = finishStep(s, name, now, 'Skipped', 'no StateEdit')
    return result(s)
  }
  const restartAt = obs.actions.find((a) => a.type === 'CoordinatedRestart')?.coordinatedRestart?.height
  if (restartAt !== undefined && restartAt !== edit.height) {
    return result(
      fail(s, 'FreezeChain', now, `CoordinatedRestart.height ${restartAt} is not the StateEdit's block ${edit.height}`),
    )
  }
  const voters = obs.nodes.filter(answeringVoter)
  const past = voters.find((n) => n.status.finalizedHeight > edit.height)
  if (past !== undefined) {
    return result(
      fail(
        s,
        'FreezeChain',
        now,
        `${past.node} finalized block ${past.status.finalizedHeight}, past the edit's block ${edit.height}: the stop came too late; declare the edit on a later block`,
      ),
    )
  }
  const stopped = voters.filter((n) => n.status.haltCode === 'COUNCIL_STOP' && n.status.finalizedHeight === edit.height)
  const first = stopped[0]
  if (first === undefined) {
    const top = Math.max(0, ...voters.map((n) => n.status.finalizedHeight))
    return waiting(s, 'FreezeChain', `waiting for the chain to stop on block ${edit.height} (finalized now: ${top})`)
  }
  const nodeOf = new Map(obs.nodes.flatMap((n) => (n.did === undefined ? [] : [[n.did, n.node] as const])))
  s = remember(s, {
    restartHeight: edit.height,
    restartHash: first.status.finalizedHash,
    faultAt: iso(now),
    witnessSet: (obs.committee?.members ?? []).map((m) => ({
      did: m.did,
      ...(nodeOf.has(m.did) ? { node: nodeOf.get(m.did)! } : {}),
      power: m.power,
      promoted: false,
    })),
  })
  const msg = `${stopped.map((n) => n.node).join(', ')} stopped on block ${edit.height} (${first.status.finalizedHash.slice(0, 16)}…)`
  return result(finishStep(s, 'FreezeChain', now, 'Succeeded', msg), [event('Normal', 'ChainFrozen', msg)])
}

export function planFork(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const edit = stateEditOf(obs)!
  const s = startStep(state, 'PlanRestart', now)
  const planner = obs.nodes
    .filter(answeringVoter)
    .find(
      (n) =>
        n.status.finalizedHeight === state.runbook.restartHeight &&
        n.status.finalizedHash === state.runbook.restartHash,
    )
  if (planner === undefined) {
    return waiting(s, 'PlanRestart', `no node that answers holds block ${state.runbook.restartHeight ?? '?'}`)
  }
  return result(progress(s, 'PlanRestart', `asking ${planner.node} to preview ${edit.edits.length} edit(s)`), [
    {
      kind: 'previewFork',
      node: planner.node,
      ip: planner.ip,
      edits: editInputs(edit),
      ...(edit.resultingStateRoot !== undefined ? { resultingStateRoot: edit.resultingStateRoot } : {}),
      expiresAtMs: now + COUNCIL_MANIFEST_MS,
    },
  ])
}

export function verifyFork(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const s = startStep(state, 'VerifyFork', now)
  const m = manifestOf(state)!
  const readers = obs.nodes.filter((n) => answeringVoter(n) && n.status.epoch >= m.epoch).slice(0, 3)
  if (readers.length === 0) return waiting(s, 'VerifyFork', `no node of epoch ${m.epoch} answers`)
  if ((s.steps.find((x) => x.name === 'VerifyFork')?.attempts ?? 0) >= MAX_ATTEMPTS) {
    return result(fail(s, 'VerifyFork', now, 'the chain could not be read back from the nodes'))
  }
  return result(
    s,
    [
      {
        kind: 'audit',
        nodes: readers.map((n) => ({ node: n.node, ip: n.ip! })),
        fromHeight: Math.max(1, m.height - AUDIT_BEFORE),
        toHeight: state.runbook.resumedHeight ?? m.height + 1,
        expect: { height: m.height, hash: m.blockHash },
      },
    ],
    POLL_MS,
  )
}

/** The preview's answer becomes the manifest the council signs, or the step fails saying why. */
export function recordPreview(
  state: RunbookState,
  effect: Extract<Effect, { kind: 'previewFork' }>,
  outcome: EffectOutcome,
  nowMs: number,
): RunbookState {
  if (!outcome.ok) {
    // INVALID_STATE_EDIT / INVALID_PAYLOAD: the edits themselves are wrong; asking again will not help.
    const permanent = outcome.code === 'INVALID_STATE_EDIT' || outcome.code === 'INVALID_PAYLOAD'
    const msg = `${effect.node} could not preview the edits (${outcome.code}): ${outcome.message}`
    if (permanent) return fail(state, 'PlanRestart', nowMs, msg)
    const s = attempt(progress(state, 'PlanRestart', msg), 'PlanRestart')
    const n = s.steps.find((x) => x.name === 'PlanRestart')?.attempts ?? 0
    return n >= MAX_ATTEMPTS ? fail(s, 'PlanRestart', nowMs, `no preview after ${n} attempts: ${outcome.message}`) : s
  }
  const p = outcome.value as RestartPreview
  if (p.height !== state.runbook.restartHeight || p.blockHash !== state.runbook.restartHash) {
    return fail(
      state,
      'PlanRestart',
      nowMs,
      `${effect.node} previewed on block ${p.height} (${p.blockHash}), not the frozen ${state.runbook.restartHeight ?? '?'}`,
    )
  }
  if (effect.resultingStateRoot !== undefined && p.resultingStateRoot !== effect.resultingStateRoot) {
    return fail(
      state,
      'PlanRestart',
      nowMs,
      `RESULTING_ROOT_MISMATCH: the edits give state root ${p.resultingStateRoot} on block ${p.height}, the declaration says ${effect.resultingStateRoot}`,
    )
  }
  let m
  try {
    m = hardForkManifest(p, { expiresAtMs: effect.expiresAtMs })
  } catch (err) {
    const code = err instanceof HardForkPlanError ? err.code : 'BAD_PREVIEW'
    return fail(state, 'PlanRestart', nowMs, `${code}: ${(err as Error).message}`)
  }
  const nodeOf = new Map((state.runbook.witnessSet ?? []).map((w) => [w.did, w.node]))
  const hash = manifestHash(m)
  const s = remember(state, {
    manifest: b64(encodeManifest(m)),
    manifestHash: hash,
    manifestExpiresAt: iso(m.expiresAtMs),
    witnessSet: m.witnesses.map((w) => {
      const node = nodeOf.get(w.did)
      return { did: w.did, ...(node !== undefined ? { node } : {}), power: w.power, promoted: false }
    }),
  })
  const edits = p.edits.map((e) => `${e.op} ${e.key}`).join(', ')
  return finishStep(
    s,
    'PlanRestart',
    nowMs,
    'Succeeded',
    `manifest ${hash}: epoch ${m.epoch} from block ${m.height}, edits ${edits}; state root ${p.stateRoot} → ${p.resultingStateRoot} (planned by ${effect.node}); the council signs it with kubectl echonet council sign`,
  )
}
