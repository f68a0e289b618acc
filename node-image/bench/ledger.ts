/**
 * Ledger micro-benchmark: execute + state root of 2,000-transfer blocks over 100,000 accounts.
 * Run: node node-image/bench/ledger.ts [accounts] [eventsPerBlock] [blocks]
 * Signatures are not part of this measurement (the caller verifies them before execute).
 */
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { didFromPublicKey } from '../src/crypto/did.ts'
import type { Did } from '../src/crypto/did.ts'
import { decodeEvent, encodeEvent } from '../src/ledger/event.ts'
import type { SignedEvent } from '../src/ledger/event.ts'
import type { Genesis } from '../src/ledger/genesis.ts'
import { Ledger } from '../src/ledger/ledger.ts'

console.log(
  `node ${process.version}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
const ACCOUNTS = Number(process.argv[2] ?? 100_000)
const EVENTS = Number(process.argv[3] ?? 2_000)
const BLOCKS = Number(process.argv[4] ?? 20)

const dids: Did[] = Array.from({ length: ACCOUNTS }, () => didFromPublicKey(new Uint8Array(randomBytes(32))))
const nonces = new Array<number>(ACCOUNTS).fill(0)
const witness = dids[0]!
const genesis: Genesis = {
  chainId: 'bench',
  genesisTimeMs: 1_700_000_000_000,
  council: { members: [witness], threshold: 1 },
  witnesses: [{ did: witness, stake: 1_000_000 }],
  standbys: [],
  accounts: dids.map((did) => ({ did, balance: 1_000_000_000 })),
  treasury: 0,
  params: { payoutInterval: 1_000_000 },
}

let t = performance.now()
const ledger = Ledger.fromGenesis(genesis)
console.log(`genesis: ${ACCOUNTS} accounts in ${(performance.now() - t).toFixed(0)} ms`)

const sig = new Uint8Array(64)
function makeBlock(): SignedEvent[] {
  const evs: SignedEvent[] = []
  for (let i = 0; i < EVENTS; i++) {
    const from = Math.floor(Math.random() * ACCOUNTS)
    const to = Math.floor(Math.random() * ACCOUNTS)
    evs.push({
      body: {
        chainId: 'bench',
        type: 'accounts.transfer',
        sender: dids[from]!,
        nonce: ++nonces[from]!,
        fee: 1,
        payload: { to: dids[to]!, amount: 1 + (i % 100) },
      },
      sig,
    })
  }
  // In a node, events reach execute() as decodeEvent(bytes) (+ checkEventStateless) from the
  // mempool; do the same here, outside the timing, so strings and caches look like production.
  // Events of one sender must appear in nonce order: keep generation order.
  return evs.map((ev) => decodeEvent(encodeEvent(ev)))
}

const executeMs: number[] = []
const executeCpuMs: number[] = []
const commitMs: number[] = []
for (let b = 0; b < BLOCKS; b++) {
  const events = makeBlock()
  const cpu = process.cpuUsage()
  t = performance.now()
  const x = ledger.execute(
    {
      height: ledger.height + 1,
      epoch: 0,
      timeMs: genesis.genesisTimeMs + (b + 1) * 1000,
      proposer: witness,
      randomness: new Uint8Array(32),
    },
    events,
  )
  executeMs.push(performance.now() - t)
  const used = process.cpuUsage(cpu)
  executeCpuMs.push((used.user + used.system) / 1000)
  const failed = x.results.filter((r) => !r.ok)
  if (failed.length > 0) throw new Error(`unexpected failures: ${JSON.stringify(failed.slice(0, 3))}`)
  t = performance.now()
  x.commit()
  commitMs.push(performance.now() - t)
}

const sorted = (a: number[]) => [...a].sort((x, y) => x - y)
const pct = (a: number[], p: number) => sorted(a)[Math.min(a.length - 1, Math.floor((a.length * p) / 100))]!
const warm = executeMs.slice(2)
console.log(
  `execute+root of ${EVENTS} transfers over ${ACCOUNTS} accounts: ` +
    `p50 ${pct(warm, 50).toFixed(2)} ms, p90 ${pct(warm, 90).toFixed(2)} ms, min ${Math.min(...warm).toFixed(2)} ms ` +
    `(${Math.round(EVENTS / (pct(warm, 50) / 1000)).toLocaleString('en')} events/s)`,
)
const warmCpu = executeCpuMs.slice(2)
console.log(
  `  CPU time (all threads, less sensitive to other load): p50 ${pct(warmCpu, 50).toFixed(2)} ms, min ${Math.min(...warmCpu).toFixed(2)} ms`,
)
console.log(`commit: p50 ${pct(commitMs.slice(2), 50).toFixed(2)} ms`)
t = performance.now()
const snap = ledger.snapshot()
console.log(`snapshot: ${(snap.length / 1e6).toFixed(1)} MB in ${(performance.now() - t).toFixed(0)} ms`)
t = performance.now()
Ledger.fromSnapshot(snap)
console.log(`fromSnapshot (verify root): ${(performance.now() - t).toFixed(0)} ms`)
