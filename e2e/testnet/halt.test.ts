import { afterAll, describe, expect, it } from 'vitest'
import {
  downTestnet,
  killNode,
  launchTestnet,
  nodeStatus,
  replaceNodeKey,
  signalNode,
  startNode,
  waitForHalted,
  waitForHeight,
  LOOPBACK_TIMEOUTS,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetState } from '../../node-image/src/cli/testnet.ts'
import type { AdminStatus } from '../../node-image/src/api/admin-contract.ts'

/**
 * Halt detection (issue 14), tier 2: a network that lost 3 of its 4 witnesses for good must say
 * so, and keep saying so. Only a validator itself can prove it is alive: old votes that the
 * survivors and fresh nodes relay again and again must never make a dead validator look online,
 * and a node that sees nothing final reports `halted` whatever it thinks of who is online.
 */

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await downTestnet(d, true)
})

async function launch(prefix: string): Promise<TestnetState> {
  const s = await launchTestnet(
    { witnesses: 4, standbys: 1, accounts: 4, ipPrefix: prefix, checkpointInterval: 10, timeouts: LOOPBACK_TIMEOUTS },
    { tmpPrefix: 'echonet-halt-', height: 3, timeoutMs: 90_000 },
  )
  dirs.push(s.dir)
  return s
}

const statuses = (s: TestnetState, names: readonly string[]): Promise<(AdminStatus | undefined)[]> =>
  Promise.all(
    names.map((n) =>
      nodeStatus(
        s,
        s.nodes.find((x) => x.name === n)!,
      ),
    ),
  )

/**
 * Every second for `seconds`: each survivor answers and reports `halted`, and no node that
 * answers lists any of `gone` as online. Returns how many samples were taken.
 */
async function watchHalted(
  s: TestnetState,
  survivors: readonly string[],
  observers: readonly string[],
  gone: ReadonlySet<string>,
  seconds: number,
): Promise<number> {
  let samples = 0
  for (let i = 0; i < seconds; i++) {
    const started = Date.now()
    const sv = await statuses(s, survivors)
    for (const [j, st] of sv.entries()) {
      expect(st, `${survivors[j]!} answers its admin API`).toBeDefined()
      expect(st?.mode, `${survivors[j]!} at sample ${i}: ${st?.haltReason ?? ''}`).toBe('halted')
      expect(st?.haltCode).toBe('QUORUM_LOST')
    }
    for (const [j, st] of (await statuses(s, observers)).entries()) {
      const online = (st?.committee.members ?? []).filter((m) => m.online && gone.has(m.did)).map((m) => m.did)
      expect(online, `${observers[j]!} at sample ${i} lists gone validators as online`).toEqual([])
      if (st !== undefined && st.role === 'witness' && survivors.includes(observers[j]!)) {
        expect(st.committee.powerOnline).toBeLessThan(st.committee.powerNeeded)
      }
    }
    samples++
    await new Promise((r) => setTimeout(r, Math.max(0, 1_000 - (Date.now() - started))))
  }
  return samples
}

describe('halt detection cannot be fooled by relayed votes', () => {
  it('3 of 4 witnesses killed and replaced by fresh keys (a standby relays gossip): the survivors report halted within the window and stay halted for a minute; no killed validator is ever online', async () => {
    const s = await launch('127.0.64.')
    const killed = ['w0', 'w1', 'w2']
    const gone = new Set(killed.map((n) => s.nodes.find((x) => x.name === n)!.did))
    await Promise.all(killed.map((n) => killNode(s, n)))
    // Pods re-created with fresh keys and volumes: they join, relay what they hear, and vote for nobody.
    for (const n of killed) {
      await replaceNodeKey(s, n)
      await startNode(s, n)
    }
    const halted = await waitForHalted(s, 'w3', 30_000)
    expect(halted.haltReason).toMatch(/^quorum lost: committee power online \d+ of \d+/)
    expect(halted.committee.powerOnline * 4).toBe(halted.committee.totalPower)
    for (const did of gone) expect(halted.haltReason).toContain(did)
    await waitForHalted(s, 's0', 30_000)
    const samples = await watchHalted(s, ['w3', 's0'], ['w3', 's0', ...killed], gone, 60)
    expect(samples).toBe(60)
  }, 180_000)

  it('3 of 4 witnesses paused (SIGSTOP), their connections left open: halted and never online while paused; finality resumes once they continue', async () => {
    const s = await launch('127.0.65.')
    const paused = ['w0', 'w1', 'w2']
    const gone = new Set(paused.map((n) => s.nodes.find((x) => x.name === n)!.did))
    for (const n of paused) signalNode(s, n, 'SIGSTOP')
    try {
      await waitForHalted(s, 'w3', 30_000)
      await waitForHalted(s, 's0', 30_000)
      expect(await watchHalted(s, ['w3', 's0'], ['w3', 's0'], gone, 60)).toBe(60)
      const before = (await statuses(s, ['w3']))[0]!.finalizedHeight
      for (const n of paused) signalNode(s, n, 'SIGCONT')
      await waitForHeight(s, ['w3', 's0', ...paused], before + 2, 60_000)
      const back = await waitForHeightRunning(s, 'w3')
      expect(back.committee.powerOnline).toBe(back.committee.totalPower)
    } finally {
      for (const n of paused) {
        try {
          signalNode(s, n, 'SIGCONT')
        } catch {
          // not running any more
        }
      }
    }
  }, 180_000)
})

async function waitForHeightRunning(s: TestnetState, name: string): Promise<AdminStatus> {
  const end = Date.now() + 30_000
  for (;;) {
    const [st] = await statuses(s, [name])
    if (st?.mode === 'running' && st.committee.powerOnline === st.committee.totalPower) return st
    if (Date.now() > end)
      throw new Error(`${name} did not report running with every member online: ${JSON.stringify(st)}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}
