import { CodedError } from '../util/coded-error.ts'

/**
 * Codes of the node's defences (rate limits, connection limits, blocklist). Clients and the
 * operator's NetworkAttack runbook branch on them; a code is never renamed once shipped.
 */
export const DEFENCE_ERROR_CODES = [
  /** A token bucket is empty: retry after the time given (HTTP 429 with Retry-After). */
  'RATE_LIMITED',
  /** The client's IP, peer id or DID is on this node's blocklist (HTTP 403). */
  'BLOCKED',
  /** A creator DID is over its publish quota (publishes or bytes): retry after the time given (HTTP 429). */
  'QUOTA_EXCEEDED',
  /** Too many uploads from one client at once (HTTP 429). */
  'TOO_MANY_UPLOADS',
  'INVALID_BLOCKLIST_ENTRY',
  'BLOCKLIST_FULL',
  'INVALID_LIMITS',
  /** The persisted defences file could not be read or written. */
  'DEFENCES_UNREADABLE',
] as const

export type DefenceErrorCode = (typeof DEFENCE_ERROR_CODES)[number]

export class DefenceError extends CodedError<DefenceErrorCode> {
  /** For RATE_LIMITED / TOO_MANY_UPLOADS: when a retry may succeed. */
  readonly retryAfterMs: number | undefined
  constructor(code: DefenceErrorCode, message: string, retryAfterMs?: number) {
    super(code, message)
    this.retryAfterMs = retryAfterMs
  }
}
