import { peerIdFromString } from '@libp2p/peer-id'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { CodedError } from '../util/coded-error.ts'
import { FrameIO } from './frame-io.ts'
import {
  decodeSegmentAnswer,
  decodeShardRequest,
  decodeShardResponse,
  encodeShardFrame,
  MAX_SHARD_HEADER_BYTES,
  SHARD_CHUNK_BYTES,
  SHARD_PROTOCOL,
} from './shard-wire.ts'
import type { SegmentAnswer, ShardResponse } from './shard-wire.ts'

/**
 * The shard protocol over libp2p: an SSN serves put / get / have / segment; any node is a client.
 * Data moves as length-prefixed frames of ≤ 1 MiB, each written only after the previous one was
 * accepted by the stream (lpStream waits for 'drain'), and read only when the consumer asks for it,
 * so yamux's flow-control window — not memory — absorbs a slow side. In-flight transfers per node
 * are bounded (`maxConcurrent`); more wait their turn.
 */

export class ShardProtocolError extends CodedError {}

/** What an SSN's storage answers; errors with a string `code` go back to the client verbatim. */
export interface ShardServerPort {
  put(cid: string, index: number, manifest: Uint8Array, chunks: AsyncIterable<Uint8Array>): Promise<void>
  get(cid: string, index: number): Promise<{ size: number; chunks: AsyncIterable<Uint8Array> } | undefined>
  have(cid: string): Promise<{ shards: number[]; manifest?: Uint8Array }>
  inventory(): Promise<[string, number[]][]>
  segment(cid: string, index: number, segment: number, challengeHeight: number): Promise<SegmentAnswer>
}

const HEADER_TIMEOUT_MS = 10_000
/** Between two data frames; a stalled peer frees its slot after this. */
const IDLE_TIMEOUT_MS = 30_000

class Semaphore {
  #free: number
  readonly #waiting: (() => void)[] = []
  constructor(n: number) {
    this.#free = n
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--
      return
    }
    await new Promise<void>((r) => this.#waiting.push(r))
  }
  release(): void {
    const next = this.#waiting.shift()
    if (next) next()
    else this.#free++
  }
}

function codeOf(err: unknown): string {
  const c = (err as { code?: unknown }).code
  return typeof c === 'string' && /^[A-Z_]{1,64}$/.test(c) ? c : 'INTERNAL'
}

/**
 * Data frames of a stream until the empty end frame; at most `max` bytes in total. Yields the
 * buffers the bytes arrived in (no copy; several per frame), which the consumer may keep.
 */
async function* dataFrames(lp: FrameIO, max: number): AsyncGenerator<Uint8Array> {
  let total = 0
  for (;;) {
    const pieces = await lp.readPieces(AbortSignal.timeout(IDLE_TIMEOUT_MS))
    if (pieces.length === 0) return
    for (const p of pieces) {
      total += p.length
      if (total > max) throw new ShardProtocolError('TOO_LARGE', `more than ${max} bytes of shard data`)
      yield p
    }
  }
}

async function writeData(lp: FrameIO, chunks: AsyncIterable<Uint8Array>, end = true): Promise<void> {
  for await (const c of chunks) {
    for (let at = 0; at < c.length; at += SHARD_CHUNK_BYTES) {
      await lp.write(c.subarray(at, at + SHARD_CHUNK_BYTES), AbortSignal.timeout(IDLE_TIMEOUT_MS))
    }
  }
  if (end) await lp.write(new Uint8Array(0))
}

function lp(stream: Stream): FrameIO {
  return new FrameIO(stream, { maxFrame: MAX_SHARD_HEADER_BYTES })
}

export class ShardProtocol {
  readonly #node: Libp2p
  readonly #slots: Semaphore
  #serving = false
  /** Peers whose last dial failed, until when: calls fail fast instead of re-dialling each time. */
  readonly #down = new Map<string, number>()
  readonly #downMs: number

  constructor(node: Libp2p, opts: { maxConcurrent?: number; downMs?: number } = {}) {
    this.#node = node
    this.#slots = new Semaphore(opts.maxConcurrent ?? 8)
    // A failed dial to a dead peer can cost seconds (peer routing through the DHT); scans and
    // fetches ask every SSN, so one failure is remembered briefly.
    this.#downMs = opts.downMs ?? 5_000
  }

  /** Serve the protocol (SSNs). `maxShardBytes` bounds one upload. */
  async serve(
    port: ShardServerPort,
    maxShardBytes: number,
    onError?: (op: string, code: string) => void,
    /** Per-peer admission (rate limits): false answers RATE_LIMITED without reading the request. */
    admit?: (peer: string) => boolean,
  ): Promise<void> {
    if (this.#serving) return
    this.#serving = true
    await this.#node.handle(
      SHARD_PROTOCOL,
      async (stream, conn) => {
        if (admit !== undefined && !admit(conn.remotePeer.toString())) {
          onError?.('any', 'RATE_LIMITED')
          const io = lp(stream)
          await io
            .write(encodeShardFrame({ ok: false, code: 'RATE_LIMITED', message: 'too many shard requests' }))
            .then(() => stream.close())
            .catch((err: unknown) => stream.abort(err as Error))
          return
        }
        await this.#handle(stream, port, maxShardBytes, onError)
      },
      { maxInboundStreams: 64 },
    )
  }

  async #handle(
    stream: Stream,
    port: ShardServerPort,
    maxShardBytes: number,
    onError?: (op: string, code: string) => void,
  ): Promise<void> {
    const io = lp(stream)
    let op = 'unknown'
    await this.#slots.acquire()
    try {
      const req = decodeShardRequest(await io.read(AbortSignal.timeout(HEADER_TIMEOUT_MS)))
      op = req.op
      switch (req.op) {
        case 'put':
          await port.put(req.cid, req.index, req.manifest, dataFrames(io, maxShardBytes))
          await io.write(encodeShardFrame({ ok: true }))
          break
        case 'get': {
          const got = await port.get(req.cid, req.index)
          if (got === undefined) {
            await io.write(encodeShardFrame({ ok: false, code: 'NOT_FOUND', message: 'shard not held' }))
            break
          }
          await io.write(encodeShardFrame({ ok: true, size: got.size, trailer: true }))
          // Verified while sent: a corrupt shard stops short of its end, and the trailer says why.
          let failed: unknown
          const source = got.chunks
          const guarded = async function* (): AsyncGenerator<Uint8Array> {
            try {
              yield* source
            } catch (err) {
              failed = err
            }
          }
          await writeData(io, guarded(), false)
          await io.write(new Uint8Array(0))
          if (failed !== undefined) onError?.(op, codeOf(failed))
          await io.write(
            encodeShardFrame(
              failed === undefined
                ? { ok: true }
                : { ok: false, code: codeOf(failed), message: (failed as Error).message.slice(0, 1000) },
            ),
          )
          break
        }
        case 'have':
          await io.write(encodeShardFrame({ ok: true, ...(await port.have(req.cid)) }))
          break
        case 'inventory':
          await io.write(encodeShardFrame({ ok: true, inventory: await port.inventory() }))
          break
        case 'segment': {
          const answer = await port.segment(req.cid, req.index, req.segment, req.challengeHeight)
          await io.write(encodeShardFrame({ ok: true }))
          await io.write(encodeShardFrame(answer))
          break
        }
      }
      await stream.close()
    } catch (err) {
      const code = codeOf(err)
      onError?.(op, code)
      try {
        await io.write(
          encodeShardFrame({ ok: false, code, message: (err as Error).message.slice(0, 1000) }),
          AbortSignal.timeout(2_000),
        )
        await stream.close({ signal: AbortSignal.timeout(2_000) })
      } catch {
        stream.abort(err as Error)
      }
    } finally {
      this.#slots.release()
    }
  }

  async #open(peer: string, timeoutMs = 10_000): Promise<{ stream: Stream; io: FrameIO }> {
    const until = this.#down.get(peer)
    if (until !== undefined && Date.now() < until) {
      throw new ShardProtocolError('UNREACHABLE', `${peer} was unreachable moments ago`)
    }
    try {
      const stream = await this.#node.dialProtocol(peerIdFromString(peer), SHARD_PROTOCOL, {
        signal: AbortSignal.timeout(timeoutMs),
      })
      this.#down.delete(peer)
      return { stream, io: lp(stream) }
    } catch (err) {
      this.#down.set(peer, Date.now() + this.#downMs)
      throw new ShardProtocolError('UNREACHABLE', `cannot open a shard stream to ${peer}: ${(err as Error).message}`)
    }
  }

  async #response(io: FrameIO, timeoutMs: number): Promise<ShardResponse & { ok: true }> {
    let res: ShardResponse
    try {
      res = decodeShardResponse(await io.read(AbortSignal.timeout(timeoutMs)))
    } catch (err) {
      if (err instanceof CodedError) throw err
      throw new ShardProtocolError('UNREACHABLE', `no response: ${(err as Error).message}`)
    }
    if (!res.ok) throw new ShardProtocolError(res.code, res.message)
    return res
  }

  /** Uploads one shard (the SSN checks it against `manifest` before keeping it). */
  async put(
    peer: string,
    cid: string,
    index: number,
    manifest: Uint8Array,
    chunks: AsyncIterable<Uint8Array>,
  ): Promise<void> {
    const { stream, io } = await this.#open(peer)
    try {
      await io.write(encodeShardFrame({ op: 'put', cid, index, manifest }))
      await writeData(io, chunks)
      // The SSN fsyncs before answering.
      await this.#response(io, 60_000)
    } catch (err) {
      stream.abort(err as Error)
      throw err
    } finally {
      await stream.close().catch(() => undefined)
    }
  }

  /** Downloads one shard as a stream of chunks (unverified: the caller checks the hash); undefined if not held. */
  async get(
    peer: string,
    cid: string,
    index: number,
  ): Promise<{ size: number; chunks: AsyncIterable<Uint8Array> } | undefined> {
    const { stream, io } = await this.#open(peer)
    let res: ShardResponse & { ok: true }
    try {
      await io.write(encodeShardFrame({ op: 'get', cid, index }))
      res = await this.#response(io, 60_000)
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof ShardProtocolError && err.code === 'NOT_FOUND') return undefined
      throw err
    }
    const size = res.size ?? 0
    const trailer = res.trailer === true
    const status = (): Promise<unknown> => this.#response(io, IDLE_TIMEOUT_MS)
    async function* chunks(): AsyncGenerator<Uint8Array> {
      try {
        yield* dataFrames(io, size)
        if (trailer) await status()
        await stream.close()
      } catch (err) {
        stream.abort(err as Error)
        throw err
      }
    }
    return { size, chunks: chunks() }
  }

  /** Which shards of `cid` the peer holds, and its copy of the manifest. */
  async have(peer: string, cid: string, timeoutMs = 5_000): Promise<{ shards: number[]; manifest?: Uint8Array }> {
    const { stream, io } = await this.#open(peer, timeoutMs)
    try {
      await io.write(encodeShardFrame({ op: 'have', cid }))
      const res = await this.#response(io, timeoutMs)
      return { shards: res.shards ?? [], ...(res.manifest ? { manifest: res.manifest } : {}) }
    } finally {
      await stream.close().catch(() => undefined)
    }
  }

  /** Everything the peer holds: [(ContentID, shard indexes)]. */
  async inventory(peer: string, timeoutMs = 5_000): Promise<[string, number[]][]> {
    const { stream, io } = await this.#open(peer, timeoutMs)
    try {
      await io.write(encodeShardFrame({ op: 'inventory' }))
      return (await this.#response(io, timeoutMs)).inventory ?? []
    } finally {
      await stream.close().catch(() => undefined)
    }
  }

  /** A PoSR challenge: the segment, its Merkle path and the SSN's signature over its answer. */
  async segment(
    peer: string,
    req: { cid: string; index: number; segment: number; challengeHeight: number },
    timeoutMs = 10_000,
  ): Promise<SegmentAnswer> {
    const { stream, io } = await this.#open(peer, timeoutMs)
    try {
      await io.write(encodeShardFrame({ op: 'segment', ...req }))
      await this.#response(io, timeoutMs)
      return decodeSegmentAnswer(await io.read(AbortSignal.timeout(timeoutMs)))
    } finally {
      await stream.close().catch(() => undefined)
    }
  }
}
