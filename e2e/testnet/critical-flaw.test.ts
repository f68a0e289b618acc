import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  downTestnet,
  killNode,
  launchTestnet,
  nodeNamed,
  startNode,
  statusOf,
  testnetAccount,
  waitFor,
  councilSign,
  LOOPBACK_TIMEOUTS,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetState } from '../../node-image/src/cli/testnet.ts'
import type { AdminStatus, EmergencyView } from '../../node-image/src/api/admin-contract.ts'
import { COUNCIL_ACTION_DOMAIN, signCouncilAction } from '../../node-image/src/ledger/governance-payloads.ts'
import type { CouncilAction, CouncilActionBody } from '../../node-image/src/ledger/governance-payloads.ts'
import { DECLARATION_DOMAIN, signDeclaration } from '../../node-image/src/ledger/declaration-payload.ts'
import type { DeclarationPayload } from '../../node-image/src/ledger/declaration-payload.ts'
import { encodeEvent, signEvent } from '../../node-image/src/ledger/event.ts'
import type { EventPayloadMap, EventType } from '../../node-image/src/ledger/event.ts'
import { encode } from '../../node-image/src/crypto/encoding.ts'
import { verify } from '../../node-image/src/crypto/ed25519.ts'
import { AdminClient } from '../../node-image/src/api/admin-contract.ts'
import { signRestartManifest } from '../../node-image/src/ledger/governance-payloads.ts'
import { encodeRestartRecord } from '../../node-image/src/ledger/restart-record.ts'
import { hardForkManifest } from '../../operator/src/cli/hardfork.ts'
import { publicKeyFromDid } from '../../node-image/src/crypto/did.ts'
import type { Did } from '../../node-image/src/crypto/did.ts'
import { makeNodeBuild } from '../lib/node-build.ts'
import type { NodeBuild } from '../lib/node-build.ts'

/**
 * Scenario C on a real 4-witness testnet (issue 9): the council stops the damage (module pauses,
 * a halt), compensates, and ships a fix as an upgrade at a flag height. Every check reads the
 * nodes' public API (blocks finalizing, balances, the public emergency state and its signatures)
 * rather than trusting a status field of the code that did the work. Council members are the
 * first three nodes' keys (threshold 2); a declaration is signed exactly as `kubectl echonet
 * council sign` signs one.
 */

const PREFIX = '127.0.86.'
let s: TestnetState
let dir: string | undefined
let buildDir: string | undefined
const sender = testnetAccount(5)
let senderNonce = 0
let declNonce = 100
let actionNonce = 1

beforeAll(async () => {
  s = await launchTestnet(
    { witnesses: 4, standbys: 0, accounts: 8, ipPrefix: PREFIX, timeouts: LOOPBACK_TIMEOUTS },
    { tmpPrefix: 'echonet-critical-flaw-', height: 1, timeoutMs: 60_000 },
  )
  dir = s.dir
}, 90_000)

afterAll(async () => {
  if (dir !== undefined) await downTestnet(dir, true)
  if (buildDir !== undefined) await rm(buildDir, { recursive: true, force: true })
})

interface PublicStatus {
  mode: string
  haltCode?: string
  haltReason?: string
  finalizedHeight: number
  version: string
  binaryDigest?: string
}

async function get<T>(node: string, path: string): Promise<T> {
  const r = await fetch(`${nodeNamed(s, node).api}${path}`, { signal: AbortSignal.timeout(5_000) })
  return (await r.json()) as T
}
const publicStatus = (node: string) => get<PublicStatus>(node, '/v1/status')
const emergency = (node: string) => get<EmergencyView>(node, '/v1/emergency')
const balance = async (node: string, did: string) =>
  (await get<{ balance?: number }>(node, `/v1/accounts/${did}`)).balance ?? 0

/** Submits one event from `who`; returns the node's verdict for it. */
async function submit<T extends EventType>(
  node: string,
  type: T,
  payload: EventPayloadMap[T],
  who = sender,
  nonce?: number,
): Promise<{ ok: boolean; code?: string }> {
  const n = nonce ?? ++senderNonce
  const ev = signEvent(who.signer, who.did, { chainId: s.chainId, type, nonce: n, fee: 1, payload })
  const r = await fetch(`${nodeNamed(s, node).api}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cbor' },
    body: encode([encodeEvent(ev)]),
    signal: AbortSignal.timeout(5_000),
  })
  const body = (await r.json()) as { results: { ok: boolean; code?: string }[] }
  return body.results[0]!
}

/** Waits until the sender's nonce on `node` reaches `n` (its events up to n are final). */
async function finalized(node: string, n = senderNonce): Promise<void> {
  await waitFor(`nonce ${n} of the sender to be final on ${node}`, async () => {
    const a = await get<{ nonce?: number }>(node, `/v1/accounts/${sender.did}`)
    return (a.nonce ?? 0) >= n
  })
}

function declaration(actions: unknown[], over: Partial<DeclarationPayload> = {}): DeclarationPayload {
  return {
    domain: DECLARATION_DOMAIN,
    chainId: s.chainId,
    scenario: 'CriticalFlaw',
    actions,
    dryRun: false,
    nonce: declNonce++,
    expiresAtMs: Date.now() + 600_000,
    ...over,
  }
}

async function declare(d: DeclarationPayload, members = ['w0', 'w1']) {
  const signatures = await councilSign(s, members, (id) => signDeclaration(id.signer, id.did, d))
  return submit('w1', 'governance.declaration', { declaration: d, signatures })
}

async function councilAction(body: CouncilActionBody) {
  const action: CouncilAction = {
    domain: COUNCIL_ACTION_DOMAIN,
    chainId: s.chainId,
    nonce: actionNonce++,
    expiresAtMs: Date.now() + 600_000,
    action: body,
  }
  const signatures = await councilSign(s, ['w0', 'w2'], (id) => signCouncilAction(id.signer, id.did, action))
  return submit('w2', 'governance.council-action', { action, signatures })
}

/** Highest height every named node finalized, after waiting for each to pass `h`. */
async function passHeight(nodes: string[], h: number, timeoutMs = 60_000): Promise<void> {
  for (const n of nodes) {
    await waitFor(
      `${n} to finalize past ${h}`,
      async () => ((await publicStatus(n).catch(() => undefined))?.finalizedHeight ?? 0) > h,
      timeoutMs,
    )
  }
}

describe('scenario C: module pauses with the council signatures behind them', () => {
  it('a signed PauseModules declaration (engagement, payouts; 12 s): engagement events are refused with MODULE_PAUSED while transfers finalize; the pause, its expiry and the signatures are served publicly; it lifts on its own', async () => {
    const d = declaration([
      { type: 'PauseModules', pauseModules: { modules: ['engagement', 'payouts'], durationSeconds: 12 } },
    ])
    expect(await declare(d)).toEqual({ ok: true, id: expect.any(String) as string })
    await finalized('w0')
    const view = await waitFor('the pause to be public on w3', async () => {
      const v = await emergency('w3')
      return v.pauses.length === 2 ? v : undefined
    })
    expect(view.declared).toMatchObject({ scenario: 'CriticalFlaw', authorizedBy: `d${d.nonce}` })
    expect(view.pauses.map((p) => p.module).sort()).toEqual(['engagement', 'payouts'])
    // An observer checks the announcement against the council itself: the signed bytes, each
    // signature under the signer's did:key, signers that are council members, enough of them.
    const auth = view.authorizations[`d${d.nonce}`]!
    expect(auth.payload).toEqual(d)
    const bytes = Buffer.from(auth.signedBytes, 'base64')
    const members = new Set(view.council.members)
    const valid = auth.signatures.filter(
      (x) => members.has(x.did) && verify(publicKeyFromDid(x.did), bytes, Buffer.from(x.sig, 'base64')),
    )
    expect(valid.length).toBeGreaterThanOrEqual(view.council.threshold)

    const st = (await statusOf(s, 'w2')) as AdminStatus
    expect(st.governance?.emergency?.pauses.map((p) => p.module).sort()).toEqual(['engagement', 'payouts'])

    const refused = await submit(
      'w0',
      'engagement.interact',
      { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', kind: 'like' },
      testnetAccount(6),
      1,
    )
    expect(refused).toMatchObject({ ok: false, code: 'MODULE_PAUSED' })
    const to = testnetAccount(7).did
    const before = await balance('w0', to)
    expect((await submit('w0', 'accounts.transfer', { to, amount: 42 })).ok).toBe(true)
    await finalized('w3')
    expect((await balance('w3', to)) - before).toBe(42)

    await waitFor('the pause to lapse', async () => (await emergency('w1')).pauses.length === 0, 40_000)
    const again = await submit(
      'w0',
      'engagement.interact',
      { cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', kind: 'like' },
      testnetAccount(6),
      1,
    )
    expect(again.code).not.toBe('MODULE_PAUSED')
  }, 120_000)

  it('a declaration under threshold (one signature of two) or with a forged member signature is refused by the ledger and changes nothing', async () => {
    const before = await emergency('w0')
    const pause = [{ type: 'PauseModules', pauseModules: { modules: ['ads'], durationSeconds: 60 } }]
    // Signatures are checked when the block executes; a failed event changes nothing, not even
    // its sender's nonce (so each is sent from an account of its own).
    const under = declaration(pause)
    const one = await councilSign(s, ['w0'], (id) => signDeclaration(id.signer, id.did, under))
    const a1 = testnetAccount(1)
    expect((await submit('w1', 'governance.declaration', { declaration: under, signatures: one }, a1, 1)).ok).toBe(true)
    const d = declaration(pause)
    const [good] = await councilSign(s, ['w0'], (id) => signDeclaration(id.signer, id.did, d))
    const [other] = await councilSign(s, ['w3'], (id) => signDeclaration(id.signer, id.did, d))
    // w1's DID (a member) over a signature made with w3's key (not a member).
    const forged = { did: nodeNamed(s, 'w1').did as Did, sig: other!.sig }
    const a2 = testnetAccount(2)
    expect(
      (await submit('w1', 'governance.declaration', { declaration: d, signatures: [good!, forged] }, a2, 1)).ok,
    ).toBe(true)
    const h = (await publicStatus('w0')).finalizedHeight
    await passHeight(['w0', 'w3'], h + 4)
    for (const n of ['w0', 'w1', 'w2', 'w3']) {
      expect((await emergency(n)).pauses).toEqual(before.pauses)
      for (const a of [a1, a2]) expect((await get<{ nonce?: number }>(n, `/v1/accounts/${a.did}`)).nonce ?? 0).toBe(0)
    }
  }, 60_000)
})

describe('scenario C: a council halt and resume', () => {
  it('the halt stops everything but governance on every node (mode halted, COUNCIL_HALT) while blocks still finalize; resume brings transfers back; nothing finalized is lost', async () => {
    const to = testnetAccount(7).did
    const start = await balance('w0', to)
    expect((await submit('w0', 'accounts.transfer', { to, amount: 1 })).ok).toBe(true)
    await finalized('w0')
    expect((await councilAction({ kind: 'halt', reason: 'flaw in payouts' })).ok).toBe(true)
    for (const n of ['w0', 'w1', 'w2', 'w3']) {
      const st = await waitFor(`${n} to report the council halt`, async () => {
        const x = await publicStatus(n)
        return x.haltCode === 'COUNCIL_HALT' ? x : undefined
      })
      expect(st.mode).toBe('halted')
      expect(st.haltReason).toContain('flaw in payouts')
    }
    expect((await emergency('w3')).halted).toMatchObject({ reason: 'flaw in payouts' })
    const refused = await submit('w1', 'accounts.transfer', { to, amount: 1000 })
    expect(refused).toMatchObject({ ok: false, code: 'LEDGER_HALTED' })
    senderNonce-- // refused, so the nonce is free
    const h = (await publicStatus('w0')).finalizedHeight
    await passHeight(['w0', 'w3'], h + 3)

    expect((await councilAction({ kind: 'resume', reason: 'fixed' })).ok).toBe(true)
    await waitFor('w0 to run again', async () => (await publicStatus('w0')).mode === 'running')
    expect((await submit('w0', 'accounts.transfer', { to, amount: 2 })).ok).toBe(true)
    await finalized('w2')
    // The transfer before the halt and the one after: 3 in all, on every node.
    for (const n of ['w0', 'w1', 'w2', 'w3']) {
      await waitFor(`${n} to hold both transfers`, async () => (await balance(n, to)) - start === 3)
    }
  }, 120_000)
})

describe('scenario C: compensation', () => {
  it('a Compensate declaration moves exactly the signed amounts from the treasury', async () => {
    const [a, b] = [testnetAccount(3).did, testnetAccount(4).did]
    const before = [await balance('w0', a), await balance('w0', b)]
    const d = declaration([
      {
        type: 'Compensate',
        compensate: {
          transfers: [
            { to: a, amount: 7_777, memo: 'refund' },
            { to: b, amount: 13 },
          ],
        },
      },
    ])
    expect((await declare(d)).ok).toBe(true)
    await finalized('w0')
    for (const n of ['w0', 'w3']) {
      await waitFor(`${n} to apply the compensation`, async () => (await balance(n, a)) - before[0]! === 7_777)
      expect((await balance(n, b)) - before[1]!).toBe(13)
    }
  }, 60_000)
})

describe('scenario C: a hard fork on a live network (council stop-at, then a state edit)', () => {
  it('the council stops the chain before a height: every node stops at the block before it (COUNCIL_STOP); the previewed edit, council-signed, is adopted by every node with one new state root; finality resumes in epoch 1; the corrected balance reads back everywhere', async () => {
    const victim = testnetAccount(4).did
    const before = await get<{ balance: number; nonce: number; createdAt?: number }>('w0', `/v1/accounts/${victim}`)
    const h = (await publicStatus('w0')).finalizedHeight
    const stop = h + 8
    expect((await councilAction({ kind: 'stop-at', height: stop, reason: 'freeze before the correction' })).ok).toBe(
      true,
    )
    for (const n of ['w0', 'w1', 'w2', 'w3']) {
      const st = await waitFor(`${n} to stop before ${stop}`, async () => {
        const x = await publicStatus(n)
        return x.haltCode === 'COUNCIL_STOP' && x.finalizedHeight === stop - 1 ? x : undefined
      })
      expect(st.haltReason).toContain('freeze before the correction')
    }
    // Frozen: the same block on every node, and it stays so.
    await new Promise((r) => setTimeout(r, 3_000))
    for (const n of ['w0', 'w1', 'w2', 'w3']) expect((await publicStatus(n)).finalizedHeight).toBe(stop - 1)
    const admin = new AdminClient(nodeNamed(s, 'w2').admin, s.adminToken, { timeoutMs: 30_000 })
    const preview = await admin.restartPreview([
      {
        op: 'put',
        key: `acct/${victim}`,
        value: { balance: before.balance + 12_345, nonce: before.nonce, createdAt: before.createdAt ?? 0 },
      },
    ])
    expect(preview.height).toBe(stop - 1)
    const manifest = hardForkManifest(preview, { expiresAtMs: Date.now() + 600_000 })
    const signatures = await councilSign(s, ['w0', 'w1'], (id) => signRestartManifest(id.signer, id.did, manifest))
    const record = encodeRestartRecord({ manifest, authorization: { kind: 'council', signatures } })
    for (const n of ['w0', 'w1', 'w2', 'w3']) {
      await new AdminClient(nodeNamed(s, n).admin, s.adminToken, { timeoutMs: 30_000 }).restart(record)
    }
    const roots = new Set<string>()
    for (const n of ['w0', 'w1', 'w2', 'w3']) {
      const st = await waitFor(`${n} to finalize in epoch 1`, async () => {
        const x = await get<PublicStatus & { epoch: number; stateRoot: string }>(n, '/v1/status')
        return x.epoch === 1 && x.finalizedHeight > stop + 1 && x.mode === 'running' ? x : undefined
      })
      expect(st.epoch).toBe(1)
      expect(await balance(n, victim)).toBe(before.balance + 12_345)
      expect((await emergency(n)).stopAt).toBeUndefined()
      // The first block of epoch 1 (height `stop`), certified: one state root on every node.
      roots.add((await get<{ header: { epoch: number; stateRoot: string } }>(n, `/v1/blocks/${stop}`)).header.stateRoot)
    }
    expect(roots.size).toBe(1)
  }, 120_000)
})

describe('scenario C: an upgrade at a flag height', () => {
  let next: NodeBuild

  it('three witnesses move to the new build before the flag height, one by one, finality never stopping; the one left on the old build halts at the height naming what it needs; finality goes on past it', async () => {
    // Kept inside the repository's reach: the build resolves its modules from there.
    next = await makeNodeBuild(join(process.cwd(), '.build', `node-0.2.0-${s.chainId}`), '0.2.0')
    buildDir = next.root
    const old = await publicStatus('w3')
    expect(next.binaryDigest).not.toBe(old.binaryDigest)
    const h0 = (await publicStatus('w0')).finalizedHeight
    const H = h0 + 45
    const d = declaration([
      {
        type: 'ScheduledUpgrade',
        scheduledUpgrade: {
          image: 'echonet/echonet-node:0.2.0',
          height: H,
          binaryDigest: next.binaryDigest,
          minVersion: '0.2.0',
          minUpgradedPowerPercent: 67,
        },
      },
    ])
    expect((await declare(d)).ok).toBe(true)
    await finalized('w0')
    expect((await emergency('w2')).upgradePlan).toMatchObject({ height: H, minVersion: '0.2.0' })
    // The new build keeps the old rules until H: restarted onto it, a node follows the chain.
    // An observer on w3 (never restarted here) records the longest wait between finalized blocks.
    let longestGapMs = 0
    const watching = { on: true }
    const watcher = (async () => {
      let last = { h: 0, at: Date.now() }
      while (watching.on) {
        const h = (await publicStatus('w3').catch(() => undefined))?.finalizedHeight ?? 0
        if (h > last.h) last = { h, at: Date.now() }
        longestGapMs = Math.max(longestGapMs, Date.now() - last.at)
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    for (const n of ['w0', 'w1', 'w2']) {
      await killNode(s, n, 'SIGTERM')
      // Finality goes on while the node is down (3 of 4 witnesses).
      const down = (await publicStatus('w3')).finalizedHeight
      await passHeight(['w3'], down + 2, 30_000)
      await startNode(s, n, {}, next.main)
      await waitFor(`${n} to run 0.2.0 and follow the chain`, async () => {
        const st = await publicStatus(n).catch(() => undefined)
        const tip = (await publicStatus('w3')).finalizedHeight
        return st?.version === '0.2.0' && st.mode === 'running' && st.finalizedHeight >= tip - 1
      })
    }
    watching.on = false
    await watcher
    console.log(`longest wait between finalized blocks on w3 during the rolling upgrade: ${longestGapMs} ms`)
    expect((await publicStatus('w0')).finalizedHeight).toBeLessThan(H)
    // w3 stays on 0.1.0: at H it stops before executing the block and says why.
    const halted = await waitFor(
      'w3 to halt at the flag height',
      async () => {
        const st = await publicStatus('w3')
        return st.haltCode === 'UPGRADE_REQUIRED' ? st : undefined
      },
      90_000,
    )
    expect(halted.mode).toBe('halted')
    expect(halted.haltReason).toContain('0.2.0')
    expect(halted.haltReason).toContain(next.binaryDigest)
    expect(halted.finalizedHeight).toBe(H - 1)
    // 3 of 4 equal-power witnesses (> 2/3) run 0.2.0: blocks past H finalize.
    await passHeight(['w0', 'w1', 'w2'], H + 3)
    expect((await emergency('w0')).protocol).toMatchObject({ version: '0.2.0', sinceHeight: H })
    await new Promise((r) => setTimeout(r, 3_000))
    expect((await publicStatus('w3')).finalizedHeight).toBe(H - 1)
  }, 240_000)

  it('the node left behind, restarted on the new build, catches up past the flag height', async () => {
    await killNode(s, 'w3', 'SIGTERM')
    await startNode(s, 'w3', {}, next.main)
    const tip = (await publicStatus('w0')).finalizedHeight
    await passHeight(['w3'], tip)
    // Past the tip it may still call itself syncing for a moment, until it hears the network's height.
    await waitFor('w3 to run on 0.2.0', async () => {
      const st = await publicStatus('w3')
      return st.mode === 'running' && st.version === '0.2.0'
    })
  }, 90_000)
})
