/**
 * Scenario D benchmark (issue 10): honest load on a 4-witness testnet before, during and after a
 * flood from one address and one DID at 10x the honest rate, with the node's defences on and,
 * side by side, switched off (ECHONET_DEFENCES=off). "After" = the flood goes on; with the
 * defences on, the attacker has been blocklisted (address and DID) on every node through the admin
 * API, as the NetworkAttack runbook does. Loopback only; every flood stops by itself.
 * Run: `make bench` (or `node node-image/bench/attack.ts`). Writes docs/bench/attack.{json,md}.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AdminClient } from '../src/api/admin-contract.ts'
import { downTestnet, launchTestnet, testnetAccount } from '../src/cli/testnet.ts'
import type { TestnetState } from '../src/cli/testnet.ts'
import { runLoad } from '../src/cli/loadgen.ts'
import type { LoadReport } from '../src/cli/loadgen.ts'
import { runFlood } from '../src/cli/flood.ts'
import type { FloodReport } from '../src/cli/flood.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const HONEST = Number(process.env.BENCH_HONEST_RATE ?? 200)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const FLOOD = HONEST * 10
const ATTACKER_IP = '127.0.33.1'
const ATTACKER = 63

interface Phase {
  readonly phase: 'before' | 'during' | 'after'
  readonly honestPerSecond: number
  readonly finalized: number
  readonly accepted: number
  readonly lost: number
  readonly p50: number
  readonly p99: number
  readonly flood?: { sent: number; accepted: number; refused: Record<string, number> }
}

function phase(name: Phase['phase'], r: LoadReport, f?: FloodReport): Phase {
  return {
    phase: name,
    honestPerSecond: Math.round(r.finalized / SECONDS),
    finalized: r.finalized,
    accepted: r.accepted,
    lost: r.accepted - r.finalized,
    p50: r.finalityMs.p50,
    p99: r.finalityMs.p99,
    ...(f !== undefined ? { flood: { sent: f.sent, accepted: f.accepted, refused: f.refused } } : {}),
  }
}

async function blocklistAttacker(s: TestnetState): Promise<void> {
  for (const n of s.nodes) {
    await new AdminClient(n.admin, s.adminToken, { timeoutMs: 10_000 }).block([
      { kind: 'ip', value: ATTACKER_IP, ttlSeconds: 600, reason: 'bench flood' },
      { kind: 'did', value: testnetAccount(ATTACKER).did, ttlSeconds: 600, reason: 'bench flood' },
    ])
  }
}

async function run(defences: boolean): Promise<Phase[]> {
  if (defences) delete process.env.ECHONET_DEFENCES
  else process.env.ECHONET_DEFENCES = 'off'
  const s = await launchTestnet(
    { witnesses: 4, standbys: 0, accounts: 64, ipPrefix: defences ? '127.0.31.' : '127.0.32.' },
    { tmpPrefix: 'echonet-bench-attack-', height: 1, timeoutMs: 60_000 },
  )
  let nonce = 1
  const flood = (): Promise<FloodReport> => {
    const f = runFlood({
      chainId: s.chainId,
      api: s.nodes[0]!.api,
      sourceIp: ATTACKER_IP,
      attacker: testnetAccount(ATTACKER),
      to: testnetAccount(0).did,
      firstNonce: nonce,
      eventsPerSecond: FLOOD,
      seconds: SECONDS,
      // One event per request: a request flood as well as an event flood.
      batch: 1,
    })
    nonce += FLOOD * SECONDS
    return f
  }
  const honest = (): Promise<LoadReport> =>
    runLoad(s, { rate: HONEST, seconds: SECONDS, senders: 16, drainSeconds: 30 })
  try {
    const out: Phase[] = [phase('before', await honest())]
    const [during, f1] = await Promise.all([honest(), flood()])
    out.push(phase('during', during, f1))
    if (defences) await blocklistAttacker(s)
    const [after, f2] = await Promise.all([honest(), flood()])
    out.push(phase('after', after, f2))
    for (const p of out)
      console.log(
        `defences ${defences ? 'on' : 'off'} ${p.phase}: honest ${p.honestPerSecond}/s, p99 ${p.p99} ms, lost ${p.lost}${p.flood ? `; flood sent ${p.flood.sent}, accepted ${p.flood.accepted}` : ''}`,
      )
    return out
  } finally {
    await downTestnet(s.dir, true)
    delete process.env.ECHONET_DEFENCES
  }
}

const on = await run(true)
const off = await run(false)
const cpu =
  (await readFile('/proc/cpuinfo', 'utf8')).match(/model name\s*:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? 'unknown'
const machine = { cpu, cores: cpus().length, node: process.version, date: new Date().toISOString(), loadavg: loadavg() }
const refused = (p: Phase): string =>
  p.flood === undefined
    ? '—'
    : Object.entries(p.flood.refused)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')
const row = (mode: string, p: Phase): string =>
  `| ${mode} | ${p.phase} | ${p.honestPerSecond} | ${p.p50} | ${p.p99} | ${p.lost} | ${p.flood?.sent ?? '—'} | ${p.flood?.accepted ?? '—'} | ${refused(p)} |`
const pct = (a: Phase, b: Phase): string =>
  `${Math.round((100 * a.honestPerSecond) / Math.max(1, b.honestPerSecond))} %`
const md = [
  '# Scenario D benchmark: a flood from one address and one DID, defences on and off',
  '',
  `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}, load average at the end ${machine.loadavg.map((x) => x.toFixed(2)).join(' ')}.`,
  `4 witnesses on loopback, the honest load generator (${HONEST} signed transfers/s from 16 DIDs, spread over the witnesses) and the attacker (${FLOOD} signed transfers/s from one funded DID, one request per event, all to one witness, from ${ATTACKER_IP}) share the same cores. Each phase lasts ${SECONDS} s; "after" is the flood going on after the attacker was blocklisted (address and DID) on every node — with the defences off nothing is blocklisted.`,
  '',
  'Target (issue 10): during the flood honest events keep finalizing at ≥ 80 % of their pre-attack rate with p99 ≤ 2 s, and none is lost.',
  '',
  '| defences | phase | honest finalized/s | p50 ms | p99 ms | honest lost | flood sent | flood accepted | flood refused (codes) |',
  '|---|---|---|---|---|---|---|---|---|',
  ...on.map((p) => row('on', p)),
  ...off.map((p) => row('off', p)),
  '',
  `Honest throughput during the flood vs before: defences on ${pct(on[1]!, on[0]!)} (p99 ${on[1]!.p99} ms), off ${pct(off[1]!, off[0]!)} (p99 ${off[1]!.p99} ms); after blocklisting ${pct(on[2]!, on[0]!)} (p99 ${on[2]!.p99} ms).`,
  '',
].join('\n')
await mkdir(join(root, 'docs/bench'), { recursive: true })
await writeFile(join(root, 'docs/bench/attack.md'), md)
await writeFile(
  join(root, 'docs/bench/attack.json'),
  JSON.stringify({ machine, honestRate: HONEST, floodRate: FLOOD, seconds: SECONDS, on, off }, null, 2),
)
console.log(md)
