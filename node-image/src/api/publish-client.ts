import { createHash, randomInt } from 'node:crypto'
import type { Did } from '../crypto/did.ts'
import type { Signer } from '../crypto/ed25519.ts'
import {
  encodePublishHeader,
  PUBLISH_AUTH_HEADER,
  PUBLISH_DOMAIN,
  signPublishAuthorization,
} from '../ledger/publish-authorization.ts'
import type { SignedPublishAuthorization } from '../ledger/publish-authorization.ts'

/**
 * Publishing as a creator (ADR 0016), for clients, tests and benchmarks: hash the body, sign the
 * authorization with the creator's key, upload it with the authorization in its header. The
 * creator's account pays the registration fee; the node only carries the upload.
 */

export interface Creator {
  readonly did: Did
  readonly signer: Signer
}

/** A body too large to hold: its hash and size computed beforehand, and a fresh stream of it. */
export interface StreamedBody {
  readonly bodyHash: string
  readonly size: number
  stream(): ReadableStream<Uint8Array>
}

export interface PublishOptions {
  /** The network id (default: asked from the node's /v1/status). */
  readonly chainId?: string
  /** Erasure parameters paid for (default 4 + 2, the ledger's defaults). */
  readonly k?: number
  readonly m?: number
  /** Most the creator pays for the registration (default 1,000). */
  readonly maxFee?: number
  /** Default: random (unique among the creator's unexpired authorizations). */
  readonly nonce?: number
  /** How long the authorization holds (default 30 min; at most 1 h). */
  readonly ttlMs?: number
}

export function hashBody(body: Uint8Array): { bodyHash: string; size: number } {
  return { bodyHash: createHash('sha256').update(body).digest('hex'), size: body.length }
}

/** Signs a publish authorization for a body of this hash and size. */
export function authorizeBody(
  creator: Creator,
  body: { bodyHash: string; size: number },
  o: PublishOptions & { chainId: string },
): SignedPublishAuthorization {
  return signPublishAuthorization(creator.signer, {
    domain: PUBLISH_DOMAIN,
    chainId: o.chainId,
    creator: creator.did,
    bodyHash: body.bodyHash,
    size: body.size,
    k: o.k ?? 4,
    m: o.m ?? 2,
    maxFee: o.maxFee ?? 1_000,
    nonce: o.nonce ?? randomInt(2 ** 47),
    expiresAtMs: Date.now() + (o.ttlMs ?? 30 * 60_000),
  })
}

/** The request headers that carry an authorization. */
export function publishHeaders(auth: SignedPublishAuthorization): Record<string, string> {
  return { [PUBLISH_AUTH_HEADER]: encodePublishHeader(auth), 'content-length': String(auth.auth.size) }
}

export async function chainIdOf(api: string): Promise<string> {
  const r = await fetch(`${api}/v1/status`)
  if (!r.ok) throw new Error(`${api}/v1/status answered ${r.status}`)
  return ((await r.json()) as { chainId: string }).chainId
}

/** `POST /v1/content` as `creator`; the node's answer as it is (201 with the PublishResult, or a coded error). */
export async function publishAs(
  api: string,
  creator: Creator,
  body: Uint8Array | StreamedBody,
  o: PublishOptions = {},
): Promise<Response> {
  const chainId = o.chainId ?? (await chainIdOf(api))
  const held = body instanceof Uint8Array
  const auth = authorizeBody(creator, held ? hashBody(body) : body, { ...o, chainId })
  return fetch(`${api}/v1/content`, {
    method: 'POST',
    headers: publishHeaders(auth),
    body: held ? body : body.stream(),
    ...(held ? {} : { duplex: 'half' }),
  })
}
