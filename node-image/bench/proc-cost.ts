/**
 * What processes cost, from their own accounting (so a machine shared with others does not distort
 * it): CPU time from /proc/<pid>/stat (utime + stime, every thread, user and kernel), resident
 * memory from /proc/<pid>/status, and V8 garbage collection from each node's /metrics
 * (prom-client's `nodejs_gc_duration_seconds`, fed by perf_hooks GC entries).
 */
import { readFile } from 'node:fs/promises'

const TICKS_PER_SECOND = 100 // USER_HZ; Linux reports /proc times in these on every architecture

/** CPU seconds used so far by `pid` (all threads): user, kernel; NaN if it is gone. */
export async function cpuTimes(pid: number): Promise<{ user: number; system: number }> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (comm) may contain spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { user: Number(fields[11]) / TICKS_PER_SECOND, system: Number(fields[12]) / TICKS_PER_SECOND }
  } catch {
    return { user: NaN, system: NaN }
  }
}

/** CPU seconds used so far by `pid` (all threads, user + kernel); NaN if it is gone. */
export async function cpuSeconds(pid: number): Promise<number> {
  const t = await cpuTimes(pid)
  return t.user + t.system
}

/** Resident memory now and its peak since start (VmHWM), in bytes. */
export async function residentBytes(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}

export interface GcStats {
  /** Collections by kind (major = mark-compact, minor = scavenge, incremental, weakcb). */
  readonly count: Record<string, number>
  /** Pause seconds by kind. */
  readonly seconds: Record<string, number>
}

/** GC counters from a node's Prometheus text. */
export async function gcStats(apiBase: string): Promise<GcStats> {
  const text = await (await fetch(`${apiBase}/metrics`)).text()
  const count: Record<string, number> = {}
  const seconds: Record<string, number> = {}
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_(count|sum)\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) {
    const into = m[1] === 'count' ? count : seconds
    into[m[2]!] = Number(m[3])
  }
  return { count, seconds }
}

export function gcDelta(a: GcStats, b: GcStats): GcStats {
  const sub = (x: Record<string, number>, y: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.keys(y).map((k) => [k, (y[k] ?? 0) - (x[k] ?? 0)]))
  return { count: sub(a.count, b.count), seconds: sub(a.seconds, b.seconds) }
}

export function gcSum(stats: readonly GcStats[]): GcStats {
  const count: Record<string, number> = {}
  const seconds: Record<string, number> = {}
  for (const s of stats) {
    for (const [k, v] of Object.entries(s.count)) count[k] = (count[k] ?? 0) + v
    for (const [k, v] of Object.entries(s.seconds)) seconds[k] = (seconds[k] ?? 0) + v
  }
  return { count, seconds }
}

/** Samples the resident memory of some processes every `everyMs` and keeps each one's maximum. */
export class RssSampler {
  readonly max = new Map<number, number>()
  readonly #timer: NodeJS.Timeout
  constructor(pids: readonly number[], everyMs = 100) {
    this.#timer = setInterval(() => {
      for (const pid of pids) {
        residentBytes(pid).then(
          ({ rss }) => this.max.set(pid, Math.max(this.max.get(pid) ?? 0, rss)),
          () => undefined,
        )
      }
    }, everyMs)
  }
  stop(): void {
    clearInterval(this.#timer)
  }
}
