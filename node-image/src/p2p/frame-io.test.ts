import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { FrameIO } from './frame-io.ts'

/**
 * FrameIO between two real libp2p nodes on loopback (TCP + Noise + Yamux): a fast sender and a
 * reader that stalls. The reader's pauses must hold the sender back for the whole transfer. (A
 * pause taken while a resume delivered its backlog used to be undone by that resume; the 1 GiB
 * content-path test in the testnet tier then failed with "Read buffer length … exceeded limit".)
 */

const PROTOCOL = '/echonet-test/frames/1.0.0'
const MiB = 1024 * 1024
let a: Libp2p
let b: Libp2p

const node = (): Promise<Libp2p> =>
  createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })

beforeAll(async () => {
  a = await node()
  b = await node()
})

afterAll(async () => {
  await a.stop()
  await b.stop()
})

describe('FrameIO backpressure over yamux', () => {
  it('a reader that stalls and then reads slowly gets 128 MiB intact, holding a bounded amount', async () => {
    const frames = 128
    const sent = new Promise<void>((resolve, reject) => {
      void b.handle(PROTOCOL, async (stream: Stream) => {
        try {
          const io = new FrameIO(stream, { maxFrame: 2 * MiB })
          for (let i = 0; i < frames; i++) await io.write(new Uint8Array(MiB).fill(i))
          await stream.close()
          resolve()
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)))
        }
      })
    })
    const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, PROTOCOL)
    const io = new FrameIO(stream, { maxFrame: 2 * MiB })
    let maxHeld = 0
    const sampler = setInterval(() => {
      maxHeld = Math.max(maxHeld, stream.readBufferLength + io.bufferedBytes)
    }, 1)
    try {
      for (let i = 0; i < frames; i++) {
        const frame = Buffer.concat(await io.readPieces())
        expect(frame.length).toBe(MiB)
        expect(frame[0] === i && frame[MiB - 1] === i).toBe(true)
        // Fast at first (yamux grows the window to 16 MiB), then a stall (the pause lets a full
        // window pile up), then slower than the sender: only a pause that holds keeps this bounded.
        if (i === 24) await sleep(300)
        else if (i > 24) await sleep(10)
      }
      await sent
    } finally {
      clearInterval(sampler)
    }
    // At most the reader's high-water mark (2 MiB) and a frame, plus two receive windows (16 MiB
    // each: the one in flight when it paused, and the one a resume grants while it still holds the
    // first) — never the whole transfer, and never past the 24 MiB at which libp2p resets a stream.
    expect(maxHeld).toBeLessThanOrEqual(36 * MiB)
  }, 60_000)
})
