/** Test helpers for the ledger's tests (deterministic identities, genesis, blocks, council actions). */
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import type { Did } from '../crypto/did.ts'
import { sha256 } from '../crypto/hash.ts'
import { NodeIdentity } from '../crypto/identity.ts'
import type { BlockContext } from './env.ts'
import { signEvent } from './event.ts'
import type { EventPayloadMap, EventType, SignedEvent } from './event.ts'
import type { Genesis } from './genesis.ts'
import { COUNCIL_ACTION_DOMAIN, signCouncilAction } from './governance-payloads.ts'
import type { CouncilAction, CouncilActionBody, CouncilSignature } from './governance-payloads.ts'
import { Ledger } from './ledger.ts'
import type { Execution } from './ledger.ts'
import type { Params } from './params.ts'

export const CHAIN = 'echonet-test'
export const T0 = 1_700_000_000_000

const cache = new Map<number, NodeIdentity>()

/** Identity number n (stable across runs). */
export function id(n: number): NodeIdentity {
  let i = cache.get(n)
  if (i === undefined) {
    const seed = new Uint8Array(32)
    new DataView(seed.buffer).setUint32(0, n + 1)
    seed[31] = 0x5a
    i = NodeIdentity.fromSeed(seed)
    cache.set(n, i)
  }
  return i
}

export interface World {
  genesis: Genesis
  council: NodeIdentity[]
  witnesses: NodeIdentity[]
  standbys: NodeIdentity[]
  ssns: NodeIdentity[]
  users: NodeIdentity[]
}

/** 3-member council (threshold 2), 4 witnesses, 2 standbys, 2 SSNs, 4 funded users. */
export function world(params: Partial<Params> = {}, opts: { treasury?: number; balance?: number } = {}): World {
  const council = [0, 1, 2].map(id)
  const witnesses = [10, 11, 12, 13].map(id)
  const standbys = [20, 21].map(id)
  const ssns = [30, 31].map(id)
  const users = [40, 41, 42, 43].map(id)
  const genesis: Genesis = {
    chainId: CHAIN,
    genesisTimeMs: T0,
    council: { members: council.map((c) => c.did), threshold: 2 },
    witnesses: witnesses.map((w, i) => ({ did: w.did, stake: 1_000 + i * 100 })),
    standbys: standbys.map((s) => ({ did: s.did, stake: 500 })),
    ssns: ssns.map((s) => ({ did: s.did, stake: 10_000 })),
    accounts: [...users, ...witnesses, ...ssns].map((u) => ({ did: u.did, balance: opts.balance ?? 1_000_000 })),
    treasury: opts.treasury ?? 1_000_000,
    params,
  }
  return { genesis, council, witnesses, standbys, ssns, users }
}

/** Signs events for one identity, tracking its nonce. */
export class Sender {
  readonly who: NodeIdentity
  nonce: number
  constructor(who: NodeIdentity, nonce = 0) {
    this.who = who
    this.nonce = nonce
  }
  get did(): Did {
    return this.who.did
  }
  ev<T extends EventType>(type: T, payload: EventPayloadMap[T], fee = 1, nonce?: number): SignedEvent {
    const n = nonce ?? ++this.nonce
    return signEvent(this.who.signer, this.who.did, { chainId: CHAIN, type, nonce: n, fee, payload })
  }
}

export function nextCtx(ledger: Ledger, over: Partial<BlockContext> = {}): BlockContext {
  return {
    height: ledger.height + 1,
    epoch: ledger.epoch,
    timeMs: ledger.timeMs + 1_000,
    proposer: id(10).did,
    randomness: new Uint8Array(32).fill(7),
    ...over,
  }
}

/** Executes and commits one block. */
export function block(ledger: Ledger, events: SignedEvent[], over: Partial<BlockContext> = {}): Execution {
  const x = ledger.execute(nextCtx(ledger, over), events)
  x.commit()
  return x
}

export function action(body: CouncilActionBody, over: Partial<CouncilAction> = {}): CouncilAction {
  return {
    domain: COUNCIL_ACTION_DOMAIN,
    chainId: CHAIN,
    nonce: Math.floor(Math.random() * 1e9),
    expiresAtMs: T0 + 3_600_000,
    action: body,
    ...over,
  }
}

export function sign(a: CouncilAction, signers: NodeIdentity[]): CouncilSignature[] {
  return signers.map((s) => signCouncilAction(s.signer, s.did, a))
}

/** A canonical CIDv1 string (raw codec, sha2-256 of n) for the content registry. */
export function cidOf(n: number): string {
  const digest = Digest.create(0x12, sha256(new TextEncoder().encode(`content-${n}`)))
  return CID.create(1, 0x55, digest).toString()
}

export function hex32(n: number): string {
  return n.toString(16).padStart(64, '0')
}
