import { describe, expect, it } from 'vitest'
import { NodeIdentity } from '@echonet/node/identity'
import { verifyRestartAuthorization } from '@echonet/node/governance'
import { decodeManifest, decodeRestartRecord, manifestHash } from '@echonet/node/restart'
import yaml from 'js-yaml'
import type { AdminStatus, RestartPreview } from '@echonet/node/admin'
import { validateDisasterDeclaration } from '../api/v1alpha1/validate.ts'
import { sign, signManifest, withSignature } from './council.ts'
import {
  applyText,
  hardForkManifest,
  hardForkPlan,
  hardForkPlanText,
  parseEdits,
  planManifest,
  planRecord,
} from './hardfork.ts'
import { pickNode } from './node-reach.ts'

const members = [1, 2, 3].map((i) => NodeIdentity.fromSeed(new Uint8Array(32).fill(i)))
const witnesses = [4, 5, 6, 7].map((i) => NodeIdentity.fromSeed(new Uint8Array(32).fill(i)))
/** {balance: 7} as canonical DAG-CBOR. */
const BALANCE_7 = Buffer.from('a16762616c616e636507', 'hex').toString('base64')
const NOW = 1_800_000_000_000

function preview(over: Partial<RestartPreview> = {}): RestartPreview {
  return {
    chainId: 'echonet-testnet',
    epoch: 2,
    height: 41,
    blockHash: 'aa'.repeat(32),
    stateRoot: 'bb'.repeat(32),
    resultingStateRoot: 'cc'.repeat(32),
    witnesses: witnesses.map((w) => ({ did: w.did, power: 10 })),
    edits: [
      {
        op: 'put',
        key: `acct/${witnesses[0]!.did}`,
        valueCbor: BALANCE_7,
        value: { balance: 7 },
        before: { balance: 5 },
      },
      { op: 'delete', key: 'rep/x', before: { score: 1 } },
    ],
    ...over,
  }
}

describe('kubectl echonet hardfork plan (pure part)', () => {
  it('builds the manifest from the preview: next epoch, same block and witnesses, the edits as the node normalized them, the resulting root', () => {
    const m = hardForkManifest(preview(), { expiresAtMs: NOW + 3_600_000 })
    expect(m).toMatchObject({
      chainId: 'echonet-testnet',
      epoch: 3,
      height: 41,
      blockHash: 'aa'.repeat(32),
      stateRoot: 'bb'.repeat(32),
      resultingStateRoot: 'cc'.repeat(32),
      expiresAtMs: NOW + 3_600_000,
    })
    expect(m.witnesses).toEqual(witnesses.map((w) => ({ did: w.did, power: 10 })))
    expect(m.stateEdits).toEqual([
      { op: 'put', key: `acct/${witnesses[0]!.did}`, value: new Uint8Array(Buffer.from(BALANCE_7, 'base64')) },
      { op: 'delete', key: 'rep/x' },
    ])
    expect(hardForkManifest(preview(), { expiresAtMs: NOW, epoch: 3 }).epoch).toBe(3)
  })

  it('prints bytes the council tools sign as they are, and nodes accept under a council but never under a standing policy', () => {
    const m = hardForkManifest(preview(), { expiresAtMs: NOW + 3_600_000 })
    const plan = hardForkPlan({ network: 'testnet', node: 'witnesses-0' }, preview(), m)
    const decoded = decodeManifest(new Uint8Array(Buffer.from(plan.manifest, 'base64')))
    expect(decoded).toEqual(m)
    expect(plan.manifestHash).toBe(manifestHash(m))
    expect(plan).toMatchObject({ networkId: 'echonet-testnet', epoch: 3, resultingStateRoot: 'cc'.repeat(32) })
    // `council sign --what manifest` reads a manifest in exactly this form from a declaration.
    const r = validateDisasterDeclaration({
      apiVersion: 'echonet.io/v1alpha1',
      kind: 'DisasterDeclaration',
      metadata: { name: 'cf', namespace: 'ns' },
      spec: {
        networkRef: { name: 'testnet' },
        scenario: 'CriticalFlaw',
        networkId: 'echonet-testnet',
        actions: [{ type: 'PauseModules', pauseModules: { modules: ['payouts'], durationSeconds: 60 } }],
        nonce: 1,
        expiresAt: '2099-01-01T00:00:00Z',
      },
    })
    if (!r.ok) throw new Error(JSON.stringify(r.errors))
    const decl = { ...r.value, status: { phase: 'Executing' as const, runbook: { manifest: plan.manifest } } }
    const sigs = members.slice(0, 2).map((k) => {
      const e = sign(decl, 'echonet-testnet', k, 'manifest').entry
      expect(e.did).toBe(k.did)
      return { did: k.did, sig: new Uint8Array(Buffer.from(e.signature, 'base64')) }
    })
    const ctx = {
      council: { members: members.map((k) => k.did), threshold: 2 },
      currentWitnesses: witnesses.map((w) => w.did),
      standbys: [],
      nowMs: NOW,
    }
    expect(verifyRestartAuthorization(decoded, { kind: 'council', signatures: sigs }, ctx)).toMatchObject({ ok: true })
    expect(verifyRestartAuthorization(decoded, { kind: 'council', signatures: sigs.slice(0, 1) }, ctx)).toMatchObject({
      ok: false,
      code: 'COUNCIL_THRESHOLD_NOT_MET',
    })
    const text = hardForkPlanText(plan)
    expect(text).toContain(`resulting root     ${'cc'.repeat(32)}`)
    expect(text).toContain('before: {"balance":5}')
    expect(text).toContain('after:  {"balance":7}')
    expect(text).toContain(plan.manifest)
  })

  it('refuses an --epoch the node does not lead to, and a preview that does not make a valid manifest', () => {
    expect(() => hardForkManifest(preview(), { expiresAtMs: NOW, epoch: 5 })).toThrow(
      expect.objectContaining({ code: 'EPOCH_MISMATCH' }) as Error,
    )
    const noValue = preview({ edits: [{ op: 'put', key: 'k' }] })
    expect(() => hardForkManifest(noValue, { expiresAtMs: NOW })).toThrow(
      expect.objectContaining({ code: 'BAD_PREVIEW' }) as Error,
    )
    expect(() => hardForkManifest(preview({ resultingStateRoot: 'nope' }), { expiresAtMs: NOW })).toThrow(
      /resultingStateRoot must be 64 hex digits/,
    )
  })

  it('council members sign the plan file itself; the record handed to the nodes carries exactly the reviewed manifest', () => {
    const m = hardForkManifest(preview(), { expiresAtMs: NOW + 3_600_000 })
    const file = yaml.dump(hardForkPlan({ network: 'testnet', node: 'w-0' }, preview(), m))
    const read = planManifest(yaml.load(file), 'fork.yaml')
    expect(read.manifest).toEqual(m)
    let signatures = withSignature(read.plan.signatures, signManifest(read.manifest, members[0]!))
    signatures = withSignature(signatures, signManifest(read.manifest, members[2]!))
    const rec = decodeRestartRecord(planRecord({ ...read.plan, signatures }, read.manifest))
    expect(rec.manifest).toEqual(m)
    const ctx = {
      council: { members: members.map((k) => k.did), threshold: 2 },
      currentWitnesses: witnesses.map((w) => w.did),
      standbys: [],
      nowMs: NOW,
    }
    expect(verifyRestartAuthorization(rec.manifest, rec.authorization, ctx)).toMatchObject({ ok: true })

    const plan = yaml.load(file) as Record<string, unknown>
    const other = hardForkManifest(preview({ height: 42 }), { expiresAtMs: NOW + 3_600_000 })
    const swapped = { ...plan, manifest: hardForkPlan({ network: 'testnet', node: 'w-0' }, preview(), other).manifest }
    expect(() => planManifest(swapped, 'fork.yaml')).toThrow(/the manifest's hash is/)
    expect(() => planManifest({ ...plan, networkId: 'elsewhere' }, 'fork.yaml')).toThrow(/the plan says elsewhere/)
    expect(() => planManifest({ kind: 'x' }, 'fork.yaml')).toThrow(
      expect.objectContaining({ code: 'INVALID_PLAN' }) as Error,
    )
    expect(
      applyText('ab', [
        { node: 'w-0', epoch: 3, adopted: true, stateRoot: 'cd' },
        { node: 'w-1', code: 'RESTART_MISMATCH', message: 'state edits give root x' },
      ]),
    ).toBe(
      'Hard fork ab:\n  w-0  adopted (epoch 3, state root cd)\n  w-1  REFUSED RESTART_MISMATCH: state edits give root x\n',
    )
  })

  it('reads edits from YAML or JSON, as a list or under `edits`', () => {
    const yamlText = `- op: put\n  key: acct/x\n  value: {balance: 7, nonce: 0}\n- op: delete\n  key: rep/x\n`
    expect(parseEdits(yamlText, 'e.yaml')).toEqual([
      { op: 'put', key: 'acct/x', value: { balance: 7, nonce: 0 } },
      { op: 'delete', key: 'rep/x' },
    ])
    expect(parseEdits(JSON.stringify({ edits: [{ op: 'delete', key: 'k' }] }), 'e.json')).toEqual([
      { op: 'delete', key: 'k' },
    ])
    expect(() => parseEdits('edits: []', 'e.yaml')).toThrow(/expected a list of edits/)
    expect(() => parseEdits('- op: put', 'e.yaml')).toThrow(/edit 0 needs op and key/)
    expect(() => parseEdits('- [', 'e.yaml')).toThrow(/not YAML or JSON/)
  })

  it('plans on the named node, or else on the answering node with the highest finalized block', () => {
    const st = (h: number) => ({ finalizedHeight: h }) as AdminStatus
    const nodes = [
      { node: 'w-0', status: st(40) },
      { node: 'w-1' },
      { node: 'w-2', status: st(41) },
      { node: 'w-3', status: st(41) },
    ]
    expect(pickNode(nodes).node).toBe('w-2')
    expect(pickNode(nodes, 'w-0').node).toBe('w-0')
    expect(() => pickNode(nodes, 'w-1')).toThrow(expect.objectContaining({ code: 'UNREACHABLE' }) as Error)
    expect(() => pickNode(nodes, 'w-9')).toThrow(expect.objectContaining({ code: 'NODE_NOT_FOUND' }) as Error)
    expect(() => pickNode([{ node: 'w-1' }])).toThrow(expect.objectContaining({ code: 'UNREACHABLE' }) as Error)
  })
})
