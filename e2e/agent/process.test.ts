// Process handling against real (tiny) processes: spawn, exit codes, group signals, pid files
// with start times, adoption.
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ContainerProcess, isSameProcess, procStartTicks, scanPidFiles, type SpawnOptions } from './process.ts'

let dir = ''
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'agent-proc-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const opts = (argv: string[], container = 'c'): SpawnOptions => ({
  argv,
  env: { PATH: process.env.PATH ?? '' },
  cwd: dir,
  logFile: path.join(dir, 'pods/ns_p_00000000-0000-0000-0000-000000000000/logs', container, '0.log'),
  pidFile: path.join(dir, 'pods/ns_p_00000000-0000-0000-0000-000000000000/run', `${container}.json`),
  node: 'n',
  podUid: '00000000-0000-0000-0000-000000000000',
  container,
  init: false,
  restartCount: 0,
})

describe('ContainerProcess', () => {
  it('reports exit codes and logs output', async () => {
    const p = await ContainerProcess.spawn(opts(['sh', '-c', 'echo hello; echo err >&2; exit 3']))
    const exit = await p.exited
    expect(exit).toMatchObject({ exitCode: 3, known: true })
    expect(await readFile(opts([]).logFile, 'utf8')).toBe('hello\nerr\n')
    expect(existsSync(opts([]).pidFile)).toBe(false)
  })

  it('fails to start a missing program', async () => {
    await expect(ContainerProcess.spawn(opts(['/nonexistent/prog']))).rejects.toThrow(/ENOENT/)
  })

  it('stops gracefully with SIGTERM, or kills after the grace period; 128+signal exit codes', async () => {
    const graceful = await ContainerProcess.spawn(opts(['sh', '-c', 'trap "exit 0" TERM; sleep 30 & wait']))
    await new Promise((r) => setTimeout(r, 200))
    expect((await graceful.stop(5000)).exitCode).toBe(0)

    const stubborn = await ContainerProcess.spawn(opts(['sh', '-c', 'trap "" TERM; sleep 30 & wait'], 'd'))
    await new Promise((r) => setTimeout(r, 200))
    const t0 = Date.now()
    expect(await stubborn.stop(300)).toMatchObject({ exitCode: 137, signal: 'SIGKILL' })
    expect(Date.now() - t0).toBeLessThan(3000)
  })

  it('writes a pid file with the start time; a new agent can adopt the process', async () => {
    const p = await ContainerProcess.spawn(opts(['sleep', '30']))
    const [entry] = await scanPidFiles(path.join(dir, 'pods'))
    expect(entry?.record).toMatchObject({ pid: p.pid, container: 'c', node: 'n' })
    expect(entry?.record.startTicks).toBe(procStartTicks(p.pid))
    expect(isSameProcess(entry!.record)).toBe(true)
    expect(isSameProcess({ pid: p.pid, startTicks: '1' })).toBe(false)

    const adopted = ContainerProcess.adopt(entry!.record, entry!.file, 50)
    p.signal('SIGKILL')
    expect(await adopted.exited).toMatchObject({ exitCode: 137, known: false })
  })
})
