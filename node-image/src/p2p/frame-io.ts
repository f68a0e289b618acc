import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'
import { CodedError } from '../util/coded-error.ts'

/**
 * Length-prefixed (unsigned varint) frames over a libp2p stream *with backpressure on both
 * sides*. @libp2p/utils' lpStream buffers whatever arrives and resets the stream past 4 MiB
 * instead of slowing the sender; here the reader pauses the stream when `highWater` bytes are
 * waiting (yamux then stops granting send window, so the sender's writes wait for 'drain') and
 * resumes once the consumer has taken them. Memory per stream: highWater + one frame + at most
 * two yamux receive windows (the one in flight when it pauses, and the one a resume grants while
 * the backlog it delivers is still being read): ~35 MiB on a fast link.
 */

export class FrameError extends CodedError {}

const MAX_VARINT_BYTES = 5
const PAUSE_BUFFER_BYTES = 24 * 1024 * 1024

function encodeVarint(n: number): Uint8Array {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80)
    v = Math.floor(v / 128)
  }
  out.push(v)
  return Uint8Array.from(out)
}

export class FrameIO {
  readonly stream: Stream
  readonly #buf = new Uint8ArrayList()
  readonly #maxFrame: number
  readonly #highWater: number
  #wake: (() => void) | undefined
  #ended = false
  #error: Error | undefined
  #paused = false

  constructor(stream: Stream, opts: { maxFrame: number; highWater?: number }) {
    this.stream = stream
    this.#maxFrame = opts.maxFrame
    this.#highWater = opts.highWater ?? 2 * 1024 * 1024
    // While paused, yamux still lets the peer fill the receive window it already granted (it grows
    // up to 16 MiB on a fast link); the stream resets if its pause buffer is smaller than that.
    stream.maxReadBufferLength = Math.max(stream.maxReadBufferLength, PAUSE_BUFFER_BYTES)
    stream.addEventListener('message', (evt) => {
      this.#buf.append(evt.data)
      if (this.#buf.byteLength > this.#highWater && !this.#paused) {
        this.#paused = true
        // Not inside this event: stream.resume() delivers what it held *before* it tells yamux to
        // send window again, so a pause from here would be undone at once and the peer would send
        // without limit (the stream then resets at maxReadBufferLength).
        queueMicrotask(() => {
          if (this.#paused && stream.readStatus === 'readable') stream.pause()
        })
      }
      this.#notify()
    })
    stream.addEventListener('close', (evt) => {
      this.#ended = true
      if (evt.error) this.#error = evt.error
      this.#notify()
    })
    stream.addEventListener('remoteCloseWrite', () => {
      this.#ended = true
      this.#notify()
    })
  }

  /** Bytes received and not yet taken by the consumer (this reader's part of the stream's memory). */
  get bufferedBytes(): number {
    return this.#buf.byteLength
  }

  /** Lets the peer send again (and delivers what the stream held while paused). */
  #resume(): void {
    this.#paused = false
    if (this.stream.readStatus === 'paused') this.stream.resume()
  }

  #notify(): void {
    const w = this.#wake
    this.#wake = undefined
    w?.()
  }

  async #waitFor(bytes: number, signal?: AbortSignal): Promise<void> {
    if (this.#buf.byteLength >= bytes) return
    const timedOut = (): FrameError => new FrameError('TIMEOUT', 'timed out reading a frame')
    if (signal?.aborted === true) throw timedOut()
    // One abort listener per wait (a 1 MiB frame arrives in ~16 messages), removed when done.
    let fail: ((err: Error) => void) | undefined
    const onAbort = (): void => fail?.(timedOut())
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      while (this.#buf.byteLength < bytes) {
        if (this.#error) throw this.#error
        if (this.#ended) throw new FrameError('STREAM_ENDED', 'the stream ended in the middle of a frame')
        if (this.#paused) this.#resume()
        await new Promise<void>((resolve, reject) => {
          this.#wake = resolve
          fail = reject
        })
      }
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** The next frame's payload (one contiguous copy: for headers and other small frames). */
  async read(signal?: AbortSignal): Promise<Uint8Array> {
    const pieces = await this.readPieces(signal)
    if (pieces.length === 1) return pieces[0]!
    const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of pieces) {
      out.set(p, at)
      at += p.length
    }
    return out
  }

  /**
   * The next frame's payload as the buffers it arrived in, without copying them (data frames: a
   * 1 MiB frame is ~16 decrypted transport messages). The buffers are the transport's fresh
   * allocations, never reused by it, so the caller may keep them.
   */
  async readPieces(signal?: AbortSignal): Promise<Uint8Array[]> {
    let len = 0
    let shift = 1
    let i = 0
    for (; ; i++) {
      if (i >= MAX_VARINT_BYTES) throw new FrameError('FRAME_TOO_LARGE', 'frame length prefix is too long')
      await this.#waitFor(i + 1, signal)
      const b = this.#buf.get(i)
      len += (b & 0x7f) * shift
      shift *= 128
      if ((b & 0x80) === 0) break
    }
    if (len > this.#maxFrame) throw new FrameError('FRAME_TOO_LARGE', `frame of ${len} bytes exceeds ${this.#maxFrame}`)
    await this.#waitFor(i + 1 + len, signal)
    const pieces = [...this.#buf.sublist(i + 1, i + 1 + len)]
    this.#buf.consume(i + 1 + len)
    if (this.#paused && this.#buf.byteLength < this.#highWater / 2) this.#resume()
    return pieces
  }

  /** Sends one frame; waits for the stream to drain when its send buffer is full. */
  async write(payload: Uint8Array, signal?: AbortSignal): Promise<void> {
    const ok = this.stream.send(new Uint8ArrayList(encodeVarint(payload.length), payload))
    if (!ok) await this.stream.onDrain(signal ? { signal } : {})
  }
}
