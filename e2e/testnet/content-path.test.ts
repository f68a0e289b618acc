import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash, randomBytes, randomFillSync } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { downTestnet, killNode, launchTestnet, nodeNamed } from '../../node-image/src/cli/testnet.ts'
import type { TestnetState } from '../../node-image/src/cli/testnet.ts'

/**
 * Issue #13, the content path through the public API. Publishing streams each shard to its SSN as
 * the stripes are encoded; a shard whose SSN fails goes to the next candidate in another pass.
 * Publishing and fetching a 1 GiB body keep the serving node's memory bounded — bodies
 * and shards stream through spool files and fixed-size buffers, never whole in memory. One
 * two witnesses and three SSNs as processes on 127.0.73.x; the body is generated and hashed as it is
 * sent, so the test holds no copy either. The bound: the publishing witness's (w0) and the
 * fetching witness's (w1) resident memory, sampled every 50 ms from /proc, stays below its idle
 * size plus RSS_BOUND_MIB — a fixed amount whatever the body size. What stays resident is the
 * working buffers and transfers in flight (tens of MiB) plus garbage the transport (noise, yamux)
 * makes faster than V8 collects it under load: observed +150…+430 MiB for 1 and 2 GiB bodies on
 * the shared 2-core machine (before issue #13: +1,000 MiB for 1 GiB, growing with the body).
 */

const MiB = 1024 * 1024
const BODY_BYTES = 1024 * MiB
const RSS_BOUND_MIB = 640
let s: TestnetState | undefined

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) * 1024
}

/** Peak resident memory of `pid` while `work` runs. */
async function peakRss(pid: number, work: () => Promise<void>): Promise<number> {
  let peak = await rssBytes(pid)
  const timer = setInterval(() => {
    rssBytes(pid).then(
      (r) => (peak = Math.max(peak, r)),
      () => undefined,
    )
  }, 50)
  try {
    await work()
  } finally {
    clearInterval(timer)
  }
  return Math.max(peak, await rssBytes(pid))
}

/** 1 GiB of pseudo-random bytes in 1 MiB pieces, hashed as they are produced. */
function body(hash: ReturnType<typeof createHash>): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= BODY_BYTES) {
        controller.close()
        return
      }
      const piece = randomFillSync(new Uint8Array(Math.min(MiB, BODY_BYTES - sent)))
      hash.update(piece)
      sent += piece.length
      controller.enqueue(piece)
    },
  })
}

beforeAll(async () => {
  process.env.ECHONET_REPAIR_INTERVAL_MS = '600000'
  s = await launchTestnet(
    { witnesses: 2, standbys: 0, ssns: 3, seeds: 0, ipPrefix: '127.0.73.', accounts: 1 },
    { tmpPrefix: 'echonet-content-path-', height: 2, timeoutMs: 90_000 },
  )
}, 120_000)

afterAll(async () => {
  if (s) await downTestnet(s.dir, true)
})

describe('content path', () => {
  it(`publishes and fetches a 1 GiB body within idle RSS + ${RSS_BOUND_MIB} MiB on the serving node`, async () => {
    const w0 = nodeNamed(s!, 'w0')
    const w1 = nodeNamed(s!, 'w1')
    const idle = await rssBytes(w0.pid!)
    const idle1 = await rssBytes(w1.pid!)
    const sentHash = createHash('sha256')
    let cid = ''
    const publishPeak = await peakRss(w0.pid!, async () => {
      const res = await fetch(`${w0.api}/v1/content`, {
        method: 'POST',
        body: body(sentHash),
        headers: { 'content-length': String(BODY_BYTES) },
        duplex: 'half',
      })
      expect(res.status).toBe(201)
      cid = ((await res.json()) as { cid: string }).cid
    })
    const gotHash = createHash('sha256')
    let got = 0
    const fetchPeak = await peakRss(w1.pid!, async () => {
      const res = await fetch(`${w1.api}/v1/content/${cid}`)
      expect(res.status).toBe(200)
      for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
        gotHash.update(piece)
        got += piece.length
      }
    })
    expect(got).toBe(BODY_BYTES)
    expect(gotHash.digest('hex')).toBe(sentHash.digest('hex'))
    console.log(
      `[content-path] w0 idle ${(idle / MiB).toFixed(0)} MiB, publish peak ${(publishPeak / MiB).toFixed(0)} MiB; w1 idle ${(idle1 / MiB).toFixed(0)} MiB, fetch peak ${(fetchPeak / MiB).toFixed(0)} MiB`,
    )
    expect(publishPeak - idle).toBeLessThan(RSS_BOUND_MIB * MiB)
    expect(fetchPeak - idle1).toBeLessThan(RSS_BOUND_MIB * MiB)
  }, 600_000)

  it('places every shard when SSNs are down: their shards go to the next candidates, and the body reads back', async () => {
    // Two of three down: the chance that neither is the first candidate of any of 6 shards is 0.14 %.
    await killNode(s!, 'ssn1')
    await killNode(s!, 'ssn2')
    const body = randomBytes(8 * MiB + 123)
    const w0 = nodeNamed(s!, 'w0')
    const res = await fetch(`${w0.api}/v1/content`, { method: 'POST', body })
    expect(res.status).toBe(201)
    const out = (await res.json()) as { cid: string; stored: number; k: number; m: number }
    expect(out.stored).toBe(out.k + out.m)
    const back = await fetch(`${nodeNamed(s!, 'w1').api}/v1/content/${out.cid}`)
    expect(back.status).toBe(200)
    expect(Buffer.compare(Buffer.from(await back.arrayBuffer()), body)).toBe(0)
  }, 120_000)
})
