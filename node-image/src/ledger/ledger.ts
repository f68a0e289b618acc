import { isDid } from '../crypto/did.ts'
import type { Did } from '../crypto/did.ts'
import { decode, encode } from '../crypto/encoding.ts'
import { bytesEqual, sha256, toHex } from '../crypto/hash.ts'
import { decodeValue, encodeValue } from './cbor.ts'
import { Env, effectiveParams, mulBps } from './env.ts'
import type { BlockContext } from './env.ts'
import { LedgerError } from './errors.ts'
import type { LedgerErrorCode } from './errors.ts'
import { feePayerOf, payloadOf, validateSignedEvent } from './event.ts'
import type { EventType, SignedEvent } from './event.ts'
import { validateGenesis } from './genesis.ts'
import type { Genesis } from './genesis.ts'
import { restartManifestProblem } from './governance-payloads.ts'
import type { ModuleName, RestartManifest, StateEdit } from './governance-payloads.ts'
import { isValidKey, verifyProof as verifyStateProof } from './merkle.ts'
import type { StateProof } from './merkle.ts'
import {
  chargeFeeAndNonce,
  credit,
  creditTreasury,
  getAccount,
  nonceProblem,
  requiredFee,
  transfer,
  treasuryBalance,
} from './modules/accounts.ts'
import { close as closeAd, getEscrow, impressions, open as openAd } from './modules/ads.ts'
import { contentByBodyHash, getContent, register } from './modules/content.ts'
import { interact, poeScore } from './modules/engagement.ts'
import { applyCouncilAction, applyDeclaration, councilActionAdmission } from './modules/governance.ts'
import {
  getAuthorizations,
  getCouncil,
  getProtocol,
  getUpgradePlan,
  getEmergency,
  getOverrides,
  getPauses,
  isPaused,
  pruneExpired,
} from './modules/governance-state.ts'
import { distribute, isPayoutHeight } from './modules/payouts.ts'
import { getPosr, recordResult } from './modules/posr.ts'
import { reputationScore } from './modules/reputation.ts'
import { bond, computeCommittee, getStake, listRole, unbond, unsuspend, withdraw } from './modules/staking.ts'
import type { CommitteeMember } from './modules/staking.ts'
import type { Params } from './params.ts'
import { Schema } from './schema.ts'
import { KEYS, keySuffix, NS } from './state.ts'
import type {
  AdEscrow,
  Authorizations,
  ContentRecord,
  CouncilState,
  EmergencyState,
  LastPayout,
  Meta,
  ParamOverrides,
  Pauses,
  PosrRecord,
  ProtocolRecord,
  RecoveryPolicyRecord,
  StakeRecord,
  UpgradePlan,
} from './state.ts'
import { Overlay, Store } from './store.ts'
import type { PreparedChanges } from './store.ts'

export type { BlockContext } from './env.ts'
export type { CommitteeMember } from './modules/staking.ts'
export type { StateProof } from './merkle.ts'

export interface EventResult {
  ok: boolean
  code?: LedgerErrorCode
  message?: string
}

export interface Execution {
  readonly results: EventResult[]
  readonly stateRoot: Uint8Array
  readonly height: number
  readonly ctx: BlockContext
  /** Committee after this block (it finalizes the next height). */
  committee(): CommitteeMember[]
  /** Applies the execution to the ledger; throws STALE_EXECUTION if the ledger moved meanwhile. */
  commit(): void
}

export interface AccountView {
  did: Did
  balance: number
  nonce: number
  createdAt: number | undefined
  stake: StakeRecord | undefined
  reputation: number
  /** The DID's Proof-of-Engagement score as a creator in the current payout round (weighted). */
  poe: number
}

const OK: EventResult = Object.freeze({ ok: true })
const SNAPSHOT_FORMAT = 'echonet-ledger-snapshot/v1'

/** While halted, only the council acts; PoSR outcomes are still recorded (their slashes are skipped). */
const HALT_EXEMPT: ReadonlySet<EventType> = new Set<EventType>([
  'governance.council-action',
  'governance.declaration',
  'posr.result',
])

function moduleOf(type: EventType): ModuleName | 'governance' {
  return type.slice(0, type.indexOf('.')) as ModuleName | 'governance'
}

/** Pure proof check, re-exported for API clients: see merkle.ts. */
export function verifyProof(root: Uint8Array, key: string, value: Uint8Array | undefined, proof: StateProof): boolean {
  return verifyStateProof(root, key, value, proof)
}

function dispatch(env: Env, ev: SignedEvent): void {
  const b = ev.body
  const s = b.sender
  switch (b.type) {
    case 'accounts.transfer':
      return transfer(env, s, payloadOf(b, 'accounts.transfer'))
    case 'staking.bond':
      return bond(env, s, payloadOf(b, 'staking.bond'))
    case 'staking.unbond':
      return unbond(env, s, payloadOf(b, 'staking.unbond'))
    case 'staking.withdraw':
      return withdraw(env, s)
    case 'content.register':
      register(env, s, payloadOf(b, 'content.register'), b.fee)
      return
    case 'engagement.interact':
      return interact(env, s, payloadOf(b, 'engagement.interact'))
    case 'ads.open':
      openAd(env, s, b.nonce, payloadOf(b, 'ads.open'))
      return
    case 'ads.impressions':
      return impressions(env, s, payloadOf(b, 'ads.impressions'))
    case 'ads.close':
      return closeAd(env, s, payloadOf(b, 'ads.close'))
    case 'posr.result':
      recordResult(env, s, payloadOf(b, 'posr.result'))
      return
    case 'governance.council-action':
      applyCouncilAction(env, payloadOf(b, 'governance.council-action'))
      return
    case 'governance.declaration':
      applyDeclaration(env, payloadOf(b, 'governance.declaration'))
      return
  }
}

/** Minimum fee memoized per (immutable) params object: it is needed for every event. */
const feeMemo = new WeakMap<Params, number>()
function minFeeOf(p: Params): number {
  let f = feeMemo.get(p)
  if (f === undefined) {
    f = requiredFee(p)
    feeMemo.set(p, f)
  }
  return f
}

function failure(err: unknown): EventResult {
  if (err instanceof LedgerError) return { ok: false, code: err.code, message: err.message }
  // A bug, not bad input: fail the event the same way on every node rather than crash them all.
  return { ok: false, code: 'INTERNAL_ERROR', message: err instanceof Error ? err.message : String(err) }
}

/**
 * The deterministic state machine of an EchoNet node. State is a key→value map committed to by
 * a Merkle root (merkle.ts); blocks execute on a copy-on-write overlay and only commit() mutates.
 */
export class Ledger {
  readonly #store: Store
  #committee: { version: number; members: CommitteeMember[]; set: ReadonlySet<string> } | undefined

  private constructor(store: Store) {
    this.#store = store
  }

  // -------------------------------------------------------------------------------------------
  // Construction and persistence.

  static fromGenesis(input: Genesis): Ledger {
    const g = validateGenesis(input)
    const store = new Store()
    const put = (key: string, value: unknown): void => {
      store.load(key, value, encodeValue(value))
    }
    const meta: Meta = {
      chainId: g.chainId,
      genesisHash: toHex(sha256(encode(g))),
      height: 0,
      epoch: 0,
      timeMs: g.genesisTimeMs,
    }
    put(KEYS.meta, meta)
    put(KEYS.treasury, { balance: g.treasury })
    put(KEYS.params, effectiveParams(g.params as Params, undefined, 0))
    put(KEYS.overrides, {})
    put(KEYS.pauses, {})
    put(KEYS.emergency, {})
    put(KEYS.council, { members: [...g.council.members].sort(), threshold: g.council.threshold })
    for (const a of g.accounts) put(KEYS.account(a.did), { balance: a.balance, nonce: 0, createdAt: 0 })
    const stakes: [GenesisRole, { did: Did; stake: number }[]][] = [
      ['witness', g.witnesses],
      ['standby', g.standbys],
      ['ssn', g.ssns ?? []],
    ]
    for (const [role, list] of stakes) {
      for (const s of list) {
        put(KEYS.stake(s.did), { role, bonded: s.stake, unbonding: 0, releaseHeight: 0, slashed: 0 })
      }
    }
    store.rebuild()
    return new Ledger(store)
  }

  /**
   * Deterministic encoding of the full state: every entry (key, canonical value bytes) in key
   * order, the height and the root. Same state ⇒ same bytes on every node.
   */
  snapshot(): Uint8Array {
    const keys = [...this.#store.entries.keys()].sort()
    const entries = keys.map((k) => [k, this.#store.entries.get(k)!.bytes])
    return encodeValue({
      format: SNAPSHOT_FORMAT,
      chainId: this.chainId,
      height: this.height,
      root: this.root(),
      entries,
    })
  }

  /**
   * Rebuilds a ledger from a snapshot, refusing anything malformed, non-canonical or whose
   * recomputed root differs from the one it carries. The caller still compares root() with a
   * certified root: a self-consistent snapshot is not yet a trusted one.
   */
  static fromSnapshot(bytes: Uint8Array): Ledger {
    const S: Schema = new Schema('INVALID_SNAPSHOT')
    let v: unknown
    try {
      v = decode(bytes)
    } catch (err) {
      throw new LedgerError('INVALID_SNAPSHOT', `snapshot is not DAG-CBOR: ${(err as Error).message}`)
    }
    const o = S.obj(v, 'snapshot', ['format', 'chainId', 'height', 'root', 'entries'])
    if (o.format !== SNAPSHOT_FORMAT) S.fail(`snapshot.format must be ${SNAPSHOT_FORMAT}`)
    const chainId = S.str(o.chainId, 'snapshot.chainId', 64, 1)
    const height = S.int(o.height, 'snapshot.height', 0)
    const root = S.bytes(o.root, 'snapshot.root', 32)
    const list = S.list(o.entries, 'snapshot.entries', 100_000_000)
    const store = new Store()
    let prev = ''
    for (const [i, e] of list.entries()) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || !(e[1] instanceof Uint8Array)) {
        S.fail(`snapshot.entries[${i}] must be [key, bytes]`)
      }
      const key = e[0]
      if (i > 0 && !(prev < key)) S.fail(`snapshot.entries are not in strict key order at ${i}`)
      prev = key
      let value: unknown
      try {
        value = decodeValue(e[1])
        store.load(key, value, e[1])
      } catch (err) {
        S.fail(`snapshot.entries[${i}] (${key}): ${(err as Error).message}`)
      }
    }
    for (const k of [KEYS.meta, KEYS.council, KEYS.params, KEYS.treasury]) {
      if (!store.entries.has(k)) S.fail(`snapshot lacks ${k}`)
    }
    const meta = store.get(KEYS.meta) as Meta
    if (meta.chainId !== chainId || meta.height !== height) S.fail('snapshot header disagrees with its state')
    store.rebuild()
    if (!bytesEqual(store.root(), root)) {
      S.fail(`state root mismatch: snapshot claims ${toHex(root)}, its entries hash to ${toHex(store.root())}`)
    }
    return new Ledger(store)
  }

  // -------------------------------------------------------------------------------------------
  // Identity of the state.

  #view(): Overlay {
    return new Overlay(this.#store)
  }

  #meta(): Meta {
    return this.#store.get(KEYS.meta) as Meta
  }

  /** Last applied block height; 0 = genesis. */
  get height(): number {
    return this.#meta().height
  }

  get chainId(): string {
    return this.#meta().chainId
  }

  get epoch(): number {
    return this.#meta().epoch
  }

  /** Time of the last applied block (genesis time at height 0). */
  get timeMs(): number {
    return this.#meta().timeMs
  }

  get genesisHash(): string {
    return this.#meta().genesisHash
  }

  root(): Uint8Array {
    return this.#store.root()
  }

  /** Proof for a key (present or absent) under root(); check it with verifyProof. */
  prove(key: string): { key: string; value: Uint8Array | undefined; proof: StateProof } {
    return { key, ...this.#store.prove(key) }
  }

  /** Raw canonical bytes stored under a key. */
  getRaw(key: string): Uint8Array | undefined {
    const bytes = this.#store.entries.get(key)?.bytes
    return bytes === undefined ? undefined : Uint8Array.from(bytes)
  }

  // -------------------------------------------------------------------------------------------
  // Mempool admission.

  /**
   * Stateful admission check against the committed state: structure, network, not halted,
   * module not paused, nonce not used (and not too far ahead), fee at least the minimum and
   * payable. Undefined means "admit"; execution may still fail the event later.
   */
  precheck(ev: SignedEvent): LedgerErrorCode | undefined {
    try {
      validateSignedEvent(ev)
    } catch (err) {
      return err instanceof LedgerError ? err.code : 'MALFORMED_EVENT'
    }
    const b = ev.body
    const meta = this.#meta()
    if (b.chainId !== meta.chainId) return 'WRONG_CHAIN'
    const view = this.#view()
    if (getEmergency(view).halted !== undefined && !HALT_EXEMPT.has(b.type)) return 'LEDGER_HALTED'
    const module = moduleOf(b.type)
    if (module !== 'governance' && isPaused(view, module, meta.height + 1, meta.timeMs)) return 'MODULE_PAUSED'
    if (b.type === 'governance.council-action') {
      const gp = councilActionAdmission(view, payloadOf(b, 'governance.council-action'), meta)
      if (gp !== undefined) return gp
    }
    const account = getAccount(view, b.sender)
    const np = nonceProblem(account, b.nonce, false)
    if (np !== undefined) return np.code
    if (b.fee < minFeeOf(this.params())) return 'FEE_TOO_LOW'
    const payer = feePayerOf(b)
    const pays = payer === b.sender ? account : getAccount(view, payer)
    if ((pays?.balance ?? 0) < b.fee) return 'INSUFFICIENT_FUNDS'
    return undefined
  }

  // -------------------------------------------------------------------------------------------
  // Block execution.

  #checkContext(ctx: BlockContext): void {
    const meta = this.#meta()
    const bad = (m: string): never => {
      throw new LedgerError('BAD_BLOCK_CONTEXT', m)
    }
    if (!Number.isSafeInteger(ctx.height) || ctx.height !== meta.height + 1) {
      bad(`block height ${ctx.height} does not follow ${meta.height}`)
    }
    if (!Number.isSafeInteger(ctx.epoch) || ctx.epoch < meta.epoch) bad(`epoch ${ctx.epoch} is below ${meta.epoch}`)
    if (!Number.isSafeInteger(ctx.timeMs) || ctx.timeMs < meta.timeMs) {
      bad(`block time ${ctx.timeMs} is before the previous block's ${meta.timeMs}`)
    }
    if (!isDid(ctx.proposer)) bad('proposer is not a did:key')
    if (!(ctx.randomness instanceof Uint8Array) || ctx.randomness.length !== 32) bad('randomness must be 32 bytes')
  }

  /**
   * Executes a block on an overlay and computes its state root without touching the ledger.
   * Events are expected to have passed checkEventStateless (signatures are not re-verified);
   * their structure is re-checked cheaply so that no malformed event can reach a module. A
   * failed event changes nothing, not even its sender's nonce.
   */
  execute(ctx: BlockContext, events: readonly SignedEvent[]): Execution {
    this.#checkContext(ctx)
    const store = this.#store
    const version = store.version
    const ov = new Overlay(store)
    const env = new Env(ov, ctx, this.chainId, this.#committeeCache().set)

    // Begin block: expire what has expired, record the block.
    pruneExpired(ov, ctx.height, ctx.timeMs)
    ov.set(KEYS.meta, { ...this.#meta(), height: ctx.height, epoch: ctx.epoch, timeMs: ctx.timeMs })
    ov.settle()

    const results = events.map((ev) => this.#applyEvent(env, ev))

    // End block: pay out the fees, then the periodic PoE payout.
    credit(env, ctx.proposer, env.pendingFees.proposer)
    creditTreasury(env, env.pendingFees.treasury)
    const params = env.params()
    const halted = getEmergency(ov).halted !== undefined
    if (
      isPayoutHeight(ctx.height, params.payoutInterval) &&
      !halted &&
      !isPaused(ov, 'payouts', ctx.height, ctx.timeMs)
    ) {
      distribute(env)
    }
    ov.settle()

    const prepared = ov.prepare()
    return this.#execution(env, results, prepared, version)
  }

  #execution(env: Env, results: EventResult[], prepared: PreparedChanges, version: number): Execution {
    const store = this.#store
    let committee: CommitteeMember[] | undefined
    return {
      results,
      stateRoot: Uint8Array.from(prepared.tree.root),
      height: env.ctx.height,
      ctx: env.ctx,
      committee: () => {
        committee ??= computeCommittee(env.ov, env.params())
        return committee.map((m) => ({ ...m }))
      },
      commit: () => {
        if (store.version !== version) {
          throw new LedgerError('STALE_EXECUTION', 'the ledger changed since this block was executed')
        }
        store.apply(prepared)
      },
    }
  }

  #applyEvent(env: Env, ev: SignedEvent): EventResult {
    const ov = env.ov
    const mark = ov.mark()
    try {
      validateSignedEvent(ev)
      const b = ev.body
      if (b.chainId !== env.chainId) throw new LedgerError('WRONG_CHAIN', `event is for ${b.chainId}`)
      if (getEmergency(ov).halted !== undefined && !HALT_EXEMPT.has(b.type)) {
        throw new LedgerError('LEDGER_HALTED', 'the ledger is halted by the council')
      }
      const module = moduleOf(b.type)
      if (module !== 'governance' && isPaused(ov, module, env.ctx.height, env.ctx.timeMs)) {
        throw new LedgerError('MODULE_PAUSED', `module ${module} is paused by the council`)
      }
      const params = env.params()
      chargeFeeAndNonce(env, b.sender, b.nonce, b.fee, minFeeOf(params), feePayerOf(b))
      dispatch(env, ev)
      const share = mulBps(b.fee, params.feeProposerShareBps)
      env.pendingFees.proposer += share
      env.pendingFees.treasury += b.fee - share
      ov.settle()
      return OK
    } catch (err) {
      ov.rollback(mark)
      ov.settle()
      return failure(err)
    }
  }

  // -------------------------------------------------------------------------------------------
  // Committee and governance (read side used by consensus and the APIs).

  #committeeCache(): { members: CommitteeMember[]; set: ReadonlySet<string> } {
    const version = this.#store.committeeVersion
    if (this.#committee?.version !== version) {
      const members = computeCommittee(this.#view(), this.params())
      this.#committee = { version, members, set: new Set(members.map((m) => m.did)) }
    }
    return this.#committee
  }

  /** Active witness set: top committeeSize witnesses by stake; power = floor(stake / powerUnit). */
  committee(): CommitteeMember[] {
    return this.#committeeCache().members.map((m) => ({ ...m }))
  }

  /** Registered standby witnesses (not suspended), by stake then DID. */
  standbys(): { did: Did; stake: number }[] {
    return listRole(this.#view(), 'standby')
      .filter((s) => !s.suspended)
      .map(({ did, stake }) => ({ did, stake }))
  }

  /** Registered storage nodes with their suspension state. */
  ssns(): { did: Did; stake: number; suspended: boolean }[] {
    return listRole(this.#view(), 'ssn')
  }

  council(): { members: Did[]; threshold: number } {
    const c: CouncilState = getCouncil(this.#view())
    return { members: [...c.members], threshold: c.threshold }
  }

  /** Effective parameters as of the last block's time. */
  params(): Params {
    const view = this.#view()
    return effectiveParams(view.get(KEYS.params) as Params, getOverrides(view), this.timeMs)
  }

  paramOverrides(): ParamOverrides {
    return getOverrides(this.#view())
  }

  pauses(): Pauses {
    return getPauses(this.#view())
  }

  isPaused(module: ModuleName): boolean {
    return isPaused(this.#view(), module, this.height + 1, this.timeMs)
  }

  emergency(): EmergencyState {
    return getEmergency(this.#view())
  }

  treasury(): number {
    return treasuryBalance(this.#view())
  }

  upgradePlan(): UpgradePlan | undefined {
    return getUpgradePlan(this.#view())
  }

  /** The protocol rules in force (the last upgrade whose flag height was reached), if any. */
  protocol(): ProtocolRecord | undefined {
    return getProtocol(this.#view())
  }

  /** The signed payloads behind the emergency records in force. */
  authorizations(): Authorizations {
    return getAuthorizations(this.#view())
  }

  recoveryPolicy(): RecoveryPolicyRecord | undefined {
    return this.#store.get(KEYS.recoveryPolicy) as RecoveryPolicyRecord | undefined
  }

  lastPayout(): LastPayout | undefined {
    return this.#store.get(KEYS.lastPayout) as LastPayout | undefined
  }

  // -------------------------------------------------------------------------------------------
  // Per-entity reads.

  /** Last nonce the sender used (0 if it never sent): its next event must carry nonceOf + 1. */
  nonceOf(did: string): number {
    return getAccount(this.#view(), did)?.nonce ?? 0
  }

  balanceOf(did: string): number {
    return getAccount(this.#view(), did)?.balance ?? 0
  }

  account(did: string): AccountView {
    const view = this.#view()
    const a = getAccount(view, did)
    return {
      did: did as Did,
      balance: a?.balance ?? 0,
      nonce: a?.nonce ?? 0,
      createdAt: a?.createdAt,
      stake: getStake(view, did),
      reputation: reputationScore(view, did),
      poe: poeScore(view, did),
    }
  }

  stake(did: string): StakeRecord | undefined {
    return getStake(this.#view(), did)
  }

  content(cid: string): ContentRecord | undefined {
    return getContent(this.#view(), cid)
  }

  /** Every registered ContentID with its record (DDS repair and PoSR sample from these). */
  contents(): { cid: string; rec: ContentRecord }[] {
    const view = this.#view()
    return view.keys(NS.content).map((k) => ({ cid: keySuffix(k), rec: view.get(k) as ContentRecord }))
  }

  contentByBodyHash(bodyHash: string): string | undefined {
    return contentByBodyHash(this.#view(), bodyHash)
  }

  /** Whether a creator's publish-authorization nonce was consumed (and its authorization is unexpired). */
  publishNonceUsed(creator: string, nonce: number): boolean {
    return this.#view().get(KEYS.publishNonce(creator, nonce)) !== undefined
  }

  escrow(escrowId: string): AdEscrow | undefined {
    return getEscrow(this.#view(), escrowId)
  }

  posr(ssn: string): PosrRecord | undefined {
    return getPosr(this.#view(), ssn)
  }

  poeScore(did: string): number {
    return poeScore(this.#view(), did)
  }

  /** PoE scores of the current payout round, by DID. */
  poeScores(): { did: Did; score: number }[] {
    const view = this.#view()
    return view.keys(NS.poe).map((k) => ({ did: keySuffix(k) as Did, score: poeScore(view, keySuffix(k)) }))
  }

  /**
   * Total supply: balances + bonded and unbonding stake + open escrow + treasury. Constant over
   * the ledger's life (no minting; fees, slashes and payouts move value around).
   */
  totalSupply(): number {
    const view = this.#view()
    let total = treasuryBalance(view)
    for (const k of view.keys(NS.account)) total += getAccount(view, keySuffix(k))!.balance
    for (const k of view.keys(NS.stake)) {
      const s = view.get(k) as StakeRecord
      total += s.bonded + s.unbonding
    }
    for (const k of view.keys(NS.ad)) total += (view.get(k) as AdEscrow).remaining
    return total
  }

  // -------------------------------------------------------------------------------------------
  // Coordinated restart (DESIGN §4).

  /**
   * The restart transform on a scratch overlay: listed standbys become witnesses (suspensions
   * lifted), active witnesses not listed become standbys, the epoch is set.
   */
  #restartOverlay(dids: readonly string[], epoch: number, base?: Overlay): { ov: Overlay; env: Env } {
    const ov = base ?? this.#view()
    const meta = this.#meta()
    const ctx: BlockContext = {
      height: meta.height,
      epoch,
      timeMs: meta.timeMs,
      proposer: (dids[0] ?? '') as Did,
      randomness: new Uint8Array(32),
    }
    const env = new Env(ov, ctx, meta.chainId, this.#committeeCache().set)
    const current = computeCommittee(ov, env.params())
    const listed = new Set(dids)
    for (const did of dids) {
      const r = getStake(ov, did)
      if (r === undefined || r.role === 'ssn') {
        throw new LedgerError('RESTART_MISMATCH', `${did} is neither a witness nor a standby`)
      }
      if (r.role === 'standby') ov.set(KEYS.stake(did), { ...r, role: 'witness' })
      unsuspend(env, did)
    }
    for (const m of current) {
      const r = getStake(ov, m.did)
      if (!listed.has(m.did) && r !== undefined) ov.set(KEYS.stake(m.did), { ...r, role: 'standby' })
    }
    ov.set(KEYS.meta, { ...(ov.get(KEYS.meta) as Meta), epoch })
    // A restart is what continues a chain the council stopped (stop-at): the stop is spent.
    const em = getEmergency(ov)
    if (em.stopAt !== undefined) {
      const { stopAt: _spent, ...rest } = em
      ov.set(KEYS.emergency, rest)
    }
    return { ov, env }
  }

  /** Applies hard-fork edits to an overlay; returns the resulting root (ledger untouched). */
  #applyEdits(ov: Overlay, edits: readonly StateEdit[]): Uint8Array {
    for (const [i, e] of edits.entries()) {
      if (!isValidKey(e.key)) throw new LedgerError('INVALID_STATE_EDIT', `stateEdits[${i}]: invalid key`)
      if (e.op === 'delete') {
        ov.delete(e.key)
        continue
      }
      try {
        ov.set(e.key, decodeValue(e.value))
      } catch (err) {
        throw new LedgerError('INVALID_STATE_EDIT', `stateEdits[${i}] (${e.key}): ${(err as Error).message}`)
      }
    }
    for (const k of [KEYS.meta, KEYS.council, KEYS.params, KEYS.treasury]) {
      if (ov.get(k) === undefined) throw new LedgerError('INVALID_STATE_EDIT', `state edits may not delete ${k}`)
    }
    return ov.prepare().tree.root
  }

  /**
   * The state root after applying hard-fork edits, without applying them: what a council's
   * tooling puts in a manifest's resultingStateRoot.
   */
  stateEditsRoot(edits: readonly StateEdit[]): Uint8Array {
    return Uint8Array.from(this.#applyEdits(this.#view(), edits))
  }

  /**
   * A hard fork from the finalized state, on a scratch overlay (the ledger is untouched): the
   * root after `edits` (a manifest's resultingStateRoot) and the witness set a manifest listing
   * `dids` must carry — computed after the edits, as applyRestart checks it (an edit may change
   * stakes, hence powers).
   */
  previewHardFork(
    edits: readonly StateEdit[],
    dids: readonly Did[],
  ): { resultingStateRoot: Uint8Array; witnesses: CommitteeMember[] } {
    const ov = this.#view()
    const resultingStateRoot = Uint8Array.from(this.#applyEdits(ov, edits))
    const { env } = this.#restartOverlay(dids, this.epoch + 1, ov)
    return { resultingStateRoot, witnesses: computeCommittee(ov, env.params()) }
  }

  /** The witness set (with powers) a restart manifest listing `dids` must carry. */
  restartWitnessSet(dids: readonly Did[]): CommitteeMember[] {
    const { ov, env } = this.#restartOverlay(dids, this.epoch + 1)
    return computeCommittee(ov, env.params())
  }

  /**
   * Applies an authorized restart manifest (the caller verified verifyRestartAuthorization):
   * checks it names this network, height and root, applies its state edits and checks the
   * resulting root, installs the new witness set and epoch, and checks the committee is exactly
   * the manifest's. All or nothing: on any mismatch the ledger is unchanged. Returns the new root.
   */
  applyRestart(m: RestartManifest): Uint8Array {
    const problem = restartManifestProblem(m)
    if (problem !== undefined) throw new LedgerError('INVALID_PAYLOAD', problem)
    const meta = this.#meta()
    if (m.chainId !== meta.chainId) throw new LedgerError('WRONG_CHAIN', `manifest is for ${m.chainId}`)
    if (m.height !== meta.height) {
      throw new LedgerError('RESTART_MISMATCH', `manifest height ${m.height}, ledger height ${meta.height}`)
    }
    if (m.stateRoot !== toHex(this.root())) {
      throw new LedgerError('RESTART_MISMATCH', `manifest state root ${m.stateRoot}, ledger ${toHex(this.root())}`)
    }
    if (m.epoch <= meta.epoch) throw new LedgerError('RESTART_MISMATCH', `epoch ${m.epoch} must exceed ${meta.epoch}`)
    const ov = this.#view()
    const edits = m.stateEdits ?? []
    if (edits.length > 0) {
      const after = toHex(this.#applyEdits(ov, edits))
      if (after !== m.resultingStateRoot) {
        throw new LedgerError(
          'RESTART_MISMATCH',
          `state edits give root ${after}, manifest says ${m.resultingStateRoot ?? '-'}`,
        )
      }
    }
    const { env } = this.#restartOverlay(
      m.witnesses.map((w) => w.did),
      m.epoch,
      ov,
    )
    const got = computeCommittee(ov, env.params())
    const want = [...m.witnesses].sort((a, b) => (a.did < b.did ? -1 : 1))
    const have = [...got].sort((a, b) => (a.did < b.did ? -1 : 1))
    const same =
      want.length === have.length && want.every((w, i) => w.did === have[i]?.did && w.power === have[i].power)
    if (!same) {
      throw new LedgerError(
        'RESTART_MISMATCH',
        `the ledger's committee after restart would be ${JSON.stringify(have)}, the manifest lists ${JSON.stringify(want)}`,
      )
    }
    this.#store.apply(ov.prepare())
    return this.root()
  }
}

type GenesisRole = 'witness' | 'standby' | 'ssn'
