import { encode } from './encoding.ts'
import { Signer, verify } from './ed25519.ts'
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
  | 'content-manifest'
  | 'posr-answer'

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

export function verifyPayload(did: string, domain: SigningDomain, payload: unknown, sig: Uint8Array): boolean {
  let pub: Uint8Array
  try {
    pub = publicKeyFromDid(did)
  } catch {
    return false
  }
  return verify(pub, signingBytes(domain, payload), sig)
}
