import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { NodeIdentity } from '../../node-image/src/crypto/identity.ts'
import type { Did } from '../../node-image/src/crypto/did.ts'
import {
  councilSign,
  downTestnet,
  killNode,
  launchTestnet,
  nodeNamed,
  startNode,
  statusOf,
  waitForHalted,
  waitForHeight,
  LOOPBACK_TIMEOUTS,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetNode, TestnetState } from '../../node-image/src/cli/testnet.ts'
import { runLoad } from '../../node-image/src/cli/loadgen.ts'
import { AdminApiError, AdminClient } from '../../node-image/src/api/admin-contract.ts'
import type { AdminStatus } from '../../node-image/src/api/admin-contract.ts'
import { doubleVotes, findForks, lostEvents } from '../../node-image/src/cli/drill.ts'
import { auditChain, httpChainSource } from '../../node-image/src/audit/index.ts'
import type { ChainPage, ChainSource } from '../../node-image/src/audit/index.ts'
import {
  COUNCIL_ACTION_DOMAIN,
  signCouncilAction,
  signRestartManifest,
} from '../../node-image/src/ledger/governance-payloads.ts'
import type {
  CouncilAction,
  CouncilSignature,
  RestartManifest,
} from '../../node-image/src/ledger/governance-payloads.ts'
import { encodeRestartRecord } from '../../node-image/src/ledger/restart-record.ts'

/**
 * Scenario A of the seed document at the process tier: 7 active witnesses, 5 of them killed, 4
 * standbys. The survivors report `halted`; a council-signed RestartManifest (2 survivors + 4
 * promoted standbys, epoch 1) is handed to every live node, which verifies it itself and waits
 * for > 2/3 of the new set to be ready; finality resumes with nothing finalized lost.
 */

let s: TestnetState
let dir: string | undefined
const finalized = new Map<string, number>()
const killed = ['w0', 'w1', 'w2', 'w3', 'w4']
const survivors = ['w5', 'w6']
const standbys = ['s0', 's1', 's2', 's3']
const newSet = [...survivors, ...standbys]

const node = (name: string): TestnetNode => nodeNamed(s, name)
const admin = (name: string): AdminClient => new AdminClient(node(name).admin, s.adminToken, { timeoutMs: 30_000 })
const status = (name: string): Promise<AdminStatus | undefined> => statusOf(s, name)

function councilSigned(m: RestartManifest, members: string[]): Promise<CouncilSignature[]> {
  return councilSign(s, members, (id) => signRestartManifest(id.signer, id.did, m))
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'accepted'
  } catch (err) {
    if (err instanceof AdminApiError) return `${err.status} ${err.code}`
    throw err
  }
}

beforeAll(async () => {
  s = await launchTestnet(
    {
      witnesses: 7,
      standbys: 4,
      accounts: 16,
      ipPrefix: '127.0.63.',
      checkpointInterval: 10,
      voteLog: true,
      timeouts: LOOPBACK_TIMEOUTS,
    },
    { tmpPrefix: 'echonet-restart-', height: 2, timeoutMs: 90_000 },
  )
  dir = s.dir
}, 120_000)

afterAll(async () => {
  if (dir !== undefined) await downTestnet(dir, true)
})

describe('scenario A: 7 witnesses, 5 killed, 4 standbys, coordinated restart', () => {
  let manifest: RestartManifest
  let killedAt = 0

  it('before the fault, events finalize on the 7-witness committee', async () => {
    const r = await runLoad(s, { rate: 100, seconds: 3, senders: 8 })
    expect(r.accepted).toBeGreaterThan(100)
    expect(r.finalized).toBe(r.accepted)
    for (const [id, h] of r.finalizedAt) finalized.set(id, h)
  })

  it('5 of 7 killed: survivors stop finalizing and report halted (quorum lost) with the reason', async () => {
    killedAt = Date.now()
    await Promise.all(killed.map((n) => killNode(s, n)))
    const halted = await waitForHalted(s, 'w5', 30_000)
    expect(halted.haltReason).toMatch(/quorum lost/)
    const h = halted.finalizedHeight
    await new Promise((r) => setTimeout(r, 2_000))
    expect((await status('w5'))?.finalizedHeight).toBeLessThanOrEqual(h + 1)
  }, 60_000)

  it('a manifest that is not properly authorized or does not match is refused with a stable code and changes nothing (what was tried: garbage bytes, one council signature of two, a signature by a non-member, a wrong state root, a standing policy exceeded)', async () => {
    // The restart height: the highest finalized block any live node holds (the others sync to it).
    const live = await Promise.all(newSet.map(status))
    const top = live.reduce((a, b) => ((b?.finalizedHeight ?? 0) > (a?.finalizedHeight ?? 0) ? b : a))!
    const holder = newSet[live.indexOf(top)]!
    const dids = newSet.map((n) => node(n).did)
    manifest = await admin(holder).restartPlan<RestartManifest>(dids, Date.now() + 10 * 60_000)
    expect(manifest).toMatchObject({ epoch: 1, height: top.finalizedHeight, blockHash: top.finalizedHash })
    expect(manifest.witnesses.map((w) => w.did).sort()).toEqual([...dids].sort())

    const w5 = admin('w5')
    expect(await refusal(w5.restart(new Uint8Array([0xa1, 0x61, 0x78, 0xff])))).toBe('400 INVALID_RESTART_RECORD')
    const one = await councilSigned(manifest, ['w0'])
    expect(
      await refusal(w5.restart(encodeRestartRecord({ manifest, authorization: { kind: 'council', signatures: one } }))),
    ).toBe('403 COUNCIL_THRESHOLD_NOT_MET')
    const outsider = await councilSigned(manifest, ['w0', 's0'])
    expect(
      await refusal(
        w5.restart(encodeRestartRecord({ manifest, authorization: { kind: 'council', signatures: outsider } })),
      ),
    ).toMatch(/^403 /)
    const wrongRoot = { ...manifest, stateRoot: '00'.repeat(32) }
    const signed = await councilSigned(wrongRoot, ['w0', 'w1'])
    expect(
      await refusal(
        w5.restart(
          encodeRestartRecord({ manifest: wrongRoot, authorization: { kind: 'council', signatures: signed } }),
        ),
      ),
    ).toBe('409 RESTART_MISMATCH')
    // A standing policy that allows 3 promotions cannot carry a manifest that promotes 4.
    const agent = NodeIdentity.generate()
    const policy: CouncilAction = {
      domain: COUNCIL_ACTION_DOMAIN,
      chainId: s.chainId,
      nonce: 1,
      expiresAtMs: Date.now() + 3600_000,
      action: {
        kind: 'standing-recovery-policy',
        agent: agent.did,
        quorumLossSeconds: 1,
        maxPromotions: 3,
        standbys: standbys.map((n) => node(n).did as Did),
        allowStateEdits: false,
      },
    }
    const policySignatures = await councilSign(s, ['w0', 'w1'], (id) => signCouncilAction(id.signer, id.did, policy))
    const overreach = encodeRestartRecord({
      manifest,
      authorization: {
        kind: 'policy',
        policy,
        policySignatures,
        agentSignature: signRestartManifest(agent.signer, agent.did, manifest),
      },
    })
    expect(await refusal(w5.restart(overreach))).toBe('403 POLICY_VIOLATION')
    const after = await status('w5')
    expect(after?.epoch).toBe(0)
    expect(after?.mode).toBe('halted')
  }, 60_000)

  it('the council-signed manifest, handed to every live node: > 2/3 of the new set gets ready and finality resumes in epoch 1, nothing finalized lost, no fork', async () => {
    const signatures = await councilSigned(manifest, ['w0', 'w2'])
    const record = encodeRestartRecord({ manifest, authorization: { kind: 'council', signatures } })
    const adoptedAt = Date.now()
    const results = await Promise.all(newSet.map((n) => admin(n).restart(record)))
    for (const r of results) expect(r).toMatchObject({ epoch: 1, adopted: true })
    // Handing it again is harmless.
    expect(await admin('w5').restart(record)).toMatchObject({ epoch: 1, adopted: false })
    await waitForHeight(s, newSet, manifest.height + 2, 60_000)
    const resumedAt = Date.now()
    for (const n of newSet) {
      const st = await status(n)
      expect(st).toMatchObject({ epoch: 1, mode: 'running' })
      expect(st?.committee.members.map((m) => m.did).sort()).toEqual(newSet.map((x) => node(x).did).sort())
    }
    console.log(
      `scenario A: kill → finality resumed ${((resumedAt - killedAt) / 1000).toFixed(1)} s (manifest adopted → resumed ${((resumedAt - adoptedAt) / 1000).toFixed(1)} s)`,
    )
    const r = await runLoad(s, { rate: 100, seconds: 3, senders: 8, targets: newSet })
    expect(r.accepted).toBeGreaterThan(100)
    expect(r.finalized).toBe(r.accepted)
    for (const [id, h] of r.finalizedAt) finalized.set(id, h)
    expect(await lostEvents(s, finalized)).toBe(0)
    expect(await findForks(s)).toEqual([])
  }, 120_000)

  it('the chain audit trusts no node: a node serving a forged precommit, a broken parent link or a truncated chain is reported; the honest chain crosses the restart', async () => {
    const genesis = JSON.parse(await readFile(join(s.dir, 'genesis.json'), 'utf8')) as unknown
    const honest = httpChainSource('w5', node('w5').api)
    const tamper = (name: string, change: (p: ChainPage) => ChainPage): ChainSource => ({
      name,
      page: async (from, max) => change(await honest.page(from, max)),
    })
    const flipSig = tamper('forger', (p) => ({
      ...p,
      items: p.items.map((x, i) =>
        i === 3
          ? {
              ...x,
              certificate: {
                ...x.certificate,
                signatures: x.certificate.signatures.map((sg, j) =>
                  j === 0 ? { ...sg, sig: Uint8Array.from(sg.sig, (b, k) => (k === 0 ? b ^ 1 : b)) } : sg,
                ),
              },
            }
          : x,
      ),
    }))
    const relink = tamper('relinker', (p) => ({
      ...p,
      items: p.items.map((x, i) => (i === 5 ? { ...x, header: { ...x.header, prevHash: 'ee'.repeat(32) } } : x)),
    }))
    const short = tamper('truncated', (p) => ({ ...p, items: p.items.filter((x) => x.header.height < 5) }))
    const top = (await status('w5'))!.finalizedHeight
    const a = await auditChain(genesis, [honest, flipSig, relink, short], {
      toHeight: top,
      expect: [{ height: manifest.height, hash: manifest.blockHash }],
      finalEvents: finalized,
    })
    expect(a.sources.find((r) => r.name === 'w5')?.problem).toBeUndefined()
    expect(a.sources.find((r) => r.name === 'w5')?.verifiedTo).toBe(top)
    expect(a.sources.find((r) => r.name === 'forger')?.problem?.code).toBe('BAD_SIGNATURE')
    expect(a.sources.find((r) => r.name === 'relinker')?.problem?.code).toBe('WRONG_PARENT')
    expect(a.missing).toContain('truncated@5')
    expect(a.badCertificates).toBe(2)
    expect(a.forks).toEqual([])
    expect(a.lostBlocks).toEqual([])
    expect(a.lostEvents).toBe(0)
    expect(a.ok).toBe(false)
  }, 60_000)

  it('a killed old witness comes back: it fetches the restart record from a peer, crosses into epoch 1 and follows the chain', async () => {
    await startNode(s, 'w0')
    const top = (await status('w5'))!.finalizedHeight
    await waitForHeight(s, ['w0'], top, 60_000)
    expect((await status('w0'))?.epoch).toBe(1)
    expect(await findForks(s)).toEqual([])
  }, 90_000)

  it('a survivor SIGKILLed after the restart replays across the epoch boundary from its own store', async () => {
    await killNode(s, 'w6')
    await startNode(s, 'w6')
    const top = (await status('w5'))!.finalizedHeight
    await waitForHeight(s, ['w6'], top + 1, 60_000)
    expect((await status('w6'))?.epoch).toBe(1)
    expect(await lostEvents(s, finalized)).toBe(0)
  }, 90_000)

  it('a node that lost its data joins after the restart: its state sync stops at the epoch boundary, it replays blocks and follows the restart', async () => {
    // w1 was killed with the others and never came back; now its volume is gone too.
    await rm(join(node('w1').dir, 'data'), { recursive: true, force: true })
    await startNode(s, 'w1')
    const top = (await status('w5'))!.finalizedHeight
    await waitForHeight(s, ['w1'], top, 90_000)
    expect((await status('w1'))?.epoch).toBe(1)
    const log = await readFile(join(node('w1').dir, 'node.log'), 'utf8')
    expect(log).toContain('the chain crosses a coordinated restart')
    expect(await lostEvents(s, finalized)).toBe(0)
    expect(await findForks(s)).toEqual([])
  }, 120_000)

  it('no validator signed two different votes for one (epoch, height, round, step)', async () => {
    const { votes, doubles } = await doubleVotes(s)
    expect(votes).toBeGreaterThan(100)
    expect(doubles).toEqual([])
  })
})
