// Container processes: spawned in their own session/process group (signals go to the whole
// group, as to a container's processes), stdout+stderr appended to a log file, a pid file with
// the process start time (from /proc/<pid>/stat) so that a later agent can tell its process
// from an unrelated one that recycled the pid, and adoption of such processes after a restart.
import { spawn } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs'
import { readFile, readdir } from 'node:fs/promises'
import { constants } from 'node:os'
import path from 'node:path'

export interface ProcessRecord {
  pid: number
  /** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
  startTicks: string
  startedAt: number
  /** Node name of the agent that started it (several agents may share a state directory). */
  node: string
  podUid: string
  container: string
  init: boolean
  restartCount: number
  argv: string[]
}

export interface Exit {
  /** 128 + signal number when killed by a signal; 137 when unknown (adopted process). */
  exitCode: number
  signal?: string
  finishedAt: number
  /** False for adopted processes: the agent was not their parent and cannot see the status. */
  known: boolean
}

/** Start time of a process, or undefined if it does not exist. */
export function procStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (comm) is in parentheses and may contain spaces; fields after it are plain.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // rest[0] is field 3 (state); field 22 is rest[19]. A zombie has exited already.
    if (rest[0] === 'Z') return undefined
    return rest[19]
  } catch {
    return undefined
  }
}

export function isSameProcess(rec: Pick<ProcessRecord, 'pid' | 'startTicks'>): boolean {
  return procStartTicks(rec.pid) === rec.startTicks
}

function signalNumber(sig: NodeJS.Signals): number {
  return (constants.signals as Record<string, number | undefined>)[sig] ?? 0
}

export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig)
  } catch {
    // group gone
  }
}

function writeJsonAtomic(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.tmp`
  writeFileSync(tmp, JSON.stringify(value) + '\n', { mode: 0o600 })
  renameSync(tmp, file)
}

export interface SpawnOptions {
  argv: string[]
  env: Record<string, string>
  cwd: string
  logFile: string
  pidFile: string
  node: string
  podUid: string
  container: string
  init: boolean
  restartCount: number
}

export class ContainerProcess {
  readonly record: ProcessRecord
  readonly exited: Promise<Exit>
  #exit: Exit | undefined

  private constructor(record: ProcessRecord, pidFile: string, exited: Promise<Exit>) {
    this.record = record
    this.exited = exited.then((e) => {
      this.#exit = e
      rmSync(pidFile, { force: true })
      return e
    })
  }

  get pid(): number {
    return this.record.pid
  }

  get hasExited(): boolean {
    return this.#exit !== undefined
  }

  /** Starts the process; rejects if it cannot be started (e.g. the program does not exist). */
  static async spawn(o: SpawnOptions): Promise<ContainerProcess> {
    mkdirSync(path.dirname(o.logFile), { recursive: true })
    const fd = openSync(o.logFile, 'a', 0o600)
    const [cmd, ...args] = o.argv
    if (cmd === undefined) throw new Error('empty command')
    let child
    try {
      child = spawn(cmd, args, { cwd: o.cwd, env: o.env, detached: true, stdio: ['ignore', fd, fd] })
    } finally {
      closeSync(fd)
    }
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject)
      child.once('spawn', () => {
        child.off('error', reject)
        resolve(child.pid!)
      })
    })
    const exited = new Promise<Exit>((resolve) => {
      child.once('exit', (code, signal) => {
        // Like a container: when the main process ends, the rest of its group goes too.
        signalGroup(pid, 'SIGKILL')
        resolve({
          exitCode: code ?? 128 + (signal === null ? 0 : signalNumber(signal)),
          ...(signal === null ? {} : { signal }),
          finishedAt: Date.now(),
          known: true,
        })
      })
    })
    const record: ProcessRecord = {
      pid,
      startTicks: procStartTicks(pid) ?? '',
      startedAt: Date.now(),
      node: o.node,
      podUid: o.podUid,
      container: o.container,
      init: o.init,
      restartCount: o.restartCount,
      argv: o.argv,
    }
    writeJsonAtomic(o.pidFile, record)
    return new ContainerProcess(record, o.pidFile, exited)
  }

  /** Watches a process started by an earlier agent (polling /proc; the exit code is lost). */
  static adopt(record: ProcessRecord, pidFile: string, pollMs = 1000): ContainerProcess {
    const exited = new Promise<Exit>((resolve) => {
      const t = setInterval(() => {
        if (!isSameProcess(record)) {
          clearInterval(t)
          signalGroup(record.pid, 'SIGKILL')
          resolve({ exitCode: 137, finishedAt: Date.now(), known: false })
        }
      }, pollMs)
    })
    return new ContainerProcess(record, pidFile, exited)
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.hasExited) signalGroup(this.pid, sig)
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves with the exit. */
  async stop(graceMs: number): Promise<Exit> {
    if (this.#exit !== undefined) return this.#exit
    this.signal('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(
        () => {
          this.signal('SIGKILL')
          resolve()
        },
        Math.max(0, graceMs),
      )
    })
    await Promise.race([this.exited, killed])
    clearTimeout(timer)
    return this.exited
  }
}

export interface PidFileEntry {
  file: string
  record: ProcessRecord
}

/** All pid files under `<podsDir>/<pod>/run/`. */
export async function scanPidFiles(podsDir: string): Promise<PidFileEntry[]> {
  const out: PidFileEntry[] = []
  let pods: string[]
  try {
    pods = await readdir(podsDir)
  } catch {
    return out
  }
  for (const pod of pods) {
    const runDir = path.join(podsDir, pod, 'run')
    let files: string[]
    try {
      files = await readdir(runDir)
    } catch {
      continue
    }
    for (const f of files) {
      if (!f.endsWith('.json')) continue
      const file = path.join(runDir, f)
      try {
        out.push({ file, record: JSON.parse(await readFile(file, 'utf8')) as ProcessRecord })
      } catch {
        rmSync(file, { force: true })
      }
    }
  }
  return out
}
