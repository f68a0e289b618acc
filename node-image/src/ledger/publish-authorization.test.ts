import { describe, expect, it } from 'vitest'
import { NodeIdentity } from '../crypto/identity.ts'
import { checkEventStateless } from './event.ts'
import { Ledger } from './ledger.ts'
import {
  decodePublishHeader,
  encodePublishHeader,
  MAX_PUBLISH_AUTH_CHARS,
  PUBLISH_DOMAIN,
  publishAuthorizationProblem,
  signPublishAuthorization,
} from './publish-authorization.ts'
import type { PublishAuthorization, SignedPublishAuthorization } from './publish-authorization.ts'
import { block, CHAIN, cidOf, hex32, Sender, T0, world } from './testkit.ts'

function authFor(creator: NodeIdentity, over: Partial<PublishAuthorization> = {}): SignedPublishAuthorization {
  return signPublishAuthorization(creator.signer, {
    domain: PUBLISH_DOMAIN,
    chainId: CHAIN,
    creator: creator.did,
    bodyHash: hex32(1),
    size: 1_000,
    k: 4,
    m: 2,
    maxFee: 10,
    nonce: 1,
    expiresAtMs: T0 + 600_000,
    ...over,
  })
}

const NOW = { chainId: CHAIN, nowMs: T0 + 1_000 }

describe('publish authorization codec', () => {
  it('round-trips through the header form, well within header limits', () => {
    const s = authFor(NodeIdentity.generate())
    const text = encodePublishHeader(s)
    expect(text.length).toBeLessThan(MAX_PUBLISH_AUTH_CHARS / 2)
    expect(decodePublishHeader(text)).toEqual(s)
    expect(publishAuthorizationProblem(decodePublishHeader(text), NOW)).toBeUndefined()
  })

  it('refuses malformed headers with INVALID_PAYLOAD (tried: not base64url, not CBOR, a field missing, too long)', () => {
    const s = authFor(NodeIdentity.generate())
    const { maxFee: _dropped, ...partial } = s.auth
    const missing = Buffer.from(JSON.stringify({ auth: partial })).toString('base64url')
    for (const bad of ['not base64!', 'AAAA', missing, 'A'.repeat(MAX_PUBLISH_AUTH_CHARS + 1)]) {
      expect(() => decodePublishHeader(bad), bad.slice(0, 20)).toThrow(
        expect.objectContaining({ code: 'INVALID_PAYLOAD' }),
      )
    }
  })

  it('verifies the creator signature, the network and the expiry', () => {
    const creator = NodeIdentity.generate()
    const s = authFor(creator)
    // Forged: a field changed after signing, or someone else's key.
    expect(publishAuthorizationProblem({ ...s, auth: { ...s.auth, size: 2_000 } }, NOW)?.code).toBe('BAD_SIGNATURE')
    const other = NodeIdentity.generate()
    const forged = { auth: { ...s.auth, creator: other.did }, sig: s.sig }
    expect(publishAuthorizationProblem(forged, NOW)?.code).toBe('BAD_SIGNATURE')
    expect(publishAuthorizationProblem(s, { ...NOW, chainId: 'other-net' })?.code).toBe('WRONG_CHAIN')
    expect(publishAuthorizationProblem(s, { ...NOW, nowMs: s.auth.expiresAtMs })?.code).toBe('EXPIRED')
    const far = authFor(creator, { expiresAtMs: T0 + 2 * 3_600_000 })
    expect(publishAuthorizationProblem(far, NOW)?.code).toBe('INVALID_PAYLOAD')
  })
})

describe('content.register with a creator authorization', () => {
  function setup(balance?: number) {
    const w = world({}, balance === undefined ? {} : { balance })
    const ledger = Ledger.fromGenesis(w.genesis)
    const node = new Sender(w.witnesses[0]!)
    const creator = w.users[0]!
    const payload = (s: SignedPublishAuthorization, n = 1) => ({
      cid: cidOf(n),
      bodyHash: s.auth.bodyHash,
      size: s.auth.size,
      k: s.auth.k,
      m: s.auth.m,
      auth: s,
    })
    const snapshot = () => ({
      node: ledger.balanceOf(node.did),
      nodeNonce: ledger.nonceOf(node.did),
      creator: ledger.balanceOf(creator.did),
      content: ledger.contents().length,
    })
    return { w, ledger, node, creator, payload, snapshot }
  }

  it("registers under the creator and charges the fee to the creator's account, not the node's", () => {
    const { ledger, node, creator, payload, snapshot } = setup()
    const before = snapshot()
    const ev = node.ev('content.register', payload(authFor(creator)), 3)
    expect(() => checkEventStateless(ev, CHAIN)).not.toThrow()
    expect(ledger.precheck(ev)).toBeUndefined()
    expect(block(ledger, [ev]).results[0]).toEqual({ ok: true })
    expect(ledger.content(cidOf(1))).toMatchObject({ creator: creator.did, bodyHash: hex32(1) })
    expect(ledger.balanceOf(creator.did)).toBe(before.creator - 3)
    expect(ledger.nonceOf(node.did)).toBe(before.nodeNonce + 1)
    // The node is the proposer id(10) too: it gets the proposer share, and pays nothing.
    expect(ledger.balanceOf(node.did)).toBeGreaterThanOrEqual(before.node)
  })

  it('refuses forged, mismatched, replayed, expired, over-fee and unfunded registrations, each changing nothing', () => {
    const { w, ledger, node, creator, payload, snapshot } = setup()
    const ok = authFor(creator)
    expect(block(ledger, [node.ev('content.register', payload(ok))]).results[0]).toEqual({ ok: true })
    const cases: [string, Record<string, unknown>, string, number?][] = [
      // A signature by someone else over the creator's name.
      [
        'forged',
        payload({ auth: { ...authFor(creator, { nonce: 2 }).auth }, sig: authFor(w.users[1]!, { nonce: 2 }).sig }, 2),
        'BAD_SIGNATURE',
      ],
      // A valid authorization of another creator for this body: the other creator is refused the body.
      ['wrong creator', payload(authFor(w.users[1]!, { nonce: 7 }), 2), 'ALREADY_EXISTS'],
      [
        'bodyHash mismatch',
        { ...payload(authFor(creator, { nonce: 3, bodyHash: hex32(2) }), 2), bodyHash: hex32(3) },
        'INVALID_PAYLOAD',
      ],
      [
        'size mismatch',
        { ...payload(authFor(creator, { nonce: 3, bodyHash: hex32(2) }), 2), size: 999 },
        'INVALID_PAYLOAD',
      ],
      ['replayed nonce', payload(authFor(creator, { bodyHash: hex32(2) }), 2), 'BAD_NONCE'],
      ['expired', payload(authFor(creator, { nonce: 4, bodyHash: hex32(2), expiresAtMs: T0 + 1 }), 2), 'EXPIRED'],
      ['above maxFee', payload(authFor(creator, { nonce: 5, bodyHash: hex32(2), maxFee: 1 }), 2), 'FEE_ABOVE_MAX', 2],
      [
        'other network',
        payload(authFor(creator, { nonce: 6, bodyHash: hex32(2), chainId: 'other-net' }), 2),
        'WRONG_CHAIN',
      ],
    ]
    for (const [what, p, code, fee] of cases) {
      const before = snapshot()
      const ev = node.ev('content.register', p as never, fee ?? 1, ledger.nonceOf(node.did) + 1)
      expect(block(ledger, [ev]).results[0]?.code, what).toBe(code)
      expect(snapshot(), what).toEqual(before)
    }
  })

  it('refuses a creator without funds with INSUFFICIENT_FUNDS (at admission and at execution)', () => {
    const { ledger, node, payload, snapshot } = setup()
    const broke = NodeIdentity.generate()
    const before = snapshot()
    const ev = node.ev('content.register', payload(authFor(broke)))
    expect(ledger.precheck(ev)).toBe('INSUFFICIENT_FUNDS')
    expect(block(ledger, [ev]).results[0]?.code).toBe('INSUFFICIENT_FUNDS')
    expect(snapshot()).toEqual(before)
    expect(ledger.balanceOf(broke.did)).toBe(0)
  })
})
