/**
 * Council signature counting, shared by every council-authorized payload (council actions,
 * restart manifests, disaster declarations).
 */
import { publicKeyFromDid } from '../crypto/did.ts'
import { verify } from '../crypto/ed25519.ts'
import type { Did } from '../crypto/did.ts'

export const MAX_COUNCIL_MEMBERS = 64
export const MAX_COUNCIL_SIGNATURES = 128

export interface CouncilSpec {
  members: readonly string[]
  threshold: number
}

/** Codes shared with the ledger's LedgerErrorCode (same strings). */
export type GovernanceErrorCode =
  | 'INVALID_PAYLOAD'
  | 'EXPIRED'
  | 'BAD_SIGNATURE'
  | 'COUNCIL_THRESHOLD_NOT_MET'
  | 'WRONG_CHAIN'
  | 'UNAUTHORIZED'
  | 'POLICY_VIOLATION'

export type VerifyResult = { ok: true } | { ok: false; code: GovernanceErrorCode; message: string }
/** A verdict that names the members whose signatures counted. */
export type SignersResult = { ok: true; signers: Did[] } | { ok: false; code: GovernanceErrorCode; message: string }

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function councilProblem(council: CouncilSpec): string | undefined {
  const n = council.members.length
  if (n === 0 || n > MAX_COUNCIL_MEMBERS) return `council must have 1 to ${MAX_COUNCIL_MEMBERS} members`
  const t = council.threshold
  if (!Number.isSafeInteger(t) || t < 1 || t > n) return `council threshold ${t} is not between 1 and ${n}`
  return undefined
}

/**
 * Counts distinct council members whose signature over `bytes` verifies. Non-members are ignored
 * (they carry no authority), a member counted once however often it appears, and any member entry
 * whose signature does not verify refuses the whole set: a forged signature is an attack or a
 * mistake the signers must hear about, not noise to skip.
 */
export function checkSignatures(
  bytes: Uint8Array,
  sigs: readonly { did: string; sig: Uint8Array }[],
  council: CouncilSpec,
  what: string,
): SignersResult {
  const cp = councilProblem(council)
  if (cp !== undefined) return { ok: false, code: 'UNAUTHORIZED', message: cp }
  if (!Array.isArray(sigs) || sigs.length > MAX_COUNCIL_SIGNATURES) {
    return { ok: false, code: 'INVALID_PAYLOAD', message: `at most ${MAX_COUNCIL_SIGNATURES} signatures` }
  }
  const members = new Set(council.members)
  const counted = new Set<string>()
  // Elements are checked at run time: signatures arrive from the network and from YAML.
  for (const s of sigs as readonly unknown[]) {
    if (!isObj(s) || typeof s.did !== 'string' || !(s.sig instanceof Uint8Array)) {
      return { ok: false, code: 'INVALID_PAYLOAD', message: 'each signature is { did, sig: bytes }' }
    }
    if (!members.has(s.did)) continue
    let pub: Uint8Array
    try {
      pub = publicKeyFromDid(s.did)
    } catch {
      return { ok: false, code: 'BAD_SIGNATURE', message: `council member ${s.did} is not a valid did:key` }
    }
    if (!verify(pub, bytes, s.sig)) {
      return { ok: false, code: 'BAD_SIGNATURE', message: `signature of council member ${s.did} does not verify` }
    }
    counted.add(s.did)
  }
  if (counted.size < council.threshold) {
    return {
      ok: false,
      code: 'COUNCIL_THRESHOLD_NOT_MET',
      message: `${what} has ${counted.size} valid council signature(s), ${council.threshold} required`,
    }
  }
  return { ok: true, signers: [...counted].sort() as Did[] }
}
