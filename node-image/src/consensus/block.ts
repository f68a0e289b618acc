import { encode, decode } from '../crypto/encoding.ts'
import { sha256, toHex } from '../crypto/hash.ts'
import { verify } from '../crypto/ed25519.ts'
import { publicKeyFromDid } from '../crypto/did.ts'
import { voteSigningBytes } from './messages.ts'
import type { CommitCertificate } from './messages.ts'
import type { ValidatorSet } from './validators.ts'
import { CodedError } from '../util/coded-error.ts'
import { isNat, isObj, isStr } from '../util/guards.ts'

/**
 * A block commits to its events and to the ledger state root AFTER executing them (immediate
 * execution), so a block with its commit certificate certifies a state root directly — which is
 * what a restart manifest names (ADR 0002).
 */
export interface BlockHeader {
  readonly chainId: string
  readonly epoch: number
  readonly height: number
  readonly timeMs: number
  readonly prevHash: string
  readonly proposer: string
  /** Merkle root over the event ids, in block order. */
  readonly eventsHash: string
  readonly eventCount: number
  readonly stateRoot: string
  /** Hash of the validator set that finalizes this block. */
  readonly validatorsHash: string
  /** Hash of the committee after executing this block (finalizes the next one): light-client chain. */
  readonly nextValidatorsHash: string
  /** Hash of the certificate of the previous block carried in `lastCommit` (randomness source). */
  readonly lastCommitHash: string
}

export interface Block {
  readonly header: BlockHeader
  /** Encoded signed events: kept as bytes so nobody re-encodes (and ids are hashes of these). */
  readonly events: readonly Uint8Array[]
  /** Certificate of height-1 (absent at height 1 and at the first height of an epoch). */
  readonly lastCommit: CommitCertificate | null
}

export const MAX_BLOCK_EVENTS = 5_000
export const MAX_BLOCK_BYTES = 8 * 1024 * 1024

export class BlockError extends CodedError {}

export function blockHash(header: BlockHeader): string {
  return toHex(sha256(encode(header)))
}

export function encodeBlock(b: Block): Uint8Array {
  return encode({ header: b.header, events: b.events, lastCommit: b.lastCommit })
}

export function decodeBlock(bytes: Uint8Array): Block {
  if (bytes.length > MAX_BLOCK_BYTES) throw new BlockError('BLOCK_TOO_LARGE', 'block exceeds the size limit')
  let v: unknown
  try {
    v = decode(bytes)
  } catch {
    throw new BlockError('MALFORMED_BLOCK', 'block is not canonical DAG-CBOR')
  }
  if (!isBlock(v)) throw new BlockError('MALFORMED_BLOCK', 'block does not have the block shape')
  return v
}

export function isCertificate(v: unknown): v is CommitCertificate {
  if (!isObj(v)) return false
  if (!isStr(v.chainId) || !isNat(v.epoch) || !isNat(v.height) || !isNat(v.round) || !isStr(v.blockHash, 64))
    return false
  if (!Array.isArray(v.signatures) || v.signatures.length > 1024) return false
  return v.signatures.every((s: unknown) => isObj(s) && isStr(s.validator) && s.sig instanceof Uint8Array)
}

function isBlock(v: unknown): v is Block {
  if (!isObj(v) || !isObj(v.header) || !Array.isArray(v.events)) return false
  const h = v.header
  const headerOk =
    isStr(h.chainId) &&
    isNat(h.epoch) &&
    isNat(h.height) &&
    isNat(h.timeMs) &&
    isStr(h.prevHash, 64) &&
    isStr(h.proposer) &&
    isStr(h.eventsHash, 64) &&
    isNat(h.eventCount) &&
    isStr(h.stateRoot, 64) &&
    isStr(h.validatorsHash, 64) &&
    isStr(h.nextValidatorsHash, 64) &&
    isStr(h.lastCommitHash, 64)
  if (!headerOk) return false
  if (v.events.length > MAX_BLOCK_EVENTS || !v.events.every((e: unknown) => e instanceof Uint8Array)) return false
  return v.lastCommit === null || isCertificate(v.lastCommit)
}

/** Binary Merkle root over leaves (RFC 6962 style: 0x00 leaf / 0x01 node prefixes). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0))
  let level = leaves.map((l) => sha256(new Uint8Array([0]), l))
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1]
      next.push(right ? sha256(new Uint8Array([1]), level[i]!, right) : level[i]!)
    }
    level = next
  }
  return level[0]!
}

export function eventIds(events: readonly Uint8Array[]): Uint8Array[] {
  return events.map((e) => sha256(e))
}

export function eventsHash(ids: readonly Uint8Array[]): string {
  return toHex(merkleRoot(ids))
}

export function certificateHash(c: CommitCertificate | null): string {
  return c === null ? toHex(sha256(new Uint8Array(0))) : toHex(sha256(encode(c)))
}

/** Block randomness for the ledger (PoSR challenges): fixed by the previous certificate's signatures. */
export function blockRandomness(header: BlockHeader): Uint8Array {
  return sha256(encode(['randomness', header.prevHash, header.lastCommitHash]))
}

/**
 * Verifies that a certificate proves `hash` final at its height: > 2/3 of the set's power, each
 * signature a valid precommit by a member, each member counted once.
 */
export function verifyCertificate(cert: CommitCertificate, validators: ValidatorSet, hash: string): void {
  if (cert.blockHash !== hash) throw new BlockError('CERTIFICATE_MISMATCH', 'certificate is for another block')
  const seen = new Set<string>()
  let power = 0
  const msg = voteSigningBytes({
    chainId: cert.chainId,
    epoch: cert.epoch,
    height: cert.height,
    round: cert.round,
    kind: 'precommit',
    blockHash: cert.blockHash,
  })
  for (const s of cert.signatures) {
    if (seen.has(s.validator) || !validators.has(s.validator)) continue
    let pub: Uint8Array
    try {
      pub = publicKeyFromDid(s.validator)
    } catch {
      continue
    }
    if (!verify(pub, msg, s.sig)) throw new BlockError('BAD_SIGNATURE', `bad precommit signature from ${s.validator}`)
    seen.add(s.validator)
    power += validators.powerOf(s.validator)
  }
  if (!validators.isQuorum(power)) {
    throw new BlockError('CERTIFICATE_INSUFFICIENT_POWER', `certificate has ${power} of ${validators.totalPower} power`)
  }
}
