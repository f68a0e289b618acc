import { readFile, rename } from 'node:fs/promises'
import { CodedError } from '../../util/coded-error.ts'
import { writeFileAtomic } from '../../util/fs.ts'
import { parseContentId } from '../../storage/content/index.ts'
import { MAX_REPAIR_PRIORITY_ENTRIES, REPAIR_CLASSES } from '../../api/storage-signals-contract.ts'
import type { RepairClass, RepairPriorityEntry, RepairPriorityList } from '../../api/storage-signals-contract.ts'
import type { RepairPriority } from '../../api/admin-contract.ts'

/**
 * An SSN's repair priorities, persisted (scenario B.4: the operator pushes them during a storage
 * incident and a restarted SSN must not forget them). Two kinds: the class list the operator
 * replaces as a whole (critical metadata, high-demand, recent), and single numeric priorities
 * (the older per-CID call). A class outranks any numeric priority. Written with writeFileAtomic
 * (temp + fsync + rename + fsync of the directory) before the call answers.
 */

export const REPAIR_PRIORITIES_FILE = 'repair-priorities.json'
const FILE_VERSION = 1
/** Numeric priorities are bounded by the admin API to ±1e6, so a class step always dominates. */
const CLASS_STEP = 10_000_000
const CLASS_RANK: Record<RepairClass, number> = { critical: 3, 'high-demand': 2, recent: 1 }

export class RepairPrioritiesError extends CodedError<'INVALID_REPAIR_PRIORITIES'> {}

function invalid(message: string): RepairPrioritiesError {
  return new RepairPrioritiesError('INVALID_REPAIR_PRIORITIES', message)
}

/** Validates a PUT body `{entries: [{cid, class}]}`; every refusal names what was wrong. */
export function parseRepairPriorities(body: unknown): RepairPriorityEntry[] {
  const entries = (body as { entries?: unknown } | null)?.entries
  if (typeof body !== 'object' || body === null || !Array.isArray(entries))
    throw invalid('body must be {"entries": [{"cid": ContentID, "class": "critical" | "high-demand" | "recent"}]}')
  if (entries.length > MAX_REPAIR_PRIORITY_ENTRIES)
    throw invalid(`at most ${MAX_REPAIR_PRIORITY_ENTRIES} entries (got ${entries.length})`)
  const seen = new Set<string>()
  return entries.map((e: unknown, i) => {
    const o = e as { cid?: unknown; class?: unknown } | null
    if (typeof o !== 'object' || o === null) throw invalid(`entries[${i}] is not an object`)
    const keys = Object.keys(o).filter((k) => k !== 'cid' && k !== 'class')
    if (keys.length > 0) throw invalid(`entries[${i}] has unknown field ${keys[0]!.slice(0, 40)}`)
    if (typeof o.class !== 'string' || !(REPAIR_CLASSES as readonly string[]).includes(o.class))
      throw invalid(`entries[${i}].class must be one of ${REPAIR_CLASSES.join(', ')}`)
    try {
      parseContentId(o.cid)
    } catch {
      throw invalid(`entries[${i}].cid is not a ContentID`)
    }
    const cid = o.cid as string
    if (seen.has(cid)) throw invalid(`entries[${i}]: ${cid} is listed twice`)
    seen.add(cid)
    return { cid, class: o.class as RepairClass }
  })
}

/** The repair scheduler's priority of `cid`: its class first, then its numeric priority. */
export function priorityOf(cls: RepairClass | undefined, numeric: number | undefined): number {
  return (cls === undefined ? 0 : CLASS_RANK[cls] * CLASS_STEP) + (numeric ?? 0)
}

interface FileShape {
  readonly version: number
  readonly revision: number
  readonly updatedAtMs: number
  readonly entries: readonly RepairPriorityEntry[]
  readonly numeric: readonly RepairPriority[]
}

export type RepairPrioritiesLog = (level: 'info' | 'warn', msg: string, data?: Record<string, unknown>) => void

export class RepairPriorityStore {
  readonly #path: string
  readonly #log: RepairPrioritiesLog
  #classes = new Map<string, RepairClass>()
  readonly #numeric = new Map<string, number>()
  #revision = 0
  #updatedAtMs = 0
  /** Writes are serialized: the file always holds the last change answered. */
  #writing: Promise<unknown> = Promise.resolve()

  private constructor(path: string, log: RepairPrioritiesLog) {
    this.#path = path
    this.#log = log
  }

  /** Loads the file; an unreadable one is set aside (`.corrupt-<ms>`) and the list starts empty. */
  static async open(path: string, log: RepairPrioritiesLog): Promise<RepairPriorityStore> {
    const s = new RepairPriorityStore(path, log)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch {
      return s
    }
    try {
      const f = JSON.parse(text) as FileShape
      if (f.version !== FILE_VERSION) throw new Error(`unknown version ${String(f.version)}`)
      for (const e of parseRepairPriorities({ entries: f.entries })) s.#classes.set(e.cid, e.class)
      for (const n of f.numeric)
        if (typeof n.cid === 'string' && Number.isSafeInteger(n.priority)) s.#numeric.set(n.cid, n.priority)
      s.#revision = Number.isSafeInteger(f.revision) ? f.revision : 0
      s.#updatedAtMs = Number.isSafeInteger(f.updatedAtMs) ? f.updatedAtMs : 0
      log('info', 'repair priorities loaded', { entries: s.#classes.size, numeric: s.#numeric.size })
    } catch (err) {
      const aside = `${path}.corrupt-${Date.now()}`
      await rename(path, aside).catch(() => undefined)
      log('warn', 'repair priorities file unreadable; set aside, starting empty', {
        err: (err as Error).message,
        aside,
      })
    }
    return s
  }

  list(): RepairPriorityList {
    return {
      entries: [...this.#classes].map(([cid, cls]) => ({ cid, class: cls })),
      revision: this.#revision,
      updatedAtMs: this.#updatedAtMs,
    }
  }

  numeric(): RepairPriority[] {
    return [...this.#numeric].map(([cid, priority]) => ({ cid, priority }))
  }

  priority(cid: string): number {
    return priorityOf(this.#classes.get(cid), this.#numeric.get(cid))
  }

  /** Replaces the class list (already validated) and persists it before resolving. */
  replace(entries: readonly RepairPriorityEntry[], nowMs = Date.now()): Promise<RepairPriorityList> {
    return this.#change(() => {
      this.#classes = new Map(entries.map((e) => [e.cid, e.class]))
    }, nowMs).then(() => this.list())
  }

  /** Sets one numeric priority (0 clears) and persists it before resolving. */
  setNumeric(cid: string, priority: number, nowMs = Date.now()): Promise<void> {
    return this.#change(() => {
      if (priority === 0) this.#numeric.delete(cid)
      else this.#numeric.set(cid, priority)
    }, nowMs)
  }

  #change(apply: () => void, nowMs: number): Promise<void> {
    const run = this.#writing.then(async () => {
      const before = {
        classes: this.#classes,
        numeric: new Map(this.#numeric),
        rev: this.#revision,
        at: this.#updatedAtMs,
      }
      apply()
      this.#revision++
      this.#updatedAtMs = nowMs
      const file: FileShape = {
        version: FILE_VERSION,
        revision: this.#revision,
        updatedAtMs: this.#updatedAtMs,
        entries: this.list().entries,
        numeric: this.numeric(),
      }
      try {
        await writeFileAtomic(this.#path, JSON.stringify(file))
      } catch (err) {
        // Not persisted: not in force either, so memory and disk never disagree.
        this.#classes = before.classes
        this.#numeric.clear()
        for (const [k, v] of before.numeric) this.#numeric.set(k, v)
        this.#revision = before.rev
        this.#updatedAtMs = before.at
        throw err
      }
      this.#log('info', 'repair priorities saved', { revision: this.#revision, entries: this.#classes.size })
    })
    this.#writing = run.catch(() => undefined)
    return run
  }
}
