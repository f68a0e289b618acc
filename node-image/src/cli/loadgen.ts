import { encode } from '../crypto/encoding.ts'
import { sha256, toHex } from '../crypto/hash.ts'
import type { NodeIdentity } from '../crypto/identity.ts'
import { encodeEvent, signEvent } from '../ledger/event.ts'
import type { TestnetState } from './testnet.ts'
import { testnetAccount } from './testnet.ts'

/**
 * Load generator: signed transfers from the testnet's funded accounts, spread over the witness
 * APIs in CBOR batches; finality is observed by reading finalized blocks and matching event ids.
 */

export interface LoadOptions {
  readonly rate: number
  readonly seconds: number
  readonly senders: number
  /** Only these nodes receive submissions (default: every witness). */
  readonly targets?: readonly string[]
  /** Extra time allowed for the tail to finalize. */
  readonly drainSeconds?: number
}

export interface LoadReport {
  readonly submitted: number
  readonly accepted: number
  readonly rejected: Record<string, number>
  readonly finalized: number
  readonly eventsPerSecond: number
  readonly finalityMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number }
  readonly durationMs: number
  readonly blocks: number
  /** Every accepted event id with the height it was final at (for no-loss checks). */
  readonly finalizedAt: ReadonlyMap<string, number>
  readonly acceptedIds: readonly string[]
}

interface Sender {
  readonly id: NodeIdentity
  nonce: number
}

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(5_000) })
    if (!r.ok) return undefined
    return (await r.json()) as T
  } catch {
    return undefined
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

export async function runLoad(s: TestnetState, o: LoadOptions): Promise<LoadReport> {
  const targets = s.nodes.filter((n) => (o.targets ? o.targets.includes(n.name) : n.role === 'witness'))
  const senders: Sender[] = []
  for (let i = 0; i < Math.min(o.senders, s.accounts); i++) {
    const id = testnetAccount(i)
    let nonce = 0
    for (const t of targets) {
      const a = await getJson<{ nonce?: number }>(`${t.api}/v1/accounts/${id.did}`)
      if (a?.nonce !== undefined) {
        nonce = a.nonce
        break
      }
    }
    senders.push({ id, nonce })
  }
  const submitAt = new Map<string, number>()
  const finalizedAt = new Map<string, number>()
  const latencies: number[] = []
  const rejected: Record<string, number> = {}
  const acceptedIds: string[] = []
  let submitted = 0
  let accepted = 0
  const start = Date.now()
  const endSubmit = start + o.seconds * 1000
  const tickMs = 50
  const perTick = Math.max(1, Math.round((o.rate * tickMs) / 1000))
  let rr = 0
  let tgt = 0
  let lastFinal = start

  // Finality watcher: follow finalized blocks on the first live target.
  const observer = targets[0]!
  let observed = (await getJson<{ finalizedHeight: number }>(`${observer.api}/v1/status`))?.finalizedHeight ?? 0
  let blocks = 0
  const ctl = { watching: true }
  const watch = (async () => {
    while (ctl.watching) {
      const st = await getJson<{ finalizedHeight: number }>(`${observer.api}/v1/status`)
      if (st && st.finalizedHeight > observed) {
        for (let h = observed + 1; h <= st.finalizedHeight; h++) {
          const b = await getJson<{ eventIds: string[] }>(`${observer.api}/v1/blocks/${h}`)
          if (!b) break
          const now = Date.now()
          blocks++
          for (const id of b.eventIds) {
            const t0 = submitAt.get(id)
            if (t0 !== undefined && !finalizedAt.has(id)) {
              finalizedAt.set(id, h)
              latencies.push(now - t0)
              lastFinal = now
            }
          }
          observed = h
        }
      } else {
        await new Promise((r) => setTimeout(r, 20))
      }
    }
  })()

  const MAX_INFLIGHT = 8
  const inflight = new Set<Promise<void>>()
  const post = async (api: string, batch: Uint8Array[], ids: string[]): Promise<void> => {
    try {
      const r = await fetch(`${api}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/cbor' },
        body: encode(batch),
        signal: AbortSignal.timeout(10_000),
      })
      const body = (await r.json()) as { results?: { id: string; ok: boolean; code?: string }[] }
      for (const res of body.results ?? []) {
        if (res.ok) {
          accepted++
          acceptedIds.push(res.id)
        } else {
          rejected[res.code ?? 'UNKNOWN'] = (rejected[res.code ?? 'UNKNOWN'] ?? 0) + 1
          submitAt.delete(res.id)
        }
      }
    } catch {
      // A lost batch: its events may or may not have been admitted; they are not counted.
      rejected.UNREACHABLE = (rejected.UNREACHABLE ?? 0) + batch.length
      for (const id of ids) submitAt.delete(id)
    }
  }
  while (Date.now() < endSubmit) {
    const tickStart = Date.now()
    const batch: Uint8Array[] = []
    const ids: string[] = []
    for (let i = 0; i < perTick; i++) {
      const from = senders[rr++ % senders.length]!
      const to = senders[(rr + 1) % senders.length]!
      const ev = signEvent(from.id.signer, from.id.did, {
        chainId: s.chainId,
        type: 'accounts.transfer',
        nonce: from.nonce + 1,
        fee: 1,
        payload: { to: to.id.did, amount: 1 },
      })
      from.nonce++
      const bytes = encodeEvent(ev)
      batch.push(bytes)
      ids.push(toHex(sha256(bytes)))
    }
    const target = targets[tgt++ % targets.length]!
    const now = Date.now()
    for (const id of ids) submitAt.set(id, now)
    submitted += batch.length
    // Several requests in flight, so the generator's own round trips do not cap the rate.
    const req = post(target.api, batch, ids)
    inflight.add(req)
    void req.finally(() => inflight.delete(req))
    if (inflight.size >= MAX_INFLIGHT) await Promise.race(inflight)
    const spent = Date.now() - tickStart
    if (spent < tickMs) await new Promise((r) => setTimeout(r, tickMs - spent))
  }
  await Promise.all(inflight)
  const drainEnd = Date.now() + (o.drainSeconds ?? 15) * 1000
  while (finalizedAt.size < accepted && Date.now() < drainEnd) await new Promise((r) => setTimeout(r, 50))
  ctl.watching = false
  await watch
  latencies.sort((a, b) => a - b)
  const durationMs = Math.max(1, lastFinal - start)
  return {
    submitted,
    accepted,
    rejected,
    finalized: finalizedAt.size,
    eventsPerSecond: Math.round((finalizedAt.size * 1000) / durationMs),
    finalityMs: {
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? 0,
    },
    durationMs,
    blocks,
    finalizedAt,
    acceptedIds,
  }
}
