/**
 * Reed-Solomon benchmark (DESIGN §8, issue #13): encode and decode-with-m-data-shards-lost
 * throughput on one core for 4+2 and 10+4: ours on every native path this CPU has, on the wasm
 * kernel and the scalar reference, side by side with @digitaldefiance/reed-solomon-erasure.wasm
 * (rust reed-solomon-erasure compiled to wasm), @ronomon/reed-solomon (native addon, Cauchy XOR
 * codes) and, given `--klauspost <partner>`, klauspost/reedsolomon v1.14.2 (Go) in a child process
 * interleaved with ours (the partner program is built outside the repository; its line protocol
 * is described at the `klauspost` option below).
 *
 *   taskset -c 0 node node-image/bench/erasure.ts [--mib 64] [--iters 7] [--warmup 2] [--no-write]
 *                                                 [--klauspost /path/to/partner]
 *
 * Prints a Markdown table and writes docs/bench/erasure.{json,md}. Throughput is data bytes
 * (k × shard size) per second, median of the timed iterations; MB = 10^6 bytes. Everything runs
 * single-threaded, round-robin (iteration i of every case before iteration i + 1 of any), so load
 * from other processes on this shared machine falls on all implementations alike. */
import { randomFillSync } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ReedSolomon } from '../src/storage/erasure/index.ts'
import { encodingMatrix, selectRows } from '../src/storage/erasure/matrix.ts'
import { sharedWasmKernel } from '../src/storage/erasure/wasm-kernel.ts'
import { NativeKernel, nativePaths } from '../src/storage/erasure/native-kernel.ts'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { kernelModuleBytes, type MulFunction } from '../src/storage/erasure/wasm-module.ts'
import { GF_NIBBLE_TABLES } from '../src/storage/erasure/gf256.ts'

const { values: args } = parseArgs({
  options: {
    mib: { type: 'string', default: '64' },
    iters: { type: 'string', default: '7' },
    warmup: { type: 'string', default: '2' },
    'no-write': { type: 'boolean', default: false },
    // A side-by-side partner built outside the repository around klauspost/reedsolomon (Go):
    // commands on stdin, one answer line each — "init k m shardBytes" → ok, "encode k m" /
    // "decode k m" → milliseconds of one Encode / ReconstructData (first m data shards dropped),
    // "vector k m" → comma-separated hex parity of data byte i = (29·i + 7) mod 256, 8 B per shard.
    klauspost: { type: 'string' },
  },
})
const BODY_MIB = Number(args.mib)
const ITERS = Number(args.iters)
const WARMUP = Number(args.warmup)
const CONFIGS = [
  [4, 2],
  [10, 4],
] as const

const require = createRequire(import.meta.url)
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

// --- the other libraries, loaded defensively ----------------------------------------------------

interface DdRs {
  encode(shards: Uint8Array, k: number, m: number): number
  reconstruct(shards: Uint8Array, k: number, m: number, available: boolean[]): number
}

async function loadDigitalDefiance(): Promise<DdRs | string> {
  try {
    const mod = await import('@digitaldefiance/reed-solomon-erasure.wasm')
    const wasm = join(
      dirname(require.resolve('@digitaldefiance/reed-solomon-erasure.wasm')),
      'reed_solomon_erasure_bg.wasm',
    )
    // fromCurrentDirectorySync() uses __dirname, which its ESM build does not have: load the bytes.
    return mod.ReedSolomonErasure.fromBytes(readFileSync(wasm))
  } catch (err) {
    return `not available: ${String(err)}`
  }
}

type RonomonCallback = (error: Error | undefined) => void
interface Ronomon {
  readonly MAX_K: number
  readonly MAX_M: number
  create(k: number, m: number): object
  encode(
    context: object,
    sources: number,
    targets: number,
    buffer: Buffer,
    bufferOffset: number,
    bufferSize: number,
    parity: Buffer,
    parityOffset: number,
    paritySize: number,
    callback: RonomonCallback,
  ): void
}

function loadRonomon(): Ronomon | string {
  try {
    return require('@ronomon/reed-solomon') as Ronomon
  } catch (err) {
    return `did not build / load: ${String(err).split('\n')[0] ?? ''}`
  }
}

// --- measurement ---------------------------------------------------------------------------------

type Op = 'encode' | 'decode, m data shards lost'

interface Row {
  readonly impl: string
  readonly config: string
  readonly op: Op
  readonly status: 'ok' | 'unavailable'
  readonly shardSize?: number
  readonly dataBytes?: number
  readonly medianMs?: number
  readonly bestMs?: number
  /** Median throughput. */
  readonly mbPerSec?: number
  readonly mibPerSec?: number
  /** Throughput of the fastest iteration: less sensitive to other load on the machine. */
  readonly bestMbPerSec?: number
  readonly note?: string
}

/** One timed operation. `setup` runs untimed before every iteration; `check` once at the end. */
interface Case {
  readonly impl: string
  readonly op: Op
  readonly note?: string
  readonly setup?: () => void
  readonly run: () => void | Promise<void>
  /** A case timed by its own process (klauspost's partner): returns milliseconds; replaces run. */
  readonly timed?: () => Promise<number>
  readonly check: () => boolean
}

/** `fn` on the first call only. */
function once(fn: () => void): () => void {
  let done = false
  return () => {
    if (!done) fn()
    done = true
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

/**
 * Runs the cases round-robin (iteration i of every case before iteration i + 1 of any), so that
 * load from other processes on this shared machine falls on all implementations alike.
 */
async function measure(config: string, shardSize: number, dataBytes: number, cases: readonly Case[]): Promise<Row[]> {
  const times = cases.map(() => [] as number[])
  for (let i = 0; i < WARMUP + ITERS; i++) {
    for (const [c, kase] of cases.entries()) {
      kase.setup?.()
      let ms: number
      if (kase.timed) ms = await kase.timed()
      else {
        const t0 = performance.now()
        await kase.run()
        ms = performance.now() - t0
      }
      if (i >= WARMUP) times[c]!.push(ms)
    }
  }
  return cases.map((kase, c) => {
    if (!kase.check()) throw new Error(`benchmark self-check failed: ${kase.impl} ${config} ${kase.op}`)
    const ms = times[c]!.sort((a, b) => a - b)
    const median = ms[ms.length >> 1]!
    const best = ms[0]!
    return {
      impl: kase.impl,
      config,
      op: kase.op,
      status: 'ok',
      shardSize,
      dataBytes,
      medianMs: Number(median.toFixed(2)),
      bestMs: Number(best.toFixed(2)),
      mbPerSec: Math.round(dataBytes / 1e3 / median),
      mibPerSec: Math.round(dataBytes / 1048.576 / median),
      bestMbPerSec: Math.round(dataBytes / 1e3 / best),
      ...(kase.note === undefined ? {} : { note: kase.note }),
    }
  })
}

const OURS = 'echonet (wasm SIMD)'
const SCALAR = 'echonet (scalar JS reference)'
const DD = '@digitaldefiance/reed-solomon-erasure.wasm'
const RONOMON = '@ronomon/reed-solomon'
const KLAUSPOST = 'klauspost/reedsolomon v1.14.2 (Go)'

async function benchConfig(
  k: number,
  m: number,
  dd: DdRs | string,
  ron: Ronomon | string,
  partner: Partner | undefined,
): Promise<Row[]> {
  const config = `${k}+${m}`
  // One shard size for every library: ronomon needs a multiple of 8; 64 keeps all vector paths aligned.
  const shardSize = Math.ceil((BODY_MIB * 1024 * 1024) / k / 64) * 64
  const dataBytes = k * shardSize
  const n = k + m
  const data = Array.from({ length: k }, () => randomFillSync(new Uint8Array(shardSize)))
  const ours = new ReedSolomon(k, m)
  const reference = ours.encode(data)
  const natives = nativePaths().map(
    (p) => [`echonet (native ${p})`, new ReedSolomon(k, m, { kernel: new NativeKernel(p) })] as const,
  )
  const lostOk = (get: (i: number) => Uint8Array | undefined): boolean =>
    LOST.every((i) => {
      const s = get(i)
      return s !== undefined && equal(s, data[i]!)
    })
  // m data shards lost: the most expensive erasure pattern (losing parity is just re-encoding).
  const LOST = Array.from({ length: m }, (_, i) => i)
  const present = Array.from({ length: n }, (_, i) => !LOST.includes(i))
  const cases: Case[] = []

  // Ours (SIMD, then the scalar reference) with caller-owned buffers, then the allocating API.
  for (const [impl, rs] of [
    ...natives,
    [OURS, new ReedSolomon(k, m, { backend: 'wasm-simd' })],
    [SCALAR, new ReedSolomon(k, m, { backend: 'scalar' })],
  ] as const) {
    // One stripe per implementation, used as klauspost's partner uses its shards: encode fills
    // its parity from its data; decode rebuilds its first m data shards from the rest.
    const stripe: Uint8Array[] = [
      ...data.map((d) => new Uint8Array(d)),
      ...Array.from({ length: m }, () => new Uint8Array(shardSize)),
    ]
    cases.push({
      impl,
      op: 'encode',
      note: 'encodeInto (caller buffers)',
      run: () => {
        rs.encodeInto(stripe.slice(0, k), stripe.slice(k))
      },
      check: () => stripe.slice(k).every((p, j) => equal(p, reference[j]!)),
    })
    cases.push({
      impl,
      op: 'decode, m data shards lost',
      note: 'reconstruct with present flags (reused buffers)',
      // Zeroed once (after the first encode): every iteration must rebuild them for the check to
      // pass, and no iteration starts with the outputs freshly written into the cache.
      setup: once(() => {
        for (const i of LOST) stripe[i]!.fill(0)
      }),
      run: () => {
        rs.reconstruct(stripe, { present })
      },
      check: () => lostOk((i) => stripe[i]),
    })
  }
  let allocated: Uint8Array[] = []
  cases.push({
    impl: natives[0]?.[0] ?? OURS,
    op: 'encode',
    note: 'encode() (allocates parity)',
    run: () => {
      allocated = ours.encode(data)
    },
    check: () => allocated.every((p, j) => equal(p, reference[j]!)),
  })
  const sparse: (Uint8Array | undefined)[] = [...data, ...reference]
  cases.push({
    impl: natives[0]?.[0] ?? OURS,
    op: 'decode, m data shards lost',
    note: 'reconstruct() (allocates missing)',
    setup: () => {
      for (const i of LOST) sparse[i] = undefined
    },
    run: () => {
      ours.reconstruct(sparse)
    },
    check: () => lostOk((i) => sparse[i]),
  })

  // @digitaldefiance/reed-solomon-erasure.wasm: one contiguous buffer of k + m shards.
  const unavailable: Row[] = []
  if (typeof dd === 'string') {
    for (const op of ['encode', 'decode, m data shards lost'] as const) {
      unavailable.push({ impl: DD, config, op, status: 'unavailable', note: dd })
    }
  } else {
    const slice = (buf: Uint8Array, i: number): Uint8Array => buf.subarray(i * shardSize, (i + 1) * shardSize)
    const encBuf = new Uint8Array(n * shardSize)
    data.forEach((d, i) => encBuf.set(d, i * shardSize))
    let results = 0
    cases.push({
      impl: DD,
      op: 'encode',
      note: 'parity byte-identical to ours (checked)',
      run: () => {
        results |= dd.encode(encBuf, k, m)
      },
      check: () => results === 0 && reference.every((p, j) => equal(p, slice(encBuf, k + j))),
    })
    const decBuf = new Uint8Array(n * shardSize)
    data.forEach((d, i) => decBuf.set(d, i * shardSize))
    reference.forEach((p, j) => decBuf.set(p, (k + j) * shardSize))
    cases.push({
      impl: DD,
      op: 'decode, m data shards lost',
      // Zeroed once: every iteration must rebuild them for the check to pass, and no iteration
      // starts with the outputs freshly written into the cache (klauspost's do not either).
      setup: once(() => {
        for (const i of LOST) slice(decBuf, i).fill(0)
      }),
      run: () => {
        results |= dd.reconstruct(decBuf, k, m, present)
      },
      check: () => results === 0 && lostOk((i) => slice(decBuf, i)),
    })
  }

  // @ronomon/reed-solomon: data buffer + parity buffer, sources / targets as bit masks.
  if (typeof ron === 'string') {
    for (const op of ['encode', 'decode, m data shards lost'] as const) {
      unavailable.push({ impl: RONOMON, config, op, status: 'unavailable', note: ron })
    }
  } else {
    const ctx = ron.create(k, m)
    const slice = (buf: Buffer, i: number): Buffer => buf.subarray(i * shardSize, (i + 1) * shardSize)
    const makeCall =
      (buffer: Buffer, parity: Buffer) =>
      (sources: number, targets: number): Promise<void> =>
        new Promise((resolve, reject) => {
          ron.encode(ctx, sources, targets, buffer, 0, buffer.length, parity, 0, parity.length, (error) => {
            if (error === undefined) resolve()
            else reject(error)
          })
        })
    let dataMask = 0
    for (let i = 0; i < k; i++) dataMask |= 1 << i
    let parityMask = 0
    for (let i = k; i < n; i++) parityMask |= 1 << i
    let lostMask = 0
    for (const i of LOST) lostMask |= 1 << i
    const encData = Buffer.alloc(k * shardSize)
    data.forEach((d, i) => encData.set(d, i * shardSize))
    const encParity = Buffer.alloc(m * shardSize)
    const encode = makeCall(encData, encParity)
    // Its parity (a different code from ours) for the decode case, computed once up front.
    await encode(dataMask, parityMask)
    const decData = Buffer.alloc(k * shardSize)
    decData.set(encData)
    const decParity = Buffer.from(encParity)
    const decode = makeCall(decData, decParity)
    cases.push({
      impl: RONOMON,
      op: 'encode',
      note: 'Cauchy bit-matrix XOR code: parity differs from ours',
      run: () => encode(dataMask, parityMask),
      check: () => equal(encParity, decParity), // deterministic
    })
    cases.push({
      impl: RONOMON,
      op: 'decode, m data shards lost',
      // Zeroed once: every iteration must rebuild them for the check to pass, and no iteration
      // starts with the outputs freshly written into the cache (klauspost's do not either).
      setup: once(() => {
        for (const i of LOST) slice(decData, i).fill(0)
      }),
      run: () => decode((dataMask | parityMask) & ~lostMask, lostMask),
      check: () => lostOk((i) => slice(decData, i)),
    })
  }

  if (partner !== undefined) {
    // klauspost/reedsolomon in its own process, interleaved with ours like every other case.
    const theirs = (await partner.ask(`vector ${k} ${m}`)).split(',')
    const vector = Uint8Array.from({ length: k * 8 }, (_, i) => (i * 29 + 7) & 255)
    const mine = ours
      .encode(Array.from({ length: k }, (_, i) => vector.subarray(i * 8, i * 8 + 8)))
      .map((p) => Buffer.from(p).toString('hex'))
    const same = mine.join() === theirs.join()
    await partner.ask(`init ${k} ${m} ${shardSize}`)
    for (const op of ['encode', 'decode'] as const) {
      cases.push({
        impl: KLAUSPOST,
        op: op === 'encode' ? 'encode' : 'decode, m data shards lost',
        note:
          op === 'encode'
            ? `Go, one core; parity of the test vector ${same ? 'byte-identical to ours' : 'DIFFERS'}`
            : 'ReconstructData, buffers reused',
        run: () => undefined,
        timed: async () => Number(await partner.ask(`${op} ${k} ${m}`)),
        check: () => same,
      })
    }
  }
  const rows = await measure(config, shardSize, dataBytes, cases)
  // Ours first, then the scalar reference, then the libraries.
  const order = [...natives.map(([name]) => name), OURS, SCALAR, KLAUSPOST, DD, RONOMON]
  return [...rows, ...unavailable].sort((a, b) => order.indexOf(a.impl) - order.indexOf(b.impl))
}

/**
 * Where our time goes for k+m encode: the SIMD kernel alone on one L2-resident block (no copies),
 * and the block copies into / out of wasm memory alone, over the same total bytes.
 */
function breakdown(k: number, m: number): { config: string; kernelOnlyMBps: number; copyOnlyMBps: number } {
  const kernel = sharedWasmKernel()
  const inst = kernel === undefined ? undefined : compileRaw()
  const block = kernel?.blockSize(m, k, Number.MAX_SAFE_INTEGER) ?? 0
  if (inst === undefined || kernel === undefined) return { config: `${k}+${m}`, kernelOnlyMBps: 0, copyOnlyMBps: 0 }
  const total = BODY_MIB * 1024 * 1024
  const shard = total / k
  const tables = selectRows(
    encodingMatrix(k, m),
    Array.from({ length: m }, (_, j) => k + j),
  )
  const tabBytes = Math.ceil((m * k * 32) / 64) * 64
  const inBase = tabBytes
  const outBase = inBase + k * block
  inst.memory.grow(Math.ceil((outBase + m * block) / 65536))
  const mem = new Uint8Array(inst.memory.buffer)
  for (let c = 0; c < k; c++) {
    for (let o = 0; o < m; o++) {
      const coef = tables.data[o * k + c]!
      mem.set(GF_NIBBLE_TABLES.subarray(coef * 32, coef * 32 + 32), (c * m + o) * 32)
    }
  }
  randomFillSync(mem.subarray(inBase, outBase))
  const mul = inst.mul[m - 1]!
  const data = Array.from({ length: k }, () => randomFillSync(new Uint8Array(shard)))
  const parity = Array.from({ length: m }, () => new Uint8Array(shard))
  const kernelMs: number[] = []
  const copyMs: number[] = []
  for (let rep = 0; rep < WARMUP + ITERS; rep++) {
    let t0 = performance.now()
    for (let pos = 0; pos < shard; pos += block) mul(0, inBase, block, k, outBase, block, block)
    const tk = performance.now() - t0
    t0 = performance.now()
    for (let pos = 0; pos < shard; pos += block) {
      const len = Math.min(block, shard - pos)
      for (let c = 0; c < k; c++) mem.set(data[c]!.subarray(pos, pos + len), inBase + c * block)
      for (let o = 0; o < m; o++) parity[o]!.set(mem.subarray(outBase + o * block, outBase + o * block + len), pos)
    }
    const tc = performance.now() - t0
    if (rep >= WARMUP) {
      kernelMs.push(tk)
      copyMs.push(tc)
    }
  }
  const med = (a: number[]): number => a.sort((x, y) => x - y)[a.length >> 1]!
  return {
    config: `${k}+${m}`,
    kernelOnlyMBps: Math.round(total / 1e3 / med(kernelMs)),
    copyOnlyMBps: Math.round(total / 1e3 / med(copyMs)),
  }
}

function compileRaw(): { memory: { buffer: ArrayBuffer; grow(pages: number): number }; mul: MulFunction[] } {
  interface Api {
    Module: new (bytes: Uint8Array<ArrayBuffer>) => object
    Instance: new (module: object, imports: object) => { exports: Record<string, unknown> }
  }
  const api = (globalThis as unknown as { WebAssembly: Api }).WebAssembly
  const kernel = sharedWasmKernel()!
  const opts = { maxOutputs: kernel.maxOutputs, vectors: kernel.vectors, relaxed: kernel.relaxed }
  const { exports } = new api.Instance(new api.Module(kernelModuleBytes(opts)), {})
  return {
    memory: exports.memory as { buffer: ArrayBuffer; grow(pages: number): number },
    mul: Array.from({ length: opts.maxOutputs }, (_, g) => exports[`mul${g + 1}`] as MulFunction),
  }
}

/**
 * klauspost/reedsolomon (Go) as a child process on the same core, answering one command per line
 * (see the header): it times its own Encode / ReconstructData, so the pipe costs nothing.
 */
interface Partner {
  ask(line: string): Promise<string>
  close(): void
}

function startPartner(bin: string): Partner {
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  return {
    async ask(line) {
      child.stdin.write(line + '\n')
      const next = await lines.next()
      if (next.done === true) throw new Error(`the klauspost partner exited (asked: ${line})`)
      return next.value
    },
    close() {
      child.stdin.end()
    },
  }
}

// --- report --------------------------------------------------------------------------------------

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'))
    return line?.split(':')[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown'
  } catch {
    return os.cpus()[0]?.model ?? 'unknown'
  }
}

function markdown(report: {
  date: string
  machine: Record<string, unknown>
  settings: Record<string, unknown>
  rows: Row[]
  breakdown: ReturnType<typeof breakdown>[]
}): string {
  const m = report.machine
  const fmt = (x: number | undefined): string => (x === undefined ? '—' : x.toLocaleString('en-US'))
  const lines = [
    '# Reed-Solomon benchmark',
    '',
    `Generated by \`node node-image/bench/erasure.ts\` on ${report.date}.`,
    '',
    `- CPU: ${String(m.cpu)} (${String(m.cores)} cores visible); Node ${String(m.node)} (V8 ${String(m.v8)})`,
    `- Load average (1/5/15 min) at start: ${String(m.loadStart)}; at end: ${String(m.loadEnd)}`,
    `- Body ${String(report.settings.bodyMiB)} MiB per stripe, ${String(report.settings.iterations)} timed iterations after ${String(report.settings.warmup)} warm-up, run round-robin across implementations; MB = 10^6 bytes of data (k × shard size) per second; one core (the process pinned with taskset); decode loses ${String(report.settings.lostShards)}.`,
    `- Side by side: ${String(report.settings.partner)}`,
    `- Our kernel: ${String(report.settings.kernel)}`,
    '',
    '| Implementation | Config | Operation | MB/s (median) | MiB/s (median) | MB/s (best) | median ms | note |',
    '|---|---|---|--:|--:|--:|--:|---|',
    ...report.rows.map(
      (r) =>
        `| ${r.impl} | ${r.config} | ${r.op} | ${r.status === 'ok' ? fmt(r.mbPerSec) : r.status} | ${fmt(r.mibPerSec)} | ${fmt(r.bestMbPerSec)} | ${fmt(r.medianMs)} | ${r.note ?? ''} |`,
    ),
    '',
    'Where our encode time goes (same bytes as the full run): SIMD kernel alone on an L2-resident block, and the block copies into / out of wasm memory alone.',
    '',
    '| Config | kernel only MB/s | copies only MB/s |',
    '|---|--:|--:|',
    ...report.breakdown.map((b) => `| ${b.config} | ${fmt(b.kernelOnlyMBps)} | ${fmt(b.copyOnlyMBps)} |`),
    '',
  ]
  return lines.join('\n')
}

const loadStart = os.loadavg().map((x) => x.toFixed(2))
const dd = await loadDigitalDefiance()
const ron = loadRonomon()
const rows: Row[] = []
const partner = args.klauspost === undefined ? undefined : startPartner(args.klauspost)
try {
  for (const [k, m] of CONFIGS) rows.push(...(await benchConfig(k, m, dd, ron, partner)))
} finally {
  partner?.close()
}
const parts = CONFIGS.map(([k, m]) => breakdown(k, m))
const kernel = sharedWasmKernel()
const report = {
  date: new Date().toISOString(),
  machine: {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    loadStart: loadStart.join(' '),
    loadEnd: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  },
  settings: {
    bodyMiB: BODY_MIB,
    iterations: ITERS,
    warmup: WARMUP,
    lostShards: 'the first m data shards',
    partner:
      args.klauspost === undefined
        ? 'klauspost/reedsolomon not run (no --klauspost partner given).'
        : 'klauspost/reedsolomon v1.14.2 (`New(k, m)`, Go, GOMAXPROCS=1) in a child process on the same core, its Encode / ReconstructData interleaved with our cases and timed inside its process; its parity of a test vector is compared with ours byte for byte.',
    kernel:
      (nativePaths().length > 0 ? `native (${nativePaths().join(', ')} on this CPU); ` : 'no native addon; ') +
      (kernel === undefined
        ? 'scalar (no wasm SIMD)'
        : `wasm SIMD, ${kernel.relaxed ? 'relaxed_swizzle' : 'swizzle'}, ${kernel.maxOutputs} outputs/pass, ${16 * kernel.vectors} bytes/step`),
  },
  rows,
  breakdown: parts,
}
const md = markdown(report)
console.log(md)
if (!args['no-write']) {
  const dir = join(repoRoot, 'docs', 'bench')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'erasure.json'), JSON.stringify(report, null, 2) + '\n')
  writeFileSync(join(dir, 'erasure.md'), md)
  console.log(`wrote ${join(dir, 'erasure.json')} and erasure.md`)
}
