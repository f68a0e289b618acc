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
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { FloodReport } from '../src/cli/flood.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const HONEST = Number(process.env.BENCH_HONEST_RATE ?? 200)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const FLOOD = HONEST * 10
const ATTACKER_IP = '127.0.33.1'
const ATTACKER = 63
/**
 * Two flood shapes: one event per request (a request flood as well: the HTTP front's per-IP
 * bucket meets it) and 10 events per request (an event flood: the per-DID bucket meets it).
 */
const BATCHES = (process.env.BENCH_FLOOD_BATCHES ?? '1,10').split(',').map(Number)

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

async function run(defences: boolean, batch: number): Promise<Phase[]> {
  if (defences) delete process.env.ECHONET_DEFENCES
  else process.env.ECHONET_DEFENCES = 'off'
  const s = await launchTestnet(
    { witnesses: 4, standbys: 0, accounts: 64, ipPrefix: defences ? '127.0.31.' : '127.0.32.' },
    { tmpPrefix: 'echonet-bench-attack-', height: 1, timeoutMs: 60_000 },
  )
  let nonce = 1
  /** Starts the attacker process; resolves once it is flooding, with the promise of its report. */
  const flood = async (): Promise<{ done: Promise<FloodReport> }> => {
    const args = {
      chainId: s.chainId,
      api: s.nodes[0]!.api,
      sourceIp: ATTACKER_IP,
      attacker: ATTACKER,
      to: 0,
      firstNonce: nonce,
      eventsPerSecond: FLOOD,
      seconds: SECONDS,
      batch,
    }
    nonce += FLOOD * SECONDS
    const child = spawn(process.execPath, [join(root, 'node-image/bench/flood-worker.ts'), JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const lines = createInterface({ input: child.stdout })
    const out: string[] = []
    let ready!: () => void
    const isReady = new Promise<void>((r) => (ready = r))
    lines.on('line', (l) => {
      if (l === 'READY') ready()
      else out.push(l)
    })
    const done = new Promise<FloodReport>((resolve, reject) => {
      child.once('exit', (code) => {
        ready()
        const last = out[out.length - 1]
        if (code !== 0 || last === undefined) reject(new Error(`flood worker exited with ${code ?? 'a signal'}`))
        else resolve(JSON.parse(last) as FloodReport)
      })
    })
    await isReady
    return { done }
  }
  const honest = (): Promise<LoadReport> =>
    runLoad(s, { rate: HONEST, seconds: SECONDS, senders: 16, drainSeconds: 30 })
  try {
    const out: Phase[] = [phase('before', await honest())]
    const f1 = await flood()
    const [during, r1] = await Promise.all([honest(), f1.done])
    out.push(phase('during', during, r1))
    if (defences) await blocklistAttacker(s)
    const f2 = await flood()
    const [after, r2] = await Promise.all([honest(), f2.done])
    out.push(phase('after', after, r2))
    for (const p of out)
      console.log(
        `batch ${batch}, defences ${defences ? 'on' : 'off'} ${p.phase}: honest ${p.honestPerSecond}/s, p99 ${p.p99} ms, lost ${p.lost}${p.flood ? `; flood sent ${p.flood.sent}, accepted ${p.flood.accepted}` : ''}`,
      )
    return out
  } finally {
    await downTestnet(s.dir, true)
    delete process.env.ECHONET_DEFENCES
  }
}

const shapes: { batch: number; on: Phase[]; off: Phase[] }[] = []
for (const batch of BATCHES) shapes.push({ batch, on: await run(true, batch), off: await run(false, batch) })
// The attacker is a process on the same 2 cores: the rate it reached is reported, not assumed.
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
  `| ${mode} | ${p.phase} | ${p.honestPerSecond} | ${p.p50} | ${p.p99} | ${p.lost} | ${p.flood === undefined ? '—' : `${p.flood.sent} (${Math.round(p.flood.sent / SECONDS)}/s)`} | ${p.flood?.accepted ?? '—'} | ${refused(p)} |`
const pct = (a: Phase, b: Phase): string =>
  `${Math.round((100 * a.honestPerSecond) / Math.max(1, b.honestPerSecond))} %`
const table = (x: { batch: number; on: Phase[]; off: Phase[] }): string[] => [
  `## ${x.batch === 1 ? 'Request flood: one event per request' : `Event flood: ${x.batch} events per request`}`,
  '',
  '| defences | phase | honest finalized/s | p50 ms | p99 ms | honest lost | flood sent (rate reached) | flood accepted | flood refused (codes) |',
  '|---|---|---|---|---|---|---|---|---|',
  ...x.on.map((p) => row('on', p)),
  ...x.off.map((p) => row('off', p)),
  '',
  `Honest throughput during the flood vs before: defences on ${pct(x.on[1]!, x.on[0]!)} (p99 ${x.on[1]!.p99} ms), off ${pct(x.off[1]!, x.off[0]!)} (p99 ${x.off[1]!.p99} ms); after blocklisting ${pct(x.on[2]!, x.on[0]!)} (p99 ${x.on[2]!.p99} ms), without ${pct(x.off[2]!, x.off[0]!)} (p99 ${x.off[2]!.p99} ms).`,
  '',
]
const md = [
  '# Scenario D benchmark: a flood from one address and one DID, defences on and off',
  '',
  `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}, load average at the end ${machine.loadavg.map((x) => x.toFixed(2)).join(' ')}.`,
  `4 witnesses on loopback, the honest load generator (${HONEST} signed transfers/s from 16 DIDs, spread over the witnesses) and the attacker (${FLOOD} signed transfers/s offered from one funded DID, signed beforehand, all to one witness, from ${ATTACKER_IP}, in its own process) share the same cores. Each phase lasts ${SECONDS} s; "after" is the flood going on after the attacker was blocklisted (address and DID) on every node — with the defences off nothing is blocklisted. The attacker's process competes for the same 2 cores, so the rate it reached is reported.`,
  '',
  'Target (issue 10): during the flood honest events keep finalizing at ≥ 80 % of their pre-attack rate with p99 ≤ 2 s, and none is lost.',
  '',
  ...shapes.flatMap(table),
].join('\n')
await mkdir(join(root, 'docs/bench'), { recursive: true })
await writeFile(join(root, 'docs/bench/attack.md'), md)
await writeFile(
  join(root, 'docs/bench/attack.json'),
  JSON.stringify({ machine, honestRate: HONEST, floodRate: FLOOD, seconds: SECONDS, shapes }, null, 2),
)
console.log(md)
