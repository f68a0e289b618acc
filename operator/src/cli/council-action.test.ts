import { describe, expect, it } from 'vitest'
import yaml from 'js-yaml'
import { NodeIdentity } from '@echonet/node/identity'
import { verifyCouncilAuthorization } from '@echonet/node/governance'
import {
  actionBody,
  actionHash,
  actionDocumentText,
  buildActionDocument,
  checkActionDocument,
  parseActionDocument,
  parseParam,
  signActionDocument,
  signatureBytes,
} from './council-action.ts'
import type { CouncilActionDocument } from './council-action.ts'

const members = [1, 2, 3].map((i) => NodeIdentity.fromSeed(new Uint8Array(32).fill(i)))
const council = { members: members.map((m) => m.did), threshold: 2 }
const outsider = NodeIdentity.fromSeed(new Uint8Array(32).fill(9))
const NOW = 1_800_000_000_000
const NET = 'echonet-testnet'

function halt(over: { nonce?: number; expiresAtMs?: number } = {}): CouncilActionDocument {
  return buildActionDocument(
    { network: 'testnet', networkId: NET },
    actionBody('halt', { reason: 'flaw in payouts' }, NOW),
    { nonce: over.nonce ?? 42, expiresAtMs: over.expiresAtMs ?? NOW + 3_600_000 },
  )
}

/** Through YAML and back, as the file members pass around. */
const roundTrip = (d: CouncilActionDocument): CouncilActionDocument =>
  parseActionDocument(yaml.load(yaml.dump(d)), 'halt.yaml')

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f()
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

describe('council action documents', () => {
  it('builds each flag-driven kind; refuses a missing flag, an unknown kind and what the ledger calls malformed', () => {
    expect(actionBody('stop-at', { height: 120, reason: 'freeze' }, NOW)).toEqual({
      kind: 'stop-at',
      height: 120,
      reason: 'freeze',
    })
    expect(actionBody('pause-module', { module: 'payouts', forMs: 60_000 }, NOW)).toEqual({
      kind: 'pause-module',
      module: 'payouts',
      untilMs: NOW + 60_000,
    })
    expect(
      actionBody('set-params', { params: parseParam('newDidReputationWeight=100'), paramsForMs: 20_000 }, NOW),
    ).toEqual({ kind: 'set-params', params: { newDidReputationWeight: 100 }, expiresAtMs: NOW + 20_000 })
    expect(actionBody('compensate', { body: { transfers: [{ to: outsider.did, amount: 5 }] } }, NOW)).toEqual({
      kind: 'compensate',
      transfers: [{ to: outsider.did, amount: 5 }],
    })
    // Tried: stop-at without a height, a pause with no end, a kind the ledger does not know, a
    // parameter that does not exist, a malformed --param.
    expect(codeOf(() => actionBody('stop-at', {}, NOW))).toBe('INVALID_ACTION')
    expect(codeOf(() => actionBody('pause-module', { module: 'payouts' }, NOW))).toBe('INVALID_ACTION')
    expect(codeOf(() => actionBody('explode', {}, NOW))).toBe('INVALID_ACTION')
    expect(
      codeOf(() =>
        buildActionDocument(
          { network: 'n', networkId: NET },
          actionBody('set-params', { params: { noSuchParam: 1 } }, NOW),
          { nonce: 1, expiresAtMs: NOW + 1 },
        ),
      ),
    ).toBe('INVALID_ACTION')
    expect(codeOf(() => parseParam('weight'))).toBe('INVALID_ACTION')
  })

  it('the document states the hash of the exact signed bytes and survives a YAML round trip', () => {
    const d = halt()
    expect(d.summary).toContain('flaw in payouts')
    expect(d.actionHash).toMatch(/^[0-9a-f]{64}$/)
    expect(roundTrip(d)).toEqual(d)
    expect(actionDocumentText(d)).toContain(d.actionHash)
  })

  it('two members sign the file in turn; the result is exactly what the ledger verifies', () => {
    let d = roundTrip(signActionDocument(halt(), members[0]!))
    d = roundTrip(signActionDocument(d, members[2]!))
    // Signing again replaces that member's signature instead of adding one.
    d = roundTrip(signActionDocument(d, members[2]!))
    expect(d.signatures).toHaveLength(2)
    const c = checkActionDocument(d, council, NET, NOW)
    expect(c).toMatchObject({ ok: true })
    expect(c.signatures.every((s) => s.member && s.valid)).toBe(true)
    expect(verifyCouncilAuthorization(d.action, signatureBytes(d), council, NOW)).toEqual({ ok: true })
  })

  it('refuses, with the ledger’s codes, one signature of two, a forged member entry, an outsider, an expired action and another network', () => {
    const one = signActionDocument(halt(), members[0]!)
    expect(checkActionDocument(one, council, NET, NOW)).toMatchObject({
      ok: false,
      code: 'COUNCIL_THRESHOLD_NOT_MET',
    })
    // Member 2's DID over a signature that member 3 made.
    const byThree = signActionDocument(halt(), members[2]!).signatures![0]!
    const forged = { ...one, signatures: [...one.signatures!, { did: members[1]!.did, signature: byThree.signature }] }
    expect(checkActionDocument(forged, council, NET, NOW)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
    const withOutsider = signActionDocument(one, outsider)
    const c = checkActionDocument(withOutsider, council, NET, NOW)
    expect(c).toMatchObject({ ok: false, code: 'COUNCIL_THRESHOLD_NOT_MET' })
    expect(c.signatures.find((s) => s.did === outsider.did)).toEqual({ did: outsider.did, member: false, valid: true })
    const two = signActionDocument(signActionDocument(halt({ expiresAtMs: NOW + 1_000 }), members[0]!), members[1]!)
    expect(checkActionDocument(two, council, NET, NOW + 1_000)).toMatchObject({ ok: false, code: 'EXPIRED' })
    expect(checkActionDocument(two, council, 'other-net', NOW)).toMatchObject({ ok: false, code: 'WRONG_NETWORK' })
  })

  it('a file edited after review is refused: a changed action (HASH_MISMATCH), a changed action with its hash recomputed (BAD_SIGNATURE), not a document (INVALID_DOCUMENT)', () => {
    const signed = signActionDocument(signActionDocument(halt(), members[0]!), members[1]!)
    const edited = yaml.load(yaml.dump(signed)) as { action: { action: { reason: string } } }
    edited.action.action.reason = 'something else'
    expect(codeOf(() => parseActionDocument(edited, 'f.yaml'))).toBe('HASH_MISMATCH')
    // A tamperer who also recomputes the hash: the signatures no longer match.
    const rehashed = { ...signed, action: { ...signed.action, action: { kind: 'halt' as const, reason: 'other' } } }
    const reparsed = parseActionDocument(
      yaml.load(yaml.dump({ ...rehashed, actionHash: actionHash(rehashed.action) })),
      'f.yaml',
    )
    expect(checkActionDocument(reparsed, council, NET, NOW)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' })
    expect(codeOf(() => parseActionDocument({ kind: 'Something' }, 'f.yaml'))).toBe('INVALID_DOCUMENT')
    expect(codeOf(() => parseActionDocument('halt', 'f.yaml'))).toBe('INVALID_DOCUMENT')
    const wrongNet = { ...signed, networkId: 'other-net' }
    expect(codeOf(() => parseActionDocument(wrongNet, 'f.yaml'))).toBe('WRONG_NETWORK')
  })
})
