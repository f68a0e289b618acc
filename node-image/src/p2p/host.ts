import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { lpStream } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { encode } from '../crypto/encoding.ts'
import type { ConsensusMessage, Transport } from '../consensus/ports.ts'
import type { CommitCertificate } from '../consensus/messages.ts'
import { decodeMessage, decodeSyncRequest, decodeSyncResponse, encodeMessage, MAX_FRAME_BYTES } from './wire.ts'
import type { SyncRequest } from './wire.ts'
import { decode } from '../crypto/encoding.ts'
import type { PeerEntry } from './peers-file.ts'
import { dhtService } from './dht.ts'
import { MAX_PENDING_INBOUND_PER_IP, PendingInboundLimiter } from './inbound-gate.ts'
import type { InboundPolicy } from './inbound-gate.ts'
import { getNetConfig } from '@libp2p/utils'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Identify } from '@libp2p/identify'
import type { Ping } from '@libp2p/ping'

export type HostServices = { identify: Identify; ping: Ping; dht: KadDHT }

export const CONSENSUS_PROTOCOL = '/echonet/consensus/1.0.0'
export const SYNC_PROTOCOL = '/echonet/sync/1.0.0'

export interface HostCallbacks {
  onMessage(peer: string, msg: ConsensusMessage): void
  /** Answers a sync request; the value is DAG-CBOR encoded as the response frame. */
  serveSync(req: SyncRequest): Promise<unknown>
  onBadFrame?(peer: string, code: string): void
  /** Per-peer rate limits: false drops a consensus frame / refuses a sync request. */
  admitFrame?(peer: string): boolean
  admitSync?(peer: string): boolean
  onLog?(level: 'info' | 'warn' | 'debug', msg: string, data?: Record<string, unknown>): void
}

interface Outbound {
  lp: LengthPrefixedStream<Stream>
  queue: Uint8Array[]
  writing: boolean
}

/** Frames queued to one peer beyond this are dropped (gossip re-sends what matters). */
const MAX_QUEUE = 4_096
/** A peer sending this many malformed frames is disconnected. */
const MAX_BAD_FRAMES = 16
/** An inbound connection must finish its handshake (Noise + Yamux) within this (libp2p's default). */
const INBOUND_UPGRADE_TIMEOUT_MS = 10_000

/**
 * The node's libp2p host: TCP + Noise + Yamux + identify + ping; consensus messages on one
 * long-lived stream per peer; block sync as request/response streams. Peers come from the peer
 * list (file or ConfigMap) and are re-dialled while they are away.
 */
export class P2PHost implements Transport {
  readonly node: Libp2p<HostServices>
  readonly #cb: HostCallbacks
  readonly #out = new Map<string, Outbound>()
  readonly #dialing = new Set<string>()
  #known: PeerEntry[] = []
  #redial: NodeJS.Timeout | undefined
  readonly #badFrames = new Map<string, number>()

  private constructor(node: Libp2p<HostServices>, cb: HostCallbacks) {
    this.node = node
    this.#cb = cb
  }

  static async create(opts: {
    privateKey: PrivateKey
    listen: string[]
    callbacks: HostCallbacks
    /** Answer DHT queries (seeds); otherwise the node is a DHT client. */
    dhtServer?: boolean
    /** Blocklist and per-IP connection cap, applied by the connection gater. */
    inbound?: InboundPolicy
  }): Promise<P2PHost> {
    const node = await createLibp2p({
      privateKey: opts.privateKey,
      addresses: { listen: opts.listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping(), dht: dhtService(opts.dhtServer ?? false) },
      // Loopback testnets dial many peers from one IP: the default inbound threshold resets the
      // 6th rapid dial (DESIGN §3). The pending slots are shared by all addresses; the gater caps
      // what one address may hold of them, so idle sockets from one client cannot lock peers out.
      connectionManager: {
        inboundConnectionThreshold: 1_000,
        maxIncomingPendingConnections: 256,
        inboundUpgradeTimeout: INBOUND_UPGRADE_TIMEOUT_MS,
      },
      connectionGater: new PendingInboundLimiter(
        MAX_PENDING_INBOUND_PER_IP,
        INBOUND_UPGRADE_TIMEOUT_MS + 1_000,
        opts.inbound,
      ).gater(),
    })
    const host = new P2PHost(node, opts.callbacks)
    await node.handle(CONSENSUS_PROTOCOL, (stream, conn) => host.#readConsensus(stream, conn.remotePeer), {
      maxInboundStreams: 8,
    })
    await node.handle(SYNC_PROTOCOL, (stream, conn) => host.#serveSync(stream, conn.remotePeer.toString()), {
      maxInboundStreams: 16,
    })
    node.addEventListener('peer:disconnect', (evt) => {
      host.#out.delete(evt.detail.toString())
    })
    host.#redial = setInterval(() => void host.#dialKnown(), 2_000)
    return host
  }

  get peerId(): PeerId {
    return this.node.peerId
  }

  listenAddrs(): string[] {
    return this.node.getMultiaddrs().map((a) => a.toString())
  }

  connectedPeers(): string[] {
    return this.node.getPeers().map((p) => p.toString())
  }

  knownPeers(): readonly PeerEntry[] {
    return this.#known
  }

  setPeers(peers: PeerEntry[]): void {
    const self = this.node.peerId.toString()
    this.#known = peers.filter((p) => p.peerId !== self)
    void this.#dialKnown()
  }

  /**
   * Closes connections the blocklist now names (by peer id or remote IP); the gater keeps them
   * from coming back. Returns how many were closed.
   */
  async disconnectBlocked(blocksPeer: (peerId: string) => boolean, blocksIp: (ip: string) => boolean): Promise<number> {
    const doomed = this.node.getConnections().filter((c) => {
      if (blocksPeer(c.remotePeer.toString())) return true
      try {
        return blocksIp(getNetConfig(c.remoteAddr).host)
      } catch {
        return false
      }
    })
    await Promise.all(doomed.map((c) => c.close().catch(() => c.abort(new Error('blocked')))))
    return doomed.length
  }

  async stop(): Promise<void> {
    if (this.#redial) clearInterval(this.#redial)
    await this.node.stop()
  }

  // --- Transport --------------------------------------------------------------------------------

  broadcast(msg: ConsensusMessage): void {
    const bytes = encodeMessage(msg)
    for (const p of this.#known) this.#enqueue(p.peerId, bytes)
  }

  send(peer: string, msg: ConsensusMessage): void {
    this.#enqueue(peer, encodeMessage(msg))
  }

  async fetchBlocks(
    peer: string,
    from: number,
    max: number,
  ): Promise<{ block: Uint8Array; certificate: CommitCertificate }[]> {
    return decodeSyncResponse(await this.#syncRaw(peer, { kind: 'blocks', from, max }))
  }

  /** A sync request whose response the caller validates (it comes from an untrusted peer). */
  async syncRequest(peer: string, req: SyncRequest): Promise<unknown> {
    const raw = await this.#syncRaw(peer, req)
    try {
      return decode(raw)
    } catch {
      throw new Error('sync response is not DAG-CBOR')
    }
  }

  async #syncRaw(peer: string, req: SyncRequest): Promise<Uint8Array> {
    const stream = await this.node.dialProtocol(peerIdFromString(peer), SYNC_PROTOCOL, {
      signal: AbortSignal.timeout(10_000),
    })
    // A response is one frame, buffered whole while it arrives: lpStream's default read buffer
    // (4 MiB) would reset the stream on any larger block batch or snapshot.
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES * 4, maxBufferSize: MAX_FRAME_BYTES * 4 + 16 })
    try {
      await lp.write(encode(req), { signal: AbortSignal.timeout(10_000) })
      const res = await lp.read({ signal: AbortSignal.timeout(60_000) })
      return res.subarray()
    } finally {
      await stream.close().catch(() => undefined)
    }
  }

  // --- internals ------------------------------------------------------------------------------

  async #dialKnown(): Promise<void> {
    const connected = new Set(this.connectedPeers())
    await Promise.all(
      this.#known.map(async (p) => {
        if (this.#out.has(p.peerId) && connected.has(p.peerId)) return
        if (this.#dialing.has(p.peerId)) return
        this.#dialing.add(p.peerId)
        try {
          const id = peerIdFromString(p.peerId)
          await this.node.peerStore.merge(id, { multiaddrs: p.addrs.map((a) => multiaddr(a)) })
          await this.#openOutbound(p.peerId)
        } catch (err) {
          this.#cb.onLog?.('debug', 'dial failed', { peer: p.peerId, err: (err as Error).message })
        } finally {
          this.#dialing.delete(p.peerId)
        }
      }),
    )
  }

  async #openOutbound(peer: string): Promise<Outbound> {
    const existing = this.#out.get(peer)
    if (existing) return existing
    const stream = await this.node.dialProtocol(peerIdFromString(peer), CONSENSUS_PROTOCOL, {
      signal: AbortSignal.timeout(5_000),
    })
    const ob: Outbound = { lp: lpStream(stream, { maxDataLength: MAX_FRAME_BYTES }), queue: [], writing: false }
    stream.addEventListener('close', () => {
      if (this.#out.get(peer) === ob) this.#out.delete(peer)
    })
    this.#out.set(peer, ob)
    return ob
  }

  #enqueue(peer: string, bytes: Uint8Array): void {
    const ob = this.#out.get(peer)
    if (!ob) return
    if (ob.queue.length >= MAX_QUEUE) ob.queue.shift()
    ob.queue.push(bytes)
    if (!ob.writing) void this.#flush(peer, ob)
  }

  async #flush(peer: string, ob: Outbound): Promise<void> {
    ob.writing = true
    try {
      while (ob.queue.length > 0) {
        const batch = ob.queue.splice(0, 64)
        await ob.lp.writeV(batch)
      }
    } catch (err) {
      this.#cb.onLog?.('debug', 'write to peer failed', { peer, err: (err as Error).message })
      if (this.#out.get(peer) === ob) this.#out.delete(peer)
      ob.lp.unwrap().abort(err as Error)
    } finally {
      ob.writing = false
    }
  }

  async #readConsensus(stream: Stream, remote: PeerId): Promise<void> {
    const peer = remote.toString()
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
    try {
      for (;;) {
        const frame = await lp.read()
        // Over its rate the frame is dropped unread: gossip repeats what matters, a flood costs
        // no decoding.
        if (this.#cb.admitFrame?.(peer) === false) continue
        let msg: ConsensusMessage
        try {
          msg = decodeMessage(frame.subarray())
        } catch (err) {
          const code = (err as { code?: string }).code ?? 'MALFORMED_FRAME'
          this.#cb.onBadFrame?.(peer, code)
          const n = (this.#badFrames.get(peer) ?? 0) + 1
          this.#badFrames.set(peer, n)
          if (n >= MAX_BAD_FRAMES) {
            this.#cb.onLog?.('warn', 'disconnecting a peer that sends garbage', { peer, frames: n })
            this.#badFrames.delete(peer)
            await this.node.hangUp(remote).catch(() => undefined)
            return
          }
          continue
        }
        try {
          this.#cb.onMessage(peer, msg)
        } catch (err) {
          // A bug handling one peer's message must not end this stream, let alone the process.
          this.#cb.onLog?.('warn', 'consensus message handler failed', {
            peer,
            kind: msg.t,
            err: (err as Error).message,
            stack: (err as Error).stack,
          })
        }
      }
    } catch (err) {
      // Oversized frames and broken streams end here; the peer may reconnect.
      const code = (err as { code?: string; name?: string }).name ?? 'STREAM_ERROR'
      if (code === 'InvalidDataLengthError') this.#cb.onBadFrame?.(peer, 'FRAME_TOO_LARGE')
      stream.abort(err as Error)
    }
  }

  async #serveSync(stream: Stream, peer: string): Promise<void> {
    if (this.#cb.admitSync?.(peer) === false) {
      stream.abort(new Error('sync rate limit'))
      return
    }
    const lp = lpStream(stream, { maxDataLength: 1024 })
    try {
      const req = decodeSyncRequest((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
      await lp.write(encode(await this.#cb.serveSync(req)))
      await stream.close()
    } catch (err) {
      this.#cb.onLog?.('debug', 'sync request failed', { err: (err as Error).message })
      stream.abort(err as Error)
    }
  }
}
