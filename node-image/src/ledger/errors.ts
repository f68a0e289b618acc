/**
 * Stable, machine-readable error codes of the ledger. APIs return them to clients and the
 * operator matches on them, so a code is never renamed once shipped (add new ones instead).
 */
export const LEDGER_ERROR_CODES = [
  // Envelope and stateless checks.
  'MALFORMED_EVENT',
  'PAYLOAD_TOO_LARGE',
  'UNKNOWN_EVENT_TYPE',
  'INVALID_PAYLOAD',
  'BAD_SIGNATURE',
  'WRONG_CHAIN',
  // Stateful checks.
  'BAD_NONCE',
  'NONCE_GAP',
  'INSUFFICIENT_FUNDS',
  'FEE_TOO_LOW',
  /** The event's fee is above what the creator's publish authorization allows (maxFee). */
  'FEE_ABOVE_MAX',
  'MODULE_PAUSED',
  'LEDGER_HALTED',
  'UNAUTHORIZED',
  'COUNCIL_THRESHOLD_NOT_MET',
  'EXPIRED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'STAKE_TOO_LOW',
  'STAKE_LOCKED',
  'POLICY_VIOLATION',
  // Whole-ledger operations.
  'INVALID_GENESIS',
  'INVALID_SNAPSHOT',
  'INVALID_STATE_EDIT',
  'BAD_BLOCK_CONTEXT',
  'STALE_EXECUTION',
  'RESTART_MISMATCH',
  // This build may not execute the block: an upgrade plan or the protocol in force needs another.
  'UPGRADE_REQUIRED',
  // A bug in a module: the event fails deterministically on every node instead of crashing them.
  'INTERNAL_ERROR',
] as const

export type LedgerErrorCode = (typeof LEDGER_ERROR_CODES)[number]

export class LedgerError extends Error {
  readonly code: LedgerErrorCode
  constructor(code: LedgerErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'LedgerError'
    this.code = code
  }
}

export function isLedgerErrorCode(s: string): s is LedgerErrorCode {
  return (LEDGER_ERROR_CODES as readonly string[]).includes(s)
}
