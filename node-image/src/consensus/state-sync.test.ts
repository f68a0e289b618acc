import { describe, expect, it } from 'vitest'
import { NodeIdentity } from '../crypto/identity.ts'
import { toHex } from '../crypto/hash.ts'
import { blockHash } from './block.ts'
import type { BlockHeader } from './block.ts'
import { voteSigningBytes } from './messages.ts'
import type { CommitCertificate } from './messages.ts'
import { ValidatorSet } from './validators.ts'
import { verifyHeaderChain } from './state-sync.ts'
import type { CertifiedHeader } from './state-sync.ts'

const ids = Array.from({ length: 4 }, () => NodeIdentity.generate())
const newIds = Array.from({ length: 4 }, () => NodeIdentity.generate())
const setOf = (xs: NodeIdentity[]): ValidatorSet => new ValidatorSet(xs.map((i) => ({ did: i.did, power: 1 })))

function chain(
  n: number,
  rotateAt?: number,
): { items: CertifiedHeader[]; sets: Map<string, { did: string; power: number }[]> } {
  const items: CertifiedHeader[] = []
  const sets = new Map<string, { did: string; power: number }[]>()
  let prev = 'genesis'
  let signers = ids
  for (let h = 1; h <= n; h++) {
    const vs = setOf(signers)
    const nextSigners = rotateAt === h ? newIds : signers
    const next = setOf(nextSigners)
    if (nextSigners !== signers)
      sets.set(
        toHex(next.hash()),
        next.validators.map((v) => ({ ...v })),
      )
    const header: BlockHeader = {
      chainId: 'c',
      epoch: 0,
      height: h,
      timeMs: h,
      prevHash: prev,
      proposer: signers[0]!.did,
      eventsHash: '00',
      eventCount: 0,
      stateRoot: '11',
      validatorsHash: toHex(vs.hash()),
      nextValidatorsHash: toHex(next.hash()),
      lastCommitHash: '22',
    }
    const hash = blockHash(header)
    const body = { chainId: 'c', epoch: 0, height: h, round: 0, kind: 'precommit' as const, blockHash: hash }
    const certificate: CommitCertificate = {
      ...body,
      signatures: signers.slice(0, 3).map((i) => ({ validator: i.did, sig: i.signer.sign(voteSigningBytes(body)) })),
    }
    items.push({ header, certificate })
    prev = hash
    signers = nextSigners
  }
  return { items, sets }
}

describe('header chain verification (state sync)', () => {
  const start = { height: 0, hash: 'genesis', validators: setOf(ids), epoch: 0 }

  it('accepts a certified chain, following a committee change through nextValidatorsHash', () => {
    const { items, sets } = chain(6, 3)
    const end = verifyHeaderChain(start, items, sets)
    expect(end.height).toBe(6)
    expect(end.validators.has(newIds[0]!.did)).toBe(true)
  })

  it('refuses a broken link, a forged certificate, too few signers, and a substituted validator set', () => {
    const { items, sets } = chain(4, 2)
    const broken = items.map((x, i) => (i === 2 ? { ...x, header: { ...x.header, prevHash: 'ff' } } : x))
    expect(() => verifyHeaderChain(start, broken, sets)).toThrow(
      expect.objectContaining({ code: 'WRONG_PARENT' }) as Error,
    )
    const forged = items.map((x, i) =>
      i === 1
        ? {
            ...x,
            certificate: {
              ...x.certificate,
              signatures: x.certificate.signatures.map((s) => ({ ...s, sig: new Uint8Array(64) })),
            },
          }
        : x,
    )
    expect(() => verifyHeaderChain(start, forged, sets)).toThrow(
      expect.objectContaining({ code: 'BAD_SIGNATURE' }) as Error,
    )
    const thin = items.map((x, i) =>
      i === 0 ? { ...x, certificate: { ...x.certificate, signatures: x.certificate.signatures.slice(0, 2) } } : x,
    )
    expect(() => verifyHeaderChain(start, thin, sets)).toThrow(
      expect.objectContaining({ code: 'CERTIFICATE_INSUFFICIENT_POWER' }) as Error,
    )
    const evil = new Map([...sets].map(([h]) => [h, ids.map((i) => ({ did: i.did, power: 5 }))]))
    expect(() => verifyHeaderChain(start, items, evil)).toThrow(
      expect.objectContaining({ code: 'WRONG_VALIDATORS' }) as Error,
    )
  })

  it('stops with EPOCH_BOUNDARY at the first header of a later epoch (a restart manifest installed that committee: the node replays blocks instead)', () => {
    const { items, sets } = chain(4)
    const restarted = items.map((x, i) => (i === 2 ? { ...x, header: { ...x.header, epoch: 1 } } : x))
    expect(() => verifyHeaderChain(start, restarted, sets)).toThrow(
      expect.objectContaining({ code: 'EPOCH_BOUNDARY' }) as Error,
    )
    expect(verifyHeaderChain(start, items.slice(0, 2), sets)).toMatchObject({ height: 2, epoch: 0 })
  })
})
