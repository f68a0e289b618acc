import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { encode } from '../../crypto/encoding.ts'
import { sha256, toHex } from '../../crypto/hash.ts'
import { encodeContent } from './encoder.ts'
import { ContentError } from './errors.ts'
import {
  contentId,
  decodeManifest,
  encodeManifest,
  manifestSegmentCount,
  parseContentId,
  segmentProof,
  signManifest,
  unsignedPart,
  validateManifest,
  verifySegment,
} from './manifest.ts'
import type { ContentManifest } from './manifest.ts'
import { leafHash, nodeHash, segmentCount, shardRoot } from './merkle.ts'
import { creator, opts, other, pseudoRandomBytes } from './testkit.ts'

function code(f: () => unknown): string | undefined {
  try {
    f()
  } catch (err) {
    if (err instanceof ContentError) return err.code
    throw err
  }
  return undefined
}

const sample = encodeContent(pseudoRandomBytes(1000), opts(4, 2))

describe('ContentID', () => {
  it('is the CIDv1 dag-cbor/sha2-256 of the encoded signed manifest, in base32', () => {
    const { cid, manifest } = sample
    expect(cid).toMatch(/^bafyrei[a-z2-7]+$/)
    expect(contentId(manifest)).toBe(cid)
    const parsed = parseContentId(cid)
    expect(parsed.code).toBe(0x71)
    expect(toHex(parsed.multihash.digest)).toBe(toHex(sha256(encodeManifest(manifest))))
    expect(decodeManifest(encodeManifest(manifest), cid)).toEqual(manifest)
  })

  it('parseContentId rejects everything else with INVALID_CONTENT_ID', () => {
    const digest = Digest.create(0x12, sha256(Uint8Array.of(1)))
    const tried = [
      'not-a-cid',
      '',
      42,
      CID.createV0(digest).toString(), // CIDv0
      CID.create(1, 0x55, digest).toString(), // raw codec
      CID.create(1, 0x71, Digest.create(0x13, new Uint8Array(64))).toString(), // sha2-512
      CID.create(1, 0x71, digest).toString().toUpperCase(), // not canonical base32
      `${sample.cid}x`,
    ]
    for (const s of tried) expect(code(() => parseContentId(s))).toBe('INVALID_CONTENT_ID')
  })
})

describe('validateManifest', () => {
  const good = sample.manifest
  const resign = (changes: Partial<ContentManifest>): unknown =>
    signManifest({ ...unsignedPart(good), ...changes }, creator.signer)

  it('accepts the encoder output and its decode round trip', () => {
    expect(validateManifest(good)).toBe(good)
  })

  it('INVALID_MANIFEST for structural problems, even when properly signed', () => {
    const tried: [string, unknown][] = [
      ['not a map', 'x'],
      ['missing field', (({ createdAtMs: _c, ...rest }) => rest)(good)],
      ['extra field', { ...good, extra: 1 }],
      ['version 2', resign({ version: 2 as 1 })],
      ['k = 0', resign({ k: 0 })],
      ['m = 0', resign({ m: 0 })],
      ['k + m > 256', resign({ k: 200, m: 57 })],
      ['shardSize not ceil(size / k)', resign({ shardSize: good.shardSize + 1 })],
      ['size negative', resign({ size: -1 })],
      ['segmentSize not a power of two', resign({ segmentSize: 96 })],
      ['segmentSize too small', resign({ segmentSize: 32 })],
      ['too few shard entries', resign({ shards: good.shards.slice(1) })],
      [
        'uppercase hash',
        resign({ shards: [{ ...good.shards[0]!, hash: good.shards[0]!.hash.toUpperCase() }, ...good.shards.slice(1)] }),
      ],
      ['short root', resign({ shards: [{ ...good.shards[0]!, root: 'ab' }, ...good.shards.slice(1)] })],
      ['bodyHash not hex', resign({ bodyHash: 'z'.repeat(64) })],
      ['creator not a DID', { ...good, creator: 'did:web:example.com' }],
      ['sig wrong length', { ...good, sig: new Uint8Array(63) }],
      ['float size', resign({ size: 1.5 })],
    ]
    for (const [what, v] of tried) expect([what, code(() => validateManifest(v))]).toEqual([what, 'INVALID_MANIFEST'])
  })

  it('BAD_SIGNATURE when any signed field changes, or another key signed it', () => {
    expect(code(() => validateManifest({ ...good, size: good.size }))).toBeUndefined()
    expect(code(() => validateManifest({ ...good, createdAtMs: good.createdAtMs + 1 }))).toBe('BAD_SIGNATURE')
    expect(code(() => validateManifest({ ...good, bodyHash: '0'.repeat(64) }))).toBe('BAD_SIGNATURE')
    const forged = signManifest(unsignedPart(good), other.signer)
    expect(code(() => validateManifest(forged))).toBe('BAD_SIGNATURE')
    const sig = new Uint8Array(good.sig)
    sig[0]! ^= 1
    expect(code(() => validateManifest({ ...good, sig }))).toBe('BAD_SIGNATURE')
  })

  it('decodeManifest: non-canonical bytes and a wrong expected cid are INVALID_MANIFEST', () => {
    expect(code(() => decodeManifest(Uint8Array.of(0xff, 0x00)))).toBe('INVALID_MANIFEST')
    const otherCid = encodeContent(pseudoRandomBytes(10), opts(2, 1)).cid
    expect(code(() => decodeManifest(encodeManifest(good), otherCid))).toBe('INVALID_MANIFEST')
    expect(code(() => decodeManifest(encode({ ...good, sig: 'x' })))).toBe('INVALID_MANIFEST')
  })
})

describe('segment proofs (PoSR)', () => {
  it('every segment of every shard verifies against the manifest root; tampering fails', () => {
    const { manifest, shards } = encodeContent(pseudoRandomBytes(5000, 3), opts(3, 2, 64))
    const count = manifestSegmentCount(manifest)
    expect(count).toBe(Math.ceil(manifest.shardSize / 64))
    shards.forEach((shard, s) => {
      const root = manifest.shards[s]!.root
      for (let i = 0; i < count; i++) {
        const { segment, path } = segmentProof(shard, i, manifest.segmentSize)
        expect(verifySegment(root, i, segment, path, count)).toBe(true)
        const bad = new Uint8Array(segment)
        bad[0]! ^= 1
        expect(verifySegment(root, i, bad, path, count)).toBe(false)
        expect(verifySegment(root, (i + 1) % count, segment, path, count)).toBe(count === 1)
        if (path.length > 0) expect(verifySegment(root, i, segment, path.slice(1), count)).toBe(false)
      }
    })
  })

  it('matches the RFC 6962 shape for any tree size (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 * 64 }), fc.nat(), (len, pick) => {
        const shard = pseudoRandomBytes(len, len + 1)
        const count = segmentCount(len, 64)
        const i = pick % count
        const root = toHex(shardRoot(shard, 64))
        const { segment, path } = segmentProof(shard, i, 64)
        expect(verifySegment(root, i, segment, path, count)).toBe(true)
        expect(verifySegment(root, i, segment, [...path, new Uint8Array(32)], count)).toBe(false)
      }),
      { numRuns: 200 },
    )
  })

  it('roots agree with RFC 6962 trees written out by hand (unbalanced splits at the largest power of two)', () => {
    const segs = [0, 1, 2, 3, 4].map((i) => new Uint8Array(64).fill(i))
    const l = segs.map((s) => leafHash(s))
    const h = (b: Uint8Array) => toHex(b)
    const shard = (n: number) => new Uint8Array(Buffer.concat(segs.slice(0, n)))
    expect(h(shardRoot(shard(1), 64))).toBe(h(l[0]!))
    expect(h(shardRoot(shard(3), 64))).toBe(h(nodeHash(nodeHash(l[0]!, l[1]!), l[2]!)))
    expect(h(shardRoot(shard(4), 64))).toBe(h(nodeHash(nodeHash(l[0]!, l[1]!), nodeHash(l[2]!, l[3]!))))
    expect(h(shardRoot(shard(5), 64))).toBe(
      h(nodeHash(nodeHash(nodeHash(l[0]!, l[1]!), nodeHash(l[2]!, l[3]!)), l[4]!)),
    )
    expect(h(leafHash(segs[0]!))).toBe(h(sha256(Uint8Array.of(0), segs[0]!)))
    expect(h(nodeHash(l[0]!, l[1]!))).toBe(h(sha256(Uint8Array.of(1), l[0]!, l[1]!)))
  })

  it('segmentProof rejects an out-of-range index; verifySegment rejects malformed input', () => {
    expect(() => segmentProof(new Uint8Array(128), 2, 64)).toThrow(RangeError)
    expect(verifySegment('nothex', 0, new Uint8Array(1), [], 1)).toBe(false)
    expect(verifySegment('0'.repeat(64), -1, new Uint8Array(1), [], 1)).toBe(false)
    expect(verifySegment('0'.repeat(64), 0, new Uint8Array(1), [new Uint8Array(5)], 2)).toBe(false)
  })
})
