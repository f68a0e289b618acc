import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  councilSign,
  downTestnet,
  launchTestnet,
  nodeNamed,
  statusOf,
  testnetAccount,
  waitFor,
  LOOPBACK_TIMEOUTS,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetState } from '../../node-image/src/cli/testnet.ts'
import type { EmergencyView } from '../../node-image/src/api/admin-contract.ts'
import { NodeIdentity } from '../../node-image/src/crypto/identity.ts'
import { sha256 } from '../../node-image/src/crypto/hash.ts'
import { DECLARATION_DOMAIN, signDeclaration } from '../../node-image/src/ledger/declaration-payload.ts'
import type { DeclarationPayload } from '../../node-image/src/ledger/declaration-payload.ts'
import { encodeEvent, signEvent } from '../../node-image/src/ledger/event.ts'
import type { EventPayloadMap, EventType } from '../../node-image/src/ledger/event.ts'
import { INTERACTION_WEIGHTS } from '../../node-image/src/ledger/modules/engagement.ts'
import { PARAM_SPECS } from '../../node-image/src/ledger/params.ts'

/**
 * Issue 10, "a Sybil wave of 1,000 fresh DIDs is down-weighted by the parameters set in the
 * declaration, and the parameters lapse at their expiry", on a real 4-witness testnet (loopback
 * only; every loop is bounded). A fresh DID is what the ledger calls new (modules/reputation.ts):
 * an account created after genesis, for reputationMaturityBlocks blocks; its engagement weight is
 * capped at newDidReputationWeight (bps), applied when the interaction executes. The 1,000 DIDs
 * come into existence the only way accounts do, by a transfer to them. Each wave is one `like`
 * per fresh DID on one creator's content; its effect is read back as the creator's PoE score from
 * every node's public account view — an observer's reading, not a status field of the code that
 * applied the weight.
 */

const PREFIX = '127.0.89.'
const ALL = ['w0', 'w1', 'w2', 'w3']
const WAVE = 1_000
const FUNDERS = 10
/** Long enough that the wave stays "new" for the whole test (asserted from the accounts' createdAt). */
const MATURITY_BLOCKS = 10_000
const LOW_WEIGHT_BPS = 100
const OVERRIDE_SECONDS = 25
const FULL = PARAM_SPECS.newDidReputationWeight.default
const LIKE = INTERACTION_WEIGHTS.like
const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

let s: TestnetState
let dir: string | undefined
const creator = testnetAccount(0)
/** A genesis account: never new (createdAt 0), so its engagement always counts in full. */
const established = testnetAccount(1)
const funders = Array.from({ length: FUNDERS }, (_, i) => testnetAccount(2 + i))
const fresh = Array.from({ length: WAVE }, (_, i) =>
  NodeIdentity.fromSeed(sha256(new TextEncoder().encode(`echonet-sybil-test/${i}`))),
)
const nonces = new Map<string, number>()
let declNonce = 1

beforeAll(async () => {
  s = await launchTestnet(
    {
      witnesses: 4,
      standbys: 0,
      accounts: 2 + FUNDERS + 2,
      ipPrefix: PREFIX,
      timeouts: LOOPBACK_TIMEOUTS,
      // No payout inside the test: a payout clears the round's PoE scores.
      params: { payoutInterval: 100_000_000, reputationMaturityBlocks: MATURITY_BLOCKS },
    },
    { tmpPrefix: 'echonet-sybil-', height: 1, timeoutMs: 60_000 },
  )
  dir = s.dir
}, 90_000)

afterAll(async () => {
  if (dir !== undefined) await downTestnet(dir, true)
})

async function get<T>(node: string, path: string): Promise<T> {
  const r = await fetch(`${nodeNamed(s, node).api}${path}`, { signal: AbortSignal.timeout(10_000) })
  return (await r.json()) as T
}
type PublicAccount = { balance?: number; nonce?: number; createdAt?: number; poe?: number }
const account = (node: string, did: string) => get<PublicAccount>(node, `/v1/accounts/${did}`)
const poe = async (node: string) => (await account(node, creator.did)).poe ?? 0
const emergency = (node: string) => get<EmergencyView>(node, '/v1/emergency')
const height = async (node: string) => (await get<{ finalizedHeight: number }>(node, '/v1/status')).finalizedHeight

/** Signs one event from `who` with its next nonce (counted here: every event below executes). */
function event<T extends EventType>(who: NodeIdentity, type: T, payload: EventPayloadMap[T]): Uint8Array {
  const nonce = (nonces.get(who.did) ?? 0) + 1
  nonces.set(who.did, nonce)
  return encodeEvent(signEvent(who.signer, who.did, { chainId: s.chainId, type, nonce, fee: 1, payload }))
}

/** One POST of many events; every one must be admitted. */
async function post(node: string, events: Uint8Array[]): Promise<void> {
  const r = await fetch(`${nodeNamed(s, node).api}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events: events.map((e) => Buffer.from(e).toString('base64')) }),
    signal: AbortSignal.timeout(30_000),
  })
  const body = (await r.json()) as { accepted: number; results: { ok: boolean; code?: string }[] }
  const refused = body.results.filter((x) => !x.ok)
  expect(refused, `refused: ${JSON.stringify(refused.slice(0, 3))}`).toEqual([])
}

/** Waits until every node's reading of the creator's PoE score is `want`; says what it saw if not. */
async function poeEverywhere(want: number, what: string): Promise<void> {
  for (const n of ALL) {
    let seen = -1
    await waitFor(
      `${n}: creator PoE ${want} after ${what}`,
      async () => {
        seen = await poe(n)
        return seen === want
      },
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; ${n} reads ${seen}, expected ${want}`)
    })
  }
}

/** One like per fresh DID, plus one by the established DID; returns the creator's PoE before. */
async function wave(): Promise<number> {
  const before = await poe('w0')
  const likes = fresh.map((d) => event(d, 'engagement.interact', { cid: CID, kind: 'like' }))
  await post('w1', [...likes, event(established, 'engagement.interact', { cid: CID, kind: 'like' })])
  return before
}

function declaration(weightBps: number): DeclarationPayload {
  return {
    domain: DECLARATION_DOMAIN,
    chainId: s.chainId,
    scenario: 'NetworkAttack',
    actions: [
      {
        type: 'SetParameters',
        setParameters: { parameters: { newDidReputationWeight: weightBps }, durationSeconds: OVERRIDE_SECONDS },
      },
    ],
    dryRun: false,
    nonce: declNonce++,
    expiresAtMs: Date.now() + 600_000,
  }
}

async function declare(d: DeclarationPayload, members: string[], payer: NodeIdentity): Promise<void> {
  const signatures = await councilSign(s, members, (id) => signDeclaration(id.signer, id.did, d))
  await post('w2', [event(payer, 'governance.declaration', { declaration: d, signatures })])
}

const overrides = async (node: string) =>
  (await emergency(node)).paramOverrides.filter((o) => o.name === 'newDidReputationWeight')

describe('scenario D: a Sybil wave of 1,000 fresh DIDs', () => {
  it('the wave comes into existence: 1,000 DIDs funded by transfers; the content it engages with is registered', async () => {
    await post('w0', [event(creator, 'content.register', { cid: CID, bodyHash: 'ab'.repeat(32), size: 1, k: 4, m: 2 })])
    const transfers = fresh.map((d, i) => event(funders[i % FUNDERS]!, 'accounts.transfer', { to: d.did, amount: 10 }))
    await post('w0', transfers)
    for (const n of ALL) {
      await waitFor(`${n} to hold all ${WAVE} new accounts`, async () => {
        const a = await Promise.all([fresh[0]!, fresh[WAVE - 1]!].map((d) => account(n, d.did).catch(() => ({}))))
        const f = await Promise.all(funders.map((d) => account(n, d.did)))
        return a.every((x: PublicAccount) => x.balance === 10) && f.every((x) => x.nonce === WAVE / FUNDERS)
      })
    }
    const first = await account('w0', fresh[0]!.did)
    expect(first.createdAt).toBeGreaterThan(0)
    expect((await account('w0', established.did)).createdAt ?? 0).toBe(0)
  }, 90_000)

  it('(a) default parameters: every fresh DID’s like counts in full', async () => {
    const before = await wave()
    await poeEverywhere(before + (WAVE + 1) * LIKE * FULL, 'the wave under default parameters')
  }, 90_000)

  it(`(b) a council-signed declaration sets newDidReputationWeight to ${LOW_WEIGHT_BPS} bps for ${OVERRIDE_SECONDS} s: the wave counts ${LOW_WEIGHT_BPS} bps per like on every node, the established DID in full`, async () => {
    await declare(declaration(LOW_WEIGHT_BPS), ['w0', 'w1'], testnetAccount(12))
    for (const n of ALL) {
      const [o] = await waitFor(`${n} to hold the override`, async () => {
        const x = await overrides(n)
        return x.length === 1 ? x : undefined
      })
      expect(o).toMatchObject({ value: LOW_WEIGHT_BPS, authorizedBy: 'd1' })
    }
    const before = await wave()
    await poeEverywhere(before + WAVE * LIKE * LOW_WEIGHT_BPS + LIKE * FULL, 'the wave under the override')
    // Every like of the wave executed while the override was in force (else the sum would differ).
    const [o] = await overrides('w0')
    expect(o, 'the override lapsed before the wave executed: raise OVERRIDE_SECONDS').toBeDefined()
  }, 90_000)

  it('(c) at its expiry the override lapses on every node (public emergency state and admin status) and the same DIDs count in full again', async () => {
    for (const n of ALL) {
      await waitFor(`${n} to drop the override`, async () => (await overrides(n)).length === 0, 60_000)
      expect((await statusOf(s, n))?.governance?.paramOverrides ?? []).toEqual([])
    }
    const before = await wave()
    await poeEverywhere(before + (WAVE + 1) * LIKE * FULL, 'the wave after the override lapsed')
    // Still "new" by the ledger's own definition: the down-weighting above was the parameter's.
    const createdAt = (await account('w0', fresh[WAVE - 1]!.did)).createdAt ?? 0
    expect((await height('w0')) - createdAt).toBeLessThan(MATURITY_BLOCKS)
  }, 90_000)

  it('a declaration with one council signature of two (under threshold) changes nothing: no override, the wave still counts in full', async () => {
    const payer = testnetAccount(13)
    await declare(declaration(0), ['w0'], payer)
    nonces.set(payer.did, 0) // refused at execution: the payer's nonce does not move
    const h = await height('w0')
    for (const n of ALL) {
      await waitFor(`${n} to pass ${h + 3}`, async () => (await height(n)) > h + 3)
      expect(await overrides(n)).toEqual([])
      expect((await account(n, payer.did)).nonce ?? 0).toBe(0)
    }
    const before = await wave()
    await poeEverywhere(before + (WAVE + 1) * LIKE * FULL, 'the wave after an under-threshold declaration')
  }, 90_000)
})
