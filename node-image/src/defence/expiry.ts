import type { Obj } from '../util/guards.ts'
import { DefenceError } from './errors.ts'
import type { DefenceErrorCode } from './errors.ts'

/** Longest a blocklist entry or a limits override may last: renewed while an attack lasts. */
export const MAX_DEFENCE_TTL_MS = 90 * 24 * 3600 * 1000

/**
 * The expiry of a defence from untrusted JSON: exactly one of `expiresAtMs` (ms since epoch) or
 * `ttlSeconds` (positive integer), in the future and at most MAX_DEFENCE_TTL_MS away.
 */
export function parseExpiry(v: Obj, nowMs: number, code: DefenceErrorCode): number {
  const bad = (why: string): DefenceError => new DefenceError(code, why)
  const hasAt = v.expiresAtMs !== undefined
  const hasTtl = v.ttlSeconds !== undefined
  if (hasAt === hasTtl) throw bad('give expiresAtMs (ms since epoch) or ttlSeconds (positive integer), one of them')
  let at: number
  if (hasTtl) {
    if (typeof v.ttlSeconds !== 'number' || !Number.isSafeInteger(v.ttlSeconds) || v.ttlSeconds <= 0)
      throw bad('ttlSeconds must be a positive integer')
    at = nowMs + v.ttlSeconds * 1000
  } else {
    if (typeof v.expiresAtMs !== 'number' || !Number.isSafeInteger(v.expiresAtMs))
      throw bad('expiresAtMs must be an integer (ms since epoch)')
    at = v.expiresAtMs
  }
  if (at <= nowMs) throw bad(`expiry ${at} is not in the future`)
  if (at - nowMs > MAX_DEFENCE_TTL_MS) throw bad(`a defence may last at most ${MAX_DEFENCE_TTL_MS / 86_400_000} days`)
  return at
}
