import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { publicKeyFromDid } from '../../crypto/did.ts'

/** A node's PeerId follows from its did:key (one Ed25519 key gives both): SSNs are dialled by DID. */
const cache = new Map<string, string>()

export function peerIdOfDid(did: string): string {
  let p = cache.get(did)
  if (p === undefined) {
    p = peerIdFromPublicKey(publicKeyFromRaw(publicKeyFromDid(did))).toString()
    cache.set(did, p)
  }
  return p
}
