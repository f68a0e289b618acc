import { describe, expect, it } from 'vitest'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { NodeStore } from './node-store.ts'
import type { CommitCertificate } from '../consensus/messages.ts'

const cert = (height: number): CommitCertificate => ({
  chainId: 'c',
  epoch: 0,
  height,
  round: 0,
  blockHash: 'ab'.repeat(32),
  signatures: [{ validator: 'did:key:zX', sig: new Uint8Array(64) }],
})

describe('NodeStore', () => {
  it('keeps blocks, tip, snapshots and the signing record across reopen; refuses a gap', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echonet-store-'))
    let s = await NodeStore.open(dir)
    await s.putBlock(1, new Uint8Array([1]), cert(1))
    await s.putBlock(2, new Uint8Array([2]), cert(2))
    await expect(s.putBlock(4, new Uint8Array([4]), cert(4))).rejects.toMatchObject({ code: 'NON_CONTIGUOUS' })
    for (let h = 1; h <= 4; h++) {
      await s.putSnapshot({ height: h, blockHash: 'x', stateRoot: 'y', createdAtMs: 0, bytes: 1 }, new Uint8Array([h]))
    }
    await s.writeSigningRecord({
      epoch: 0,
      height: 3,
      round: 1,
      step: 'precommit',
      blockHash: 'ab',
      sig: new Uint8Array([5]),
      lock: { round: 1, blockHash: 'ab' },
    })
    await s.close()
    s = await NodeStore.open(dir)
    expect(s.tip).toBe(2)
    expect((await s.getBlock(2))?.block).toEqual(new Uint8Array([2]))
    expect((await s.listSnapshots()).map((x) => x.height)).toEqual([4, 3, 2])
    expect((await s.readSigningRecord())?.lock).toEqual({ round: 1, blockHash: 'ab' })
    await s.close()
  })

  it('a process killed with SIGKILL while writing blocks leaves a contiguous prefix (what was tried: SIGKILL at a random moment of a write loop)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echonet-store-kill-'))
    const script = `
      import { NodeStore } from ${JSON.stringify(new URL('./node-store.ts', import.meta.url).href)}
      const s = await NodeStore.open(${JSON.stringify(dir)})
      const cert = (h) => ({ chainId: 'c', epoch: 0, height: h, round: 0, blockHash: 'ab'.repeat(32), signatures: [] })
      for (let h = s.tip + 1; ; h++) { await s.putBlock(h, new Uint8Array(1000).fill(h & 255), cert(h)); if (h === 5) console.log('go') }
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
    await new Promise((r) => setTimeout(r, 150))
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    const s = await NodeStore.open(dir)
    expect(s.tip).toBeGreaterThanOrEqual(5)
    for (let h = 1; h <= s.tip; h++) {
      const b = await s.getBlock(h)
      expect(b?.block[0]).toBe(h & 255)
    }
    expect(await s.getBlock(s.tip + 1)).toBeUndefined()
    await s.close()
  })
})
