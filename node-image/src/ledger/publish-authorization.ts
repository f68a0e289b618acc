/**
 * A creator's publish authorization (ADR 0016): what a creator's DID signs before uploading a body,
 * so that a node publishes (and the ledger registers and charges) only what a creator asked for and
 * pays for. Deterministic DAG-CBOR under its own signing domain, sent base64url in one HTTP header.
 * Pure: the node's API checks it before reading the body, the ledger again when it registers.
 */
import type { Did } from '../crypto/did.ts'
import { decode, encode } from '../crypto/encoding.ts'
import type { Signer } from '../crypto/ed25519.ts'
import { signPayload, verifyPayload } from '../crypto/signing.ts'
import { LedgerError } from './errors.ts'
import { MAX_AMOUNT, Schema } from './schema.ts'

export const PUBLISH_DOMAIN = 'echonet/publish-authorization/v1'
/** The HTTP header that carries a signed authorization (base64url of its DAG-CBOR). */
export const PUBLISH_AUTH_HEADER = 'x-echonet-publish-auth'
/** Longest accepted header value: a real one is ~500 characters. */
export const MAX_PUBLISH_AUTH_CHARS = 2_048
/** Furthest ahead an authorization may expire: bounds how long the ledger keeps its nonce. */
export const MAX_PUBLISH_AUTH_LIFETIME_MS = 60 * 60 * 1000

export interface PublishAuthorization {
  domain: typeof PUBLISH_DOMAIN
  /** The network id: an authorization for one network is worthless on another. */
  chainId: string
  /** Who publishes, pays the registration fee, and owns the body's ContentID. */
  creator: Did
  /** sha-256 (hex) of the body, computed by the client before uploading. */
  bodyHash: string
  size: number
  k: number
  m: number
  /** Most the creator pays for the content.register event. */
  maxFee: number
  /** Unique per creator among its unexpired authorizations: a replay is refused. */
  nonce: number
  expiresAtMs: number
}

export interface SignedPublishAuthorization {
  auth: PublishAuthorization
  sig: Uint8Array
}

const S = new Schema('INVALID_PAYLOAD')
const CHAIN_ID = /^[a-z0-9][a-z0-9-]{0,62}$/

/** Checks the shape of an untrusted signed authorization; throws LedgerError INVALID_PAYLOAD. */
export function validateSignedPublishAuthorization(v: unknown, path = 'auth'): SignedPublishAuthorization {
  const o = S.obj(v, path, ['auth', 'sig'])
  S.bytes(o.sig, `${path}.sig`, 64)
  const a = S.obj(o.auth, `${path}.auth`, [
    'domain',
    'chainId',
    'creator',
    'bodyHash',
    'size',
    'k',
    'm',
    'maxFee',
    'nonce',
    'expiresAtMs',
  ])
  if (a.domain !== PUBLISH_DOMAIN) S.fail(`${path}.auth.domain must be ${PUBLISH_DOMAIN}`)
  S.match(a.chainId, `${path}.auth.chainId`, CHAIN_ID, 'a network id')
  S.did(a.creator, `${path}.auth.creator`)
  S.hex32(a.bodyHash, `${path}.auth.bodyHash`)
  S.int(a.size, `${path}.auth.size`, 0)
  const k = S.int(a.k, `${path}.auth.k`, 1, 255)
  const m = S.int(a.m, `${path}.auth.m`, 1, 255)
  if (k + m > 256) S.fail(`${path}.auth.k + m must be at most 256`)
  S.int(a.maxFee, `${path}.auth.maxFee`, 0, MAX_AMOUNT)
  S.int(a.nonce, `${path}.auth.nonce`, 0)
  S.int(a.expiresAtMs, `${path}.auth.expiresAtMs`, 1)
  return v as SignedPublishAuthorization
}

/** Only the known fields, in a fixed shape: what is signed is exactly what is checked. */
function canonical(a: PublishAuthorization): PublishAuthorization {
  return {
    domain: a.domain,
    chainId: a.chainId,
    creator: a.creator,
    bodyHash: a.bodyHash,
    size: a.size,
    k: a.k,
    m: a.m,
    maxFee: a.maxFee,
    nonce: a.nonce,
    expiresAtMs: a.expiresAtMs,
  }
}

export function signPublishAuthorization(signer: Signer, auth: PublishAuthorization): SignedPublishAuthorization {
  const a = canonical(auth)
  return validateSignedPublishAuthorization({ auth: a, sig: signPayload(signer, 'publish-authorization', a) })
}

export type PublishAuthProblem =
  { code: 'INVALID_PAYLOAD' | 'WRONG_CHAIN' | 'EXPIRED' | 'BAD_SIGNATURE'; message: string } | undefined

/**
 * Whether `s` authorizes a publish on `chainId` at `nowMs`: well formed, this network, not expired
 * nor too far ahead, and signed by its creator. Undefined when it does.
 */
export function publishAuthorizationProblem(s: unknown, ctx: { chainId: string; nowMs: number }): PublishAuthProblem {
  let v: SignedPublishAuthorization
  try {
    v = validateSignedPublishAuthorization(s)
  } catch (err) {
    return { code: 'INVALID_PAYLOAD', message: (err as Error).message }
  }
  const a = v.auth
  if (a.chainId !== ctx.chainId)
    return { code: 'WRONG_CHAIN', message: `authorization is for network ${a.chainId}, this is ${ctx.chainId}` }
  if (ctx.nowMs >= a.expiresAtMs)
    return { code: 'EXPIRED', message: `authorization expired at ${new Date(a.expiresAtMs).toISOString()}` }
  if (a.expiresAtMs - ctx.nowMs > MAX_PUBLISH_AUTH_LIFETIME_MS)
    return { code: 'INVALID_PAYLOAD', message: 'authorization expires more than 1 h ahead' }
  if (!verifyPayload(a.creator, 'publish-authorization', canonical(a), v.sig))
    return { code: 'BAD_SIGNATURE', message: 'authorization signature does not verify for its creator' }
  return undefined
}

/** The header value: base64url of the DAG-CBOR of the signed authorization. */
export function encodePublishHeader(s: SignedPublishAuthorization): string {
  return Buffer.from(encode({ auth: canonical(s.auth), sig: s.sig })).toString('base64url')
}

/** Parses a header value; throws LedgerError INVALID_PAYLOAD for anything malformed. */
export function decodePublishHeader(text: string): SignedPublishAuthorization {
  if (text.length > MAX_PUBLISH_AUTH_CHARS || !/^[A-Za-z0-9_-]+$/.test(text))
    throw new LedgerError('INVALID_PAYLOAD', `the authorization must be base64url of at most ${MAX_PUBLISH_AUTH_CHARS}`)
  let v: unknown
  try {
    const bytes = Buffer.from(text, 'base64url')
    v = decode(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  } catch {
    throw new LedgerError('INVALID_PAYLOAD', 'the authorization is not DAG-CBOR')
  }
  return validateSignedPublishAuthorization(v)
}
