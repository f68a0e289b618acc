import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { encode } from '../crypto/encoding.ts'
import { RESTART_MANIFEST_DOMAIN, signRestartManifest } from './governance-payloads.ts'
import type { RestartManifest } from './governance-payloads.ts'
import { decodeRestartRecord, encodeRestartRecord, manifestHash } from './restart-record.ts'
import { CHAIN, hex32, id } from './testkit.ts'

const council = [id(1), id(2)]
const manifest: RestartManifest = {
  domain: RESTART_MANIFEST_DOMAIN,
  chainId: CHAIN,
  epoch: 1,
  height: 12,
  blockHash: hex32(7),
  stateRoot: hex32(8),
  witnesses: [
    { did: id(3).did, power: 10 },
    { did: id(4).did, power: 10 },
  ],
  expiresAtMs: 2_000_000_000_000,
}

function code(f: () => unknown): string {
  try {
    f()
    return 'ok'
  } catch (err) {
    return (err as { code?: string }).code ?? 'THREW'
  }
}

describe('restart records (manifest + authorization on the admin API, in the store, between peers)', () => {
  it('round-trip, and the manifest hash covers exactly what the council signs', () => {
    const signatures = council.map((c) => signRestartManifest(c.signer, c.did, manifest))
    const bytes = encodeRestartRecord({ manifest, authorization: { kind: 'council', signatures } })
    const back = decodeRestartRecord(bytes)
    expect(back.manifest).toEqual(manifest)
    expect(manifestHash(back.manifest)).toBe(manifestHash(manifest))
    expect(manifestHash({ ...manifest, height: 13 })).not.toBe(manifestHash(manifest))
  })

  it('refuses malformed records with INVALID_RESTART_RECORD (what was tried: non-CBOR, wrong shapes, bad manifests, unknown authorization kinds, oversize)', () => {
    const auth = { kind: 'council', signatures: [] }
    const tries: Uint8Array[] = [
      new Uint8Array([0xff, 0x00]),
      encode([1, 2, 3]),
      encode({ manifest }),
      encode({ manifest: { ...manifest, epoch: 0 }, authorization: auth }),
      encode({ manifest: { ...manifest, blockHash: 'xyz' }, authorization: auth }),
      encode({ manifest: { ...manifest, witnesses: [] }, authorization: auth }),
      encode({ manifest, authorization: { kind: 'root' } }),
      encode({ manifest, authorization: { kind: 'council', signatures: [{ did: 1, sig: 2 }] } }),
      encode({ manifest, authorization: { kind: 'policy', policy: {}, policySignatures: [] } }),
      new Uint8Array(4 * 1024 * 1024 + 1),
    ]
    for (const t of tries) expect(code(() => decodeRestartRecord(t))).toBe('INVALID_RESTART_RECORD')
  })

  it('random bytes never throw anything but INVALID_RESTART_RECORD', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
        expect(code(() => decodeRestartRecord(b))).toBe('INVALID_RESTART_RECORD')
      }),
    )
  })
})
