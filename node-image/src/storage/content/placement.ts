import { createHash } from 'node:crypto'
import { compareBytes } from '../../crypto/hash.ts'

/**
 * Shard placement by rendezvous (highest-random-weight) hashing (DESIGN §4 "DDS").
 *
 * score(cid, index, ssn) = sha256("echonet/v1/placement" 0 cid 0 index 0 ssn); every shard ranks
 * every SSN by score. `placeShards` is a pure function of (cid, shard count, SSN set):
 *   - with at least as many SSNs as shards, it is the greedy matching over all (shard, SSN)
 *     pairs in descending score order (each shard takes its best SSN not already taken; this is
 *     the unique stable matching for symmetric scores), so SSNs are distinct;
 *   - with fewer SSNs, the same is done in rounds (each round every SSN takes at most one more
 *     shard), so loads differ by at most one.
 * Removing an SSN that holds none of the shards, or adding one that wins none, moves nothing.
 *
 * A stateless placement cannot be both distinct and guarantee that only the removed SSN's shards
 * move (with n shards and n + 2 SSNs, removing the two holders in either order must leave their
 * shards on different free SSNs, which a function of the set alone cannot decide consistently
 * in general), so when shards already exist, repair uses `rebalance`: it keeps every shard
 * whose SSN is still registered and moves only the orphaned ones (to the best-scoring SSN among the
 * least loaded), which is the "only shards on the removed SSN move" guarantee.
 */

const TAG = new TextEncoder().encode('echonet/v1/placement\u0000')

export function placementScore(cid: string, index: number, ssn: string): Uint8Array {
  const idx = new Uint8Array(2)
  new DataView(idx.buffer).setUint16(0, index)
  return new Uint8Array(
    createHash('sha256').update(TAG).update(cid).update('\u0000').update(idx).update('\u0000').update(ssn).digest(),
  )
}

interface Pair {
  readonly shard: number
  readonly ssn: string
  readonly score: Uint8Array
}

function byScore(a: Pair, b: Pair): number {
  return compareBytes(b.score, a.score) || (a.ssn < b.ssn ? -1 : a.ssn > b.ssn ? 1 : a.shard - b.shard)
}

function checkArgs(totalShards: number, ssns: readonly string[]): string[] {
  if (!Number.isInteger(totalShards) || totalShards < 0 || totalShards > 256) {
    throw new RangeError(`totalShards must be an integer in [0, 256], got ${totalShards}`)
  }
  const unique = [...new Set(ssns)]
  if (unique.length === 0 && totalShards > 0) throw new RangeError('no SSNs to place shards on')
  return unique
}

/** SSN (DID) for each shard index 0..totalShards-1. */
export function placeShards(cid: string, totalShards: number, ssns: readonly string[]): string[] {
  const pool = checkArgs(totalShards, ssns)
  const out: (string | undefined)[] = Array.from({ length: totalShards }, () => undefined)
  const pairs: Pair[] = []
  for (let shard = 0; shard < totalShards; shard++) {
    for (const ssn of pool) pairs.push({ shard, ssn, score: placementScore(cid, shard, ssn) })
  }
  pairs.sort(byScore)
  let left = totalShards
  while (left > 0) {
    const usedThisRound = new Set<string>()
    for (const p of pairs) {
      if (out[p.shard] !== undefined || usedThisRound.has(p.ssn)) continue
      out[p.shard] = p.ssn
      usedThisRound.add(p.ssn)
      left--
      if (usedThisRound.size === pool.length) break
    }
  }
  return out as string[]
}

/**
 * Repair placement: `previous[i]` is where shard i lives now. Shards whose SSN is still in `ssns`
 * stay; each orphaned shard moves to the SSN with the fewest shards of this content (ties: highest
 * score). With at least as many SSNs as shards, the result is distinct.
 */
export function rebalance(cid: string, previous: readonly string[], ssns: readonly string[]): string[] {
  const pool = checkArgs(previous.length, ssns)
  const live = new Set(pool)
  const load = new Map<string, number>(pool.map((s) => [s, 0]))
  const out = previous.map((s) => (live.has(s) ? s : undefined))
  for (const s of out) if (s !== undefined) load.set(s, (load.get(s) ?? 0) + 1)
  out.forEach((s, shard) => {
    if (s !== undefined) return
    let best: Pair | undefined
    for (const ssn of pool) {
      const p = { shard, ssn, score: placementScore(cid, shard, ssn) }
      if (best === undefined) {
        best = p
        continue
      }
      const dl = load.get(ssn)! - load.get(best.ssn)!
      if (dl < 0 || (dl === 0 && byScore(p, best) < 0)) best = p
    }
    out[shard] = best!.ssn
    load.set(best!.ssn, load.get(best!.ssn)! + 1)
  })
  return out as string[]
}
