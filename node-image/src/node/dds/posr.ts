import { createHash } from 'node:crypto'
import { sha256, toHex } from '../../crypto/hash.ts'
import { verifyPayload } from '../../crypto/signing.ts'
import { posrAnswerBytesPayload } from '../../ledger/event.ts'
import type { EventPayloadMap } from '../../ledger/event.ts'
import type { Params } from '../../ledger/params.ts'
import type { ContentRecord } from '../../ledger/state.ts'
import type { NodeMetrics } from '../../api/metrics.ts'
import { manifestSegmentCount, segmentLength, verifySegment } from '../../storage/content/index.ts'
import type { ContentManifest } from '../../storage/content/index.ts'
import type { ShardProtocol } from '../../p2p/shard-protocol.ts'
import type { SegmentAnswer } from '../../p2p/shard-wire.ts'
import type { EventSender } from '../event-sender.ts'
import type { SsnEntry } from './locator.ts'
import { peerIdOfDid } from './peers.ts'

/**
 * PoSR challenges (DESIGN §4): at every challenge height h (every checkpointInterval /
 * posrChallengeRate blocks), each registered SSN is audited once. Everything is derived from the
 * block's randomness, so every witness computes the same plan and exactly one — the committee member
 * the randomness picks for that SSN — asks and submits. The SSN is asked for its inventory, one of
 * its registered (content, shard) pairs and a segment are drawn, and its answer is checked against
 * the manifest's segment Merkle root:
 *   - verifies                           → pass
 *   - no answer, or "I cannot produce it" → unreachable (suspended, its shards repaired; not slashed)
 *   - a signed answer that does not verify → wrong-data with the SSN's signature as evidence
 * (slashed unless the council's storage-incident flag is set or the ledger is halted: the ledger
 * decides that, the challenger just reports).
 */

export interface PosrLedger {
  readonly chainId: string
  committee(): { did: string; power: number }[]
  ssns(): readonly SsnEntry[]
  contents(): { cid: string; rec: ContentRecord }[]
  params(): Params
}

export interface PosrDeps {
  readonly selfDid: string
  readonly shards: ShardProtocol
  readonly sender: EventSender
  readonly metrics: NodeMetrics
  ledger(): PosrLedger
  manifest(cid: string): Promise<ContentManifest | undefined>
  log(level: 'info' | 'warn' | 'debug', msg: string, data?: Record<string, unknown>): void
}

type Outcome = EventPayloadMap['posr.result']

/** A deterministic draw in [0, n) from (randomness, label). */
export function draw(randomness: Uint8Array, label: string, n: number): number {
  const h = createHash('sha256').update(randomness).update(label).digest()
  return h.readUInt32BE(0) % n
}

/** Blocks between challenge heights (0 = PoSR off). */
export function challengeInterval(p: Params): number {
  if (p.posrChallengeRate === 0) return 0
  return Math.max(1, Math.floor(p.checkpointInterval / p.posrChallengeRate))
}

export class PosrChallenger {
  readonly #d: PosrDeps
  #busy = false

  constructor(deps: PosrDeps) {
    this.#d = deps
  }

  /** Called for every finalized block; challenges run in the background, one height at a time. */
  onCommit(height: number, randomness: Uint8Array): void {
    const ledger = this.#d.ledger()
    const every = challengeInterval(ledger.params())
    if (every === 0 || height % every !== 0 || this.#busy) return
    const committee = ledger.committee()
    if (committee.length === 0) return
    const mine = ledger
      .ssns()
      .filter((s) => committee[draw(randomness, `challenger/${s.did}`, committee.length)]?.did === this.#d.selfDid)
    if (mine.length === 0) return
    this.#busy = true
    void Promise.all(mine.map((s) => this.#challenge(s.did, height, randomness)))
      .catch((err: unknown) => this.#d.log('warn', 'posr round failed', { err: (err as Error).message }))
      .finally(() => (this.#busy = false))
  }

  async #challenge(ssn: string, height: number, randomness: Uint8Array): Promise<void> {
    const registered = new Map(
      this.#d
        .ledger()
        .contents()
        .map((c) => [c.cid, c.rec]),
    )
    if (registered.size === 0) return
    let inventory: [string, number[]][]
    try {
      inventory = (await this.#d.shards.inventory(peerIdOfDid(ssn), 5_000)).filter(([cid]) => registered.has(cid))
    } catch {
      // Nothing to ask about: audit a registered shard drawn from the ledger, which it cannot serve.
      const cids = [...registered.keys()].sort()
      const cid = cids[draw(randomness, `cid/${ssn}`, cids.length)]!
      const rec = registered.get(cid)!
      this.#submit({
        ssn: ssn as Outcome['ssn'],
        cid,
        shard: draw(randomness, `shard/${ssn}`, rec.k + rec.m),
        segment: 0,
        challengeHeight: height,
        outcome: 'unreachable',
      })
      return
    }
    if (inventory.length === 0) return
    inventory.sort((a, b) => (a[0] < b[0] ? -1 : 1))
    const [cid, held] = inventory[draw(randomness, `cid/${ssn}`, inventory.length)]!
    const shard = held[draw(randomness, `shard/${ssn}`, held.length)]!
    const manifest = await this.#d.manifest(cid)
    if (manifest === undefined) return
    const segment = draw(randomness, `segment/${ssn}`, manifestSegmentCount(manifest))
    const base = { ssn: ssn as Outcome['ssn'], cid, shard, segment, challengeHeight: height }
    let answer: SegmentAnswer
    try {
      answer = await this.#d.shards.segment(peerIdOfDid(ssn), { cid, index: shard, segment, challengeHeight: height })
    } catch (err) {
      this.#d.log('info', 'posr: ssn did not answer', { ssn, cid, shard, code: (err as { code?: string }).code })
      this.#submit({ ...base, outcome: 'unreachable' })
      return
    }
    const expectedLength = segmentLength(manifest.shardSize, manifest.segmentSize, segment)
    const ok =
      (answer.segment.length === expectedLength || (manifest.shardSize === 0 && answer.segment.length === 0)) &&
      verifySegment(manifest.shards[shard]!.root, segment, answer.segment, answer.path, manifestSegmentCount(manifest))
    if (ok) {
      this.#submit({ ...base, outcome: 'pass' })
      return
    }
    const dataHash = toHex(sha256(answer.segment))
    const signed = verifyPayload(
      ssn,
      'posr-answer',
      posrAnswerBytesPayload({ chainId: this.#d.ledger().chainId, ...base, dataHash }),
      answer.sig,
    )
    // Without the SSN's signature there is no evidence to slash on; count it as not answering.
    this.#submit(
      signed
        ? { ...base, outcome: 'wrong-data', answer: { dataHash, sig: answer.sig } }
        : { ...base, outcome: 'unreachable' },
    )
  }

  #submit(p: Outcome): void {
    try {
      this.#d.sender.send('posr.result', p)
      this.#d.metrics.posrResults.inc({ outcome: p.outcome })
      if (p.outcome !== 'pass') this.#d.log('info', 'posr result', { ssn: p.ssn, cid: p.cid, outcome: p.outcome })
    } catch (err) {
      this.#d.log('warn', 'posr result not submitted', { ssn: p.ssn, code: (err as { code?: string }).code })
    }
  }
}
