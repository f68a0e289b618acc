import { didFromPublicKey } from '../crypto/did.ts'
import type { Did } from '../crypto/did.ts'
import { verifyBatch } from '../crypto/ed25519.ts'
import type { SignatureCheck, Signer } from '../crypto/ed25519.ts'
import { decode } from '../crypto/encoding.ts'
import { sha256 } from '../crypto/hash.ts'
import { payloadCheck, signPayload } from '../crypto/signing.ts'
import { encodeValue } from './cbor.ts'
import { LedgerError } from './errors.ts'
import { councilActionProblem } from './governance-payloads.ts'
import type { CouncilAction, CouncilSignature } from './governance-payloads.ts'
import { declarationPayloadProblem } from './declaration-payload.ts'
import { validateSignedPublishAuthorization } from './publish-authorization.ts'
import type { SignedPublishAuthorization } from './publish-authorization.ts'
import type { DeclarationPayload, DeclarationSignature } from './declaration-payload.ts'
import { isPlainObject, payloadSchema as S, Schema, stripUndefined } from './schema.ts'
import type { Obj } from './schema.ts'
import { STAKE_ROLES } from './state.ts'
import type { PosrOutcome, StakeRole } from './state.ts'

/** Upper bound on an encoded signed event; checked before decoding anything. */
export const MAX_EVENT_BYTES = 16 * 1024
export const MAX_MEMO_LENGTH = 256

export type InteractionKind = 'view' | 'like' | 'comment' | 'share'
export const INTERACTION_KINDS: readonly InteractionKind[] = ['view', 'like', 'comment', 'share']
export const POSR_OUTCOMES: readonly PosrOutcome[] = ['pass', 'wrong-data', 'unreachable']

/** What an SSN signs when answering a PoSR challenge (domain 'posr-answer'): evidence of what it served. */
export interface PosrAnswer {
  chainId: string
  ssn: Did
  cid: string
  shard: number
  segment: number
  challengeHeight: number
  /** sha256 (hex) of the segment the SSN served. */
  dataHash: string
}

export interface EventPayloadMap {
  'accounts.transfer': { to: Did; amount: number; memo?: string }
  'staking.bond': { role: StakeRole; amount: number }
  'staking.unbond': { amount: number }
  'staking.withdraw': Record<string, never>
  /** With `auth`, the creator it names registers (and pays); without, the sender is the creator. */
  'content.register': {
    cid: string
    bodyHash: string
    size: number
    k: number
    m: number
    auth?: SignedPublishAuthorization
  }
  'engagement.interact': { cid: string; kind: InteractionKind }
  /** Escrow id of the opened campaign: `${sender}/${nonce}`. attester defaults to the advertiser. */
  'ads.open': { cid: string; deposit: number; pricePerImpression: number; attester?: Did }
  'ads.impressions': { escrowId: string; count: number }
  'ads.close': { escrowId: string }
  /** wrong-data needs the SSN's signed answer as evidence; the others carry none. */
  'posr.result': {
    ssn: Did
    cid: string
    shard: number
    segment: number
    challengeHeight: number
    outcome: PosrOutcome
    answer?: { dataHash: string; sig: Uint8Array }
  }
  'governance.council-action': { action: CouncilAction; signatures: CouncilSignature[] }
  /** A council-signed disaster declaration: its ledger actions (declaration-actions.ts) apply together. */
  'governance.declaration': { declaration: DeclarationPayload; signatures: DeclarationSignature[] }
}

export type EventType = keyof EventPayloadMap
export type EventPayload = EventPayloadMap[EventType]

export const EVENT_TYPES = [
  'accounts.transfer',
  'staking.bond',
  'staking.unbond',
  'staking.withdraw',
  'content.register',
  'engagement.interact',
  'ads.open',
  'ads.impressions',
  'ads.close',
  'posr.result',
  'governance.council-action',
  'governance.declaration',
] as const satisfies readonly EventType[]

export interface EventBody {
  chainId: string
  type: EventType
  sender: Did
  /** Per sender, sequential: valid at apply time only if nonce === account.nonce + 1. */
  nonce: number
  fee: number
  payload: EventPayload
}

/** An event body whose payload matches its type (what signEvent takes). */
export interface TypedEventBody<T extends EventType> extends EventBody {
  type: T
  payload: EventPayloadMap[T]
}

export interface SignedEvent {
  body: EventBody
  sig: Uint8Array
}

export function isEventType(t: unknown): t is EventType {
  return typeof t === 'string' && (EVENT_TYPES as readonly string[]).includes(t)
}

/** Who pays an event's fee: the creator of an authorized content.register, else the sender. */
export function feePayerOf(body: EventBody): Did {
  if (body.type === 'content.register') {
    const auth = (body.payload as EventPayloadMap['content.register']).auth
    if (auth !== undefined) return auth.auth.creator
  }
  return body.sender
}

/** Narrows a body to its payload type. */
export function payloadOf<T extends EventType>(body: EventBody, type: T): EventPayloadMap[T] {
  if (body.type !== type) throw new LedgerError('INTERNAL_ERROR', `expected a ${type} event`)
  return body.payload as EventPayloadMap[T]
}

// ---------------------------------------------------------------------------------------------
// Payload schemas.

const ESCROW_ID = /^did:key:z[1-9A-HJ-NP-Za-km-z]{1,60}\/[0-9]{1,16}$/

/** Council signatures as carried by governance events: 1 to 128 of {did, 64-byte sig}. */
function signatureList(v: unknown): void {
  const sigs = S.list(v, 'payload.signatures', 128, 1)
  for (const [i, s] of sigs.entries()) {
    const o = S.obj(s, `payload.signatures[${i}]`, ['did', 'sig'])
    S.did(o.did, `payload.signatures[${i}].did`)
    S.bytes(o.sig, `payload.signatures[${i}].sig`, 64)
  }
}

const PAYLOAD_VALIDATORS: { [T in EventType]: (p: Obj) => void } = {
  'accounts.transfer': (p) => {
    S.obj(p, 'payload', ['to', 'amount'], ['memo'])
    S.did(p.to, 'payload.to')
    S.amount(p.amount, 'payload.amount')
    if ('memo' in p) S.str(p.memo, 'payload.memo', MAX_MEMO_LENGTH)
  },
  'staking.bond': (p) => {
    S.obj(p, 'payload', ['role', 'amount'])
    S.oneOf(p.role, 'payload.role', STAKE_ROLES)
    S.amount(p.amount, 'payload.amount')
  },
  'staking.unbond': (p) => {
    S.obj(p, 'payload', ['amount'])
    S.amount(p.amount, 'payload.amount')
  },
  'staking.withdraw': (p) => {
    S.obj(p, 'payload', [])
  },
  'content.register': (p) => {
    S.obj(p, 'payload', ['cid', 'bodyHash', 'size', 'k', 'm'], ['auth'])
    S.cid(p.cid, 'payload.cid')
    if ('auth' in p) validateSignedPublishAuthorization(p.auth, 'payload.auth')
    S.hex32(p.bodyHash, 'payload.bodyHash')
    S.int(p.size, 'payload.size', 0)
    const k = S.int(p.k, 'payload.k', 1, 255)
    const m = S.int(p.m, 'payload.m', 1, 255)
    if (k + m > 256) S.fail(`payload.k + payload.m must be at most 256, got ${k + m}`)
  },
  'engagement.interact': (p) => {
    S.obj(p, 'payload', ['cid', 'kind'])
    S.cid(p.cid, 'payload.cid')
    S.oneOf(p.kind, 'payload.kind', INTERACTION_KINDS)
  },
  'ads.open': (p) => {
    S.obj(p, 'payload', ['cid', 'deposit', 'pricePerImpression'], ['attester'])
    S.cid(p.cid, 'payload.cid')
    S.amount(p.deposit, 'payload.deposit')
    S.amount(p.pricePerImpression, 'payload.pricePerImpression')
    if ('attester' in p) S.did(p.attester, 'payload.attester')
  },
  'ads.impressions': (p) => {
    S.obj(p, 'payload', ['escrowId', 'count'])
    S.match(p.escrowId, 'payload.escrowId', ESCROW_ID, 'an escrow id <did>/<nonce>')
    S.int(p.count, 'payload.count', 1, 1_000_000_000)
  },
  'ads.close': (p) => {
    S.obj(p, 'payload', ['escrowId'])
    S.match(p.escrowId, 'payload.escrowId', ESCROW_ID, 'an escrow id <did>/<nonce>')
  },
  'posr.result': (p) => {
    S.obj(p, 'payload', ['ssn', 'cid', 'shard', 'segment', 'challengeHeight', 'outcome'], ['answer'])
    S.did(p.ssn, 'payload.ssn')
    S.cid(p.cid, 'payload.cid')
    S.int(p.shard, 'payload.shard', 0, 255)
    S.int(p.segment, 'payload.segment', 0, 2 ** 32)
    S.int(p.challengeHeight, 'payload.challengeHeight', 1)
    const outcome = S.oneOf(p.outcome, 'payload.outcome', POSR_OUTCOMES)
    if (outcome === 'wrong-data') {
      if (!('answer' in p)) S.fail('payload.answer (the SSN-signed answer) is required for wrong-data')
      const a = S.obj(p.answer, 'payload.answer', ['dataHash', 'sig'])
      S.hex32(a.dataHash, 'payload.answer.dataHash')
      S.bytes(a.sig, 'payload.answer.sig', 64)
    } else if ('answer' in p) {
      S.fail('payload.answer is only carried by wrong-data results')
    }
  },
  'governance.council-action': (p) => {
    S.obj(p, 'payload', ['action', 'signatures'])
    const problem = councilActionProblem(p.action)
    if (problem !== undefined) S.fail(`payload.${problem}`)
    signatureList(p.signatures)
  },
  'governance.declaration': (p) => {
    S.obj(p, 'payload', ['declaration', 'signatures'])
    const problem = declarationPayloadProblem(p.declaration)
    if (problem !== undefined) S.fail(`payload.declaration: ${problem}`)
    signatureList(p.signatures)
  },
}

const ENVELOPE: Schema = new Schema('MALFORMED_EVENT')

/**
 * Events already validated: execute() re-checks structure before any module sees an event, and
 * this makes that free for events that came through decodeEvent/signEvent. Events are immutable.
 */
const validated = new WeakSet<object>()

/** Checks the full structure of a signed event; throws LedgerError with a precise code. */
export function validateSignedEvent(v: unknown): SignedEvent {
  if (typeof v === 'object' && v !== null && validated.has(v)) return v as SignedEvent
  const ev = ENVELOPE.obj(v, 'event', ['body', 'sig'])
  ENVELOPE.bytes(ev.sig, 'event.sig', 64)
  const b = ENVELOPE.obj(ev.body, 'event.body', ['chainId', 'type', 'sender', 'nonce', 'fee', 'payload'])
  ENVELOPE.str(b.chainId, 'event.body.chainId', 64, 1)
  if (!isEventType(b.type)) {
    throw new LedgerError(
      'UNKNOWN_EVENT_TYPE',
      `unknown event type ${typeof b.type === 'string' ? JSON.stringify(b.type) : typeof b.type}`,
    )
  }
  ENVELOPE.did(b.sender, 'event.body.sender')
  ENVELOPE.int(b.nonce, 'event.body.nonce', 1)
  ENVELOPE.int(b.fee, 'event.body.fee', 0, 2 ** 51)
  if (!isPlainObject(b.payload)) S.fail('payload must be an object')
  PAYLOAD_VALIDATORS[b.type](b.payload)
  validated.add(ev)
  return v as SignedEvent
}

// ---------------------------------------------------------------------------------------------
// Encoding, identity, signing.

/** Encoded bytes of events that came off the wire or were encoded once: ids never re-encode. */
const encodedCache = new WeakMap<SignedEvent, Uint8Array>()

export function encodeEvent(ev: SignedEvent): Uint8Array {
  let bytes = encodedCache.get(ev)
  if (bytes === undefined) {
    try {
      bytes = encodeValue(ev)
    } catch (err) {
      throw new LedgerError('MALFORMED_EVENT', `event is not encodable: ${(err as Error).message}`)
    }
    encodedCache.set(ev, bytes)
  }
  return bytes
}

/**
 * Decodes and validates an event from untrusted bytes. Size-bounded before decoding, strict
 * schema after, and canonical (re-encoding gives the same bytes), so an event has exactly one
 * encoding and one id. Throws only LedgerError.
 */
export function decodeEvent(bytes: Uint8Array): SignedEvent {
  if (!(bytes instanceof Uint8Array)) throw new LedgerError('MALFORMED_EVENT', 'event must be bytes')
  if (bytes.length > MAX_EVENT_BYTES) {
    throw new LedgerError('PAYLOAD_TOO_LARGE', `event is ${bytes.length} bytes, the limit is ${MAX_EVENT_BYTES}`)
  }
  let v: unknown
  try {
    v = decode(bytes)
  } catch (err) {
    throw new LedgerError('MALFORMED_EVENT', (err as Error).message)
  }
  const ev = validateSignedEvent(v)
  let again: Uint8Array
  try {
    again = encodeValue(ev)
  } catch {
    throw new LedgerError('MALFORMED_EVENT', 'event uses values outside the data model')
  }
  if (Buffer.compare(again, bytes) !== 0) throw new LedgerError('MALFORMED_EVENT', 'event is not canonically encoded')
  encodedCache.set(ev, again)
  return ev
}

export function eventId(ev: SignedEvent): Uint8Array {
  return sha256(encodeEvent(ev))
}

export function posrAnswerBytesPayload(a: PosrAnswer): PosrAnswer {
  return {
    chainId: a.chainId,
    ssn: a.ssn,
    cid: a.cid,
    shard: a.shard,
    segment: a.segment,
    challengeHeight: a.challengeHeight,
    dataHash: a.dataHash,
  }
}

/** An SSN signs its PoSR answer so that serving wrong data is provable on the ledger. */
export function signPosrAnswer(signer: Signer, a: PosrAnswer): Uint8Array {
  return signPayload(signer, 'posr-answer', posrAnswerBytesPayload(a))
}

/**
 * Signs an event (domain 'event'). Optional fields left `undefined` are dropped; the payload is
 * validated so a node never signs an event that every peer would refuse.
 */
export function signEvent<T extends EventType>(
  signer: Signer,
  sender: Did,
  body: Omit<TypedEventBody<T>, 'sender'>,
): SignedEvent {
  if (didFromPublicKey(signer.publicKey) !== sender) {
    throw new LedgerError('UNAUTHORIZED', 'the signer key does not belong to the sender DID')
  }
  const full = stripUndefined({
    chainId: body.chainId,
    type: body.type,
    sender,
    nonce: body.nonce,
    fee: body.fee,
    payload: body.payload,
  }) as EventBody
  const sig = signPayload(signer, 'event', full)
  return validateSignedEvent({ body: full, sig })
}

/**
 * The signatures an event carries: the sender's, a creator's publish authorization and, for a PoSR
 * wrong-data result, the SSN's signed answer. Council signatures are checked at apply time, against the council of that moment.
 */
function signatureChecks(ev: SignedEvent): { check: SignatureCheck | undefined; failure: string }[] {
  const b = ev.body
  const out = [
    {
      check: payloadCheck(b.sender, 'event', b, ev.sig),
      failure: 'event signature does not verify for its sender',
    },
  ]
  if (b.type === 'content.register') {
    const auth = payloadOf(b, 'content.register').auth
    if (auth !== undefined) {
      out.push({
        check: payloadCheck(auth.auth.creator, 'publish-authorization', auth.auth, auth.sig),
        failure: 'the creator signature on the publish authorization does not verify',
      })
    }
  }
  if (b.type === 'posr.result') {
    const p = payloadOf(b, 'posr.result')
    if (p.answer !== undefined) {
      const answer = posrAnswerBytesPayload({ ...p, chainId: b.chainId, dataHash: p.answer.dataHash })
      out.push({
        check: payloadCheck(p.ssn, 'posr-answer', answer, p.answer.sig),
        failure: 'the SSN signature on the PoSR answer does not verify',
      })
    }
  }
  return out
}

/** Structure, payload schema, size and network: everything stateless but the signatures. */
function checkEventShape(ev: SignedEvent, chainId: string): void {
  validateSignedEvent(ev)
  const b = ev.body
  if (b.chainId !== chainId) throw new LedgerError('WRONG_CHAIN', `event is for ${b.chainId}, this is ${chainId}`)
  const size = encodeEvent(ev).length
  if (size > MAX_EVENT_BYTES) {
    throw new LedgerError('PAYLOAD_TOO_LARGE', `event is ${size} bytes, the limit is ${MAX_EVENT_BYTES}`)
  }
}

/**
 * Everything about many events that does not need state, with all their signatures verified in
 * one batch: per event, the LedgerError that rejects it, or undefined when it passes.
 */
export function checkEventsStateless(evs: readonly SignedEvent[], chainId: string): (LedgerError | undefined)[] {
  const errors: (LedgerError | undefined)[] = []
  const pending: { event: number; check: SignatureCheck; failure: string }[] = []
  for (const [i, ev] of evs.entries()) {
    try {
      checkEventShape(ev, chainId)
    } catch (err) {
      errors[i] = err instanceof LedgerError ? err : new LedgerError('MALFORMED_EVENT', (err as Error).message)
      continue
    }
    errors[i] = undefined
    for (const { check, failure } of signatureChecks(ev)) {
      if (check === undefined) errors[i] ??= new LedgerError('BAD_SIGNATURE', failure)
      else pending.push({ event: i, check, failure })
    }
  }
  const verdicts = verifyBatch(pending.map((p) => p.check))
  for (const [j, p] of pending.entries()) {
    if (!verdicts[j]) errors[p.event] ??= new LedgerError('BAD_SIGNATURE', p.failure)
  }
  return errors
}

/** checkEventsStateless for one event: throws the LedgerError that rejects it. */
export function checkEventStateless(ev: SignedEvent, chainId: string): void {
  const err = checkEventsStateless([ev], chainId)[0]
  if (err) throw err
}
