import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import yaml from 'js-yaml'
import { NodeIdentity } from '../../node-image/src/crypto/identity.ts'
import type { Did } from '../../node-image/src/crypto/did.ts'
import {
  councilSign,
  downTestnet,
  launchTestnet,
  nodeNamed,
  signalNode,
  statusOf,
  testnetAccount,
  waitFor,
  waitForHalted,
  waitForHeight,
  LOOPBACK_TIMEOUTS,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetNode, TestnetState } from '../../node-image/src/cli/testnet.ts'
import { runLoad } from '../../node-image/src/cli/loadgen.ts'
import { auditTestnet, doubleVotes, findForks } from '../../node-image/src/cli/drill.ts'
import { AdminApiError, AdminClient } from '../../node-image/src/api/admin-contract.ts'
import type { AdminStatus, RestartPreview, StateEditInput } from '../../node-image/src/api/admin-contract.ts'
import { httpChainSource } from '../../node-image/src/audit/index.ts'
import {
  COUNCIL_ACTION_DOMAIN,
  signCouncilAction,
  signRestartManifest,
} from '../../node-image/src/ledger/governance-payloads.ts'
import type {
  CouncilAction,
  CouncilSignature,
  RestartAuthorization,
  RestartManifest,
} from '../../node-image/src/ledger/governance-payloads.ts'
import { decodeRestartRecord, encodeRestartRecord, manifestHash } from '../../node-image/src/ledger/restart-record.ts'
import { hardForkManifest, planManifest, planRecord } from '../../operator/src/cli/hardfork.ts'
import type { ApplyAnswer, HardForkPlan } from '../../operator/src/cli/hardfork.ts'
import { fakeKube } from '../lib/fake-kube.ts'
import type { FakeKube, FakeObject } from '../lib/fake-kube.ts'

/**
 * Issue 9, deliverable 5, at the process tier: a hard fork with a state edit on a 4-witness
 * network. Like every coordinated restart it starts from a halted network (each node must be at
 * the restart block): two of the four witnesses are paused, so nothing is final any more. The
 * refusals are handed straight to the nodes' admin APIs; the fork itself goes the way council
 * members take it — `kubectl echonet hardfork plan` (the edit, an account balance corrected,
 * previewed on one node), `council sign --plan` by 2 of the 3 members, `hardfork apply` to every
 * node. What the nodes did is read back through each node's public API (status, accounts, the
 * certified chain audited from genesis), not through the code that did it.
 */

let s: TestnetState
let dir: string | undefined
const paused = new Set<string>()
const all = ['w0', 'w1', 'w2', 'w3']
// The council is the testnet's first three nodes, w0..w2 (2 of 3); w3 is a witness only.
/** Load uses accounts 0..3; the corrected account is never a sender, so nothing else moves it. */
const victim = testnetAccount(5).did
const finalized = new Map<string, number>()

const node = (name: string): TestnetNode => nodeNamed(s, name)
const admin = (name: string): AdminClient => new AdminClient(node(name).admin, s.adminToken, { timeoutMs: 30_000 })
const status = async (name: string): Promise<AdminStatus> => {
  const st = await statusOf(s, name)
  if (st === undefined) throw new Error(`${name} does not answer`)
  return st
}

async function publicJson<T>(name: string, path: string): Promise<T> {
  const res = await fetch(`${node(name).api}${path}`, { signal: AbortSignal.timeout(5_000) })
  if (!res.ok) throw new Error(`${name} ${path}: HTTP ${res.status}`)
  return (await res.json()) as T
}
type PublicStatus = { epoch: number; mode: string; finalizedHeight: number; finalizedHash: string; stateRoot: string }
type PublicAccount = { balance: number; nonce: number; createdAt?: number }

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'accepted'
  } catch (err) {
    if (err instanceof AdminApiError) return `${err.status} ${err.code}`
    throw err
  }
}

function councilSigned(m: RestartManifest, members: string[]): Promise<CouncilSignature[]> {
  return councilSign(s, members, (id) => signRestartManifest(id.signer, id.did, m))
}

function record(manifest: RestartManifest, authorization: RestartAuthorization): Uint8Array {
  return encodeRestartRecord({ manifest, authorization })
}

/** Every node's answer to the same record. */
async function handToAll(rec: Uint8Array): Promise<string[]> {
  return Promise.all(all.map((n) => refusal(admin(n).restart(rec))))
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const NS = 'hardfork-test'
const NET = 'hf'
const KUBECTL_ECHONET = fileURLToPath(new URL('../../operator/bin/kubectl-echonet.js', import.meta.url))
let kube: FakeKube | undefined

/** The objects the CLI reads: the network, its admin token Secret, one Ready pod per witness. */
function clusterObjects(): FakeObject[] {
  return [
    {
      apiVersion: 'echonet.io/v1alpha1',
      kind: 'EchoNetNetwork',
      metadata: { name: NET, namespace: NS },
      spec: { networkId: s.chainId },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${NET}-admin-token`, namespace: NS },
      data: { token: Buffer.from(s.adminToken).toString('base64') },
    },
    ...all.map((n) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${NET}-${n}`,
        namespace: NS,
        labels: { 'echonet.io/network': NET, 'echonet.io/role': 'witness', 'echonet.io/node': n },
      },
      status: { podIP: node(n).ip, conditions: [{ type: 'Ready', status: 'True' }] },
    })),
  ]
}

/** `kubectl echonet …` as a user runs it (the plugin's entry point, the project's Node). */
function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [KUBECTL_ECHONET, '--kubeconfig', kube!.kubeconfig, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}

beforeAll(async () => {
  s = await launchTestnet(
    {
      witnesses: 4,
      standbys: 0,
      accounts: 6,
      ipPrefix: '127.0.66.',
      checkpointInterval: 10,
      voteLog: true,
      timeouts: LOOPBACK_TIMEOUTS,
    },
    { tmpPrefix: 'echonet-hardfork-', height: 2, timeoutMs: 90_000 },
  )
  dir = s.dir
}, 120_000)

afterAll(async () => {
  await kube?.close()
  for (const n of paused) signalNode(s, n, 'SIGCONT')
  if (dir !== undefined) await downTestnet(dir, true)
})

describe('hard fork with a state edit: 4 witnesses, council-signed manifest', () => {
  /** The block everything below restarts from, as the nodes froze on it. */
  let frozen: PublicStatus
  let before: PublicAccount
  let edits: StateEditInput[]
  let wrongRecord: Uint8Array
  let fork: RestartManifest
  let forkRecord: Uint8Array
  let preview: RestartPreview

  it('before: events finalize on the 4-witness committee', async () => {
    const r = await runLoad(s, { rate: 50, seconds: 2, senders: 4 })
    expect(r.accepted).toBeGreaterThan(50)
    expect(r.finalized).toBe(r.accepted)
    for (const [id, h] of r.finalizedAt) finalized.set(id, h)
  })

  it('the network halts: two witnesses paused (SIGSTOP), the other two report halted on one block', async () => {
    for (const n of ['w2', 'w3']) {
      signalNode(s, n, 'SIGSTOP')
      paused.add(n)
    }
    await Promise.all([waitForHalted(s, 'w0', 30_000), waitForHalted(s, 'w1', 30_000)])
    const [a, b] = await waitFor('w0 and w1 on one block', async () => {
      const st = await Promise.all(['w0', 'w1'].map((n) => publicJson<PublicStatus>(n, '/v1/status')))
      return st[0]!.finalizedHash === st[1]!.finalizedHash ? st : undefined
    })
    expect(a!.finalizedHeight).toBe(b!.finalizedHeight)
    frozen = a!
    before = await publicJson<PublicAccount>('w0', `/v1/accounts/${victim}`)
    expect(before.balance).toBeGreaterThan(0)
    // The correction: this account's balance, everything else of it as it is.
    edits = [
      {
        op: 'put',
        key: `acct/${victim}`,
        value: { balance: before.balance + 12_345, nonce: before.nonce, createdAt: before.createdAt ?? 0 },
      },
    ]
  }, 60_000)

  it('(b) a council-signed manifest whose resultingStateRoot is wrong is refused by every node with RESTART_MISMATCH and changes nothing; each node halts (RESTART_REFUSED) instead of carrying the old epoch on, even once all four witnesses are back', async () => {
    const p = await admin('w0').restartPreview(edits)
    expect(p).toMatchObject({
      chainId: s.chainId,
      epoch: 0,
      height: frozen.finalizedHeight,
      blockHash: frozen.finalizedHash,
      stateRoot: frozen.stateRoot,
    })
    expect(p.resultingStateRoot).not.toBe(p.stateRoot)
    expect((await publicJson<PublicStatus>('w0', '/v1/status')).stateRoot).toBe(frozen.stateRoot)
    const wrongAt = (q: RestartPreview) => ({
      ...hardForkManifest(q, { expiresAtMs: Date.now() + 10 * 60_000 }),
      resultingStateRoot: q.resultingStateRoot.replace(/^./, (c) => (c === '0' ? '1' : '0')),
    })
    let wrong = wrongAt(p)
    wrongRecord = record(wrong, { kind: 'council', signatures: await councilSigned(wrong, ['w0', 'w1']) })
    for (const n of ['w0', 'w1']) expect(await refusal(admin(n).restart(wrongRecord))).toBe('409 RESTART_MISMATCH')
    for (const n of ['w0', 'w1']) {
      const st = await status(n)
      expect(st).toMatchObject({ epoch: 0, mode: 'halted', haltCode: 'RESTART_REFUSED', stateRoot: frozen.stateRoot })
      expect(st.haltReason).toContain(manifestHash(wrong))
      expect(st.haltReason).toContain('RESTART_MISMATCH')
    }

    // Without the refusal, four of four witnesses back would finalize again in epoch 0.
    for (const n of ['w2', 'w3']) {
      signalNode(s, n, 'SIGCONT')
      paused.delete(n)
    }
    const top = await waitFor('all four on one block', async () => {
      const st = await Promise.all(all.map((n) => publicJson<PublicStatus>(n, '/v1/status').catch(() => undefined)))
      return st.every((x) => x !== undefined && x.finalizedHash === st[0]!.finalizedHash) ? st[0] : undefined
    })
    if (top.finalizedHeight !== frozen.finalizedHeight) {
      // A paused witness had finalized one block more than the two that stayed up (its last
      // precommit never left it): they follow that certified block, and the fork is planned there.
      frozen = top
      preview = await admin('w0').restartPreview(edits)
      wrong = wrongAt(preview)
      wrongRecord = record(wrong, { kind: 'council', signatures: await councilSigned(wrong, ['w0', 'w1']) })
    }
    expect(await handToAll(wrongRecord)).toEqual(all.map(() => '409 RESTART_MISMATCH'))
    await sleep(5_000)
    for (const n of all) {
      expect(await publicJson<PublicStatus>(n, '/v1/status')).toMatchObject({
        epoch: 0,
        mode: 'halted',
        finalizedHeight: frozen.finalizedHeight,
        finalizedHash: frozen.finalizedHash,
        stateRoot: frozen.stateRoot,
      })
      expect((await status(n)).haltCode).toBe('RESTART_REFUSED')
      expect((await publicJson<PublicAccount>(n, `/v1/accounts/${victim}`)).balance).toBe(before.balance)
    }
  }, 90_000)

  it('(c) the same edits under a standing recovery policy, signed by its agent, are refused by every node with POLICY_VIOLATION', async () => {
    preview = await admin('w3').restartPreview(edits)
    const m = hardForkManifest(preview, { expiresAtMs: Date.now() + 10 * 60_000 })
    const agent = NodeIdentity.generate()
    const policy: CouncilAction = {
      domain: COUNCIL_ACTION_DOMAIN,
      chainId: s.chainId,
      nonce: 1,
      expiresAtMs: Date.now() + 3_600_000,
      action: {
        kind: 'standing-recovery-policy',
        agent: agent.did,
        quorumLossSeconds: 1,
        maxPromotions: 1,
        standbys: [NodeIdentity.generate().did],
        allowStateEdits: false,
      },
    }
    const policySignatures = await councilSign(s, ['w0', 'w1'], (id) => signCouncilAction(id.signer, id.did, policy))
    const rec = record(m, {
      kind: 'policy',
      policy,
      policySignatures,
      agentSignature: signRestartManifest(agent.signer, agent.did, m),
    })
    expect(await handToAll(rec)).toEqual(all.map(() => '403 POLICY_VIOLATION'))
  }, 60_000)

  it('(d) manifests with the edits that are unsigned, under the threshold (1 of 2), forged (a member’s DID over another key’s signature) or expired are refused by every node with their stable codes', async () => {
    const m = hardForkManifest(preview, { expiresAtMs: Date.now() + 10 * 60_000 })
    const [one] = await councilSigned(m, ['w0'])
    const impostor = NodeIdentity.generate()
    const forged = { did: node('w1').did as Did, sig: signRestartManifest(impostor.signer, impostor.did, m).sig }
    expect(await handToAll(record(m, { kind: 'council', signatures: [] }))).toEqual(
      all.map(() => '403 COUNCIL_THRESHOLD_NOT_MET'),
    )
    expect(await handToAll(record(m, { kind: 'council', signatures: [one!] }))).toEqual(
      all.map(() => '403 COUNCIL_THRESHOLD_NOT_MET'),
    )
    expect(await handToAll(record(m, { kind: 'council', signatures: [one!, forged] }))).toEqual(
      all.map(() => '403 BAD_SIGNATURE'),
    )
    const expired = hardForkManifest(preview, { expiresAtMs: Date.now() - 1_000 })
    expect(
      await handToAll(record(expired, { kind: 'council', signatures: await councilSigned(expired, ['w0', 'w1']) })),
    ).toEqual(all.map(() => '403 EXPIRED'))
    // Nothing changed anywhere.
    for (const n of all) {
      expect(await publicJson<PublicStatus>(n, '/v1/status')).toMatchObject({
        epoch: 0,
        finalizedHeight: frozen.finalizedHeight,
        stateRoot: frozen.stateRoot,
      })
      expect((await publicJson<PublicAccount>(n, `/v1/accounts/${victim}`)).balance).toBe(before.balance)
    }
  }, 60_000)

  it('(a) planned with `kubectl echonet hardfork plan` (previewed on one node), signed with `council sign --plan` by the council threshold and handed out with `hardfork apply`, the fork is adopted by every node: the previewed resulting root on each, one new state root, finality resumes in epoch 1 and the corrected balance reads back from every node', async () => {
    // Another node previews the same block to the same root.
    const again = await admin('w1').restartPreview(edits)
    expect(again.resultingStateRoot).toBe(preview.resultingStateRoot)
    expect(preview).toMatchObject({ height: frozen.finalizedHeight, stateRoot: frozen.stateRoot })
    expect(preview.witnesses.map((w) => w.did).sort()).toEqual(all.map((n) => node(n).did).sort())

    // The CLI as a council member runs it, against a stand-in API server that knows the network,
    // its admin token Secret and its four witness pods (at the testnet nodes' addresses).
    kube = await fakeKube(s.dir, NS, clusterObjects())
    const editsFile = join(s.dir, 'fork-edits.yaml')
    const planFile = join(s.dir, 'fork-plan.yaml')
    await writeFile(editsFile, yaml.dump(edits))
    const planned = await cli(['-n', NS, '-o', 'yaml', 'hardfork', 'plan', '--network', NET, '--edits', editsFile])
    expect(planned.stderr).toBe('')
    expect(planned.code).toBe(0)
    const plan = yaml.load(planned.stdout) as HardForkPlan
    expect(plan).toMatchObject({
      network: NET,
      networkId: s.chainId,
      epoch: 1,
      height: frozen.finalizedHeight,
      blockHash: frozen.finalizedHash,
      stateRoot: frozen.stateRoot,
      resultingStateRoot: preview.resultingStateRoot,
      witnesses: preview.witnesses,
    })
    expect(all).toContain(plan.node)
    expect(plan.edits).toEqual([
      expect.objectContaining({
        key: `acct/${victim}`,
        before: expect.objectContaining({ balance: before.balance }) as unknown,
      }),
    ])
    await writeFile(planFile, planned.stdout)
    for (const n of ['w1', 'w2']) {
      const signed = await cli(['council', 'sign', '--plan', planFile, '--key', join(node(n).dir, 'node.key')])
      expect(signed.code).toBe(0)
    }
    const { plan: signedPlan, manifest } = planManifest(yaml.load(await readFile(planFile, 'utf8')), planFile)
    expect(signedPlan.signatures?.map((x) => x.did).sort()).toEqual(['w1', 'w2'].map((n) => node(n).did).sort())
    fork = manifest
    forkRecord = planRecord(signedPlan, manifest)

    const applied = await cli(['-n', NS, '-o', 'json', 'hardfork', 'apply', planFile, '--network', NET])
    expect(applied.code).toBe(0)
    for (const out of [planned, applied]) expect(out.stdout + out.stderr).not.toContain(s.adminToken)
    const answers = JSON.parse(applied.stdout) as ApplyAnswer[]
    expect(answers.map((a) => a.node).sort()).toEqual(all)
    for (const a of answers) expect(a).toMatchObject({ epoch: 1 })
    const adopted = answers.filter((a): a is Extract<ApplyAnswer, { adopted: boolean }> => 'adopted' in a && a.adopted)
    // A node may have followed the fork from a peer a moment before its own copy arrived.
    expect(adopted.length).toBeGreaterThanOrEqual(1)
    for (const a of adopted) expect(a.resultingStateRoot).toBe(preview.resultingStateRoot)
    expect(new Set(adopted.map((a) => a.stateRoot)).size).toBe(1)

    await waitForHeight(s, all, fork.height + 2, 60_000)
    const edited = before.balance + 12_345
    for (const n of all) {
      const st = await publicJson<PublicStatus>(n, '/v1/status')
      expect(st).toMatchObject({ epoch: 1, mode: 'running' })
      expect((await publicJson<PublicAccount>(n, `/v1/accounts/${victim}`)).balance).toBe(edited)
      // The record each node crossed the epoch with, from its public chain: exactly the signed fork.
      const page = await httpChainSource(n, node(n).api).page(fork.height + 1, 1)
      expect(page.items[0]?.header).toMatchObject({ epoch: 1, height: fork.height + 1, prevHash: fork.blockHash })
      const rec = page.restarts.find(([e]) => e === 1)
      expect(rec).toBeDefined()
      const m = decodeRestartRecord(rec![1]).manifest
      expect(manifestHash(m)).toBe(manifestHash(fork))
      expect(m.resultingStateRoot).toBe(preview.resultingStateRoot)
    }
    const r = await runLoad(s, { rate: 50, seconds: 2, senders: 4 })
    expect(r.accepted).toBeGreaterThan(50)
    expect(r.finalized).toBe(r.accepted)
    for (const [id, h] of r.finalizedAt) finalized.set(id, h)
    // The chain of every node verified from genesis, across the authorized epoch boundary.
    const audit = await auditTestnet(s, finalized)
    expect(audit.message).not.toMatch(/EPOCH_BOUNDARY|RESTART_MISMATCH|BAD_SIGNATURE/)
    expect(audit.ok).toBe(true)
    expect(audit.forks).toEqual([])
    expect(audit.lostEvents).toBe(0)
  }, 120_000)

  it('(d) replayed: the adopted fork handed again is not applied twice, and the refused epoch-1 manifest is refused as stale (RESTART_STALE)', async () => {
    const top = (await status('w0')).finalizedHeight
    for (const n of all) expect(await admin(n).restart(forkRecord)).toMatchObject({ epoch: 1, adopted: false })
    expect(await handToAll(wrongRecord)).toEqual(all.map(() => '409 RESTART_STALE'))
    await waitForHeight(s, all, top + 2, 60_000)
    for (const n of all) {
      expect(await publicJson<PublicStatus>(n, '/v1/status')).toMatchObject({ epoch: 1, mode: 'running' })
      expect((await publicJson<PublicAccount>(n, `/v1/accounts/${victim}`)).balance).toBe(before.balance + 12_345)
    }
    expect(await findForks(s)).toEqual([])
  }, 90_000)

  it('no validator signed two different votes for one (epoch, height, round, step)', async () => {
    const { votes, doubles } = await doubleVotes(s)
    expect(votes).toBeGreaterThan(50)
    expect(doubles).toEqual([])
  })
})
