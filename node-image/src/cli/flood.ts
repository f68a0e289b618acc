import { request } from 'node:http'
import { isIP } from 'node:net'
import { encode } from '../crypto/encoding.ts'
import type { NodeIdentity } from '../crypto/identity.ts'
import type { Did } from '../crypto/did.ts'
import { encodeEvent, signEvent } from '../ledger/event.ts'

/**
 * A bounded event flood for drills and benchmarks (scenario D): signed, funded transfers from one
 * DID, sent to one node's public API from one source address. Loopback only — it refuses any other
 * target or source — and it stops by itself after `seconds`.
 */

export interface FloodOptions {
  readonly chainId: string
  /** The public API, e.g. http://127.0.70.1:8080 (loopback only). */
  readonly api: string
  /** The source address the flood binds (a 127.x address: the attacker's "IP"). */
  readonly sourceIp: string
  readonly attacker: NodeIdentity
  /** Where the transfers go (any DID). */
  readonly to: Did
  /** First nonce to use (the attacker's account nonce + 1). */
  readonly firstNonce: number
  readonly eventsPerSecond: number
  readonly seconds: number
  /** Events per request (1 makes it a request flood as well). */
  readonly batch: number
}

export interface FloodReport {
  readonly sent: number
  readonly accepted: number
  /** Refused events by code (RATE_LIMITED, BLOCKED, NONCE_GAP, ...), and whole requests by HTTP code. */
  readonly refused: Record<string, number>
  readonly requests: number
  /** Requests that got no answer (connection refused or cut off, e.g. by the blocklist). */
  readonly unanswered: number
}

function isLoopback(host: string): boolean {
  return isIP(host) === 4 && host.startsWith('127.')
}

function post(url: URL, sourceIp: string, body: Uint8Array): Promise<{ status: number; json: unknown } | undefined> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: '/v1/events',
        method: 'POST',
        localAddress: sourceIp,
        headers: { 'content-type': 'application/cbor', 'content-length': body.length },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          let json: unknown
          try {
            json = JSON.parse(Buffer.concat(chunks).toString('utf8'))
          } catch {
            json = undefined
          }
          resolve({ status: res.statusCode ?? 0, json })
        })
        res.on('error', () => resolve(undefined))
      },
    )
    req.on('error', () => resolve(undefined))
    req.on('timeout', () => req.destroy())
    req.end(body)
  })
}

export async function runFlood(o: FloodOptions): Promise<FloodReport> {
  const url = new URL(o.api)
  if (!isLoopback(url.hostname) || !isLoopback(o.sourceIp))
    throw new Error('flood: loopback targets and sources only (127.x.y.z)')
  const refused: Record<string, number> = {}
  const count = (code: string, n: number): void => {
    refused[code] = (refused[code] ?? 0) + n
  }
  let sent = 0
  let accepted = 0
  let requests = 0
  let unanswered = 0
  let nonce = o.firstNonce
  const inflight = new Set<Promise<void>>()
  const tickMs = 50
  const perTick = Math.max(1, Math.round((o.eventsPerSecond * tickMs) / 1000))
  const end = Date.now() + o.seconds * 1000
  while (Date.now() < end) {
    const tick = Date.now()
    for (let made = 0; made < perTick; made += o.batch) {
      const batch: Uint8Array[] = []
      for (let i = 0; i < o.batch && made + i < perTick; i++) {
        const ev = signEvent(o.attacker.signer, o.attacker.did, {
          chainId: o.chainId,
          type: 'accounts.transfer',
          nonce: nonce++,
          fee: 1,
          payload: { to: o.to, amount: 1 },
        })
        batch.push(encodeEvent(ev))
      }
      sent += batch.length
      requests++
      const p = post(url, o.sourceIp, encode(batch)).then((r) => {
        if (r === undefined) {
          unanswered++
          count('UNANSWERED', batch.length)
          return
        }
        const body = r.json as { results?: { ok: boolean; code?: string }[]; error?: { code?: string } } | undefined
        if (body?.results === undefined) {
          count(body?.error?.code ?? `HTTP_${r.status}`, batch.length)
          return
        }
        for (const res of body.results) {
          if (res.ok) accepted++
          else count(res.code ?? 'UNKNOWN', 1)
        }
      })
      inflight.add(p)
      void p.finally(() => inflight.delete(p))
      if (inflight.size >= 64) await Promise.race(inflight)
    }
    const spent = Date.now() - tick
    if (spent < tickMs) await new Promise((r) => setTimeout(r, tickMs - spent))
  }
  await Promise.all(inflight)
  return { sent, accepted, refused, requests, unanswered }
}
