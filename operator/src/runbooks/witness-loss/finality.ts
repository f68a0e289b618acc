/** WaitForFinality and Verify: the new epoch finalizes, and the chain checks out when read back (pure). */
import { fail, finishStep, iso, remember, setPhase, startStep } from '../engine.ts'
import type { Observation, RunbookState, StepResult } from '../types.ts'
import {
  POLL_MS,
  MAX_ATTEMPTS,
  AUDIT_BEFORE,
  voter,
  restartOptions,
  manifestOf,
  result,
  waiting,
  event,
} from './common.ts'

export function waitForFinality(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  const m = manifestOf(state)!
  const s = startStep(state, 'WaitForFinality', now)
  if (obs.dryRun) return result(finishStep(s, 'WaitForFinality', now, 'Skipped', 'dry run'))
  const resumed = obs.nodes
    .filter(
      (n) => voter(n) && n.status !== undefined && n.status.epoch >= m.epoch && n.status.finalizedHeight > m.height,
    )
    .sort((a, b) => b.status!.finalizedHeight - a.status!.finalizedHeight)[0]
  if (resumed !== undefined) {
    const fault = Date.parse(state.runbook.faultAt ?? iso(now))
    const rto = Math.round((now - fault) / 100) / 10
    const done = remember(s, { resumedAt: iso(now), resumedHeight: resumed.status!.finalizedHeight })
    return result(
      {
        ...finishStep(
          done,
          'WaitForFinality',
          now,
          'Succeeded',
          `block ${resumed.status!.finalizedHeight} of epoch ${m.epoch} is final (${resumed.node}); RTO ${rto} s`,
        ),
        rtoSeconds: rto,
      },
      [event('Normal', 'FinalityResumed', `finality resumed in epoch ${m.epoch}, ${rto} s after the fault`)],
    )
  }
  const started = Date.parse(s.steps.find((x) => x.name === 'WaitForFinality')?.startedAt ?? iso(now))
  if (now - started > restartOptions(obs).timeoutSeconds * 1000) {
    return result(
      fail(
        s,
        'WaitForFinality',
        now,
        `no block of epoch ${m.epoch} final after ${restartOptions(obs).timeoutSeconds} s`,
      ),
    )
  }
  const ready = obs.nodes.find((n) => n.status?.restart?.manifestHash === state.runbook.manifestHash)?.status?.restart
  return waiting(
    s,
    'WaitForFinality',
    ready ? `ready power ${ready.readyPower} of ${ready.totalPower}` : 'waiting for the new set to be ready',
  )
}

export function verify(state: RunbookState, obs: Observation): StepResult {
  const now = obs.nowMs
  let s = startStep(state, 'Verify', now)
  if (obs.dryRun) return result(finishStep(s, 'Verify', now, 'Skipped', 'dry run'))
  s = setPhase(s, 'Verifying', now, 'finality resumed; checking the chain independently')
  const m = manifestOf(state)!
  const epoch = m.epoch
  const readers = obs.nodes
    .filter((n) => voter(n) && n.ip !== undefined && n.status !== undefined && n.status.epoch >= epoch)
    .slice(0, 3)
  if (readers.length === 0) return waiting(s, 'Verify', 'no node of the new epoch answers')
  if ((s.steps.find((x) => x.name === 'Verify')?.attempts ?? 0) >= MAX_ATTEMPTS) {
    return result(fail(s, 'Verify', now, 'the chain could not be read back from the nodes'))
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
