import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile, open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { existsSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { NodeIdentity, readKeyFile, writeKeyFile } from '../crypto/identity.ts'
import { sha256 } from '../crypto/hash.ts'
import { writeFileAtomic } from '../util/fs.ts'
import { AdminClient } from '../api/admin-contract.ts'
import type { AdminStatus } from '../api/admin-contract.ts'
import { buildGenesis } from '../node/ledger-adapter.ts'

/**
 * A testnet of echonet-node processes on loopback (DESIGN §7 tier 2): each node has its own
 * 127.0.10.x address with the same ports, its own key, data dir and log. State lives in one
 * directory so `down`, `status`, drills and tests can find the processes again.
 */

export const MAIN_TS = resolve(dirname(fileURLToPath(import.meta.url)), 'main.ts')

export interface TestnetNode {
  readonly name: string
  readonly role: 'witness' | 'standby' | 'ssn' | 'seed'
  readonly ip: string
  readonly did: string
  readonly peerId: string
  readonly dir: string
  readonly api: string
  readonly admin: string
  pid?: number
}

export interface TestnetState {
  readonly chainId: string
  readonly dir: string
  readonly adminToken: string
  readonly nodes: TestnetNode[]
  readonly accounts: number
}

export interface TestnetOptions {
  readonly dir: string
  readonly witnesses: number
  readonly standbys: number
  /** Storage nodes (role ssn, registered on the ledger with stake) and DHT seeds. */
  readonly ssns?: number
  readonly seeds?: number
  /** Funded accounts with deterministic keys, for load generators and tests (testnet only). */
  readonly accounts?: number
  readonly ipPrefix?: string
  readonly checkpointInterval?: number
  /** Further genesis parameters (e.g. posrChallengeRate). */
  readonly params?: Record<string, number>
  readonly timeouts?: { proposeMs?: number; prevoteMs?: number; precommitMs?: number }
  readonly voteLog?: boolean
}

/** Short consensus timeouts for tests and drills on loopback (the defaults suit real networks). */
export const LOOPBACK_TIMEOUTS = { proposeMs: 1_500, prevoteMs: 500, precommitMs: 500 } as const

const P2P_PORT = 7000
const API_PORT = 8080
const ADMIN_PORT = 9090

/** Deterministic testnet account i (never use on a real network: the seed is public). */
export function testnetAccount(i: number): NodeIdentity {
  return NodeIdentity.fromSeed(sha256(new TextEncoder().encode(`echonet-testnet-account/${i}`)))
}

export async function createTestnet(o: TestnetOptions): Promise<TestnetState> {
  const dir = resolve(o.dir)
  if (existsSync(join(dir, 'testnet.json'))) {
    throw new Error(`${dir} already holds a testnet; run "testnet down" first`)
  }
  await mkdir(dir, { recursive: true })
  const prefix = o.ipPrefix ?? '127.0.10.'
  const adminToken = randomBytes(24).toString('hex')
  await writeFileAtomic(join(dir, 'admin-token'), adminToken, 0o600)
  const nodes: TestnetNode[] = []
  const ids: NodeIdentity[] = []
  const roles: TestnetNode['role'][] = [
    ...Array.from({ length: o.witnesses }, () => 'witness' as const),
    ...Array.from({ length: o.standbys }, () => 'standby' as const),
    ...Array.from({ length: o.ssns ?? 0 }, () => 'ssn' as const),
    ...Array.from({ length: o.seeds ?? 0 }, () => 'seed' as const),
  ]
  const prefixes = { witness: 'w', standby: 's', ssn: 'ssn', seed: 'seed' }
  const counts = { witness: 0, standby: 0, ssn: 0, seed: 0 }
  for (let i = 0; i < roles.length; i++) {
    const role = roles[i]!
    const name = `${prefixes[role]}${counts[role]++}`
    const id = NodeIdentity.generate()
    const ndir = join(dir, name)
    await mkdir(ndir, { recursive: true })
    await writeKeyFile(join(ndir, 'node.key'), id)
    const ip = `${prefix}${i + 1}`
    ids.push(id)
    nodes.push({
      name,
      role,
      ip,
      did: id.did,
      peerId: id.peerId().toString(),
      dir: ndir,
      api: `http://${ip}:${API_PORT}`,
      admin: `http://${ip}:${ADMIN_PORT}`,
    })
  }
  const accounts = o.accounts ?? 64
  const chainId = `testnet-${randomBytes(3).toString('hex')}`
  const genesis = buildGenesis({
    chainId,
    genesisTimeMs: Date.now(),
    council: { members: ids.slice(0, Math.min(3, ids.length)).map((i) => i.did), threshold: Math.min(2, ids.length) },
    witnesses: nodes.filter((n) => n.role === 'witness').map((n) => ({ did: n.did, stake: 1_000_000 })),
    standbys: nodes.filter((n) => n.role === 'standby').map((n) => ({ did: n.did, stake: 1_000_000 })),
    ...(o.ssns ? { ssns: nodes.filter((n) => n.role === 'ssn').map((n) => ({ did: n.did, stake: 1_000_000 })) } : {}),
    // Nodes pay fees for the events they send themselves (content registration, PoSR results).
    accounts: [
      ...Array.from({ length: accounts }, (_, i) => ({ did: testnetAccount(i).did, balance: 1_000_000_000 })),
      ...nodes.map((n) => ({ did: n.did, balance: 1_000_000_000 })),
    ],
    treasury: 1_000_000_000,
    params: { ...o.params, checkpointInterval: o.checkpointInterval ?? 100 },
  })
  await writeFileAtomic(join(dir, 'genesis.json'), JSON.stringify(genesis, null, 2))
  const state: TestnetState = { chainId, dir, adminToken, nodes, accounts }
  await writePeers(state)
  await saveState(state)
  if (o.timeouts || o.voteLog)
    await writeFile(
      join(dir, 'options.json'),
      JSON.stringify({ timeouts: o.timeouts ?? {}, voteLog: o.voteLog ?? false }),
    )
  return state
}

export async function loadState(dir: string): Promise<TestnetState> {
  return JSON.parse(await readFile(join(resolve(dir), 'testnet.json'), 'utf8')) as TestnetState
}

async function saveState(s: TestnetState): Promise<void> {
  await writeFileAtomic(join(s.dir, 'testnet.json'), JSON.stringify(s, null, 2))
}

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Starts (or restarts) one node process, detached, logging to its directory. */
/** Starts `name` (if not running); `program` is another build's cli/main.ts (an upgrade drill). */
export async function startNode(
  s: TestnetState,
  name: string,
  env: Record<string, string> = {},
  program: string = MAIN_TS,
): Promise<number> {
  const n = s.nodes.find((x) => x.name === name)
  if (!n) throw new Error(`no node ${name}`)
  if (isAlive(n.pid)) return n.pid!
  let opts: { timeouts?: Record<string, number>; voteLog?: boolean } = {}
  try {
    opts = JSON.parse(await readFile(join(s.dir, 'options.json'), 'utf8')) as typeof opts
  } catch {
    opts = {}
  }
  const args = [
    program,
    'run',
    '--role',
    n.role,
    '--data-dir',
    join(n.dir, 'data'),
    '--key',
    join(n.dir, 'node.key'),
    '--genesis',
    join(s.dir, 'genesis.json'),
    '--peers',
    join(s.dir, 'peers.json'),
    '--p2p',
    `/ip4/${n.ip}/tcp/${P2P_PORT}`,
    '--api-host',
    n.ip,
    '--api-port',
    String(API_PORT),
    '--admin-port',
    String(ADMIN_PORT),
    '--admin-token-file',
    join(s.dir, 'admin-token'),
  ]
  for (const [k, v] of Object.entries(opts.timeouts ?? {}))
    args.push(`--timeout-${k.replace(/Ms$/, '').toLowerCase()}-ms`, String(v))
  if (opts.voteLog) args.push('--vote-log', join(n.dir, 'votes.jsonl'))
  const log = await open(join(n.dir, 'node.log'), 'a')
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', log.fd, log.fd],
    env: { ...process.env, ECHONET_LOG_LEVEL: process.env.ECHONET_LOG_LEVEL ?? 'info', ...env },
  })
  child.unref()
  await log.close()
  n.pid = child.pid
  await saveState(s)
  return child.pid!
}

export async function startAll(s: TestnetState): Promise<void> {
  for (const n of s.nodes) await startNode(s, n.name)
}

export async function killNode(s: TestnetState, name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const n = s.nodes.find((x) => x.name === name)
  if (!n?.pid) return
  const pid = n.pid
  try {
    process.kill(pid, signal)
  } catch {
    // already gone
  }
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 50))
  if (isAlive(pid)) process.kill(pid, 'SIGKILL')
  delete n.pid
  await saveState(s)
}

/** Sends `signal` to a running node and leaves it be (SIGSTOP / SIGCONT pause and resume it). */
export function signalNode(s: TestnetState, name: string, signal: NodeJS.Signals): void {
  const pid = nodeNamed(s, name).pid
  if (pid === undefined) throw new Error(`node ${name} is not running`)
  process.kill(pid, signal)
}

/**
 * Gives a stopped node a fresh identity in its place (same name, address and role; new key, empty
 * data dir) and rewrites the peer list: what a pod re-created with a new key and a new volume is.
 * The new key is in no committee and has no stake.
 */
export async function replaceNodeKey(s: TestnetState, name: string): Promise<TestnetNode> {
  const i = s.nodes.findIndex((x) => x.name === name)
  const old = s.nodes[i]
  if (old === undefined) throw new Error(`no node ${name}`)
  if (isAlive(old.pid)) throw new Error(`node ${name} is still running`)
  const id = NodeIdentity.generate()
  await rm(join(old.dir, 'data'), { recursive: true, force: true })
  await writeKeyFile(join(old.dir, 'node.key'), id)
  const { pid: _gone, ...rest } = old
  const fresh: TestnetNode = { ...rest, did: id.did, peerId: id.peerId().toString() }
  s.nodes[i] = fresh
  await writePeers(s)
  await saveState(s)
  return fresh
}

async function writePeers(s: TestnetState): Promise<void> {
  const peers = s.nodes.map((n) => ({
    peerId: n.peerId,
    did: n.did,
    role: n.role,
    addrs: [`/ip4/${n.ip}/tcp/${P2P_PORT}`],
  }))
  await writeFileAtomic(join(s.dir, 'peers.json'), JSON.stringify({ peers }, null, 2))
}

export async function downTestnet(dir: string, purge = true): Promise<void> {
  let s: TestnetState
  try {
    s = await loadState(dir)
  } catch {
    return
  }
  for (const n of s.nodes) await killNode(s, n.name, 'SIGTERM')
  if (purge) await rm(s.dir, { recursive: true, force: true })
}

/**
 * A testnet in a fresh temporary directory, every node started and past `height` (tests and
 * benches). On failure the half-started testnet is taken down again.
 */
export async function launchTestnet(
  o: Omit<TestnetOptions, 'dir'>,
  ready: { readonly tmpPrefix: string; readonly height: number; readonly timeoutMs: number },
): Promise<TestnetState> {
  const dir = await mkdtemp(join(tmpdir(), ready.tmpPrefix))
  const s = await createTestnet({ ...o, dir })
  try {
    await startAll(s)
    await waitForHeight(
      s,
      s.nodes.map((n) => n.name),
      ready.height,
      ready.timeoutMs,
    )
  } catch (err) {
    await downTestnet(dir, true)
    throw err
  }
  return s
}

export function nodeNamed(s: TestnetState, name: string): TestnetNode {
  const n = s.nodes.find((x) => x.name === name)
  if (!n) throw new Error(`no node ${name} in this testnet`)
  return n
}

/** The admin status of the named node, or undefined when it does not answer. */
export function statusOf(s: TestnetState, name: string): Promise<AdminStatus | undefined> {
  return nodeStatus(s, nodeNamed(s, name))
}

export async function nodeStatus(s: TestnetState, n: TestnetNode): Promise<AdminStatus | undefined> {
  try {
    return await new AdminClient(n.admin, s.adminToken, { timeoutMs: 2_000 }).status()
  } catch {
    return undefined
  }
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== false) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Waits until the named node reports `mode: halted` (DESIGN §4); returns that status. */
export async function waitForHalted(s: TestnetState, name: string, timeoutMs = 60_000): Promise<AdminStatus> {
  return waitFor(
    `${name} to report halted`,
    async () => {
      const st = await statusOf(s, name)
      return st?.mode === 'halted' ? st : undefined
    },
    timeoutMs,
    100,
  )
}

/**
 * Signs as members of the testnet council (the first three nodes, whose keys are on disk — a
 * testnet convenience; a real council signs offline).
 */
export async function councilSign<T>(
  s: TestnetState,
  members: readonly string[],
  sign: (id: NodeIdentity) => T,
): Promise<T[]> {
  const out: T[] = []
  for (const name of members) out.push(sign(await readKeyFile(join(nodeNamed(s, name).dir, 'node.key'))))
  return out
}

/** Waits until every named node reports finalized height ≥ h. */
export async function waitForHeight(s: TestnetState, names: string[], h: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `height ${h} on ${names.join(',')}`,
    async () => {
      const st = await Promise.all(
        names.map((nm) =>
          nodeStatus(
            s,
            s.nodes.find((x) => x.name === nm)!,
          ),
        ),
      )
      return st.every((x) => x !== undefined && x.finalizedHeight >= h)
    },
    timeoutMs,
  )
}
