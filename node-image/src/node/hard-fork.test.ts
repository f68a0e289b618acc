import { describe, expect, it } from 'vitest'
import { toHex } from '../crypto/hash.ts'
import { decodeValue, encodeValue } from '../ledger/cbor.ts'
import { LedgerError } from '../ledger/errors.ts'
import { RESTART_MANIFEST_DOMAIN } from '../ledger/governance-payloads.ts'
import type { RestartManifest, StateEdit } from '../ledger/governance-payloads.ts'
import type { StakeRecord } from '../ledger/state.ts'
import { T0, world } from '../ledger/testkit.ts'
import type { RestartPreview } from '../api/admin-contract.ts'
import { LedgerAdapter } from './ledger-adapter.ts'
import { previewHardFork, refusalHalt, refusalOf, signingHeld } from './hard-fork.ts'

const BLOCK = 'cd'.repeat(32)

function setup() {
  const w = world()
  const ledger = LedgerAdapter.fromGenesis(w.genesis)
  const copy = () => LedgerAdapter.fromSnapshot(w.genesis, ledger.snapshot())
  return { w, ledger, copy }
}

/** The manifest a council's tooling builds from a preview (operator/src/cli/hardfork-plan.ts). */
function manifestFrom(p: RestartPreview, edits: StateEdit[]): RestartManifest {
  return {
    domain: RESTART_MANIFEST_DOMAIN,
    chainId: p.chainId,
    epoch: p.epoch + 1,
    height: p.height,
    blockHash: p.blockHash,
    stateRoot: p.stateRoot,
    witnesses: p.witnesses.map((x) => ({ did: x.did as RestartManifest['witnesses'][number]['did'], power: x.power })),
    stateEdits: edits,
    resultingStateRoot: p.resultingStateRoot,
    expiresAtMs: T0 + 3_600_000,
  }
}

function code(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (err) {
    const e = err as { status?: number; code: string }
    return `${e.status ?? '-'} ${e.code}`
  }
}

describe('hard-fork preview', () => {
  it('computes the resulting root from the finalized state without changing it, and a manifest built from it applies', () => {
    const { w, ledger, copy } = setup()
    const key = `acct/${w.users[2]!.did}`
    const edits: StateEdit[] = [{ op: 'put', key, value: encodeValue({ balance: 7, nonce: 0, createdAt: 0 }) }]
    const root = toHex(ledger.root())
    const p = previewHardFork(ledger, BLOCK, edits)
    expect(toHex(ledger.root())).toBe(root)
    expect(p).toMatchObject({ chainId: w.genesis.chainId, epoch: 0, height: 0, blockHash: BLOCK, stateRoot: root })
    expect(p.resultingStateRoot).not.toBe(root)
    expect(p.witnesses.map((x) => x.did).sort()).toEqual(
      ledger
        .committee()
        .map((c) => c.did)
        .sort(),
    )
    expect(p.edits).toEqual([
      {
        op: 'put',
        key,
        valueCbor: Buffer.from(edits[0]!.op === 'put' ? edits[0]!.value : []).toString('base64'),
        value: { balance: 7, nonce: 0, createdAt: 0 },
        before: { balance: 1_000_000, nonce: 0, createdAt: 0 },
      },
    ])
    // Every node applying the manifest reaches the previewed root (it refuses any other).
    const a = copy()
    a.applyRestart(manifestFrom(p, edits))
    expect(a.registration(w.users[2]!.did).balance).toBe(7)
    const wrong = { ...manifestFrom(p, edits), resultingStateRoot: '00'.repeat(32) }
    expect(code(() => copy().applyRestart(wrong))).toBe('- RESTART_MISMATCH')
  })

  it('lists the witness powers as they are after the edits (an edit of a stake changes a power)', () => {
    const { w, ledger, copy } = setup()
    const did = w.witnesses[0]!.did
    const key = `stake/${did}`
    const stake = decodeValue(ledger.getRaw(key)!) as StakeRecord
    const edits: StateEdit[] = [{ op: 'put', key, value: encodeValue({ ...stake, bonded: stake.bonded * 3 }) }]
    const p = previewHardFork(ledger, BLOCK, edits)
    const before = ledger.committee().find((c) => c.did === did)!.power
    expect(p.witnesses.find((x) => x.did === did)?.power).toBe(before * 3)
    copy().applyRestart(manifestFrom(p, edits))
    // The powers of the unedited state would be refused.
    const stale = {
      ...manifestFrom(p, edits),
      witnesses: ledger.restartWitnessSet(p.witnesses.map((x) => x.did) as never),
    }
    expect(code(() => copy().applyRestart(stale as RestartManifest))).toBe('- RESTART_MISMATCH')
  })

  it('refuses edits the ledger cannot apply (400 INVALID_STATE_EDIT) and a witness it cannot seat (409 RESTART_MISMATCH)', () => {
    const { w, ledger } = setup()
    expect(code(() => previewHardFork(ledger, BLOCK, [{ op: 'delete', key: 'sys/meta' }]))).toBe(
      '400 INVALID_STATE_EDIT',
    )
    const edits: StateEdit[] = [{ op: 'delete', key: `acct/${w.users[0]!.did}` }]
    expect(code(() => previewHardFork(ledger, BLOCK, edits, [w.users[1]!.did]))).toBe('409 RESTART_MISMATCH')
    // A standby may be seated: a hard fork can also change the witness set.
    const p = previewHardFork(ledger, BLOCK, edits, [w.witnesses[0]!.did, w.standbys[0]!.did])
    expect(p.witnesses.map((x) => x.did).sort()).toEqual([w.witnesses[0]!.did, w.standbys[0]!.did].sort())
    expect(p.edits).toEqual([
      { op: 'delete', key: edits[0]!.key, before: { balance: 1_000_000, nonce: 0, createdAt: 0 } },
    ])
  })
})

describe('a refused manifest halts the node in the old epoch', () => {
  const m = { epoch: 3, height: 40 } as RestartManifest
  const refusal = refusalOf(
    {
      ...m,
      domain: RESTART_MANIFEST_DOMAIN,
      chainId: 'c',
      blockHash: BLOCK,
      stateRoot: BLOCK,
      witnesses: [],
      expiresAtMs: 1,
    },
    new LedgerError('RESTART_MISMATCH', 'state edits give root aa, manifest says bb'),
  )

  it('signs nothing in the old epoch past the restart height; anything else as before', () => {
    expect(signingHeld(refusal, 2, 41)).toBe(true)
    expect(signingHeld(refusal, 2, 45)).toBe(true)
    expect(signingHeld(refusal, 2, 40)).toBe(false)
    expect(signingHeld(refusal, 3, 41)).toBe(false)
    expect(signingHeld(undefined, 2, 41)).toBe(false)
  })

  it('reports halted with RESTART_REFUSED naming the manifest and the reason, until the epoch moves on', () => {
    const h = refusalHalt(refusal, 2)
    expect(h?.code).toBe('RESTART_REFUSED')
    expect(h?.reason).toContain(refusal.manifestHash)
    expect(h?.reason).toContain('RESTART_MISMATCH: state edits give root aa, manifest says bb')
    expect(refusalHalt(refusal, 3)).toBeUndefined()
    expect(refusalHalt(undefined, 2)).toBeUndefined()
  })
})
