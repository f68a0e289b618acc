import { describe, expect, it } from 'vitest'
import type { Did } from '../crypto/did.ts'
import { toHex } from '../crypto/hash.ts'
import { encodeValue } from './cbor.ts'
import { genesisHash, validateGenesis } from './genesis.ts'
import { RESTART_MANIFEST_DOMAIN, verifyRestartAuthorization } from './governance-payloads.ts'
import type { RestartManifest } from './governance-payloads.ts'
import { Ledger } from './ledger.ts'
import { block, CHAIN, hex32, id, Sender, T0, world } from './testkit.ts'

function setup() {
  const w = world()
  const ledger = Ledger.fromGenesis(w.genesis)
  block(ledger, [new Sender(w.users[0]!).ev('accounts.transfer', { to: w.users[1]!.did, amount: 5 })])
  return { w, ledger }
}

function manifestFor(ledger: Ledger, dids: Did[], over: Partial<RestartManifest> = {}): RestartManifest {
  return {
    domain: RESTART_MANIFEST_DOMAIN,
    chainId: CHAIN,
    epoch: ledger.epoch + 1,
    height: ledger.height,
    blockHash: hex32(1),
    stateRoot: toHex(ledger.root()),
    witnesses: ledger.restartWitnessSet(dids),
    expiresAtMs: T0 + 3_600_000,
    ...over,
  }
}

describe('coordinated restart (scenario A)', () => {
  it('installs the manifest witness set (survivors + promoted standbys) and the new epoch', () => {
    const { w, ledger } = setup()
    const survivors = [w.witnesses[2]!.did, w.witnesses[3]!.did]
    const promoted = w.standbys.map((s) => s.did)
    const m = manifestFor(ledger, [...survivors, ...promoted])
    expect(m.witnesses.map((x) => x.did).sort()).toEqual([...survivors, ...promoted].sort())

    // The authorization a node checks before applying (here: a full council).
    const council = ledger.council()
    const auth = verifyRestartAuthorization(
      m,
      { kind: 'council', signatures: [] },
      { council, currentWitnesses: ledger.committee().map((c) => c.did), standbys: [], nowMs: T0 },
    )
    expect(auth).toMatchObject({ ok: false, code: 'COUNCIL_THRESHOLD_NOT_MET' })

    const root = ledger.applyRestart(m)
    expect(toHex(root)).toBe(toHex(ledger.root()))
    expect(ledger.epoch).toBe(1)
    expect(ledger.height).toBe(1)
    expect(
      ledger
        .committee()
        .map((c) => c.did)
        .sort(),
    ).toEqual([...survivors, ...promoted].sort())
    expect(
      ledger
        .standbys()
        .map((s) => s.did)
        .sort(),
    ).toEqual([w.witnesses[0]!.did, w.witnesses[1]!.did].sort())
    // Consensus continues in the new epoch.
    const x = block(ledger, [], { epoch: 1 })
    expect(x.height).toBe(2)
  })

  it('every node applying the same manifest reaches the same root', () => {
    const a = setup()
    const b = setup()
    const dids = [a.w.witnesses[3]!.did, a.w.standbys[0]!.did]
    expect(toHex(a.ledger.applyRestart(manifestFor(a.ledger, dids)))).toBe(
      toHex(b.ledger.applyRestart(manifestFor(b.ledger, dids))),
    )
  })

  it('refuses a manifest for another height, root, epoch or witness set — and changes nothing', () => {
    const { w, ledger } = setup()
    const root = toHex(ledger.root())
    const dids = [w.witnesses[3]!.did, w.standbys[0]!.did]
    const code = (m: RestartManifest) => {
      try {
        ledger.applyRestart(m)
        return 'ok'
      } catch (err) {
        return (err as { code: string }).code
      }
    }
    expect(code(manifestFor(ledger, dids, { height: 7 }))).toBe('RESTART_MISMATCH')
    expect(code(manifestFor(ledger, dids, { stateRoot: hex32(2) }))).toBe('RESTART_MISMATCH')
    expect(code(manifestFor(ledger, dids, { epoch: 0 }))).toBe('INVALID_PAYLOAD')
    expect(code(manifestFor(ledger, dids, { chainId: 'other' }))).toBe('WRONG_CHAIN')
    const wrongPower = manifestFor(ledger, dids)
    wrongPower.witnesses = wrongPower.witnesses.map((x) => ({ ...x, power: x.power + 1 }))
    expect(code(wrongPower)).toBe('RESTART_MISMATCH')
    expect(code({ ...manifestFor(ledger, dids), witnesses: [{ did: id(88).did, power: 1 }] })).toBe('RESTART_MISMATCH')
    expect(toHex(ledger.root())).toBe(root)
    expect(ledger.epoch).toBe(0)
  })

  it('applies hard-fork state edits only when they give the announced resulting root', () => {
    const { w, ledger } = setup()
    const victim = w.users[2]!.did
    const key = `acct/${victim}`
    const edits = [{ op: 'put' as const, key, value: encodeValue({ balance: 1, nonce: 0, createdAt: 0 }) }]
    const copy = Ledger.fromSnapshot(ledger.snapshot())
    const dids = [w.witnesses[3]!.did, w.witnesses[2]!.did]
    // A wrong announced root is refused…
    const wrong = manifestFor(copy, dids, { stateEdits: edits, resultingStateRoot: hex32(0) })
    expect(() => copy.applyRestart(wrong)).toThrow(expect.objectContaining({ code: 'RESTART_MISMATCH' }) as Error)
    // …the one the council's tooling computes is accepted.
    const resulting = toHex(ledger.stateEditsRoot(edits))
    const m = manifestFor(ledger, dids, { stateEdits: edits, resultingStateRoot: resulting })
    ledger.applyRestart(m)
    expect(ledger.balanceOf(victim)).toBe(1)
    const bad = manifestFor(copy, dids, {
      stateEdits: [{ op: 'put', key, value: new Uint8Array([0x18, 0x01]) }],
      resultingStateRoot: hex32(0),
    })
    expect(() => copy.applyRestart(bad)).toThrow(expect.objectContaining({ code: 'INVALID_STATE_EDIT' }) as Error)
  })
})

describe('genesis', () => {
  it('validates with readable messages', () => {
    const w = world()
    const msg = (g: unknown) => {
      try {
        validateGenesis(g)
        return 'ok'
      } catch (err) {
        return `${(err as { code: string }).code}: ${(err as Error).message}`
      }
    }
    expect(msg(w.genesis)).toBe('ok')
    expect(msg({ ...w.genesis, council: { ...w.genesis.council, threshold: 4 } })).toBe(
      'INVALID_GENESIS: genesis.council.threshold must be between 1 and 3, got 4',
    )
    expect(msg({ ...w.genesis, chainId: 'Bad Name' })).toMatch(/genesis.chainId must be a lowercase DNS label/)
    expect(msg({ ...w.genesis, standbys: [{ did: w.witnesses[0]!.did, stake: 1 }] })).toMatch(
      /already listed in genesis.witnesses/,
    )
    expect(msg({ ...w.genesis, params: { committeeSize: 0 } })).toMatch(/committeeSize must be between 1 and 1000/)
    expect(msg({ ...w.genesis, witnesses: [] })).toMatch(/at least one witness/)
    expect(msg({ ...w.genesis, treasury: 2 ** 52 })).toMatch(/treasury must be between/)
    expect(msg({ ...w.genesis, accounts: [{ did: 'did:web:x', balance: 1 }] })).toMatch(/did:key/)
    expect(msg(null)).toMatch(/genesis must be an object/)
  })

  it('hashes deterministically, independent of key order', () => {
    const w = world()
    const reordered = Object.fromEntries(Object.entries(w.genesis).reverse()) as unknown
    expect(toHex(genesisHash(validateGenesis(reordered)))).toBe(toHex(genesisHash(w.genesis)))
    expect(Ledger.fromGenesis(w.genesis).genesisHash).toBe(toHex(genesisHash(w.genesis)))
  })
})
