/**
 * Time source of the runtime (work queue delays, rate limiters, metrics), injectable so that unit
 * tests can step time instead of sleeping. Times are milliseconds.
 */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): Timer
  clearTimeout(timer: Timer): void
}

/** An opaque timer handle. */
export interface Timer {
  readonly id: number
}

let nextRealTimer = 1
const realTimers = new Map<number, NodeJS.Timeout>()

export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout(fn, ms) {
    const id = nextRealTimer++
    const t = setTimeout(() => {
      realTimers.delete(id)
      fn()
    }, ms)
    t.unref()
    realTimers.set(id, t)
    return { id }
  },
  clearTimeout(timer) {
    const t = realTimers.get(timer.id)
    if (t !== undefined) {
      clearTimeout(t)
      realTimers.delete(timer.id)
    }
  },
}

interface FakeTimer {
  id: number
  at: number
  fn: () => void
}

/** A manual clock: timers fire only from `step`/`stepTo`, in time order. */
export class FakeClock implements Clock {
  #now: number
  #timers: FakeTimer[] = []
  #next = 1

  constructor(startMs = 1_000_000) {
    this.#now = startMs
  }

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const t: FakeTimer = { id: this.#next++, at: this.#now + Math.max(0, ms), fn }
    this.#timers.push(t)
    return { id: t.id }
  }

  clearTimeout(timer: Timer): void {
    this.#timers = this.#timers.filter((t) => t.id !== timer.id)
  }

  /** Pending timers (for assertions). */
  get pending(): number {
    return this.#timers.length
  }

  /** Advances time by `ms`, firing due timers in order. */
  step(ms: number): void {
    this.stepTo(this.#now + ms)
  }

  stepTo(target: number): void {
    for (;;) {
      let due: FakeTimer | undefined
      for (const t of this.#timers) if (t.at <= target && (due === undefined || t.at < due.at)) due = t
      if (due === undefined) break
      const fired = due
      this.#timers = this.#timers.filter((t) => t !== fired)
      this.#now = Math.max(this.#now, fired.at)
      fired.fn()
    }
    this.#now = Math.max(this.#now, target)
  }
}
