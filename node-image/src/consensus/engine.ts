import { sha256, toHex } from '../crypto/hash.ts'
import { encode } from '../crypto/encoding.ts'
import { verify } from '../crypto/ed25519.ts'
import { publicKeyFromDid } from '../crypto/did.ts'
import type { Signer } from '../crypto/ed25519.ts'
import { HeightMachine } from './tendermint.ts'
import type { Effect, TimeoutKind } from './tendermint.ts'
import { ValidatorSet } from './validators.ts'
import { proposalSigningBytes, restartReadySigningBytes, voteSigningBytes } from './messages.ts'
import type { CommitCertificate, Proposal, RestartReady, Vote, VoteKind } from './messages.ts'
import { CodedError } from '../util/coded-error.ts'
import {
  BlockError,
  blockHash,
  blockRandomness,
  certificateHash,
  decodeBlock,
  encodeBlock,
  eventIds,
  eventsHash,
  MAX_BLOCK_BYTES,
  MAX_BLOCK_EVENTS,
  verifyCertificate,
} from './block.ts'
import type { Block, BlockHeader } from './block.ts'
import { guard } from './signing-guard.ts'
import type { SigningRecord, SignStep } from './signing-guard.ts'
import { Mempool } from './mempool.ts'
import type { AdmitResult } from './mempool.ts'
import type { ConsensusMessage, LedgerExecution, LedgerPort, Transport } from './ports.ts'

/**
 * The consensus shell around the pure HeightMachine: it builds and validates blocks (executing
 * them on the ledger), keeps the signing record durable before every signature, persists
 * finalized blocks before applying them, gossips, and catches up from peers. Every input to the
 * machine goes through one serial queue, so effects are handled in order even though signing
 * waits for fsync.
 */

export interface EngineStore {
  readonly tip: number
  putBlock(height: number, block: Uint8Array, certificate: CommitCertificate): Promise<void>
  getBlock(height: number): Promise<{ block: Uint8Array; certificate: CommitCertificate } | undefined>
  readSigningRecord(): Promise<SigningRecord | undefined>
  writeSigningRecord(r: SigningRecord): Promise<void>
  putLockedBlock(block: Uint8Array): Promise<void>
  getLockedBlock(): Promise<Uint8Array | undefined>
}

export interface EngineTimeouts {
  proposeMs: number
  prevoteMs: number
  precommitMs: number
  /** Added per round, so rounds stretch until the network's real delay fits. */
  perRoundMs: number
  /** An empty block is proposed at most this often (expiries and checkpoints need time to pass). */
  emptyBlockMs: number
  /** Re-gossip what we hold for the height when it has not advanced for this long. */
  regossipMs: number
}

const RECENT_FINAL_LIMIT = 200_000
/** Rounds after which timeouts stop growing (propose: 3 s + 8 × 0.5 s = 7 s at most). */
const MAX_ROUND_STRETCH = 8
/** Gossip admission works at most this long before yielding to the event loop. */
const ADMIT_SLICE_MS = 8
/** Gossip batches waiting for admission beyond this are dropped (the sender's node still has them). */
const MAX_GOSSIP_BACKLOG = 1_000
/** Events a proposer puts in one block: bounds the work per height, so latency stays low under load. */
const PROPOSE_MAX_EVENTS = 2_000

export const DEFAULT_TIMEOUTS: EngineTimeouts = {
  proposeMs: 3_000,
  prevoteMs: 1_000,
  precommitMs: 1_000,
  perRoundMs: 500,
  emptyBlockMs: 1_000,
  regossipMs: 1_000,
}

/** What the engine needs of an adopted restart manifest (the node verified its authorization). */
export interface RestartPlan {
  readonly epoch: number
  readonly height: number
  readonly blockHash: string
  readonly manifestHash: string
}

interface RestartWait extends RestartPlan {
  readonly ready: Map<string, Uint8Array>
  readonly sinceMs: number
}

export interface RestartWaitStatus extends RestartPlan {
  readonly ready: readonly string[]
  readonly readyPower: number
  readonly totalPower: number
  readonly sinceMs: number
}

export class RestartError extends CodedError {}

export interface EngineObserver {
  /** A peer speaks for a later epoch: this node missed a restart and should fetch its manifest. */
  onHigherEpoch?(peer: string, epoch: number): void
  /** > 2/3 of the new set was ready on the restart manifest: consensus resumed. */
  onRestartResumed?(epoch: number, waitedMs: number): void
  onCommit?(
    height: number,
    hash: string,
    header: BlockHeader,
    eventIds: readonly string[],
    results: LedgerExecution['results'],
  ): void
  onEvidence?(kind: string, first: Proposal | Vote, second: Proposal | Vote): void
  onVoteSeen?(vote: Vote): void
  /** The admission verdicts of events a peer gossiped (codes of the refused ones), for peer scoring. */
  onGossipAdmitted?(peer: string, codes: readonly (string | undefined)[]): void
  onLog?(level: 'info' | 'warn' | 'error' | 'debug', msg: string, data?: Record<string, unknown>): void
}

export interface EngineOptions<E> {
  readonly ledger: LedgerPort<E>
  readonly store: EngineStore
  readonly transport: Transport
  readonly did: string
  readonly signer: Signer
  /** Witnesses vote; standbys and other roles follow without voting. */
  readonly votes: boolean
  readonly epoch: number
  readonly genesisTimeMs: number
  readonly timeouts?: Partial<EngineTimeouts>
  readonly now?: () => number
  readonly observer?: EngineObserver
  readonly mempool?: Mempool<E>
  /** The DID behind a transport peer id (the same key makes both), for peers' height claims. */
  readonly didOfPeer?: (peer: string) => string | undefined
  /**
   * Local admission policy for the mempool (rate limits and blocklist by sender): a code refuses
   * the event. Never applied to events in a proposed block, which every node must judge alike.
   */
  readonly admit?: (sender: string) => string | undefined
  /**
   * True: sign nothing at (epoch, height) — the node refused an authorized restart manifest that
   * ends this epoch below that height (it halts instead of carrying the old chain on).
   */
  readonly holdSigning?: (epoch: number, height: number) => boolean
}

interface Candidate<E> {
  readonly block: Block
  readonly bytes: Uint8Array
  readonly hash: string
  readonly events: readonly E[]
  readonly ids: readonly string[]
  readonly execution: LedgerExecution
}

export class ConsensusEngine<E> {
  readonly mempool: Mempool<E>
  readonly #o: EngineOptions<E>
  readonly #t: EngineTimeouts
  readonly #now: () => number
  #machine!: HeightMachine
  #validators!: ValidatorSet
  #record: SigningRecord | undefined
  #lastHash = ''
  #lastHeader: BlockHeader | undefined
  #lastCert: CommitCertificate | null = null
  #candidates = new Map<string, Candidate<E>>()
  #future: ConsensusMessage[] = []
  #serial: Promise<void> = Promise.resolve()
  #timers = new Set<NodeJS.Timeout>()
  #stopped = false
  #heightStartedAt = 0
  #lastRegossip = 0
  #regossipTimer: NodeJS.Timeout | undefined
  #syncing = false
  #peerHeights = new Map<string, number>()
  #pendingValue: { round: number; height: number } | undefined
  #servedCommits = new Map<string, number>()
  #epoch: number
  /** Set between adopting a restart manifest and > 2/3 of the new set being ready on it. */
  #restartWait: RestartWait | undefined
  /** Our RestartReady, re-sent until the first block of its epoch is final (for latecomers). */
  #ownReady: RestartReady | undefined
  #startedAtMs = 0
  /** Finalized heights peers told us (any epoch), by the DID behind the peer: see #signFloor. */
  readonly #finalClaims = new Map<string, number>()
  lastCommitAtMs = 0
  /** Ids of recently finalized events: late gossip of them is dropped without verifying. */
  readonly #recentlyFinal = new BoundedSet(RECENT_FINAL_LIMIT)
  #gossipBacklog: { peer: string; events: readonly Uint8Array[] }[] = []
  #admitting = false
  /** Ids whose signatures were verified while validating a block (bounded). */
  readonly #verified = new BoundedSet(RECENT_FINAL_LIMIT)

  constructor(opts: EngineOptions<E>) {
    this.#o = opts
    this.#t = { ...DEFAULT_TIMEOUTS, ...opts.timeouts }
    this.#now = opts.now ?? Date.now
    this.#epoch = opts.epoch
    this.mempool = opts.mempool ?? new Mempool<E>()
  }

  get height(): number {
    return this.#o.ledger.height
  }

  get consensusState(): { height: number; round: number; step: string } {
    return { height: this.#machine.height, round: this.#machine.round, step: this.#machine.step }
  }

  get validators(): ValidatorSet {
    return this.#validators
  }

  get lastBlockHash(): string {
    return this.#lastHash
  }

  get lastHeader(): BlockHeader | undefined {
    return this.#lastHeader
  }

  get peerHeights(): ReadonlyMap<string, number> {
    return this.#peerHeights
  }

  get epoch(): number {
    return this.#epoch
  }

  /** How long finality has not advanced (since start or the last commit). */
  get stalledMs(): number {
    return this.#now() - Math.max(this.lastCommitAtMs, this.#startedAtMs)
  }

  /** While waiting for supermajority on a restart manifest: who is ready, with how much power. */
  get restartWait(): RestartWaitStatus | undefined {
    const w = this.#restartWait
    if (!w) return undefined
    let readyPower = 0
    for (const did of w.ready.keys()) readyPower += this.#validators.powerOf(did)
    return {
      epoch: w.epoch,
      height: w.height,
      blockHash: w.blockHash,
      manifestHash: w.manifestHash,
      ready: [...w.ready.keys()].sort(),
      readyPower,
      totalPower: this.#validators.totalPower,
      sinceMs: w.sinceMs,
    }
  }

  /** `lastHash`/`lastHeader`/`lastCert` describe the block the ledger is at (restored by the caller). */
  async start(last: {
    hash: string
    header: BlockHeader | undefined
    certificate: CommitCertificate | null
    /** The ledger already adopted this manifest and no block of its epoch is final yet. */
    restart?: RestartPlan
  }): Promise<void> {
    this.#lastHash = last.hash
    this.#lastHeader = last.header
    this.#lastCert = last.certificate
    this.#startedAtMs = this.#now()
    this.#record = await this.#o.store.readSigningRecord()
    const pending = last.restart
    if (pending) await this.#enqueue(() => this.#beginRestartWait(pending))
    else await this.#enqueue(() => this.#startHeight())
    this.#regossipTimer = setInterval(
      () => {
        void this.#enqueue(() => this.#tick())
      },
      Math.max(100, Math.floor(this.#t.regossipMs / 2)),
    )
  }

  async stop(): Promise<void> {
    this.#stopped = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    if (this.#regossipTimer) clearInterval(this.#regossipTimer)
    await this.#serial
  }

  // --- inputs ---------------------------------------------------------------------------------

  /** Admits events submitted by a client (or gossiped by a peer); gossips the accepted ones. */
  submit(batch: readonly Uint8Array[], fromPeer?: string): AdmitResult[] {
    const results: AdmitResult[] = []
    const candidates: { at: number; idBytes: Uint8Array; id: string; bytes: Uint8Array; event: E }[] = []
    for (const bytes of batch) {
      const idBytes = sha256(bytes)
      const id = toHex(idBytes)
      const at = results.length
      results.push({ ok: false, id, code: 'UNCHECKED' })
      if (this.mempool.has(id)) {
        results[at] = { ok: false, id, code: 'DUPLICATE_EVENT' }
        continue
      }
      if (this.#recentlyFinal.has(id)) {
        results[at] = { ok: false, id, code: 'ALREADY_FINAL' }
        continue
      }
      // Cheap checks first (shape, then nonce and balance), the signatures last and in one batch:
      // a flood of replays or stale gossip costs no signature verifications.
      let event: E
      try {
        event = this.#o.ledger.decode(bytes)
      } catch (err) {
        results[at] = { ok: false, id, code: errorCode(err, 'MALFORMED_EVENT') }
        continue
      }
      const refused = this.#o.admit?.(this.#o.ledger.describe(event).sender)
      if (refused !== undefined) {
        results[at] = { ok: false, id, code: refused }
        continue
      }
      const code = this.#o.ledger.precheck(event)
      if (code !== undefined) {
        results[at] = { ok: false, id, code }
        continue
      }
      candidates.push({ at, idBytes, id, bytes, event })
    }
    const unverified = candidates.filter((c) => !this.#verified.has(c.id))
    const verdicts = new Map<number, string | undefined>()
    const codes = this.#o.ledger.verifyMany(unverified.map((c) => c.event))
    for (const [i, c] of unverified.entries()) verdicts.set(c.at, codes[i])
    const accepted: Uint8Array[] = []
    for (const c of candidates) {
      const code = verdicts.get(c.at)
      if (code !== undefined) {
        results[c.at] = { ok: false, id: c.id, code }
        continue
      }
      const d = this.#o.ledger.describe(c.event)
      const r = this.mempool.admit({
        idBytes: c.idBytes,
        id: c.id,
        bytes: c.bytes,
        event: c.event,
        sender: d.sender,
        nonce: d.nonce,
      })
      results[c.at] = r
      if (r.ok) accepted.push(c.bytes)
    }
    if (accepted.length > 0) {
      if (fromPeer === undefined) this.#o.transport.broadcast({ t: 'events', events: accepted })
      if (this.#pendingValue) void this.#enqueue(() => this.#tryBuildPending())
    }
    return results
  }

  onMessage(peer: string, msg: ConsensusMessage): void {
    if (this.#stopped) return
    if (msg.t === 'status' || msg.t === 'commit') {
      const did = this.#o.didOfPeer?.(peer)
      const h = msg.t === 'status' ? msg.height : msg.certificate.height
      if (did !== undefined && h > (this.#finalClaims.get(did) ?? -1)) this.#finalClaims.set(did, h)
    }
    if (msg.t === 'events') {
      // Gossiped events are admitted in time slices, so votes and proposals are not stuck behind
      // thousands of signature verifications when the network is loaded.
      if (this.#gossipBacklog.length < MAX_GOSSIP_BACKLOG)
        this.#gossipBacklog.push({ peer, events: msg.events.slice(0, MAX_BLOCK_EVENTS) })
      if (!this.#admitting) {
        this.#admitting = true
        setImmediate(() => this.#admitSlice())
      }
      return
    }
    if (msg.t === 'status') {
      if (msg.epoch > this.#epoch) this.#o.observer?.onHigherEpoch?.(peer, msg.epoch)
      this.#notePeerHeight(peer, msg.epoch, msg.height)
      return
    }
    if (msg.t === 'restart-ready') {
      const ready = msg.ready
      void this.#enqueue(() => this.#onReady(peer, ready))
      return
    }
    void this.#enqueue(() => this.#onConsensusMessage(peer, msg))
  }

  #admitSlice(): void {
    const until = performance.now() + ADMIT_SLICE_MS
    while (this.#gossipBacklog.length > 0 && performance.now() < until && !this.#stopped) {
      const head = this.#gossipBacklog[0]!
      const take = head.events.slice(0, 64)
      head.events = head.events.slice(take.length)
      if (head.events.length === 0) this.#gossipBacklog.shift()
      const results = this.submit(take, head.peer)
      this.#o.observer?.onGossipAdmitted?.(
        head.peer,
        results.map((r) => (r.ok ? undefined : r.code)),
      )
    }
    if (this.#gossipBacklog.length > 0 && !this.#stopped) setImmediate(() => this.#admitSlice())
    else this.#admitting = false
  }

  // --- serial queue -----------------------------------------------------------------------------

  #enqueue(fn: () => Promise<void> | void): Promise<void> {
    const next = this.#serial.then(async () => {
      if (this.#stopped) return
      try {
        await fn()
      } catch (err) {
        this.#log('error', 'consensus step failed', { err: (err as Error).message, stack: (err as Error).stack })
      }
    })
    this.#serial = next
    return next
  }

  /** Like #enqueue, but the caller gets the result or the error. */
  #enqueueResult<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.#serial.then(() => {
      if (this.#stopped) throw new RestartError('ENGINE_STOPPED', 'consensus engine stopped')
      return fn()
    })
    this.#serial = result.then(
      () => undefined,
      () => undefined,
    )
    return result
  }

  #log(level: 'info' | 'warn' | 'error' | 'debug', msg: string, data?: Record<string, unknown>): void {
    this.#o.observer?.onLog?.(level, msg, data)
  }

  // --- heights ------------------------------------------------------------------------------------

  async #startHeight(): Promise<void> {
    const height = this.#o.ledger.height + 1
    this.#validators = new ValidatorSet(this.#o.ledger.committee())
    this.#candidates.clear()
    this.#pendingValue = undefined
    this.#heightStartedAt = this.#now()
    const r = this.#record
    let startRound = 0
    let lock: { round: number; blockHash: string } | null = null
    if (r && r.epoch === this.#epoch && r.height === height) {
      // Restarted mid-height: resume at the round we signed in, keeping our lock.
      startRound = r.round
      lock = r.lock
      if (lock) {
        const bytes = await this.#o.store.getLockedBlock()
        if (bytes) this.#acceptCandidateBytes(bytes, height)
      }
    }
    this.#machine = new HeightMachine({
      chainId: this.#o.ledger.chainId,
      epoch: this.#epoch,
      height,
      validators: this.#validators,
      self: this.#o.votes ? this.#o.did : undefined,
      startRound,
      lock,
    })
    await this.#handle(this.#machine.start())
    this.#o.transport.broadcast({ t: 'status', epoch: this.#epoch, height: this.#o.ledger.height })
    const buffered = this.#future
    this.#future = []
    for (const m of buffered) await this.#onConsensusMessage('buffered', m)
  }

  #tick(): void {
    const now = this.#now()
    const own = this.#ownReady
    if (own && (this.#restartWait || this.#o.ledger.height === own.height)) {
      // Until the epoch's first block is final, latecomers may still be counting readies.
      this.#o.transport.broadcast({ t: 'restart-ready', ready: own })
    } else this.#ownReady = undefined
    if (this.#restartWait) {
      this.#o.transport.broadcast({ t: 'status', epoch: this.#epoch, height: this.#o.ledger.height })
      this.#maybeSync()
      return
    }
    if (now - this.#heightStartedAt >= this.#t.regossipMs && now - this.#lastRegossip >= this.#t.regossipMs) {
      this.#lastRegossip = now
      for (const m of this.#machine.gossipMessages()) {
        if ('kind' in m) this.#o.transport.broadcast({ t: 'vote', vote: m })
        else {
          const c = this.#candidates.get(m.blockHash)
          if (c) this.#o.transport.broadcast({ t: 'proposal', proposal: m, block: c.bytes })
        }
      }
      this.#o.transport.broadcast({ t: 'status', epoch: this.#epoch, height: this.#o.ledger.height })
    }
    this.#maybeSync()
  }

  // --- effects ------------------------------------------------------------------------------------

  async #handle(effects: Effect[]): Promise<void> {
    for (const e of effects) {
      if (this.#stopped) return
      switch (e.type) {
        case 'request-value':
          this.#pendingValue = { round: e.round, height: e.height }
          await this.#tryBuildPending()
          break
        case 'broadcast-proposal':
          await this.#signProposal(e.height, e.round, e.blockHash, e.polRound)
          break
        case 'broadcast-vote':
          await this.#signVote(e.kind, e.height, e.round, e.blockHash, e.lock)
          break
        case 'schedule-timeout':
          this.#schedule(e.kind, e.height, e.round)
          break
        case 'decide':
          await this.#finalize(e.certificate)
          break
        case 'evidence':
          this.#log('warn', 'equivocation observed', { kind: e.kind })
          this.#o.observer?.onEvidence?.(e.kind, e.first, e.second)
          break
        case 'round-skip':
          this.#log('debug', 'round skip', { round: e.round })
          break
      }
    }
  }

  #schedule(kind: TimeoutKind, height: number, round: number): void {
    const base = kind === 'propose' ? this.#t.proposeMs : kind === 'prevote' ? this.#t.prevoteMs : this.#t.precommitMs
    const t = setTimeout(
      () => {
        this.#timers.delete(t)
        void this.#enqueue(async () => {
          if (this.#machine.height === height) await this.#handle(this.#machine.onTimeout(kind, height, round))
        })
      },
      // Rounds stretch timeouts until they fit the network's delay, but not without bound: after a
      // long stall (quorum lost) a recovered committee should not wait out inflated timeouts.
      base + Math.min(round, MAX_ROUND_STRETCH) * this.#t.perRoundMs,
    )
    this.#timers.add(t)
  }

  async #tryBuildPending(): Promise<void> {
    const pv = this.#pendingValue
    if (
      !pv ||
      pv.height !== this.#machine.height ||
      pv.round !== this.#machine.round ||
      this.#machine.step !== 'propose'
    ) {
      this.#pendingValue = undefined
      return
    }
    const sinceLast = this.#now() - (this.#lastHeader?.timeMs ?? 0)
    if (this.mempool.size === 0 && sinceLast < this.#t.emptyBlockMs) {
      // Nothing to propose yet: wait for events or for the empty-block interval.
      const t = setTimeout(() => {
        this.#timers.delete(t)
        void this.#enqueue(() => this.#tryBuildPending())
      }, this.#t.emptyBlockMs - sinceLast)
      this.#timers.add(t)
      return
    }
    this.#pendingValue = undefined
    const c = this.#buildBlock(pv.height)
    this.#candidates.set(c.hash, c)
    await this.#handle(this.#machine.proposeValue(pv.round, c.hash))
  }

  #buildBlock(height: number): Candidate<E> {
    const ledger = this.#o.ledger
    const entries = this.mempool.reap(PROPOSE_MAX_EVENTS, MAX_BLOCK_BYTES - 64 * 1024, (s) => ledger.nonceOf(s))
    const timeMs = Math.max(this.#now(), (this.#lastHeader?.timeMs ?? this.#o.genesisTimeMs) + 1)
    const events = entries.map((e) => e.event)
    const ids = entries.map((e) => sha256(e.bytes))
    const lastCommitHash = certificateHash(this.#lastCert)
    const partial = { prevHash: this.#lastHash, lastCommitHash }
    const execution = ledger.execute(
      {
        height,
        epoch: this.#epoch,
        timeMs,
        proposer: this.#o.did,
        randomness: blockRandomness(partial as BlockHeader),
      },
      events,
    )
    const header: BlockHeader = {
      chainId: ledger.chainId,
      epoch: this.#epoch,
      height,
      timeMs,
      prevHash: this.#lastHash,
      proposer: this.#o.did,
      eventsHash: eventsHash(ids),
      eventCount: entries.length,
      stateRoot: toHex(execution.stateRoot),
      validatorsHash: toHex(this.#validators.hash()),
      nextValidatorsHash: toHex(new ValidatorSet(execution.committee()).hash()),
      lastCommitHash,
    }
    const block: Block = { header, events: entries.map((e) => e.bytes), lastCommit: this.#lastCert }
    return { block, bytes: encodeBlock(block), hash: blockHash(header), events, ids: ids.map(toHex), execution }
  }

  /**
   * Validates a block for the current height and executes it (without committing). Returns the
   * candidate or throws a BlockError with a stable code. Proposal validity is exactly this.
   */
  #validateBlock(block: Block, bytes: Uint8Array, height: number): Candidate<E> {
    const h = block.header
    const ledger = this.#o.ledger
    const fail = (code: string, msg: string): never => {
      throw new BlockError(code, msg)
    }
    if (h.chainId !== ledger.chainId) fail('WRONG_CHAIN', 'block for another chain')
    if (h.epoch !== this.#epoch) fail('WRONG_EPOCH', `block epoch ${h.epoch}, ours ${this.#epoch}`)
    if (h.height !== height) fail('WRONG_HEIGHT', `block height ${h.height}, expected ${height}`)
    if (h.prevHash !== this.#lastHash) fail('WRONG_PARENT', 'block does not extend our last block')
    if (h.validatorsHash !== toHex(this.#validators.hash())) fail('WRONG_VALIDATORS', 'validator set mismatch')
    if (!this.#validators.has(h.proposer)) fail('NOT_A_VALIDATOR', 'proposer is not in the committee')
    const prevTime = this.#lastHeader?.timeMs ?? this.#o.genesisTimeMs
    if (h.timeMs <= prevTime) fail('BAD_TIME', 'block time does not advance')
    if (h.lastCommitHash !== certificateHash(block.lastCommit)) fail('BAD_LAST_COMMIT', 'lastCommitHash mismatch')
    if (block.events.length !== h.eventCount) fail('BAD_EVENTS', 'event count mismatch')
    const idBytes = eventIds(block.events)
    if (eventsHash(idBytes) !== h.eventsHash) fail('BAD_EVENTS', 'eventsHash mismatch')
    const ids = idBytes.map(toHex)
    const events: E[] = []
    const fresh: number[] = []
    for (let i = 0; i < block.events.length; i++) {
      const pooled = this.mempool.get(ids[i]!)
      if (pooled) {
        events.push(pooled.event)
        continue
      }
      try {
        events.push(ledger.decode(block.events[i]!))
      } catch (err) {
        fail('BAD_EVENT', `event ${i}: ${errorCode(err, 'MALFORMED_EVENT')}`)
      }
      if (!this.#verified.has(ids[i]!)) fresh.push(i)
    }
    // Events we have not seen yet are verified together, as one batch.
    const codes = ledger.verifyMany(fresh.map((i) => events[i]!))
    for (const [j, i] of fresh.entries()) {
      const code = codes[j]
      if (code !== undefined) fail('BAD_EVENT', `event ${i}: ${code}`)
      // Gossip of this event may still arrive: it need not be verified twice.
      this.#verified.add(ids[i]!)
    }
    const execution = ledger.execute(
      { height, epoch: h.epoch, timeMs: h.timeMs, proposer: h.proposer, randomness: blockRandomness(h) },
      events,
    )
    if (toHex(execution.stateRoot) !== h.stateRoot)
      fail('BAD_STATE_ROOT', 'executing the block gives another state root')
    if (toHex(new ValidatorSet(execution.committee()).hash()) !== h.nextValidatorsHash) {
      fail('BAD_NEXT_VALIDATORS', 'nextValidatorsHash mismatch')
    }
    // Stored and relayed as received: identity is the header hash, and every event inside was
    // checked canonical by the ledger, so the bytes need no re-encoding.
    return { block, bytes, hash: blockHash(h), events, ids, execution }
  }

  #acceptCandidateBytes(bytes: Uint8Array, height: number): Candidate<E> | undefined {
    try {
      const block = decodeBlock(bytes)
      const hash = blockHash(block.header)
      const known = this.#candidates.get(hash)
      if (known) return known
      const c = this.#validateBlock(block, bytes, height)
      this.#candidates.set(c.hash, c)
      return c
    } catch (err) {
      this.#log('warn', 'invalid block', { code: errorCode(err, 'INVALID_BLOCK'), err: (err as Error).message })
      return undefined
    }
  }

  // --- signing --------------------------------------------------------------------------------------

  /**
   * The height the network has finalized, as far as committee members holding > 1/3 of the power
   * (so at least one honest one) told us: we never sign at or below it. Undefined while no such
   * claim exists and we have no signing record (a fresh or wiped node must first hear where the
   * network is). A minority cannot raise it beyond what an honest member really finalized.
   */
  #signFloor(): number | undefined {
    const vs = this.#validators
    if (vs.powerOf(this.#o.did) >= vs.totalPower) return 0
    const claims = [...this.#finalClaims]
      .filter(([did]) => did !== this.#o.did && vs.powerOf(did) > 0)
      .sort((a, b) => b[1] - a[1])
    let power = 0
    for (const [did, h] of claims) {
      power += vs.powerOf(did)
      if (vs.isOneThird(power)) return h
    }
    return this.#record === undefined ? undefined : 0
  }

  async #guardedSign(
    step: SignStep,
    height: number,
    round: number,
    blockHash: string | null,
    lock: SigningRecord['lock'],
    bytes: Uint8Array,
  ): Promise<Uint8Array | undefined> {
    const slot = { epoch: this.#epoch, height, round, step, blockHash }
    if (this.#o.holdSigning?.(this.#epoch, height) === true) {
      this.#log('debug', 'not signing: a refused restart manifest ends this epoch below this height', { height })
      return undefined
    }
    const floor = this.#signFloor()
    if (floor === undefined || height <= floor) {
      // We are catching up (or have not heard where the network is), and may have signed these
      // heights before — a node whose store, and signing record with it, was lost. Sync, never sign.
      this.#log('debug', 'not signing behind the network', { height, floor })
      return undefined
    }
    const d = guard(this.#record, slot)
    if (d.kind === 'refuse') {
      this.#log('warn', 'signing refused by the signing record', { reason: d.reason, height, round, step })
      return undefined
    }
    if (d.kind === 'resend') return d.sig
    const sig = this.#o.signer.sign(bytes)
    const rec: SigningRecord = { ...slot, sig, lock }
    // Durable before the signature leaves this process.
    await this.#o.store.writeSigningRecord(rec)
    this.#record = rec
    return sig
  }

  async #signProposal(height: number, round: number, hash: string, polRound: number): Promise<void> {
    const c = this.#candidates.get(hash)
    if (!c) {
      this.#log('error', 'no block for our proposal', { height, round })
      return
    }
    const body = { chainId: this.#o.ledger.chainId, epoch: this.#epoch, height, round, polRound, blockHash: hash }
    const sig = await this.#guardedSign(
      'proposal',
      height,
      round,
      hash,
      this.#record?.lock ?? null,
      proposalSigningBytes(body),
    )
    if (!sig) return
    const proposal: Proposal = { ...body, proposer: this.#o.did, sig }
    this.#o.transport.broadcast({ t: 'proposal', proposal, block: c.bytes })
    await this.#handle(this.#machine.onProposal(proposal, true))
  }

  async #signVote(
    kind: VoteKind,
    height: number,
    round: number,
    hash: string | null,
    lock: SigningRecord['lock'],
  ): Promise<void> {
    const body = { chainId: this.#o.ledger.chainId, epoch: this.#epoch, height, round, kind, blockHash: hash }
    const newLock = kind === 'precommit' && hash !== null ? { round, blockHash: hash } : lock
    if (newLock && kind === 'precommit' && hash !== null) {
      const c = this.#candidates.get(hash)
      if (c) await this.#o.store.putLockedBlock(c.bytes)
    }
    const sig = await this.#guardedSign(kind, height, round, hash, newLock, voteSigningBytes(body))
    if (!sig) return
    const vote: Vote = { ...body, validator: this.#o.did, sig }
    this.#o.transport.broadcast({ t: 'vote', vote })
    this.#o.observer?.onVoteSeen?.(vote)
    await this.#handle(this.#machine.onVote(vote))
  }

  // --- network input --------------------------------------------------------------------------------

  async #onConsensusMessage(peer: string, msg: ConsensusMessage): Promise<void> {
    const myHeight = this.#machine.height
    switch (msg.t) {
      case 'proposal': {
        const p = msg.proposal
        if (p.epoch !== this.#epoch) return this.#otherEpoch(peer, p.epoch)
        // Signed by a current member before it may move us (future heights trigger block sync).
        if (!this.#validators.has(p.proposer) || !this.#verifySig(p.proposer, proposalSigningBytes(p), p.sig)) return
        if (this.#restartWait) return this.#holdForRestart(p.height, msg)
        if (p.height > myHeight) return this.#bufferFuture(peer, p.height, msg)
        if (p.height < myHeight) return this.#serveCommit(peer, p.height)
        const c = this.#acceptCandidateBytes(msg.block, myHeight)
        const valid = c !== undefined && c.hash === p.blockHash
        await this.#handle(this.#machine.onProposal(p, valid))
        return
      }
      case 'vote': {
        const v = msg.vote
        if (v.epoch !== this.#epoch) return this.#otherEpoch(peer, v.epoch)
        if (!this.#validators.has(v.validator) || !this.#verifySig(v.validator, voteSigningBytes(v), v.sig)) return
        if (this.#restartWait) return this.#holdForRestart(v.height, msg)
        if (v.height > myHeight) return this.#bufferFuture(peer, v.height, msg)
        if (v.height < myHeight) return this.#serveCommit(peer, v.height)
        this.#o.observer?.onVoteSeen?.(v)
        await this.#handle(this.#machine.onVote(v))
        return
      }
      case 'commit': {
        const cert = msg.certificate
        if (cert.epoch !== this.#epoch) return this.#otherEpoch(peer, cert.epoch)
        if (cert.height > myHeight) return this.#bufferFuture(peer, cert.height, msg)
        if (cert.height < myHeight) return
        await this.#applyCertified(msg.block, cert)
        return
      }
      case 'events':
      case 'status':
      case 'restart-ready':
        return
    }
  }

  /**
   * Fetch certified blocks up to `height` from `peer` even though it is in another epoch: the
   * blocks before a restart it followed are of ours (a node that missed the restart catches up).
   */
  catchUp(peer: string, height: number): void {
    if ((this.#peerHeights.get(peer) ?? -1) < height) this.#peerHeights.set(peer, height)
    this.#maybeSync()
  }

  #otherEpoch(peer: string, epoch: number): void {
    if (epoch > this.#epoch) this.#o.observer?.onHigherEpoch?.(peer, epoch)
  }

  /** While waiting for supermajority, messages for the epoch's first height are kept for later. */
  #holdForRestart(height: number, msg: ConsensusMessage): void {
    if (height === this.#o.ledger.height + 1 && this.#future.length < 10_000) this.#future.push(msg)
  }

  // --- coordinated restart (DESIGN §4) -------------------------------------------------------------

  /**
   * Adopts a restart manifest whose authorization the caller verified: this node must hold
   * exactly the block it names; `apply` moves the ledger to the new epoch and witness set (all or
   * nothing). Consensus then waits until > 2/3 of the new set's power is ready on the same
   * manifest: votes are domain-separated by epoch, so nobody is made to sign twice at a height.
   */
  restart(plan: RestartPlan, apply: () => void): Promise<void> {
    return this.#enqueueResult(async () => {
      if (plan.epoch <= this.#epoch) {
        throw new RestartError('RESTART_STALE', `epoch ${plan.epoch} is not above this node's epoch ${this.#epoch}`)
      }
      const height = this.#o.ledger.height
      if (height !== plan.height || this.#lastHash !== plan.blockHash) {
        throw new RestartError(
          'RESTART_MISMATCH',
          `the manifest names block ${plan.height} ${plan.blockHash}; this node is at ${height} ${this.#lastHash}`,
        )
      }
      apply()
      await this.#beginRestartWait(plan)
    })
  }

  async #beginRestartWait(plan: RestartPlan): Promise<void> {
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.#candidates.clear()
    this.#future = []
    this.#pendingValue = undefined
    this.#peerHeights.clear()
    this.#epoch = plan.epoch
    this.#validators = new ValidatorSet(this.#o.ledger.committee())
    const wait: RestartWait = { ...plan, ready: new Map(), sinceMs: this.#now() }
    this.#restartWait = wait
    this.#ownReady = undefined
    if (this.#o.votes && this.#validators.has(this.#o.did)) {
      const body = {
        chainId: this.#o.ledger.chainId,
        epoch: plan.epoch,
        height: plan.height,
        manifestHash: plan.manifestHash,
      }
      const ready = { ...body, validator: this.#o.did, sig: this.#o.signer.sign(restartReadySigningBytes(body)) }
      this.#ownReady = ready
      wait.ready.set(this.#o.did, ready.sig)
      this.#o.transport.broadcast({ t: 'restart-ready', ready })
    }
    this.#log('info', 'restart manifest adopted; waiting for supermajority', {
      epoch: plan.epoch,
      height: plan.height,
      manifest: plan.manifestHash,
    })
    await this.#resumeIfReady()
  }

  async #onReady(peer: string, r: RestartReady): Promise<void> {
    if (r.epoch > this.#epoch) return this.#otherEpoch(peer, r.epoch)
    const w = this.#restartWait
    if (!w || r.epoch !== w.epoch || r.chainId !== this.#o.ledger.chainId) return
    if (r.height !== w.height || r.manifestHash !== w.manifestHash) {
      // Never retried blindly: a different manifest for this epoch is reported, not followed.
      this.#log('warn', 'a peer is ready on a different restart manifest', {
        validator: r.validator,
        theirs: r.manifestHash,
        ours: w.manifestHash,
      })
      return
    }
    if (!this.#validators.has(r.validator) || w.ready.has(r.validator)) return
    if (!this.#verifySig(r.validator, restartReadySigningBytes(r), r.sig)) return
    w.ready.set(r.validator, r.sig)
    await this.#resumeIfReady()
  }

  async #resumeIfReady(): Promise<void> {
    const w = this.#restartWait
    if (!w || !this.#validators.isQuorum(this.#validators.powerOfSet(w.ready.keys()))) return
    this.#resume(w)
    await this.#startHeight()
  }

  #resume(w: RestartWait): void {
    this.#restartWait = undefined
    const waited = this.#now() - w.sinceMs
    this.#log('info', 'supermajority ready on the restart manifest: consensus resumes', {
      epoch: w.epoch,
      waitedMs: waited,
    })
    this.#o.observer?.onRestartResumed?.(w.epoch, waited)
  }

  /** A certificate of the new epoch's first height proves the supermajority: stop waiting. */
  async #resumeOnCertificate(bytes: Uint8Array, cert: CommitCertificate): Promise<boolean> {
    const w = this.#restartWait
    if (!w) return true
    if (cert.epoch !== w.epoch || cert.height !== this.#o.ledger.height + 1) return false
    try {
      verifyCertificate(cert, this.#validators, blockHash(decodeBlock(bytes).header))
    } catch {
      return false
    }
    this.#resume(w)
    await this.#startHeight()
    return true
  }

  #verifySig(did: string, bytes: Uint8Array, sig: Uint8Array): boolean {
    try {
      return verify(publicKeyFromDid(did), bytes, sig)
    } catch {
      return false
    }
  }

  #bufferFuture(peer: string, height: number, msg: ConsensusMessage): void {
    if (peer !== 'buffered') this.#notePeerHeight(peer, this.#epoch, height - 1)
    if (height === this.#machine.height + 1 && this.#future.length < 10_000) this.#future.push(msg)
    this.#maybeSync()
  }

  #notePeerHeight(peer: string, epoch: number, height: number): void {
    if (epoch !== this.#epoch || peer === 'buffered') return
    if ((this.#peerHeights.get(peer) ?? -1) < height) this.#peerHeights.set(peer, height)
  }

  /** A peer still voting at a height we finalized gets the certified block (rate-limited). */
  async #serveCommit(peer: string, height: number): Promise<void> {
    if (peer === 'buffered') return
    const key = `${peer}/${height}`
    const last = this.#servedCommits.get(key) ?? 0
    if (this.#now() - last < 1_000) return
    this.#servedCommits.set(key, this.#now())
    if (this.#servedCommits.size > 4096) this.#servedCommits.clear()
    const stored = await this.#o.store.getBlock(height)
    if (stored) this.#o.transport.send(peer, { t: 'commit', block: stored.block, certificate: stored.certificate })
  }

  // --- finality -------------------------------------------------------------------------------------

  /** A certified block for our current height, from a peer (commit message or block sync). */
  async #applyCertified(bytes: Uint8Array, cert: CommitCertificate): Promise<boolean> {
    if (!(await this.#resumeOnCertificate(bytes, cert))) return false
    const height = this.#machine.height
    if (cert.height !== height) return false
    try {
      const block = decodeBlock(bytes)
      const hash = blockHash(block.header)
      verifyCertificate(cert, this.#validators, hash)
      let c = this.#candidates.get(hash)
      if (!c) {
        c = this.#validateBlock(block, bytes, height)
        this.#candidates.set(hash, c)
      }
      await this.#finalize(cert)
      return true
    } catch (err) {
      this.#log('warn', 'rejected certified block', {
        code: errorCode(err, 'INVALID_BLOCK'),
        err: (err as Error).message,
      })
      return false
    }
  }

  async #finalize(cert: CommitCertificate): Promise<void> {
    const c = this.#candidates.get(cert.blockHash)
    if (!c || cert.height !== this.#machine.height) {
      this.#log('error', 'decided a block we do not hold', { height: cert.height })
      return
    }
    // Durable first: once stored, a restart replays it; only then does the ledger move.
    await this.#o.store.putBlock(cert.height, c.bytes, cert)
    c.execution.commit()
    this.mempool.prune(c.ids, (s) => this.#o.ledger.nonceOf(s))
    for (const id of c.ids) this.#recentlyFinal.add(id)
    this.#lastHash = c.hash
    this.#lastHeader = c.block.header
    this.#lastCert = cert
    this.lastCommitAtMs = this.#now()
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.#o.observer?.onCommit?.(cert.height, c.hash, c.block.header, c.ids, c.execution.results)
    this.#o.transport.broadcast({ t: 'commit', block: c.bytes, certificate: cert })
    await this.#startHeight()
  }

  // --- catch-up -------------------------------------------------------------------------------------

  #maybeSync(): void {
    if (this.#syncing) return
    const mine = this.#o.ledger.height
    let best: [string, number] | undefined
    for (const [peer, h] of this.#peerHeights) if (h > mine && (!best || h > best[1])) best = [peer, h]
    if (!best) return
    this.#syncing = true
    const [peer] = best
    void this.#syncFrom(peer).finally(() => {
      this.#syncing = false
    })
  }

  async #syncFrom(peer: string): Promise<void> {
    for (;;) {
      if (this.#stopped) return
      const from = this.#o.ledger.height + 1
      let blocks: { block: Uint8Array; certificate: CommitCertificate }[]
      try {
        blocks = await this.#o.transport.fetchBlocks(peer, from, 64)
      } catch (err) {
        this.#log('debug', 'block sync request failed', { peer, err: (err as Error).message })
        this.#peerHeights.delete(peer)
        return
      }
      if (blocks.length === 0) {
        this.#peerHeights.delete(peer)
        return
      }
      for (const b of blocks) {
        const outcome = { ok: false }
        await this.#enqueue(async () => {
          outcome.ok = await this.#applyCertified(b.block, b.certificate)
        })
        if (!outcome.ok) {
          if (b.certificate.height < this.#o.ledger.height + 1) continue
          this.#peerHeights.delete(peer)
          return
        }
      }
    }
  }
}

/** An insertion-ordered set that forgets its oldest entries beyond a limit. */
class BoundedSet {
  readonly #items = new Set<string>()
  readonly #limit: number
  constructor(limit: number) {
    this.#limit = limit
  }
  has(id: string): boolean {
    return this.#items.has(id)
  }
  add(id: string): void {
    this.#items.add(id)
    if (this.#items.size > this.#limit) {
      const oldest = this.#items.values().next()
      if (oldest.done !== true) this.#items.delete(oldest.value)
    }
  }
}

export function errorCode(err: unknown, fallback: string): string {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code
  return fallback
}

/** For observers: a stable hash of a vote's slot. */
export function voteSlot(v: Vote): string {
  return toHex(sha256(encode([v.validator, v.epoch, v.height, v.round, v.kind])))
}
