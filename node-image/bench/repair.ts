/**
 * DDS repair benchmark (DESIGN §8): 256 MiB of content (4 bodies of 64 MiB, 4+2) on 6 SSNs; one
 * SSN is killed and the survivors are told to repair (the admin call an operator makes when it
 * declares the SSN lost); the clock stops when every body has k + m shards on live SSNs again,
 * counted on their disks. Also reports publish and fetch throughput through a witness's public API.
 * Run: `make bench`. Writes docs/bench/repair.{json,md} with the machine noted.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AdminClient } from '../src/api/admin-contract.ts'
import { publishAs } from '../src/api/publish-client.ts'
import {
  createTestnet,
  downTestnet,
  killNode,
  startAll,
  testnetAccount,
  waitFor,
  waitForHeight,
} from '../src/cli/testnet.ts'
import type { TestnetNode } from '../src/cli/testnet.ts'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const ITEMS = 4
const ITEM_BYTES = 64 * 1024 * 1024
const MiB = 1024 * 1024

// The repair throttle stays at its default (64 MiB/s); SSNs also scan on their own every 5 s, which
// the second measurement relies on (no admin call at all).
const SCAN_MS = 5_000
process.env.ECHONET_REPAIR_INTERVAL_MS = String(SCAN_MS)
const dir = await mkdtemp(join(tmpdir(), 'echonet-bench-repair-'))
const s = await createTestnet({ dir, witnesses: 4, standbys: 0, ssns: 6, seeds: 0, ipPrefix: '127.0.62.', accounts: 2 })
const node = (name: string): TestnetNode => s.nodes.find((n) => n.name === name)!
const ssns = s.nodes.filter((n) => n.role === 'ssn')

/** A node's resident memory from its own /metrics (prom-client default metrics). */
async function rssMiB(n: TestnetNode): Promise<number> {
  const text = await (await fetch(`${n.api}/metrics`)).text()
  const m = /^process_resident_memory_bytes (\d+)/m.exec(text)
  return m ? Number(m[1]) / MiB : NaN
}

async function shardsOnDisk(names: readonly TestnetNode[]): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>()
  for (const n of names) {
    const base = join(n.dir, 'data', 'dds', 'shards')
    for (const cid of await readdir(base).catch(() => [])) {
      const set = out.get(cid) ?? new Set<string>()
      for (const f of await readdir(join(base, cid))) set.add(f)
      out.set(cid, set)
    }
  }
  return out
}

interface Result {
  contentMiB: number
  lostShardMiB: number
  repairSeconds: number
  repairMiBps: number
  publishMBps: number
  fetchMBps: number
  autoRepairSeconds: number
  publisherRssMiB: number
  idleRssMiB: number
  fetcherRssMiB: number
}
let result: Result
try {
  await startAll(s)
  await waitForHeight(s, ['w0', ...ssns.map((n) => n.name)], 2, 90_000)
  const idleRss = await rssMiB(node('w0'))
  const cids: string[] = []
  const hashes: string[] = []
  let publishMs = 0
  for (let i = 0; i < ITEMS; i++) {
    const body = randomBytes(ITEM_BYTES)
    hashes.push(createHash('sha256').update(body).digest('hex'))
    const t = performance.now()
    const r = await publishAs(node('w0').api, testnetAccount(0), body, { chainId: s.chainId })
    publishMs += performance.now() - t
    if (r.status !== 201) throw new Error(`publish failed: ${r.status} ${await r.text()}`)
    cids.push(((await r.json()) as { cid: string }).cid)
  }
  const publisherRss = await rssMiB(node('w0'))
  await waitFor(
    'content registered',
    async () => {
      for (const cid of cids) {
        const m = (await (await fetch(`${node('w0').api}/v1/content/${cid}/manifest`)).json()) as {
          registeredAtHeight?: number
        }
        if (m.registeredAtHeight === undefined) return false
      }
      return true
    },
    60_000,
  )
  let fetchMs = 0
  for (const [i, cid] of cids.entries()) {
    const t = performance.now()
    const res = await fetch(`${node('w1').api}/v1/content/${cid}`)
    const h = createHash('sha256')
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) h.update(piece)
    fetchMs += performance.now() - t
    if (h.digest('hex') !== hashes[i]) throw new Error(`fetched body ${cid} differs`)
  }

  const fetcherRss = await rssMiB(node('w1'))
  const lost = ssns[0]!
  const live = ssns.slice(1)
  const before = await shardsOnDisk([lost])
  let lostBytes = 0
  for (const cid of before.keys()) {
    for (const f of before.get(cid)!) {
      lostBytes += (await readFile(join(lost.dir, 'data', 'dds', 'shards', cid, f))).length
    }
  }
  const t0 = performance.now()
  await killNode(s, lost.name)
  await waitFor(
    'full redundancy on the live SSNs',
    async () => {
      await Promise.all(live.map((n) => new AdminClient(n.admin, s.adminToken, { timeoutMs: 600_000 }).storageRepair()))
      const disk = await shardsOnDisk(live)
      return cids.every((c) => disk.get(c)?.size === 6)
    },
    600_000,
    100,
  )
  const repairMs = performance.now() - t0

  // A second SSN is lost and nobody calls the admin API: the periodic scans find and repair it.
  const lost2 = live[0]!
  const live2 = live.slice(1)
  const t1 = performance.now()
  await killNode(s, lost2.name)
  await waitFor(
    'full redundancy by the periodic scans alone',
    async () => {
      const disk = await shardsOnDisk(live2)
      return cids.every((c) => disk.get(c)?.size === 6)
    },
    600_000,
    100,
  )
  const autoRepairMs = performance.now() - t1
  result = {
    publisherRssMiB: publisherRss,
    idleRssMiB: idleRss,
    fetcherRssMiB: fetcherRss,
    autoRepairSeconds: autoRepairMs / 1000,
    contentMiB: (ITEMS * ITEM_BYTES) / MiB,
    lostShardMiB: lostBytes / MiB,
    repairSeconds: repairMs / 1000,
    repairMiBps: lostBytes / MiB / (repairMs / 1000),
    publishMBps: (ITEMS * ITEM_BYTES) / 1e6 / (publishMs / 1000),
    fetchMBps: (ITEMS * ITEM_BYTES) / 1e6 / (fetchMs / 1000),
  }
} finally {
  await downTestnet(dir, true)
}

const cpu =
  (await readFile('/proc/cpuinfo', 'utf8')).match(/model name\s*:\s*(.*)/)?.[1] ?? cpus()[0]?.model ?? 'unknown'
const machine = { cpu, cores: cpus().length, node: process.version, date: new Date().toISOString(), loadavg: loadavg() }
const f = (x: number, d = 1): string => x.toFixed(d)
const md = [
  '# DDS repair benchmark: 256 MiB on 6 SSNs, one lost',
  '',
  `Generated by \`node node-image/bench/repair.ts\` on ${machine.date}.`,
  '',
  `- Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; load average at the end ${machine.loadavg.map((x) => x.toFixed(2)).join(' ')}.`,
  '- Testnet of processes on loopback: 4 witnesses + 6 SSNs, all on the same 2 cores as the benchmark driver.',
  `- Content: ${ITEMS} bodies × 64 MiB = ${result.contentMiB} MiB, erasure 4+2 (shards 16 MiB, 64 KiB segments).`,
  '- Repair: the lost SSN is killed, then the 5 survivors are asked to repair (admin `POST /admin/v1/storage/repair`, what the operator calls once it declares an SSN lost; the periodic scan would otherwise find it within its interval). Throttle at its default, 64 MiB/s per repairing SSN. The clock runs from the kill until every body has 6 distinct shards on the live SSNs, counted on their disks.',
  '',
  'Target (DESIGN §8): full redundancy restored ≤ 60 s.',
  '',
  '| What | Value |',
  '|---|--:|',
  `| shard bytes lost with the SSN | ${f(result.lostShardMiB)} MiB |`,
  `| **time to full redundancy** | **${f(result.repairSeconds, 2)} s** |`,
  `| repair throughput (lost bytes rebuilt and placed / time) | ${f(result.repairMiBps)} MiB/s |`,
  `| then a 2nd SSN lost, no admin call: periodic scans (every ${SCAN_MS / 1000} s) restore k + m on the 4 left | ${f(result.autoRepairSeconds, 2)} s |`,
  `| publish through a witness (encode + place 6 shards + register), 64 MiB bodies | ${f(result.publishMBps)} MB/s |`,
  `| fetch through another witness (any 4 shards, verify, reassemble), 64 MiB bodies | ${f(result.fetchMBps)} MB/s |`,
  `| resident memory of that witness before publishing | ${f(result.idleRssMiB)} MiB |`,
  `| resident memory of the publishing witness after 4 × 64 MiB published (bodies stream to disk) | ${f(result.publisherRssMiB)} MiB |`,
  `| resident memory of the fetching witness after 4 × 64 MiB fetched (shards spool to disk) | ${f(result.fetcherRssMiB)} MiB |`,
  '',
].join('\n')
await mkdir(join(root, 'docs/bench'), { recursive: true })
await writeFile(join(root, 'docs/bench/repair.md'), md)
await writeFile(join(root, 'docs/bench/repair.json'), JSON.stringify({ machine, result }, null, 2))
console.log(md)
