import { encode } from './encoding.ts'
import { Signer, verify } from './ed25519.ts'
import type { SignatureCheck } from './ed25519.ts'
import { publicKeyFromDid } from './did.ts'

/**
 * Domain separation: every signature covers `"echonet/v1/" + domain + 0x00 + dag-cbor(payload)`,
 * so a signature made for one purpose (an event, a vote, a council action) can never be replayed
 * as another.
 */
export type SigningDomain =
  | 'event'
  | 'proposal'
  | 'vote'
  | 'council-action'
  | 'restart-manifest'
  | 'restart-ready'
  | 'disaster-declaration'
  | 'content-manifest'
  | 'posr-answer'
  | 'publish-authorization'

export function signingBytes(domain: SigningDomain, payload: unknown): Uint8Array {
  const tag = new TextEncoder().encode(`echonet/v1/${domain}\u0000`)
  const body = encode(payload)
  const out = new Uint8Array(tag.length + body.length)
  out.set(tag, 0)
  out.set(body, tag.length)
  return out
}

export function signPayload(signer: Signer, domain: SigningDomain, payload: unknown): Uint8Array {
  return signer.sign(signingBytes(domain, payload))
}

/** The check that `did` signed `payload` for `domain`; undefined when the DID names no Ed25519 key. */
export function payloadCheck(
  did: string,
  domain: SigningDomain,
  payload: unknown,
  sig: Uint8Array,
): SignatureCheck | undefined {
  let publicKey: Uint8Array
  try {
    publicKey = publicKeyFromDid(did)
  } catch {
    return undefined
  }
  return { publicKey, message: signingBytes(domain, payload), signature: sig }
}

export function verifyPayload(did: string, domain: SigningDomain, payload: unknown, sig: Uint8Array): boolean {
  const c = payloadCheck(did, domain, payload, sig)
  return c !== undefined && verify(c.publicKey, c.message, c.signature)
}
