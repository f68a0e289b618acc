import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { tmpdir } from 'node:os'
import {
  createTestnet,
  downTestnet,
  killNode,
  startNode,
  testnetAccount,
  waitFor,
  waitForHeight,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetNode, TestnetState } from '../../node-image/src/cli/testnet.ts'
import { AdminClient } from '../../node-image/src/api/admin-contract.ts'
import { publishAs } from '../../node-image/src/api/publish-client.ts'
import { readKeyFile } from '../../node-image/src/crypto/identity.ts'
import { encodeEvent, signEvent } from '../../node-image/src/ledger/event.ts'
import { COUNCIL_ACTION_DOMAIN, signCouncilAction } from '../../node-image/src/ledger/governance-payloads.ts'
import type { CouncilAction } from '../../node-image/src/ledger/governance-payloads.ts'

/**
 * Tier 2 PoSR: 4 witnesses + 3 SSNs on 127.0.61.x, challenges every 2 blocks. ssn2 runs with the
 * test-only fault ECHONET_FAULT_POSR_WRONG_DATA (it answers challenges with a flipped byte and
 * signs that answer). Checked on the ledger through the public API, the way anyone could:
 *   - while the council's storage-incident flag is set, ssn2's wrong data is recorded, not slashed;
 *   - once the flag is cleared, ssn2 is slashed; honest SSNs pass and are never slashed;
 *   - an SSN that goes offline is suspended, not slashed, and its shards are repaired.
 */

const PREFIX = '127.0.61.'
let s: TestnetState
let dir: string | undefined

interface StakeView {
  slashed: number
  suspended?: { reason: string }
}
interface PosrView {
  passes: number
  wrongData: number
  unreachable: number
  slashedTotal: number
  skippedSlashes: number
}
interface AccountView {
  nonce: number
  stake?: StakeView
  posr?: PosrView
}

/** waitFor that says what it last saw when it gives up (a slow 2-core CI box is not a mystery). */
async function waitSeeing<T>(
  what: string,
  look: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 120_000,
): Promise<void> {
  let last: T | undefined
  try {
    await waitFor(
      what,
      async () => {
        last = await look()
        return ok(last)
      },
      timeoutMs,
      500,
    )
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`, { cause: err })
  }
}

function node(name: string): TestnetNode {
  const n = s.nodes.find((x) => x.name === name)
  if (!n) throw new Error(`no node ${name}`)
  return n
}

async function account(did: string): Promise<AccountView> {
  const r = await fetch(`${node('w0').api}/v1/accounts/${did}`)
  return (await r.json()) as AccountView
}

let councilNonce = 0
/** The council (w0, w1, w2; threshold 2) sets or clears the storage-incident flag; waits until executed. */
async function storageIncident(active: boolean): Promise<void> {
  const action: CouncilAction = {
    domain: COUNCIL_ACTION_DOMAIN,
    chainId: s.chainId,
    nonce: ++councilNonce,
    expiresAtMs: Date.now() + 10 * 60_000,
    action: { kind: 'storage-incident', active, reason: 'posr test' },
  }
  const signatures = []
  for (const name of ['w0', 'w1']) {
    const id = await readKeyFile(join(node(name).dir, 'node.key'))
    signatures.push(signCouncilAction(id.signer, id.did, action))
  }
  const sender = testnetAccount(0)
  const before = (await account(sender.did)).nonce
  const ev = signEvent(sender.signer, sender.did, {
    chainId: s.chainId,
    type: 'governance.council-action',
    nonce: before + 1,
    fee: 1,
    payload: { action, signatures },
  })
  const res = await fetch(`${node('w0').api}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events: [Buffer.from(encodeEvent(ev)).toString('base64')] }),
  })
  expect(res.status).toBe(202)
  await waitFor(
    `council action ${councilNonce} executed`,
    async () => (await account(sender.did)).nonce > before,
    30_000,
  )
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'echonet-posr-'))
  process.env.ECHONET_REPAIR_INTERVAL_MS = '600000'
  s = await createTestnet({
    dir,
    witnesses: 4,
    standbys: 0,
    ssns: 3,
    ipPrefix: PREFIX,
    accounts: 2,
    params: { posrChallengeRate: 50 },
  })
  for (const n of s.nodes) await startNode(s, n.name, n.name === 'ssn2' ? { ECHONET_FAULT_POSR_WRONG_DATA: '1' } : {})
  await waitForHeight(s, ['w0', 'w1', 'w2', 'w3', 'ssn0', 'ssn1', 'ssn2'], 2, 90_000)
})

afterAll(async () => {
  if (dir) await downTestnet(dir)
})

describe('testnet PoSR', () => {
  it('records wrong data without slashing during a storage incident, slashes after it, suspends the offline', async () => {
    const [honest0, honest1, liar] = ['ssn0', 'ssn1', 'ssn2'].map((n) => node(n).did) as [string, string, string]
    await storageIncident(true)
    const cids: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await publishAs(node('w0').api, testnetAccount(1), randomBytes(20_000 + i), {
        chainId: s.chainId,
        k: 2,
        m: 1,
      })
      expect(r.status).toBe(201)
      cids.push(((await r.json()) as { cid: string }).cid)
    }

    // During the incident: the liar's wrong data is on the ledger, and nobody is slashed.
    await waitSeeing(
      'a wrong-data result recorded without a slash',
      () => account(liar),
      (a) => (a.posr?.wrongData ?? 0) >= 1 && (a.posr?.skippedSlashes ?? 0) >= 1,
    )
    for (const did of [honest0, honest1, liar]) expect((await account(did)).stake?.slashed).toBe(0)

    // After it: the liar is slashed; the honest SSNs pass and keep their stake.
    await storageIncident(false)
    await waitSeeing(
      'the liar slashed',
      () => account(liar),
      (a) => (a.stake?.slashed ?? 0) > 0,
    )
    await waitSeeing(
      'honest SSNs passing',
      () => Promise.all([account(honest0), account(honest1)]),
      ([a, b]) => (a.posr?.passes ?? 0) >= 1 && (b.posr?.passes ?? 0) >= 1,
    )
    for (const did of [honest0, honest1]) {
      const a = await account(did)
      expect(a.stake?.slashed).toBe(0)
      expect(a.posr?.wrongData).toBe(0)
    }

    // Offline is not wrong data: ssn1 is suspended, not slashed...
    await killNode(s, 'ssn1')
    await waitSeeing(
      'ssn1 suspended',
      () => account(honest1),
      (a) => a.stake?.suspended !== undefined,
    )
    const off = await account(honest1)
    expect(off.stake?.slashed).toBe(0)
    expect(off.posr?.unreachable).toBeGreaterThanOrEqual(1)

    // ...and its shards are repaired onto the live SSNs.
    const onDisk = async (): Promise<string[][]> => {
      const out: string[][] = []
      for (const cid of cids) {
        const held = new Set<string>()
        for (const n of ['ssn0', 'ssn2']) {
          for (const f of await readdir(join(node(n).dir, 'data', 'dds', 'shards', cid)).catch(() => [])) held.add(f)
        }
        out.push([...held].sort())
      }
      return out
    }
    await waitSeeing(
      'ssn1 shards repaired (shard indexes per item on ssn0 + ssn2; repair runs)',
      async () => {
        const runs = await Promise.all(
          ['ssn0', 'ssn2'].map((n) =>
            new AdminClient(node(n).admin, s.adminToken, { timeoutMs: 60_000 })
              .storageRepair()
              .catch((e: unknown) => ({ error: (e as Error).message })),
          ),
        )
        return { disk: await onDisk(), runs }
      },
      (v) => v.disk.every((held) => held.length === 3),
    )
  })
})
