import { decode, encode } from '../crypto/encoding.ts'
import { isCertificate } from '../consensus/block.ts'
import type { ConsensusMessage } from '../consensus/ports.ts'
import type { Proposal, RestartReady, Vote } from '../consensus/messages.ts'
import type { CommitCertificate } from '../consensus/messages.ts'
import { CodedError } from '../util/coded-error.ts'
import { isNat, isObj, isStr } from '../util/guards.ts'

/** Wire format of the p2p protocols: one DAG-CBOR value per length-prefixed frame, shape-checked. */

export const MAX_FRAME_BYTES = 16 * 1024 * 1024

export class WireError extends CodedError {}

const isSig = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.length === 64

function isVote(v: unknown): v is Vote {
  return (
    isObj(v) &&
    isStr(v.chainId) &&
    isNat(v.epoch) &&
    isNat(v.height) &&
    isNat(v.round) &&
    (v.kind === 'prevote' || v.kind === 'precommit') &&
    (v.blockHash === null || isStr(v.blockHash, 64)) &&
    isStr(v.validator) &&
    isSig(v.sig)
  )
}

function isProposal(v: unknown): v is Proposal {
  return (
    isObj(v) &&
    isStr(v.chainId) &&
    isNat(v.epoch) &&
    isNat(v.height) &&
    isNat(v.round) &&
    typeof v.polRound === 'number' &&
    Number.isSafeInteger(v.polRound) &&
    v.polRound >= -1 &&
    isStr(v.blockHash, 64) &&
    isStr(v.proposer) &&
    isSig(v.sig)
  )
}

function isRestartReady(v: unknown): v is RestartReady {
  return (
    isObj(v) &&
    isStr(v.chainId) &&
    isNat(v.epoch) &&
    isNat(v.height) &&
    isStr(v.manifestHash, 64) &&
    isStr(v.validator) &&
    isSig(v.sig)
  )
}

export function encodeMessage(m: ConsensusMessage): Uint8Array {
  return encode(m)
}

function decodeFrame(bytes: Uint8Array, what: string): unknown {
  try {
    return decode(bytes)
  } catch {
    throw new WireError('MALFORMED_FRAME', `${what} is not canonical DAG-CBOR`)
  }
}

export function decodeMessage(bytes: Uint8Array): ConsensusMessage {
  const v = decodeFrame(bytes, 'frame')
  if (!isObj(v)) throw new WireError('MALFORMED_FRAME', 'frame is not a message object')
  switch (v.t) {
    case 'proposal':
      if (isProposal(v.proposal) && v.block instanceof Uint8Array)
        return { t: 'proposal', proposal: v.proposal, block: v.block }
      break
    case 'vote':
      if (isVote(v.vote)) return { t: 'vote', vote: v.vote }
      break
    case 'events':
      if (Array.isArray(v.events) && v.events.length <= 10_000 && v.events.every((e) => e instanceof Uint8Array)) {
        return { t: 'events', events: v.events }
      }
      break
    case 'commit':
      if (v.block instanceof Uint8Array && isCertificate(v.certificate)) {
        return { t: 'commit', block: v.block, certificate: v.certificate }
      }
      break
    case 'status':
      if (isNat(v.epoch) && isNat(v.height)) return { t: 'status', epoch: v.epoch, height: v.height }
      break
    case 'restart-ready':
      if (isRestartReady(v.ready)) return { t: 'restart-ready', ready: v.ready }
      break
    default:
      throw new WireError('UNKNOWN_MESSAGE', 'unknown message type')
  }
  throw new WireError('MALFORMED_FRAME', `malformed ${JSON.stringify(v.t)} message`)
}

/** Requests on the sync protocol: certified blocks, certified headers (light client), snapshots. */
export type SyncRequest =
  | { readonly kind: 'blocks'; readonly from: number; readonly max: number }
  | { readonly kind: 'headers'; readonly from: number; readonly max: number }
  | { readonly kind: 'snapshot-info' }
  | { readonly kind: 'snapshot'; readonly height: number }
  /** The restart record (manifest + authorization, DAG-CBOR) that opened an epoch. */
  | { readonly kind: 'restart'; readonly epoch: number }

export function decodeSyncRequest(bytes: Uint8Array): SyncRequest {
  const v = decodeFrame(bytes, 'sync request')
  if (!isObj(v)) throw new WireError('MALFORMED_FRAME', 'bad sync request')
  const kind = v.kind ?? 'blocks'
  if (kind === 'snapshot-info') return { kind }
  if (kind === 'snapshot' && isNat(v.height)) return { kind, height: v.height }
  if (kind === 'restart' && isNat(v.epoch) && v.epoch >= 1) return { kind, epoch: v.epoch }
  if ((kind === 'blocks' || kind === 'headers') && isNat(v.from) && isNat(v.max) && v.from >= 1) {
    return { kind, from: v.from, max: Math.min(v.max, kind === 'headers' ? 4096 : 256) }
  }
  throw new WireError('MALFORMED_FRAME', 'bad sync request')
}

export function decodeSyncResponse(bytes: Uint8Array): { block: Uint8Array; certificate: CommitCertificate }[] {
  const v = decodeFrame(bytes, 'sync response')
  if (!isObj(v) || !Array.isArray(v.blocks)) throw new WireError('MALFORMED_FRAME', 'bad sync response')
  const out: { block: Uint8Array; certificate: CommitCertificate }[] = []
  for (const b of v.blocks as unknown[]) {
    if (!isObj(b) || !(b.block instanceof Uint8Array) || !isCertificate(b.certificate)) {
      throw new WireError('MALFORMED_FRAME', 'bad block in sync response')
    }
    out.push({ block: b.block, certificate: b.certificate })
  }
  return out
}
