import { toHex } from '../crypto/hash.ts'

/**
 * Pending events, verified once on admission. Bounded per sender (one sender cannot crowd out
 * the rest) and in total; reaped in per-sender nonce order, round-robin across senders.
 */

export interface MempoolEntry<E> {
  readonly id: string
  readonly bytes: Uint8Array
  readonly event: E
  readonly sender: string
  readonly nonce: number
}

export interface MempoolLimits {
  readonly maxPerSender: number
  readonly maxEvents: number
  readonly maxBytes: number
}

export const DEFAULT_MEMPOOL_LIMITS: MempoolLimits = {
  maxPerSender: 4_096,
  maxEvents: 100_000,
  maxBytes: 64 * 1024 * 1024,
}

export type AdmitResult =
  { readonly ok: true; readonly id: string } | { readonly ok: false; readonly id: string; readonly code: string }

export class Mempool<E> {
  readonly #limits: MempoolLimits
  readonly #byId = new Map<string, MempoolEntry<E>>()
  readonly #bySender = new Map<string, Map<number, MempoolEntry<E>>>()
  #bytes = 0

  constructor(limits: MempoolLimits = DEFAULT_MEMPOOL_LIMITS) {
    this.#limits = limits
  }

  get size(): number {
    return this.#byId.size
  }

  get bytes(): number {
    return this.#bytes
  }

  has(id: string): boolean {
    return this.#byId.has(id)
  }

  get(id: string): MempoolEntry<E> | undefined {
    return this.#byId.get(id)
  }

  admit(entry: Omit<MempoolEntry<E>, 'id'> & { id?: string; idBytes: Uint8Array }): AdmitResult {
    const id = entry.id ?? toHex(entry.idBytes)
    if (this.#byId.has(id)) return { ok: false, id, code: 'DUPLICATE_EVENT' }
    const mine = this.#bySender.get(entry.sender)
    if (mine?.has(entry.nonce)) return { ok: false, id, code: 'NONCE_ALREADY_PENDING' }
    if ((mine?.size ?? 0) >= this.#limits.maxPerSender) return { ok: false, id, code: 'SENDER_QUEUE_FULL' }
    if (this.#byId.size >= this.#limits.maxEvents || this.#bytes + entry.bytes.length > this.#limits.maxBytes) {
      return { ok: false, id, code: 'MEMPOOL_FULL' }
    }
    const e: MempoolEntry<E> = { id, bytes: entry.bytes, event: entry.event, sender: entry.sender, nonce: entry.nonce }
    this.#byId.set(id, e)
    let q = mine
    if (!q) {
      q = new Map()
      this.#bySender.set(entry.sender, q)
    }
    q.set(entry.nonce, e)
    this.#bytes += e.bytes.length
    return { ok: true, id }
  }

  /**
   * Up to `max` events (and `maxBytes`) that can execute in order: for each sender the run of
   * consecutive nonces after its ledger nonce, taken round-robin so no sender starves others.
   */
  reap(max: number, maxBytes: number, nonceOf: (sender: string) => number): MempoolEntry<E>[] {
    const cursors: { sender: string; next: number; q: Map<number, MempoolEntry<E>> }[] = []
    for (const [sender, q] of this.#bySender) cursors.push({ sender, next: nonceOf(sender) + 1, q })
    const out: MempoolEntry<E>[] = []
    let bytes = 0
    let progressed = true
    while (out.length < max && progressed) {
      progressed = false
      for (const c of cursors) {
        if (out.length >= max) break
        const e = c.q.get(c.next)
        if (!e || bytes + e.bytes.length > maxBytes) continue
        out.push(e)
        bytes += e.bytes.length
        c.next++
        progressed = true
      }
    }
    return out
  }

  remove(id: string): void {
    const e = this.#byId.get(id)
    if (!e) return
    this.#byId.delete(id)
    this.#bytes -= e.bytes.length
    const q = this.#bySender.get(e.sender)
    q?.delete(e.nonce)
    if (q?.size === 0) this.#bySender.delete(e.sender)
  }

  /** After a block: drop events it contained and any whose nonce is now used. */
  prune(committedIds: Iterable<string>, nonceOf: (sender: string) => number): void {
    for (const id of committedIds) this.remove(id)
    for (const [sender, q] of [...this.#bySender]) {
      const used = nonceOf(sender)
      for (const [nonce, e] of [...q]) if (nonce <= used) this.remove(e.id)
    }
  }
}
