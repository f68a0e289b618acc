/**
 * A bounded queue between one producer and one consumer: `push` waits while `capacity` items are
 * waiting, the consumer iterates. When the consumer stops (finished, failed, or `close()` once its
 * task settled), pushes are dropped instead of waiting, so one failed upload never stalls the
 * stripes that feed the others.
 */
export class Channel<T> {
  readonly #items: T[] = []
  readonly #capacity: number
  #ended = false
  #closed = false
  #wakeConsumer: (() => void) | undefined
  #wakeProducer: (() => void) | undefined

  constructor(capacity: number) {
    this.#capacity = capacity
  }

  get closed(): boolean {
    return this.#closed
  }

  async push(item: T): Promise<void> {
    while (!this.#closed && this.#items.length >= this.#capacity) {
      await new Promise<void>((r) => (this.#wakeProducer = r))
    }
    if (this.#closed) return
    this.#items.push(item)
    this.#wake('consumer')
  }

  /** No more items: the consumer ends after the ones queued. */
  end(): void {
    this.#ended = true
    this.#wake('consumer')
  }

  /** The consumer is gone: drop what is queued and everything pushed from now on. */
  close(): void {
    this.#closed = true
    this.#items.length = 0
    this.#wake('producer')
    this.#wake('consumer')
  }

  #wake(who: 'consumer' | 'producer'): void {
    const w = who === 'consumer' ? this.#wakeConsumer : this.#wakeProducer
    if (who === 'consumer') this.#wakeConsumer = undefined
    else this.#wakeProducer = undefined
    w?.()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    try {
      for (;;) {
        const item = this.#items.shift()
        if (item !== undefined) {
          this.#wake('producer')
          yield item
          continue
        }
        if (this.#ended || this.#closed) return
        await new Promise<void>((r) => (this.#wakeConsumer = r))
      }
    } finally {
      this.close()
    }
  }
}
