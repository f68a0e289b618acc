import { describe, expect, it } from 'vitest'
import { mkdtemp, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { didFromPeerId, NodeIdentity, readKeyFile, writeKeyFile } from './identity.ts'
import { didFromPublicKey, publicKeyFromDid } from './did.ts'
import { fromHex } from './hash.ts'
import { signPayload, verifyPayload } from './signing.ts'

describe('node identity', () => {
  it('encodes did:key per the spec (RFC 8032 TEST 1 key)', () => {
    const pub = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
    const did = didFromPublicKey(pub)
    expect(did.startsWith('did:key:z6Mk')).toBe(true)
    expect(publicKeyFromDid(did)).toEqual(pub)
  })

  it('rejects DIDs that are not ed25519 did:key', () => {
    expect(() => publicKeyFromDid('did:web:example.com')).toThrow(/did:key/)
    expect(() => publicKeyFromDid('did:key:z0OIl')).toThrow(/base58btc/)
    expect(() => publicKeyFromDid('did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme')).toThrow(/ed25519/)
  })

  it('derives the libp2p PeerId from the same key', () => {
    const id = NodeIdentity.generate()
    const peer = id.peerId()
    expect(peer.type).toBe('Ed25519')
    expect(peer.publicKey?.raw).toEqual(id.keyPair.publicKey)
  })

  it('writes the key file with mode 0600 and reads it back; a tampered file is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echonet-key-'))
    const id = NodeIdentity.generate()
    const path = join(dir, 'node.key')
    await writeKeyFile(path, id)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await readKeyFile(path)).did).toBe(id.did)
    await writeFile(
      path,
      JSON.stringify({
        type: 'ed25519',
        did: NodeIdentity.generate().did,
        seed: Buffer.from(id.keyPair.seed).toString('base64'),
      }),
    )
    await expect(readKeyFile(path)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' })
    await writeFile(path, 'garbage')
    await expect(readKeyFile(path)).rejects.toMatchObject({ code: 'KEY_FILE_INVALID' })
  })

  it('domain-separates signatures: a vote signature does not verify as an event', () => {
    const id = NodeIdentity.generate()
    const payload = { height: 1, round: 0 }
    const sig = signPayload(id.signer, 'vote', payload)
    expect(verifyPayload(id.did, 'vote', payload, sig)).toBe(true)
    expect(verifyPayload(id.did, 'event', payload, sig)).toBe(false)
    expect(verifyPayload(id.did, 'vote', { height: 2, round: 0 }, sig)).toBe(false)
  })

  it('didFromPeerId: a peer on the wire is the DID of the same key; anything else is undefined', () => {
    const id = NodeIdentity.generate()
    expect(didFromPeerId(id.peerId().toString())).toBe(id.did)
    for (const bad of ['', 'not-a-peer-id', 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', id.did]) {
      expect(didFromPeerId(bad)).toBeUndefined()
    }
  })
})
