import { afterEach, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERROR_STORM_LIMIT, FATAL_FILE, PREVIOUS_FATAL_FILE, ProcessGuard, takePreviousFatal } from './process-guard.ts'
import type { FatalRecord, GuardLog } from './process-guard.ts'

/**
 * What escapes every handler (issue #15): logged and survived, unless the node cannot go on; then
 * the reason is on disk before the process exits, and the next start reports it once.
 */

const dirs: string[] = []
async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'echonet-guard-'))
  dirs.push(d)
  return d
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

function recorder(): GuardLog & { lines: { level: string; obj: object; msg: string }[] } {
  const lines: { level: string; obj: object; msg: string }[] = []
  return {
    lines,
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    fatal: (obj, msg) => lines.push({ level: 'fatal', obj, msg }),
  }
}

const ioError = (code: string): Error => Object.assign(new Error(`${code}: write failed`), { code })

describe('ProcessGuard', () => {
  it('logs a stray error with its origin and stack and goes on', async () => {
    const dir = await dataDir()
    const log = recorder()
    const exits: number[] = []
    const g = new ProcessGuard({ dataDir: dir, log, exit: (c) => exits.push(c) })
    expect(g.handle('uncaughtException', new TypeError('a bug in one handler'))).toBe(true)
    expect(g.handle('unhandledRejection', 'a string reason')).toBe(true)
    expect(exits).toEqual([])
    expect(existsSync(join(dir, FATAL_FILE))).toBe(false)
    expect(log.lines[0]).toMatchObject({
      level: 'error',
      obj: { origin: 'uncaughtException', name: 'TypeError', message: 'a bug in one handler' },
    })
    expect((log.lines[0]!.obj as { stack?: string }).stack).toContain('a bug in one handler')
  })

  it('records a failing disk durably and exits once', async () => {
    const dir = await dataDir()
    const exits: number[] = []
    const g = new ProcessGuard({ dataDir: dir, log: recorder(), exit: (c) => exits.push(c), now: () => 42 })
    expect(g.handle('unhandledRejection', ioError('ENOSPC'))).toBe(false)
    expect(g.handle('uncaughtException', ioError('EIO'))).toBe(false)
    expect(exits).toEqual([1])
    const rec = JSON.parse(await readFile(join(dir, FATAL_FILE), 'utf8')) as FatalRecord
    expect(rec).toMatchObject({
      atMs: 42,
      origin: 'unhandledRejection',
      reason: 'ENOSPC',
      message: 'ENOSPC: write failed',
    })
  })

  it('treats errors that keep escaping as unrecoverable (ERROR_STORM)', async () => {
    const dir = await dataDir()
    const exits: number[] = []
    let t = 0
    const g = new ProcessGuard({ dataDir: dir, log: recorder(), exit: (c) => exits.push(c), now: () => t })
    // Spread over more than the window they are survived.
    for (let i = 0; i < ERROR_STORM_LIMIT * 2; i++) {
      t += 1_000
      expect(g.handle('uncaughtException', new Error('sporadic'))).toBe(true)
    }
    for (let i = 0; i < ERROR_STORM_LIMIT; i++) g.handle('uncaughtException', new Error('every turn'))
    expect(exits).toEqual([1])
    const rec = JSON.parse(await readFile(join(dir, FATAL_FILE), 'utf8')) as FatalRecord
    expect(rec.reason).toBe('ERROR_STORM')
  })

  it('the next start reads the record once and keeps it as fatal.previous.json', async () => {
    const dir = await dataDir()
    expect(takePreviousFatal(dir)).toBeUndefined()
    await writeFile(join(dir, FATAL_FILE), JSON.stringify({ reason: 'EIO', message: 'disk' }))
    expect(takePreviousFatal(dir)).toMatchObject({ reason: 'EIO', message: 'disk' })
    expect(takePreviousFatal(dir)).toBeUndefined()
    expect(existsSync(join(dir, PREVIOUS_FATAL_FILE))).toBe(true)
  })
})

describe('installed in a real process', () => {
  it('survives a thrown TypeError and a rejected promise, exits 1 on ENOSPC with fatal.json written', async () => {
    const dir = await dataDir()
    const guardTs = resolve(dirname(fileURLToPath(import.meta.url)), 'process-guard.ts')
    const script = `
      import { ProcessGuard } from ${JSON.stringify(guardTs)}
      const log = { error: (o, m) => console.log('error', m), warn: () => {}, fatal: (o, m) => console.log('fatal', m) }
      new ProcessGuard({ dataDir: ${JSON.stringify(dir)}, log, exit: (c) => process.exit(c) }).install(process)
      setImmediate(() => { throw new TypeError('stray') })
      void Promise.reject(new Error('unawaited'))
      setTimeout(() => console.log('alive'), 50)
      setTimeout(() => { throw Object.assign(new Error('no space'), { code: 'ENOSPC' }) }, 100)
      setTimeout(() => console.log('should not run'), 5000)
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const code = await new Promise<number | null>((r) => child.on('exit', r))
    expect(code).toBe(1)
    expect(out.split('\n').filter(Boolean)).toEqual([
      expect.stringContaining('error contained') as string,
      expect.stringContaining('error contained') as string,
      'alive',
      expect.stringContaining('fatal unrecoverable') as string,
    ])
    const rec = JSON.parse(await readFile(join(dir, FATAL_FILE), 'utf8')) as FatalRecord
    expect(rec).toMatchObject({ origin: 'uncaughtException', reason: 'ENOSPC', message: 'no space' })
  })
})
