import type { ModuleName } from '../governance-payloads.ts'
import { KEYS } from '../state.ts'
import type { CouncilState, EmergencyState, ParamOverrides, PauseRecord, Pauses } from '../state.ts'
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
}
