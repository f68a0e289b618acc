import type { ModuleName } from '../governance-payloads.ts'
import { KEYS } from '../state.ts'
import type {
  Authorizations,
  CouncilState,
  EmergencyState,
  ParamOverrides,
  PauseRecord,
  Pauses,
  ProtocolRecord,
  UpgradePlan,
} from '../state.ts'
import type { Overlay } from '../store.ts'

/** Read side of governance state, shared by every module (no dependencies on other modules). */

const NO_EMERGENCY: EmergencyState = {}

export function getEmergency(ov: Overlay): EmergencyState {
  return (ov.get(KEYS.emergency) as EmergencyState | undefined) ?? NO_EMERGENCY
}

export function getCouncil(ov: Overlay): CouncilState {
  return ov.get(KEYS.council) as CouncilState
}

export function getPauses(ov: Overlay): Pauses {
  return (ov.get(KEYS.pauses) as Pauses | undefined) ?? {}
}

export function getOverrides(ov: Overlay): ParamOverrides {
  return (ov.get(KEYS.overrides) as ParamOverrides | undefined) ?? {}
}

export function getAuthorizations(ov: Overlay): Authorizations {
  return (ov.get(KEYS.authorizations) as Authorizations | undefined) ?? {}
}

export function getUpgradePlan(ov: Overlay): UpgradePlan | undefined {
  return ov.get(KEYS.upgrade) as UpgradePlan | undefined
}

export function getProtocol(ov: Overlay): ProtocolRecord | undefined {
  return ov.get(KEYS.protocol) as ProtocolRecord | undefined
}

/** A pause holds while both of its bounds are in the future; it ends at whichever comes first. */
export function pauseActive(p: PauseRecord, height: number, timeMs: number): boolean {
  if (p.untilMs !== undefined && timeMs >= p.untilMs) return false
  if (p.untilHeight !== undefined && height >= p.untilHeight) return false
  return true
}

export function isPaused(ov: Overlay, module: ModuleName, height: number, timeMs: number): boolean {
  const p = getPauses(ov)[module]
  return p !== undefined && pauseActive(p, height, timeMs)
}

/**
 * Begin-block housekeeping: drop expired parameter overrides and pauses, so that the state (and
 * its root) says what is in force. Deterministic: it depends only on the block's height and time.
 */
export function pruneExpired(ov: Overlay, height: number, timeMs: number): void {
  const overrides = getOverrides(ov)
  const liveOverrides = Object.entries(overrides).filter(([, o]) => timeMs < o.expiresAtMs)
  if (liveOverrides.length !== Object.keys(overrides).length) ov.set(KEYS.overrides, Object.fromEntries(liveOverrides))
  const pauses = getPauses(ov)
  const livePauses = Object.entries(pauses).filter(([, p]) => pauseActive(p, height, timeMs))
  if (livePauses.length !== Object.keys(pauses).length) ov.set(KEYS.pauses, Object.fromEntries(livePauses))
  const em = getEmergency(ov)
  if (em.declared?.untilMs !== undefined && timeMs >= em.declared.untilMs) {
    const { declared: _lapsed, ...rest } = em
    ov.set(KEYS.emergency, rest)
  }
  const em2 = getEmergency(ov)
  if (em2.storageIncident?.untilMs !== undefined && timeMs >= em2.storageIncident.untilMs) {
    const { storageIncident: _lapsed, ...rest } = em2
    ov.set(KEYS.emergency, rest)
  }
  // The flag height is reached: from this block on, the plan's version is the protocol in force.
  const plan = getUpgradePlan(ov)
  if (plan !== undefined && height >= plan.height) {
    const rec: ProtocolRecord = {
      name: plan.name,
      version: plan.minVersion,
      binaryDigest: plan.binaryDigest,
      sinceHeight: plan.height,
    }
    ov.set(KEYS.protocol, rec)
    ov.delete(KEYS.upgrade)
  }
  pruneAuthorizations(ov)
}

/** Signed payloads are kept only while something they authorized is in force. */
function pruneAuthorizations(ov: Overlay): void {
  const all = getAuthorizations(ov)
  const refs = Object.keys(all)
  if (refs.length === 0) return
  const used = new Set<string | undefined>()
  const em = getEmergency(ov)
  used
    .add(em.declared?.authorizedBy)
    .add(em.halted?.authorizedBy)
    .add(em.storageIncident?.authorizedBy)
    .add(em.stopAt?.authorizedBy)
  for (const p of Object.values(getPauses(ov))) used.add(p.authorizedBy)
  for (const o of Object.values(getOverrides(ov))) used.add(o.authorizedBy)
  used.add(getUpgradePlan(ov)?.authorizedBy)
  const live = refs.filter((r) => used.has(r))
  if (live.length !== refs.length) ov.set(KEYS.authorizations, Object.fromEntries(live.map((r) => [r, all[r]])))
}
