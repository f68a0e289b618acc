import { mkdir, readFile } from 'node:fs/promises'
import { createWriteStream } from 'node:fs'
import type { WriteStream } from 'node:fs'
import { join } from 'node:path'
import type { Server } from 'node:http'
import type { Logger } from 'pino'
import { didFromPeerId, readKeyFile } from '../crypto/identity.ts'
import type { NodeIdentity } from '../crypto/identity.ts'
import { toHex } from '../crypto/hash.ts'
import { ConsensusEngine, RestartError } from '../consensus/engine.ts'
import type { EngineTimeouts, RestartPlan } from '../consensus/engine.ts'
import { blockHash, blockRandomness, decodeBlock, isCertificate } from '../consensus/block.ts'
import { ValidatorSet } from '../consensus/validators.ts'
import type { Validator } from '../consensus/validators.ts'
import { verifyHeaderChain } from '../consensus/state-sync.ts'
import type { CertifiedHeader, ChainAnchor } from '../consensus/state-sync.ts'
import type { SyncRequest } from '../p2p/wire.ts'
import type { SnapshotMeta } from '../storage/node-store.ts'
import type { Genesis } from '../ledger/genesis.ts'
import type { BlockHeader } from '../consensus/block.ts'
import type { CommitCertificate, Vote } from '../consensus/messages.ts'
import { NodeStore } from '../storage/node-store.ts'
import { P2PHost } from '../p2p/host.ts'
import { watchPeersFile } from '../p2p/peers-file.ts'
import { DhtManager } from '../p2p/dht.ts'
import { DhtHealthMonitor, libp2pHealthPort } from '../p2p/dht-health.ts'
import { ShardIntake } from '../api/shard-intake.ts'
import type { StorageSignalsPort } from '../api/storage-signals-routes.ts'
import { StorageSignalsError } from '../api/storage-signals-routes.ts'
import { NodeMetrics } from '../api/metrics.ts'
import { adminServer, listen, publicServer } from '../api/server.ts'
import { Defences } from '../defence/defences.ts'
import { DEFAULT_LIMITS } from '../defence/limits.ts'
import type { RateLimits } from '../defence/limits.ts'
import { gossipScorer, inboundPolicy, metricsCounters } from './defence-wiring.ts'
import { PeerScore } from '../defence/peer-score.ts'
import type { NodeApiPort } from '../api/server.ts'
import type {
  AdminStatus,
  CheckpointInfo,
  DhtPeerInfo,
  DhtProvideResult,
  DhtRebootstrapResult,
  DhtStatus,
  HaltCode,
  NodeRole,
  RepairPriority,
  RepairRunResult,
  RestartAdoption,
  RestartPreview,
  StorageStatus,
} from '../api/admin-contract.ts'
import { ApiError } from '../api/http-util.ts'
import type { ChainItem, ChainPage } from '../api/chain-contract.ts'
import { HALT_WINDOW_MS, powerNeededFor } from '../api/admin-contract.ts'
import { LedgerAdapter, loadGenesis } from './ledger-adapter.ts'
import { CodedError } from '../util/coded-error.ts'
import { EventSender } from './event-sender.ts'
import { SelfRegistration } from './self-registration.ts'
import type { BondConfig } from './self-registration.ts'
import { requiredFee } from '../ledger/modules/accounts.ts'
import { Dds } from './dds/dds.ts'
import { ContentError } from '../storage/content/errors.ts'
import type { ContentApiPort } from '../api/content-routes.ts'
import type { LedgerEvent } from './ledger-adapter.ts'
import { decodeRestartRecord, manifestHash, RestartRecordError } from '../ledger/restart-record.ts'
import type { RestartRecord } from '../ledger/restart-record.ts'
import { RESTART_MANIFEST_DOMAIN, verifyRestartAuthorization } from '../ledger/governance-payloads.ts'
import type { RestartManifest, StateEdit } from '../ledger/governance-payloads.ts'
import type { Did } from '../crypto/did.ts'
import { LedgerError } from '../ledger/errors.ts'
import { buildInfo } from './build-info.ts'
import { emergencySummary, emergencyView } from './emergency-view.ts'
import type { EmergencyView } from '../api/emergency-contract.ts'
import { previewHardFork, refusalHalt, refusalOf, signingHeld } from './hard-fork.ts'
import type { RestartRefusal } from './hard-fork.ts'

type LastBlock = {
  hash: string
  header: BlockHeader | undefined
  certificate: CommitCertificate | null
  restart?: RestartPlan
}

export interface NodeConfig {
  readonly role: NodeRole
  readonly dataDir: string
  readonly keyFile: string
  readonly genesisFile: string
  readonly peersFile?: string
  /** libp2p listen multiaddr, e.g. /ip4/127.0.10.1/tcp/7000 */
  readonly p2pListen: string
  readonly apiHost: string
  readonly apiPort: number
  readonly adminPort: number
  readonly adminToken: string
  readonly timeouts?: Partial<EngineTimeouts>
  /** DDS repair: scan interval (default 30 s) and throttle in bytes/s (default 64 MiB/s). */
  readonly repairIntervalMs?: number
  readonly repairBytesPerSecond?: number
  /** Append every vote seen to this file (JSON lines): an audit trail for double-sign checks. */
  readonly voteLog?: string
  /** Register this key on the ledger by bonding this stake once the account is funded. */
  readonly bond?: BondConfig
  /** Rate and connection limits at start (DEFAULT_LIMITS; the admin API may override them). */
  readonly limits?: RateLimits
  /** Between DHT health checks (canary lookup, seeds reachable); default 30 s. */
  readonly dhtCanaryIntervalMs?: number
}

export class NodeStartError extends CodedError {}

/**
 * Liveness window for "committee power online": a validator counts as online only if a message
 * came from its own PeerId (an authenticated libp2p connection; the PeerId and the DID come from
 * the same key) this recently. Live validators send every second (votes, or re-gossip while
 * stalled), so a few seconds of silence means the process is gone or paused.
 */
export const ONLINE_WINDOW_MS = 5_000
/** No block final for this long: halted, whatever the node thinks of who is online. */
const HALT_AFTER_MS = HALT_WINDOW_MS
/** While halted, submissions queue up to this many events, then are refused (CONSENSUS_HALTED). */
const HALTED_QUEUE_LIMIT = 10_000
/** How long an admin restart waits for this node to reach the manifest's height by block sync. */
const RESTART_REACH_HEIGHT_MS = 15_000

export class EchoNode implements NodeApiPort {
  readonly config: NodeConfig
  readonly identity: NodeIdentity
  readonly metrics = new NodeMetrics()
  readonly #log: Logger
  readonly #store: NodeStore
  #ledger: LedgerAdapter
  readonly #genesis: Genesis
  #engine!: ConsensusEngine<LedgerEvent>
  #host!: P2PHost
  #dht!: DhtManager
  #dhtHealth: DhtHealthMonitor | undefined
  /** Community-shard intake: closed until an admin call opens a window (scenario B.5). */
  readonly #shardIntake = new ShardIntake({ registry: this.metrics.registry })
  #dds: Dds | undefined
  #sender!: EventSender
  #registration: SelfRegistration | undefined
  #servers: Server[] = []
  #unwatch: (() => void) | undefined
  #voteLog: WriteStream | undefined
  #expireDefences: NodeJS.Timeout | undefined
  /** When a message last came from a DID's own PeerId (liveness evidence that relays cannot fake). */
  readonly #lastSeen = new Map<string, number>()
  #lastCommitMs = 0
  #checkpointInterval: number
  #started = false
  /** Restarts this node missed, being fetched from peers (by epoch), and when last tried. */
  readonly #followingEpochs = new Map<number, number>()
  /** The last authorized manifest for our finalized block that the ledger refused (hard-fork.ts). */
  #refusal: RestartRefusal | undefined

  private constructor(
    config: NodeConfig,
    identity: NodeIdentity,
    store: NodeStore,
    ledger: LedgerAdapter,
    genesis: Genesis,
    log: Logger,
  ) {
    this.#genesis = genesis
    this.config = config
    this.identity = identity
    this.#store = store
    this.#ledger = ledger
    this.#log = log
    this.#checkpointInterval = ledger.checkpointInterval()
  }

  static async start(config: NodeConfig, log: Logger): Promise<EchoNode> {
    const identity = await readKeyFile(config.keyFile)
    let genesisText: string
    try {
      genesisText = await readFile(config.genesisFile, 'utf8')
    } catch (err) {
      throw new NodeStartError(
        'GENESIS_UNREADABLE',
        `cannot read genesis ${config.genesisFile}: ${(err as Error).message}`,
      )
    }
    const genesis = loadGenesis(genesisText)
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
    const store = await NodeStore.open(join(config.dataDir, 'chain'))
    const { ledger, last } = await restore(store, genesis, log)
    const node = new EchoNode(
      config,
      identity,
      store,
      ledger,
      genesis,
      log.child({ did: identity.did, role: config.role }),
    )
    await node.#startServices(last)
    return node
  }

  async #startServices(initial: LastBlock): Promise<void> {
    let last = initial
    const log = this.#log
    if (this.config.voteLog) this.#voteLog = createWriteStream(this.config.voteLog, { flags: 'a' })
    const defences = await Defences.open(
      this.config.dataDir,
      this.config.limits ?? DEFAULT_LIMITS,
      metricsCounters(this.metrics, () => {
        // A new entry also ends what it names that is already connected.
        if (this.#started)
          void this.#host.disconnectBlocked(
            (p) => defences.blocksPeer(p),
            (ip) => defences.blocksIp(ip),
          )
      }),
    )
    this.#expireDefences = setInterval(
      () =>
        void defences.expire().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'defences not saved')),
      5_000,
    )
    this.#expireDefences.unref()
    this.#host = await P2PHost.create({
      privateKey: this.identity.libp2pPrivateKey(),
      listen: [this.config.p2pListen],
      callbacks: {
        onMessage: (peer, msg) => {
          this.#notePeer(peer)
          // Messages before the engine exists (during state sync) are dropped; gossip repeats them.
          ;(this.#engine as ConsensusEngine<LedgerEvent> | undefined)?.onMessage(peer, msg)
        },
        serveSync: (req) => this.#serveSync(req),
        onBadFrame: (peer, code) => {
          this.metrics.badFrames.inc({ code })
          log.warn({ peer, code }, 'bad p2p frame')
        },
        onLog: (level, msg, data) => log[level](data ?? {}, msg),
        admitFrame: (peer) => defences.admitFrame(peer),
        admitSync: (peer) => defences.admitSync(peer),
      },
      // Seeds and SSNs (which hold shards) answer DHT queries; other roles are DHT clients.
      dhtServer: this.config.role === 'seed' || this.config.role === 'ssn',
      inbound: inboundPolicy(defences),
    })
    this.#dht = new DhtManager(
      this.#host.node,
      this.config.dataDir,
      (level, msg, data) => log[level](data ?? {}, msg),
      () => this.#ledger.params().dhtRefreshSeconds,
    )
    await this.#dht.start()
    this.#dhtHealth = new DhtHealthMonitor(libp2pHealthPort(this.#host.node, this.#dht), this.#ledger.chainId, {
      registry: this.metrics.registry,
      ...(this.config.dhtCanaryIntervalMs === undefined ? {} : { intervalMs: this.config.dhtCanaryIntervalMs }),
    })
    this.#dhtHealth.start()
    this.#sender = new EventSender(
      this.identity,
      () => this.#ledger,
      (evs) => this.submit(evs),
    )
    this.#dds = await Dds.start({
      identity: this.identity,
      dataDir: this.config.dataDir,
      isSsn: this.config.role === 'ssn',
      isWitness: this.config.role === 'witness',
      libp2p: this.#host.node,
      sender: this.#sender,
      metrics: this.metrics,
      log: (level, msg, data) => log[level](data ?? {}, msg),
      ledger: () => this.#ledger,
      provide: (cid) => this.#dht.provide(cid),
      findProviders: (cid) => this.#dht.findProviders(cid, 5_000),
      repairIntervalMs: this.config.repairIntervalMs ?? 30_000,
      repairBytesPerSecond: this.config.repairBytesPerSecond ?? 64 * 1024 * 1024,
      admitShardRequest: (peer) => defences.admitShardRequest(peer),
    })
    if (this.config.peersFile) {
      this.#unwatch = watchPeersFile(
        this.config.peersFile,
        (peers) => {
          this.#host.setPeers(peers)
          this.#dht.setSeeds(peers)
          log.info({ peers: peers.length }, 'peer list loaded')
        },
        (err) => log.warn({ err: err.message }, 'peer list unreadable'),
      )
    }
    if (this.#store.tip === 0) {
      const synced = await this.#stateSync()
      if (synced) last = synced
    }
    await this.#store.putValidatorSet(
      toHex(new ValidatorSet(this.#ledger.committee()).hash()),
      this.#ledger.committee(),
    )
    this.#engine = new ConsensusEngine<LedgerEvent>({
      ledger: this.#ledger,
      store: this.#store,
      transport: this.#host,
      did: this.identity.did,
      signer: this.identity.signer,
      // A standby votes once a council change or restart manifest puts it in the committee.
      votes: this.#canVote(),
      didOfPeer: didFromPeerId,
      admit: (sender) => defences.admitEvent(sender),
      holdSigning: (epoch, height) => signingHeld(this.#refusal, epoch, height),
      epoch: this.#ledger.epoch(),
      genesisTimeMs: this.#ledger.genesisTimeMs,
      ...(this.config.timeouts ? { timeouts: this.config.timeouts } : {}),
      observer: {
        onCommit: (height, hash, header, ids, results) => this.#onCommit(height, hash, header, ids, results),
        onEvidence: (kind, first, second) => {
          this.metrics.equivocations.inc()
          log.warn({ kind, first: summarize(first), second: summarize(second) }, 'equivocation evidence')
        },
        onVoteSeen: (v) => this.#onVoteSeen(v),
        onGossipAdmitted: gossipScorer(defences, new PeerScore(), (msg, data) => log.warn(data, msg)),
        onLog: (level, msg, data) => log[level](data ?? {}, msg),
        onHigherEpoch: (peer, epoch) => void this.#followRestart(peer, epoch),
        onRestartResumed: (epoch, waitedMs) => {
          this.metrics.restarts.inc()
          log.info({ epoch, waitedMs }, 'consensus resumed in the new epoch')
        },
      },
    })
    await this.#engine.start(last)
    const pub = publicServer(this, this.metrics, { log, defences })
    const admin = adminServer(this, this.config.adminToken, { log, defences })
    await listen(pub, this.config.apiHost, this.config.apiPort)
    await listen(admin, this.config.apiHost, this.config.adminPort)
    this.#servers = [pub, admin]
    this.#started = true
    if (this.config.bond !== undefined) {
      this.#registration = new SelfRegistration({
        bond: this.config.bond,
        sender: this.#sender,
        registration: () => this.#ledger.registration(this.identity.did),
        height: () => this.#ledger.height,
        fee: () => requiredFee(this.#ledger.params()),
        canSend: () => this.#halt() === undefined && !this.#syncing(),
        log: (level, msg, data) => log[level](data ?? {}, msg),
      })
      this.#registration.start()
    }
    this.metrics.finalizedHeight.set(this.#ledger.height)
    log.info(
      {
        peerId: this.#host.peerId.toString(),
        p2p: this.#host.listenAddrs(),
        api: `${this.config.apiHost}:${this.config.apiPort}`,
        height: this.#ledger.height,
      },
      'node started',
    )
  }

  get contentApi(): ContentApiPort | undefined {
    return this.#dds
  }

  async stop(): Promise<void> {
    this.#unwatch?.()
    if (this.#expireDefences) clearInterval(this.#expireDefences)
    this.#registration?.stop()
    this.#dds?.stop()
    this.#dhtHealth?.stop()
    await Promise.all(this.#servers.map((s) => new Promise<void>((r) => s.close(() => r()))))
    for (const s of this.#servers) s.closeAllConnections()
    await this.#engine.stop()
    await this.#dht.stop()
    await this.#host.stop()
    await this.#store.close()
    this.#voteLog?.end()
  }

  // --- events from consensus --------------------------------------------------------------------

  #onCommit(
    height: number,
    hash: string,
    header: BlockHeader,
    ids: readonly string[],
    results: readonly { ok: boolean }[],
  ): void {
    const now = Date.now()
    if (this.#lastCommitMs > 0) this.metrics.blockInterval.observe((now - this.#lastCommitMs) / 1000)
    this.#lastCommitMs = now
    this.metrics.finalizedHeight.set(height)
    this.metrics.blocks.inc()
    const ok = results.filter((r) => r.ok).length
    if (ok > 0) this.metrics.events.inc({ result: 'ok' }, ok)
    if (results.length - ok > 0) this.metrics.events.inc({ result: 'failed' }, results.length - ok)
    this.metrics.mempoolSize.set(this.#engine.mempool.size)
    if (header.nextValidatorsHash !== header.validatorsHash) {
      // Peers that state-sync follow committee changes through these.
      void this.#store.putValidatorSet(header.nextValidatorsHash, this.#ledger.committee())
    }
    this.#log.debug({ height, hash, events: ids.length, proposer: header.proposer }, 'block finalized')
    this.#dds?.onCommit(height, blockRandomness(header))
    if (height % this.#checkpointInterval === 0) {
      const bytes = this.#ledger.snapshot()
      const meta = { height, blockHash: hash, stateRoot: header.stateRoot, createdAtMs: now, bytes: bytes.length }
      this.#store.putSnapshot(meta, bytes).then(
        () => this.#log.info({ height, bytes: bytes.length }, 'checkpoint written'),
        (err: unknown) => this.#log.error({ height, err: (err as Error).message }, 'checkpoint failed'),
      )
    }
  }

  /**
   * Votes are not liveness evidence: survivors relay the votes they hold for a height again and
   * again, so a dead validator's old votes would keep it "online" (issue 14).
   */
  #onVoteSeen(v: Vote): void {
    if (this.#voteLog) {
      this.#voteLog.write(
        JSON.stringify({
          validator: v.validator,
          epoch: v.epoch,
          height: v.height,
          round: v.round,
          kind: v.kind,
          blockHash: v.blockHash,
          sig: toHex(v.sig),
        }) + '\n',
      )
    }
  }

  /** A message arrived over the authenticated connection of `peer`: its key's owner is alive now. */
  #notePeer(peer: string): void {
    const did = didFromPeerId(peer)
    if (did !== undefined) this.#lastSeen.set(did, Date.now())
  }

  async #serveSync(req: SyncRequest): Promise<unknown> {
    switch (req.kind) {
      case 'blocks':
        return { blocks: await this.#serveBlocks(req.from, req.max) }
      case 'headers': {
        const headers: { header: BlockHeader; certificate: CommitCertificate }[] = []
        const validatorSets: [string, { did: string; power: number }[]][] = []
        for (let h = req.from; h < req.from + req.max && h <= this.#store.tip; h++) {
          const b = await this.#store.getBlock(h)
          if (!b) break
          const { header } = decodeBlock(b.block)
          headers.push({ header, certificate: b.certificate })
          if (header.nextValidatorsHash !== header.validatorsHash) {
            const set = await this.#store.getValidatorSet(header.nextValidatorsHash)
            if (set) validatorSets.push([header.nextValidatorsHash, set])
          }
        }
        return { headers, validatorSets }
      }
      case 'snapshot-info': {
        const [latest] = await this.#store.listSnapshots()
        return { snapshot: latest ?? null }
      }
      case 'snapshot':
        return (await this.#store.getSnapshot(req.height)) ?? null
      case 'restart':
        return { record: (await this.#store.getRestart(req.epoch)) ?? null }
    }
  }

  /**
   * A fresh node joins from a peer's newest snapshot instead of replaying history: it verifies
   * the certified header chain from genesis to the snapshot (light client), checks the
   * snapshot's state root against the certified header, and stores the anchor block.
   */
  async #stateSync(): Promise<LastBlock | undefined> {
    const started = Date.now()
    const deadline = started + 15_000
    while (Date.now() < deadline) {
      for (const peer of this.#host.connectedPeers()) {
        try {
          const got = await this.#stateSyncFrom(peer)
          if (got) return got
        } catch (err) {
          if ((err as { code?: string }).code === 'EPOCH_BOUNDARY') {
            this.#log.info({ peer }, 'the chain crosses a coordinated restart: replaying blocks instead of state sync')
            return undefined
          }
          this.#log.warn(
            { peer, code: (err as { code?: string }).code, err: (err as Error).message },
            'state sync from peer failed',
          )
        }
      }
      // No peer list (yet): give the first read of the peers file a moment, then start alone.
      if (this.#host.knownPeers().length === 0 && Date.now() - started > 3_000) return undefined
      await new Promise((r) => setTimeout(r, 500))
    }
    return undefined
  }

  async #stateSyncFrom(peer: string): Promise<LastBlock | undefined> {
    const info = (await this.#host.syncRequest(peer, { kind: 'snapshot-info' })) as { snapshot?: SnapshotMeta | null }
    const meta = info.snapshot
    if (!meta || !Number.isSafeInteger(meta.height) || meta.height <= 0) return undefined
    const started = Date.now()
    let anchor: ChainAnchor = {
      height: 0,
      hash: this.#ledger.genesisHash,
      validators: new ValidatorSet(this.#ledger.committee()),
      epoch: this.#ledger.epoch(),
    }
    let lastHeader: CertifiedHeader | undefined
    while (anchor.height < meta.height) {
      const res = (await this.#host.syncRequest(peer, {
        kind: 'headers',
        from: anchor.height + 1,
        max: Math.min(4096, meta.height - anchor.height),
      })) as { headers?: CertifiedHeader[]; validatorSets?: [string, Validator[]][] }
      const items = (res.headers ?? []).filter((x) => isCertificate(x.certificate))
      if (items.length === 0) throw new NodeStartError('STATE_SYNC_FAILED', 'peer sent no headers')
      anchor = verifyHeaderChain(anchor, items, new Map(res.validatorSets ?? []))
      lastHeader = items[items.length - 1]
    }
    if (!lastHeader || anchor.height !== meta.height) {
      throw new NodeStartError('STATE_SYNC_FAILED', 'header chain does not reach the snapshot')
    }
    const snap = (await this.#host.syncRequest(peer, { kind: 'snapshot', height: meta.height })) as {
      bytes?: unknown
    } | null
    if (!snap || !(snap.bytes instanceof Uint8Array)) {
      throw new NodeStartError('STATE_SYNC_FAILED', 'peer did not send the snapshot')
    }
    const ledger = LedgerAdapter.fromSnapshot(this.#genesis, snap.bytes)
    if (ledger.height !== meta.height || toHex(ledger.root()) !== lastHeader.header.stateRoot) {
      throw new NodeStartError('STATE_SYNC_FAILED', 'snapshot does not match the certified state root')
    }
    const [anchorBlock] = await this.#host.fetchBlocks(peer, meta.height, 1)
    if (!anchorBlock || blockHash(decodeBlock(anchorBlock.block).header) !== anchor.hash) {
      throw new NodeStartError('STATE_SYNC_FAILED', 'anchor block does not match the verified header')
    }
    await this.#store.putAnchorBlock(meta.height, anchorBlock.block, lastHeader.certificate)
    await this.#store.putSnapshot({ ...meta, createdAtMs: Date.now(), bytes: snap.bytes.length }, snap.bytes)
    this.#ledger = ledger
    this.#checkpointInterval = ledger.checkpointInterval()
    this.#log.info({ peer, height: meta.height, ms: Date.now() - started }, 'state-synced from a verified snapshot')
    return { hash: anchor.hash, header: lastHeader.header, certificate: lastHeader.certificate }
  }

  async #serveBlocks(from: number, max: number): Promise<{ block: Uint8Array; certificate: CommitCertificate }[]> {
    const out: { block: Uint8Array; certificate: CommitCertificate }[] = []
    let bytes = 0
    for (let h = from; h < from + max && h <= this.#store.tip; h++) {
      const b = await this.#store.getBlock(h)
      if (!b) break
      out.push({ block: b.block, certificate: b.certificate })
      bytes += b.block.length
      if (bytes > 16 * 1024 * 1024) break
    }
    return out
  }

  // --- NodeApiPort ------------------------------------------------------------------------------

  submit(events: Uint8Array[]): { id: string; ok: boolean; code?: string }[] {
    if (this.#halt() !== undefined && this.#engine.mempool.size >= HALTED_QUEUE_LIMIT) {
      // Halted: what is queued stays queued; beyond the bound, a clear refusal instead of growth.
      this.metrics.submitted.inc({ result: 'rejected' }, events.length)
      return events.map((e) => ({ id: toHex(sha256Bytes(e)), ok: false, code: 'CONSENSUS_HALTED' }))
    }
    const results = this.#engine
      .submit(events)
      .map((r) => (r.ok ? { id: r.id, ok: true } : { id: r.id, ok: false, code: r.code }))
    const ok = results.filter((r) => r.ok).length
    if (ok > 0) this.metrics.submitted.inc({ result: 'accepted' }, ok)
    if (results.length - ok > 0) this.metrics.submitted.inc({ result: 'rejected' }, results.length - ok)
    this.metrics.mempoolSize.set(this.#engine.mempool.size)
    return results
  }

  status(): AdminStatus {
    const vs = this.#engine.validators
    const now = Date.now()
    const members = vs.validators.map((v) => ({ did: v.did, power: v.power, online: this.#online(v.did, now) }))
    const powerOnline = members.filter((m) => m.online).reduce((a, m) => a + m.power, 0)
    this.metrics.powerOnline.set(powerOnline)
    this.metrics.powerNeeded.set(powerNeededFor(vs.totalPower))
    const connected = this.#host.connectedPeers().length
    this.metrics.peers.set(connected)
    const header = this.#engine.lastHeader
    const hash = this.#engine.lastBlockHash
    const root = toHex(this.#ledger.root())
    const cs = this.#engine.consensusState
    this.metrics.rounds.set(cs.round)
    return {
      did: this.identity.did,
      peerId: this.#host.peerId.toString(),
      role: this.config.role,
      chainId: this.#ledger.chainId,
      epoch: this.#ledger.epoch(),
      ...this.#mode(powerOnline, vs.totalPower),
      version: buildInfo().version,
      binaryDigest: buildInfo().binaryDigest,
      finalizedHeight: this.#ledger.height,
      finalizedHash: hash,
      stateRoot: root,
      highestCertifiedHeight: this.#store.tip,
      highestCertifiedHash: hash,
      highestCertifiedStateRoot: header?.stateRoot ?? root,
      lastBlockTimeMs: header?.timeMs ?? this.#ledger.genesisTimeMs,
      consensus: cs,
      committee: { totalPower: vs.totalPower, powerNeeded: powerNeededFor(vs.totalPower), powerOnline, members },
      mempool: { size: this.#engine.mempool.size, bytes: this.#engine.mempool.bytes },
      peers: { connected, known: this.#host.knownPeers().length },
      ...(this.#dds?.storageSnapshot ? { storage: this.#dds.storageSnapshot } : {}),
      ...(this.#engine.restartWait ? { restart: this.#engine.restartWait } : {}),
      governance: {
        council: this.#ledger.council(),
        standbys: this.#ledger.standbys().map((sb) => sb.did),
        committeeSize: this.#ledger.params().committeeSize,
        eventFee: requiredFee(this.#ledger.params()),
        paramOverrides: this.#paramOverrides(),
        emergency: emergencySummary(this.#ledger),
      },
      self: this.#ledger.registration(this.identity.did),
      ...(this.#dhtHealth ? { dhtHealth: this.#dhtHealth.status() } : {}),
      shardIntake: this.#shardIntake.status(),
    }
  }

  /** The ledger's emergency state with the signatures behind it (public: anyone may check it). */
  emergency(): EmergencyView {
    return emergencyView(this.#ledger)
  }

  /** Overrides still in force at the last block's time (expired ones no longer apply). */
  #paramOverrides(): NonNullable<AdminStatus['governance']>['paramOverrides'] {
    const now = this.#ledger.timeMs
    return Object.entries(this.#ledger.paramOverrides())
      .filter(([, o]) => o.expiresAtMs > now)
      .map(([name, o]) => ({ name, value: o.value, expiresAtMs: o.expiresAtMs, setAtHeight: o.setAtHeight }))
  }

  #mode(powerOnline: number, totalPower: number): Pick<AdminStatus, 'mode' | 'haltReason' | 'haltCode'> {
    const halt = this.#halt(powerOnline, totalPower)
    if (halt !== undefined) return { mode: 'halted', haltReason: halt.reason, haltCode: halt.code }
    return { mode: this.#syncing() ? 'syncing' : 'running' }
  }

  /**
   * Why the node is halted (DESIGN §4: the committee cannot make progress), or undefined. Judged
   * on finality alone: a voter that saw no block final for HALT_AFTER_MS is halted; who is online
   * only explains why (quorum lost, naming the missing members, or online but not finalizing).
   */
  #halt(powerOnline?: number, totalPower?: number): { code: HaltCode; reason: string } | undefined {
    const w = this.#engine.restartWait
    if (w) {
      const needed = powerNeededFor(w.totalPower)
      return {
        code: 'RESTART_WAIT',
        reason: `waiting for supermajority on restart manifest ${w.manifestHash.slice(0, 16)}… (epoch ${w.epoch}): ready power ${w.readyPower} of ${w.totalPower}, needed ${needed}`,
      }
    }
    const refused = refusalHalt(this.#refusal, this.#ledger.epoch())
    if (refused) return refused
    // Before finality: these say why this node (or the whole ledger) stopped, whatever its role.
    const stopped = this.#ledger.executionProblem(this.#ledger.height + 1)
    if (stopped !== undefined) return stopped
    const councilHalt = this.#ledger.emergency().halted
    if (councilHalt !== undefined) {
      return {
        code: 'COUNCIL_HALT',
        reason: `the council halted the ledger at height ${councilHalt.sinceHeight}${councilHalt.reason === undefined ? '' : `: ${councilHalt.reason}`}; only governance events are accepted until it resumes`,
      }
    }
    // Only nodes that receive every vote judge quorum; SSNs and seeds see too little of it.
    if (!this.#canVote()) return undefined
    const stalled = this.#engine.stalledMs
    if (stalled < HALT_AFTER_MS) return undefined
    const vs = this.#engine.validators
    const total = totalPower ?? vs.totalPower
    const online = powerOnline ?? this.#onlinePower()
    const needed = powerNeededFor(total)
    const since = `no block final for ${Math.round(stalled / 1000)} s`
    if (online >= needed)
      return {
        code: 'NOT_FINALIZING',
        reason: `not finalizing: committee power online ${online} of ${total} (needed ${needed}), but ${since}`,
      }
    const now = Date.now()
    const missing = vs.validators.filter((v) => !this.#online(v.did, now)).map((v) => v.did)
    return {
      code: 'QUORUM_LOST',
      reason: `quorum lost: committee power online ${online} of ${total}, needed ${needed}; ${since}; not heard from ${missing.length}: ${missing.join(', ')}`,
    }
  }

  /** Witnesses and standbys hold witness keys; either votes whenever the ledger's committee lists it. */
  #canVote(): boolean {
    return this.config.role === 'witness' || this.config.role === 'standby'
  }

  #onlinePower(): number {
    const now = Date.now()
    let p = 0
    for (const v of this.#engine.validators.validators) if (this.#online(v.did, now)) p += v.power
    return p
  }

  /** A message from its own PeerId within the liveness window; ourselves if we vote. */
  #online(did: string, now: number): boolean {
    return did === this.identity.did ? this.#canVote() : now - (this.#lastSeen.get(did) ?? 0) < ONLINE_WINDOW_MS
  }

  // --- coordinated restart (DESIGN §4) ------------------------------------------------------------

  /**
   * The manifest a council (or the standing policy's agent) signs to restart from this node's
   * finalized block with exactly `witnesses` as the new set: powers come from this node's ledger.
   */
  restartPlan(witnesses: readonly string[], expiresAtMs: number): RestartManifest {
    let set: { did: string; power: number }[]
    try {
      set = this.#ledger.restartWitnessSet(witnesses as Did[])
    } catch (err) {
      throw new ApiError(409, (err as LedgerError).code, (err as Error).message)
    }
    return {
      domain: RESTART_MANIFEST_DOMAIN,
      chainId: this.#ledger.chainId,
      epoch: this.#ledger.epoch() + 1,
      height: this.#ledger.height,
      blockHash: this.#engine.lastBlockHash,
      stateRoot: toHex(this.#ledger.root()),
      witnesses: set.map((w) => ({ did: w.did as Did, power: w.power })),
      expiresAtMs,
    }
  }

  /**
   * Admin: adopt a signed restart manifest. The node verifies the authorization itself against
   * its own ledger (council or standing policy), reaches the named block if it is behind, refuses
   * anything that disagrees with a stable code, and then waits for > 2/3 of the new set.
   */
  async restart(bytes: Uint8Array): Promise<RestartAdoption> {
    let record: RestartRecord
    try {
      record = decodeRestartRecord(bytes)
    } catch (err) {
      throw new ApiError(400, (err as RestartRecordError).code, (err as Error).message)
    }
    const m = record.manifest
    const hash = manifestHash(m)
    if (m.chainId !== this.#ledger.chainId) {
      throw new ApiError(409, 'WRONG_CHAIN', `manifest is for ${m.chainId}, this node is on ${this.#ledger.chainId}`)
    }
    const already = await this.#alreadyAdopted(m.epoch, hash)
    if (already) return already
    if (m.epoch !== this.#ledger.epoch() + 1) {
      throw new ApiError(409, 'RESTART_EPOCH_GAP', `manifest epoch ${m.epoch}, this node is at ${this.#ledger.epoch()}`)
    }
    const deadline = Date.now() + RESTART_REACH_HEIGHT_MS
    while (this.#ledger.height < m.height && this.#ledger.epoch() < m.epoch && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100))
    }
    // It may have followed the same restart from a peer meanwhile.
    const followed = await this.#alreadyAdopted(m.epoch, hash)
    if (followed) return followed
    let stateRoot: string
    try {
      stateRoot = await this.#adoptRestart(record, bytes, 'admin')
    } catch (err) {
      // A peer's copy of the same manifest may have been adopted while this one was verified.
      if ((err as { code?: string }).code === 'RESTART_STALE') {
        const same = await this.#alreadyAdopted(m.epoch, hash)
        if (same) return same
      }
      throw err
    }
    const edited = m.resultingStateRoot === undefined ? {} : { resultingStateRoot: m.resultingStateRoot }
    return { epoch: m.epoch, manifestHash: hash, adopted: true, stateRoot, ...edited }
  }

  /** Admin: a hard fork's resulting root and witness set from the finalized block; changes nothing. */
  restartPreview(edits: readonly StateEdit[], witnesses?: readonly string[]): RestartPreview {
    return previewHardFork(this.#ledger, this.#engine.lastBlockHash, edits, witnesses)
  }

  /** Handing the same manifest again is harmless; another one for a past epoch is refused. */
  async #alreadyAdopted(
    epoch: number,
    hash: string,
  ): Promise<{ epoch: number; manifestHash: string; adopted: false } | undefined> {
    if (epoch > this.#ledger.epoch()) return undefined
    const stored = await this.#store.getRestart(epoch)
    if (stored && manifestHash(decodeRestartRecord(stored).manifest) === hash) {
      return { epoch, manifestHash: hash, adopted: false }
    }
    throw new ApiError(409, 'RESTART_STALE', `this node is at epoch ${this.#ledger.epoch()} already`)
  }

  /** Verify, persist, apply: the one path for a manifest from the admin API or from a peer; the new root. */
  async #adoptRestart(record: RestartRecord, bytes: Uint8Array, source: string): Promise<string> {
    const m = record.manifest
    const height = this.#ledger.height
    if (height < m.height) {
      throw new ApiError(
        409,
        'RESTART_NOT_AT_HEIGHT',
        `this node is at ${height}, below the restart height ${m.height}; retry once it has synced`,
      )
    }
    if (height > m.height) {
      throw new ApiError(
        409,
        'RESTART_BELOW_FINAL',
        `this node finalized up to ${height}; restarting from ${m.height} would drop finalized blocks`,
      )
    }
    if (this.#engine.lastBlockHash !== m.blockHash || toHex(this.#ledger.root()) !== m.stateRoot) {
      throw new ApiError(
        409,
        'RESTART_MISMATCH',
        `block ${height} here is ${this.#engine.lastBlockHash}, the manifest names ${m.blockHash}`,
      )
    }
    const verdict = verifyRestartAuthorization(m, record.authorization, {
      council: this.#ledger.council(),
      currentWitnesses: this.#ledger.committee().map((c) => c.did),
      standbys: this.#ledger.standbys().map((s) => s.did),
      nowMs: Date.now(),
      lastFinalizedMs: this.#engine.lastHeader?.timeMs ?? this.#ledger.genesisTimeMs,
    })
    if (!verdict.ok) throw new ApiError(403, verdict.code, verdict.message)
    // Durable first, so a crash replays the epoch boundary; removed again if the ledger refuses it.
    await this.#store.putRestart(m.epoch, bytes)
    let root = ''
    try {
      await this.#engine.restart(
        { epoch: m.epoch, height: m.height, blockHash: m.blockHash, manifestHash: manifestHash(m) },
        () => {
          root = toHex(this.#ledger.applyRestart(m))
        },
      )
    } catch (err) {
      // Only if no other path (a peer's copy) adopted this epoch meanwhile: its record must stay.
      if (this.#ledger.epoch() < m.epoch) await this.#store.deleteRestart(m.epoch)
      if (err instanceof LedgerError) {
        // Authorized, for our block, and our ledger cannot follow it: halt rather than go on.
        this.#refusal = refusalOf(m, err)
        this.#log.error(
          { epoch: m.epoch, height: m.height, source, code: err.code },
          'restart manifest refused: halted',
        )
      }
      if (err instanceof RestartError || err instanceof LedgerError) throw new ApiError(409, err.code, err.message)
      throw err
    }
    this.#log.warn(
      { epoch: m.epoch, height: m.height, source, promoted: verdict.promoted, demoted: verdict.demoted },
      'restart manifest adopted',
    )
    return root
  }

  /**
   * A peer is in a later epoch: fetch the restart record we missed, catch up to it, adopt it. Also
   * while this node waits for supermajority on its own epoch: a peer already past it proves that
   * epoch's first blocks are final, and fetching them up to the next restart ends the wait (peers
   * in later epochs no longer send the RestartReady messages the wait counts).
   */
  async #followRestart(peer: string, epoch: number): Promise<void> {
    const next = this.#ledger.epoch() + 1
    if (epoch < next) return
    const last = this.#followingEpochs.get(next) ?? 0
    if (Date.now() - last < 2_000) return
    this.#followingEpochs.set(next, Date.now())
    try {
      const res = (await this.#host.syncRequest(peer, { kind: 'restart', epoch: next })) as { record?: unknown }
      if (!(res.record instanceof Uint8Array)) return
      const record = decodeRestartRecord(res.record)
      if (record.manifest.epoch !== next || record.manifest.chainId !== this.#ledger.chainId) return
      if (this.#ledger.height < record.manifest.height) {
        // Blocks up to the restart height are of our epoch: fetch them from that peer first.
        this.#engine.catchUp(peer, record.manifest.height)
        return
      }
      await this.#adoptRestart(record, res.record, `peer ${peer}`)
    } catch (err) {
      this.#log.warn(
        { peer, epoch: next, code: (err as { code?: string }).code, err: (err as Error).message },
        'could not follow a restart from a peer',
      )
    }
  }

  #syncing(): boolean {
    for (const h of this.#engine.peerHeights.values()) if (h > this.#ledger.height + 1) return true
    return false
  }

  account(did: string): unknown {
    return this.#ledger.account(did)
  }

  async block(height: number): Promise<unknown> {
    const b = await this.#store.getBlock(height)
    if (!b) return undefined
    const block = decodeBlock(b.block)
    return {
      hash: blockHash(block.header),
      header: block.header,
      eventIds: block.events.map((e) => toHex(sha256Bytes(e))),
      certificate: { round: b.certificate.round, signers: b.certificate.signatures.map((s) => s.validator) },
    }
  }

  /** Certified headers with certificates, event ids, changed validator sets and restart records. */
  async chainPage(from: number, max: number): Promise<ChainPage> {
    const items: ChainItem[] = []
    const validatorSets: [string, { did: string; power: number }[]][] = []
    const restarts: [number, Uint8Array][] = []
    let epoch = -1
    for (let h = from; h < from + max && h <= this.#store.tip; h++) {
      const b = await this.#store.getBlock(h)
      if (!b) break
      const block = decodeBlock(b.block)
      const header = block.header
      items.push({
        header,
        certificate: b.certificate,
        eventIds: block.events.map((e) => toHex(sha256Bytes(e))),
      })
      if (header.nextValidatorsHash !== header.validatorsHash) {
        const set = await this.#store.getValidatorSet(header.nextValidatorsHash)
        if (set) validatorSets.push([header.nextValidatorsHash, set])
      }
      if (header.epoch !== epoch) {
        // The first block of a later epoch: the record that installed its committee.
        if (epoch >= 0 || header.epoch > 0) {
          const rec = await this.#store.getRestart(header.epoch)
          if (rec && !restarts.some(([e]) => e === header.epoch)) restarts.push([header.epoch, rec])
        }
        epoch = header.epoch
      }
    }
    return { items, validatorSets, restarts, tip: this.#store.tip }
  }

  async checkpoints(): Promise<CheckpointInfo[]> {
    return (await this.#store.listSnapshots()).map((s) => ({
      height: s.height,
      blockHash: s.blockHash,
      stateRoot: s.stateRoot,
      createdAtMs: s.createdAtMs,
      bytes: s.bytes,
    }))
  }

  ready(): boolean {
    return this.#started && !this.#syncing()
  }

  dhtStatus(): DhtStatus {
    return {
      mode: this.#dht.mode,
      routingTableSize: this.#dht.routingTableSize(),
      providedCount: this.#dht.providedCount(),
      seeds: this.#dht.seeds(),
      ...this.#dht.refreshInfo(),
      ...(this.#dhtHealth ? { health: this.#dhtHealth.status() } : {}),
    }
  }

  async dhtRebootstrap(seeds: DhtPeerInfo[]): Promise<DhtRebootstrapResult> {
    const r = await this.#dht.rebootstrap(seeds)
    return { dialled: r.dialled, routingTableSize: r.routingTable, reprovided: r.reprovided }
  }

  dhtProvide(cid: string): Promise<DhtProvideResult> {
    return this.#dht.provide(cid)
  }

  dhtProviders(cid: string): Promise<DhtPeerInfo[]> {
    return this.#dht.findProviders(cid)
  }

  storageStatus(): Promise<StorageStatus> {
    return this.#dds?.storageStatus() ?? Promise.reject(new NodeStartError('NOT_STARTED', 'storage is not started'))
  }

  storageRepair(): Promise<RepairRunResult> {
    return this.#dds?.storageRepair() ?? Promise.reject(new NodeStartError('NOT_STARTED', 'storage is not started'))
  }

  async setRepairPriority(p: RepairPriority): Promise<RepairPriority> {
    if (!this.#dds) throw new NodeStartError('NOT_STARTED', 'storage is not started')
    try {
      return await this.#dds.setRepairPriority(p)
    } catch (err) {
      // Bad input is a 400 with its code; a failed write (now that it persists) stays a 500.
      if (err instanceof ContentError) throw new ApiError(400, err.code, err.message)
      throw err
    }
  }

  /** Repair priority list (SSNs) and the community-shard intake window (storage-signals-routes.ts). */
  get storageSignals(): StorageSignalsPort {
    const dds = (): Dds => {
      if (!this.#dds) throw new StorageSignalsError('NOT_A_STORAGE_NODE', 'storage is not started')
      return this.#dds
    }
    return {
      shardIntake: this.#shardIntake,
      repairPriorities: () => dds().repairPriorities(),
      setRepairPriorities: (entries) => dds().setRepairPriorities(entries),
    }
  }

  live(): boolean {
    return this.#started
  }
}

import { sha256 as sha256Bytes } from '../crypto/hash.ts'

function summarize(m: { height: number; round: number }): string {
  return `h${m.height}/r${m.round}`
}

/**
 * Rebuilds the ledger from the newest snapshot plus the certified blocks after it, checking
 * every block's state root: a node restarted after SIGKILL is exactly where its store says.
 */
async function restore(
  store: NodeStore,
  genesis: ReturnType<typeof loadGenesis>,
  log: Logger,
): Promise<{ ledger: LedgerAdapter; last: LastBlock }> {
  const snap = await store.latestSnapshot()
  const ledger = snap ? LedgerAdapter.fromSnapshot(genesis, snap.bytes) : LedgerAdapter.fromGenesis(genesis)
  let last: LastBlock = {
    hash: snap ? snap.meta.blockHash : ledger.genesisHash,
    header: undefined,
    certificate: null,
  }
  if (snap) {
    const b = await store.getBlock(snap.meta.height)
    if (b) {
      const blk = decodeBlock(b.block)
      last = { hash: blockHash(blk.header), header: blk.header, certificate: b.certificate }
    }
  }
  for (let h = ledger.height + 1; h <= store.tip; h++) {
    const stored = await store.getBlock(h)
    if (!stored) throw new NodeStartError('STORE_GAP', `block ${h} missing below tip ${store.tip}`)
    const block = decodeBlock(stored.block)
    // The first block of a later epoch: cross the boundary with the restart record we adopted.
    while (block.header.epoch > ledger.epoch()) {
      const adopted = await storedRestart(store, ledger.epoch() + 1)
      if (!adopted)
        throw new NodeStartError('STORE_GAP', `block ${h} is of epoch ${block.header.epoch}; no restart record`)
      ledger.applyRestart(adopted.manifest)
    }
    // An upgrade this build may not run: stop here and come up halted, saying why (status).
    if (ledger.executionProblem(h) !== undefined) break
    const events = block.events.map((e) => ledger.decode(e))
    const bad = ledger.verifyMany(events).findIndex((code) => code !== undefined)
    if (bad >= 0) throw new NodeStartError('STORE_CORRUPT', `block ${h} event ${bad} fails its checks`)
    const exec = ledger.execute(
      {
        height: h,
        epoch: block.header.epoch,
        timeMs: block.header.timeMs,
        proposer: block.header.proposer,
        randomness: blockRandomness(block.header),
      },
      events,
    )
    if (toHex(exec.stateRoot) !== block.header.stateRoot) {
      throw new NodeStartError('STATE_DIVERGED', `replaying block ${h} gives another state root`)
    }
    exec.commit()
    last = { hash: blockHash(block.header), header: block.header, certificate: stored.certificate }
  }
  // Adopted a restart, but no block of its epoch is final yet: wait for supermajority again.
  const pending = await storedRestart(store, ledger.epoch() + 1)
  if (pending && pending.manifest.height === ledger.height) {
    try {
      ledger.applyRestart(pending.manifest)
      const m = pending.manifest
      last = {
        ...last,
        restart: { epoch: m.epoch, height: m.height, blockHash: m.blockHash, manifestHash: manifestHash(m) },
      }
    } catch (err) {
      log.error(
        { epoch: pending.manifest.epoch, err: (err as Error).message },
        'stored restart record does not apply; dropped',
      )
      await store.deleteRestart(pending.manifest.epoch)
    }
  }
  log.info({ height: ledger.height, epoch: ledger.epoch(), fromSnapshot: snap?.meta.height ?? 0 }, 'ledger restored')
  return { ledger, last }
}

async function storedRestart(store: NodeStore, epoch: number): Promise<RestartRecord | undefined> {
  const bytes = await store.getRestart(epoch)
  return bytes ? decodeRestartRecord(bytes) : undefined
}
