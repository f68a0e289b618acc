import { decode, encode } from '../crypto/encoding.ts'
import { sha256, toHex } from '../crypto/hash.ts'
import { restartManifestBytes, restartManifestProblem } from './governance-payloads.ts'
import type { RestartAuthorization, RestartManifest } from './governance-payloads.ts'
import { CodedError } from '../util/coded-error.ts'
import { isObj } from '../util/guards.ts'

/**
 * A restart record: a RestartManifest with its authorization (council signatures, or a standing
 * policy with its agent's signature), as DAG-CBOR. The admin API takes it, the node store keeps
 * it (the epoch boundary is replayed from it), and peers fetch it to follow a restart they missed.
 */
export interface RestartRecord {
  readonly manifest: RestartManifest
  readonly authorization: RestartAuthorization
}

export class RestartRecordError extends CodedError {}

/** Most a record may weigh: a manifest with state edits and up to 128 signatures. */
export const MAX_RESTART_RECORD_BYTES = 4 * 1024 * 1024

function isSignatureList(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.length <= 128 &&
    v.every((s) => isObj(s) && typeof s.did === 'string' && s.sig instanceof Uint8Array)
  )
}

function authorizationProblem(a: unknown): string | undefined {
  if (!isObj(a)) return 'authorization must be an object'
  if (a.kind === 'council') return isSignatureList(a.signatures) ? undefined : 'authorization.signatures is malformed'
  if (a.kind === 'policy') {
    if (!isObj(a.policy)) return 'authorization.policy must be a council action'
    if (!isSignatureList(a.policySignatures)) return 'authorization.policySignatures is malformed'
    const agent = a.agentSignature
    if (!isObj(agent) || typeof agent.did !== 'string' || !(agent.sig instanceof Uint8Array)) {
      return 'authorization.agentSignature is malformed'
    }
    return undefined
  }
  return 'authorization.kind must be council or policy'
}

export function encodeRestartRecord(r: RestartRecord): Uint8Array {
  return encode({ manifest: r.manifest, authorization: r.authorization })
}

/** Decodes and shape-checks a record from untrusted bytes; throws INVALID_RESTART_RECORD. */
export function decodeRestartRecord(bytes: Uint8Array): RestartRecord {
  if (bytes.length > MAX_RESTART_RECORD_BYTES) {
    throw new RestartRecordError('INVALID_RESTART_RECORD', `record is larger than ${MAX_RESTART_RECORD_BYTES} bytes`)
  }
  let v: unknown
  try {
    v = decode(bytes)
  } catch (err) {
    throw new RestartRecordError('INVALID_RESTART_RECORD', `not DAG-CBOR: ${(err as Error).message}`)
  }
  if (!isObj(v)) throw new RestartRecordError('INVALID_RESTART_RECORD', 'record must be {manifest, authorization}')
  const problem = restartManifestProblem(v.manifest) ?? authorizationProblem(v.authorization)
  if (problem !== undefined) throw new RestartRecordError('INVALID_RESTART_RECORD', problem)
  return { manifest: v.manifest as RestartManifest, authorization: v.authorization as RestartAuthorization }
}

/** What RestartReady messages name: the hash of exactly the bytes the authorization signs. */
export function manifestHash(m: RestartManifest): string {
  return toHex(sha256(restartManifestBytes(m)))
}

/** A manifest alone as DAG-CBOR (what the operator records before anyone signs it). */
export function encodeManifest(m: RestartManifest): Uint8Array {
  return encode(m)
}

/** Decodes and shape-checks a manifest; throws INVALID_RESTART_RECORD. */
export function decodeManifest(bytes: Uint8Array): RestartManifest {
  let v: unknown
  try {
    v = decode(bytes)
  } catch (err) {
    throw new RestartRecordError('INVALID_RESTART_RECORD', `manifest is not DAG-CBOR: ${(err as Error).message}`)
  }
  const problem = restartManifestProblem(v)
  if (problem !== undefined) throw new RestartRecordError('INVALID_RESTART_RECORD', problem)
  return v as RestartManifest
}
