import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Process-level containment for `echonet-node run` (issue #15). Request, stream and peer handlers
 * contain their own errors; what still escapes to the process is logged with its context and
 * survived, unless it says the node cannot go on: its storage failed, or errors keep escaping
 * (a loop that fails every time). Then the reason is written to `<data-dir>/fatal.json` (fsynced)
 * before the process exits, and the next start logs it and moves it to `fatal.previous.json`.
 * Exiting is safe: every vote is preceded by a durable signing record (DESIGN §4).
 */

export const FATAL_FILE = 'fatal.json'
export const PREVIOUS_FATAL_FILE = 'fatal.previous.json'

/** Codes after which the node cannot go on: the disk is full or failing, the store is gone or corrupt. */
export const UNRECOVERABLE_CODES: readonly string[] = [
  'ENOSPC',
  'EIO',
  'EROFS',
  'EDQUOT',
  'CORRUPT',
  'STORE_UNAVAILABLE',
]
/** More escaped errors than this within the window means something fails on every turn. */
export const ERROR_STORM_LIMIT = 100
export const ERROR_STORM_WINDOW_MS = 60_000

export type Origin = 'uncaughtException' | 'unhandledRejection'

export interface FatalRecord {
  readonly atMs: number
  readonly pid: number
  readonly origin: Origin
  /** Why the process exited: the error's code, or ERROR_STORM. */
  readonly reason: string
  readonly name: string
  readonly message: string
  readonly stack?: string
}

export interface GuardLog {
  error(obj: object, msg: string): void
  fatal(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

function describeError(err: unknown): { name: string; code?: string; message: string; stack?: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return {
      name: err.name,
      ...(typeof code === 'string' ? { code } : {}),
      message: err.message,
      ...(err.stack === undefined ? {} : { stack: err.stack }),
    }
  }
  return { name: typeof err, message: String(err) }
}

/** The code that makes `err` unrecoverable, or undefined when the node can go on. */
export function unrecoverableCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' && UNRECOVERABLE_CODES.includes(code) ? code : undefined
}

/** Writes the record durably (temp file, fsync, rename). Synchronous: the process exits next. */
export function writeFatalRecord(dataDir: string, record: FatalRecord): void {
  const path = join(dataDir, FATAL_FILE)
  const tmp = `${path}.tmp-${process.pid}`
  const fd = openSync(tmp, 'w', 0o644)
  try {
    writeSync(fd, JSON.stringify(record, null, 2))
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  const dir = openSync(dataDir, 'r')
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
}

/**
 * The record a previous run left, moved aside so it is reported once; undefined if it ended
 * cleanly (or the data dir is new).
 */
export function takePreviousFatal(dataDir: string): FatalRecord | undefined {
  const path = join(dataDir, FATAL_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  renameSync(path, join(dataDir, PREVIOUS_FATAL_FILE))
  try {
    return JSON.parse(text) as FatalRecord
  } catch {
    return { atMs: 0, pid: 0, origin: 'uncaughtException', reason: 'UNREADABLE_RECORD', name: 'Error', message: text }
  }
}

export interface GuardOptions {
  readonly dataDir: string
  readonly log: GuardLog
  /** Called after the record is written; `process.exit(1)` in the CLI. */
  readonly exit: (code: number) => void
  readonly now?: () => number
}

/** Decides, for each error that reached the process, whether to go on or to record and exit. */
export class ProcessGuard {
  readonly #o: GuardOptions
  #recent: number[] = []
  #exiting = false

  constructor(o: GuardOptions) {
    this.#o = o
  }

  /** Installs the handlers on `proc` (the real `process` in the CLI). */
  install(proc: NodeJS.Process): void {
    proc.on('uncaughtException', (err) => this.handle('uncaughtException', err))
    proc.on('unhandledRejection', (reason) => this.handle('unhandledRejection', reason))
  }

  /** Returns true when the error was contained (the process goes on). */
  handle(origin: Origin, err: unknown): boolean {
    const now = (this.#o.now ?? Date.now)()
    const d = describeError(err)
    this.#recent = this.#recent.filter((t) => now - t < ERROR_STORM_WINDOW_MS)
    this.#recent.push(now)
    const reason = unrecoverableCode(err) ?? (this.#recent.length > ERROR_STORM_LIMIT ? 'ERROR_STORM' : undefined)
    if (reason === undefined) {
      this.#o.log.error({ origin, ...d }, 'contained an error that escaped its handler; the node goes on')
      return true
    }
    if (this.#exiting) return false
    this.#exiting = true
    const record: FatalRecord = {
      atMs: now,
      pid: process.pid,
      origin,
      reason,
      name: d.name,
      message: d.message,
      ...(d.stack === undefined ? {} : { stack: d.stack }),
    }
    try {
      writeFatalRecord(this.#o.dataDir, record)
    } catch (writeErr) {
      this.#o.log.warn({ err: (writeErr as Error).message }, `could not write ${FATAL_FILE}`)
    }
    this.#o.log.fatal({ origin, reason, ...d }, 'unrecoverable error; exiting (reason recorded in fatal.json)')
    this.#o.exit(1)
    return false
  }
}
