/**
 * What a council-signed disaster declaration does on the ledger (DESIGN §5, §6), pure. The council
 * signs one payload (the declaration, with its actions as the operator will run them); the ledger
 * reads the actions that change ledger state out of it and applies them as council actions, so a
 * compromised operator can neither invent nor widen them: nodes check the council's signatures
 * over exactly these bytes. Actions that act on pods or nodes (PromoteStandbys, RateLimits, …)
 * change no ledger state and are not read here.
 *
 *   every declaration   → declare-emergency (its scenario), lapsing when the declaration expires
 *   PauseModules        → pause-module per module, until block time + durationSeconds
 *   SetParameters       → set-params, expiring at block time + durationSeconds
 *   ScheduledUpgrade    → upgrade-plan (name `upgrade-<minVersion>`)
 *   Compensate          → compensate (treasury transfers)
 *   PausePoSRSlashing   → storage-incident
 *   StateEdit           → stop-at height + 1: no node executes past the block the edits apply on;
 *                         the edits themselves come in a restart manifest the council signs
 *                         separately (ADR 0015), once the nodes can preview them on that block
 */
import { isDid } from '../crypto/did.ts'
import type { DeclarationPayload } from './declaration-payload.ts'
import { COUNCIL_ACTION_DOMAIN, councilActionProblem, MODULE_NAMES } from './governance-payloads.ts'
import type { CouncilActionBody, ModuleName } from './governance-payloads.ts'
import { PARAM_NAMES } from './params.ts'
import type { ParamName } from './params.ts'

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0

/** The ledger actions of a declaration, or a readable problem (the event then fails as INVALID_PAYLOAD). */
export function declarationLedgerActions(
  d: DeclarationPayload,
  blockTimeMs: number,
): { ok: true; actions: CouncilActionBody[] } | { ok: false; problem: string } {
  const out: CouncilActionBody[] = [
    { kind: 'declare-emergency', scenario: d.scenario, reason: `disaster declaration ${d.nonce}` },
  ]
  const until = (seconds: unknown, path: string): number => {
    if (!isPosInt(seconds)) throw new Error(`${path}.durationSeconds must be a positive integer`)
    return blockTimeMs + seconds * 1000
  }
  try {
    for (const [i, a] of d.actions.entries()) {
      const path = `actions[${i}]`
      if (!isObj(a) || typeof a.type !== 'string') throw new Error(`${path} must be an object with a type`)
      const member = (name: string): Obj => {
        const m = a[name]
        if (!isObj(m)) throw new Error(`${path}.${name} is required for ${String(a.type)}`)
        return m
      }
      switch (a.type) {
        case 'PauseModules': {
          const m = member('pauseModules')
          const modules = m.modules
          if (!Array.isArray(modules) || modules.length === 0)
            throw new Error(`${path}.pauseModules.modules must list modules`)
          const untilMs = until(m.durationSeconds, `${path}.pauseModules`)
          for (const mod of modules) {
            if (typeof mod !== 'string' || !(MODULE_NAMES as readonly string[]).includes(mod))
              throw new Error(`${path}.pauseModules.modules: ${String(mod)} is not a module`)
            out.push({ kind: 'pause-module', module: mod as ModuleName, untilMs, reason: `declaration ${d.nonce}` })
          }
          break
        }
        case 'SetParameters': {
          const m = member('setParameters')
          if (!isObj(m.parameters)) throw new Error(`${path}.setParameters.parameters must be an object`)
          const params: Partial<Record<ParamName, number>> = {}
          for (const [k, v] of Object.entries(m.parameters)) {
            if (!(PARAM_NAMES as readonly string[]).includes(k)) throw new Error(`${path}: unknown parameter ${k}`)
            if (typeof v !== 'number') throw new Error(`${path}: parameter ${k} must be a number`)
            params[k as ParamName] = v
          }
          const expiresAtMs = until(m.durationSeconds, `${path}.setParameters`)
          out.push({ kind: 'set-params', params, expiresAtMs, reason: `declaration ${d.nonce}` })
          break
        }
        case 'ScheduledUpgrade': {
          const m = member('scheduledUpgrade')
          const { height, binaryDigest, minVersion } = m
          if (!isPosInt(height) || typeof binaryDigest !== 'string' || typeof minVersion !== 'string')
            throw new Error(`${path}.scheduledUpgrade needs height, binaryDigest and minVersion`)
          out.push({ kind: 'upgrade-plan', name: `upgrade-${minVersion}`, height, binaryDigest, minVersion })
          break
        }
        case 'Compensate': {
          const m = member('compensate')
          if (!Array.isArray(m.transfers)) throw new Error(`${path}.compensate.transfers must be a list`)
          const transfers = m.transfers.map((t: unknown, j) => {
            if (!isObj(t) || !isDid(t.to) || !isPosInt(t.amount))
              throw new Error(`${path}.compensate.transfers[${j}] needs a did:key "to" and a positive amount`)
            return { to: t.to, amount: t.amount }
          })
          out.push({ kind: 'compensate', transfers, reason: `declaration ${d.nonce}` })
          break
        }
        case 'PausePoSRSlashing':
          out.push({ kind: 'storage-incident', active: true, reason: `declaration ${d.nonce}` })
          break
        case 'StateEdit': {
          const height = member('stateEdit').height
          if (!isPosInt(height)) throw new Error(`${path}.stateEdit.height must be a positive integer`)
          out.push({
            kind: 'stop-at',
            height: height + 1,
            reason: `declaration ${d.nonce}: state edit on block ${height}`,
          })
          break
        }
        default:
          // Acts on pods or nodes, not on ledger state.
          break
      }
    }
  } catch (err) {
    return { ok: false, problem: (err as Error).message }
  }
  // Each body must also be a valid council action (bounds, formats): the same checks as if the
  // council had signed it directly.
  for (const action of out) {
    const problem = councilActionProblem({
      domain: COUNCIL_ACTION_DOMAIN,
      chainId: d.chainId,
      nonce: d.nonce,
      expiresAtMs: d.expiresAtMs,
      action,
    })
    if (problem !== undefined) return { ok: false, problem: `${action.kind}: ${problem}` }
  }
  return { ok: true, actions: out }
}
