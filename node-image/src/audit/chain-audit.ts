/**
 * An independent check of a chain (DESIGN §8: "the invariants checker is independent of the code
 * it checks"). It trusts no node's word for a hash: it reads certified headers from several nodes
 * (`GET /v1/chain`), verifies every commit certificate against the committee it tracks itself
 * from genesis (light-client rules: each header extends the last, names the committee that
 * signed it, carries > 2/3 of that committee's precommits), crosses epoch boundaries only with a
 * restart record whose manifest names the previous block and whose authorization verifies, and
 * compares what the nodes serve. A height a node cannot serve is reported, not skipped.
 */
import { decode } from '../crypto/encoding.ts'
import { toHex } from '../crypto/hash.ts'
import { blockHash, BlockError } from '../consensus/block.ts'
import { verifyHeaderChain } from '../consensus/state-sync.ts'
import type { ChainAnchor } from '../consensus/state-sync.ts'
import { ValidatorSet } from '../consensus/validators.ts'
import type { Validator } from '../consensus/validators.ts'
import { Ledger } from '../ledger/ledger.ts'
import { genesisHash, validateGenesis } from '../ledger/genesis.ts'
import type { Genesis } from '../ledger/genesis.ts'
import { verifyRestartAuthorization } from '../ledger/governance-payloads.ts'
import { decodeRestartRecord } from '../ledger/restart-record.ts'
import type { ChainItem, ChainPage } from '../api/chain-contract.ts'

export type { ChainPage } from '../api/chain-contract.ts'

/** Where chain pages come from: a node's public API (or a test double inside a unit test). */
export interface ChainSource {
  readonly name: string
  page(from: number, max: number): Promise<ChainPage>
}

export interface AuditOptions {
  /** Verify up to this height (default: each source's tip). */
  readonly toHeight?: number
  /** Blocks that must be in the chain (e.g. what nodes held before a restart): height and hash. */
  readonly expect?: readonly { readonly height: number; readonly hash: string; readonly from?: string }[]
  /** Event ids seen final before, with the height they were final at: each must still be there. */
  readonly finalEvents?: ReadonlyMap<string, number>
  readonly pageSize?: number
}

export interface SourceResult {
  readonly name: string
  /** Highest height verified from this source. */
  readonly verifiedTo: number
  /** Why verification stopped early (bad certificate, wrong parent, unreadable), if it did. */
  readonly problem?: { readonly height: number; readonly code: string; readonly message: string }
}

export interface AuditResult {
  readonly ok: boolean
  /** Heights verified on at least one source. */
  readonly heights: number
  readonly sources: readonly SourceResult[]
  /** Heights where two sources serve two different, each verified, blocks: a safety violation. */
  readonly forks: readonly number[]
  /** Sources whose chain failed verification (a bad certificate, a broken link). */
  readonly badCertificates: number
  /** `source@height` a source could not serve below the range's end. */
  readonly missing: readonly string[]
  /** Expected blocks absent from (or different in) the verified chain. */
  readonly lostBlocks: readonly { readonly height: number; readonly hash: string; readonly found?: string }[]
  /** Events seen final that are not in the verified block at their height. */
  readonly lostEvents: number
  readonly message: string
}

const MAX_REPORTED = 64

/** The committee and hash a chain starts from, computed from the genesis document itself. */
export function genesisAnchor(genesis: unknown): ChainAnchor & { council: Genesis['council'] } {
  const g = validateGenesis(genesis)
  const ledger = Ledger.fromGenesis(g)
  return {
    height: 0,
    hash: toHex(genesisHash(g)),
    validators: new ValidatorSet(ledger.committee()),
    epoch: 0,
    council: g.council,
  }
}

async function verifySource(
  src: ChainSource,
  start: ReturnType<typeof genesisAnchor>,
  opts: AuditOptions,
  hashes: Map<number, Map<string, string[]>>,
  events: Map<number, Set<string>>,
): Promise<SourceResult> {
  let anchor: ChainAnchor = start
  const pageSize = opts.pageSize ?? 256
  for (;;) {
    const from = anchor.height + 1
    if (opts.toHeight !== undefined && from > opts.toHeight) return { name: src.name, verifiedTo: anchor.height }
    let page: ChainPage
    try {
      page = await src.page(from, pageSize)
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'UNREADABLE'
      return {
        name: src.name,
        verifiedTo: anchor.height,
        problem: { height: from, code, message: (err as Error).message },
      }
    }
    if (page.items.length === 0) return { name: src.name, verifiedTo: anchor.height }
    const sets = new Map<string, readonly Validator[]>(page.validatorSets.map(([h, v]) => [h, v]))
    const restarts = new Map(page.restarts.map(([e, r]) => [e, r]))
    let i = 0
    while (i < page.items.length) {
      // Verify a run of headers of one epoch, then cross the boundary with its restart record.
      const epoch = page.items[i]!.header.epoch
      let j = i
      while (j < page.items.length && page.items[j]!.header.epoch === epoch) j++
      if (epoch !== anchor.epoch) {
        const crossed = crossEpoch(anchor, epoch, restarts.get(epoch), start.council)
        if ('problem' in crossed)
          return {
            name: src.name,
            verifiedTo: anchor.height,
            problem: { height: page.items[i]!.header.height, ...crossed.problem },
          }
        anchor = crossed.anchor
      }
      const run = page.items.slice(i, j).filter((x) => opts.toHeight === undefined || x.header.height <= opts.toHeight)
      try {
        anchor = verifyHeaderChain(
          anchor,
          run.map((x) => ({ header: x.header, certificate: x.certificate })),
          sets,
        )
      } catch (err) {
        const code = err instanceof BlockError ? err.code : 'INVALID_CHAIN'
        return {
          name: src.name,
          verifiedTo: anchor.height,
          problem: { height: from, code, message: (err as Error).message },
        }
      }
      for (const x of run) remember(src.name, x, hashes, events)
      if (run.length < j - i) return { name: src.name, verifiedTo: anchor.height }
      i = j
    }
  }
}

function remember(
  name: string,
  x: ChainItem,
  hashes: Map<number, Map<string, string[]>>,
  events: Map<number, Set<string>>,
): void {
  const h = blockHash(x.header)
  const at = hashes.get(x.header.height) ?? new Map<string, string[]>()
  at.set(h, [...(at.get(h) ?? []), name])
  hashes.set(x.header.height, at)
  if (!events.has(x.header.height)) events.set(x.header.height, new Set(x.eventIds))
}

/** An epoch boundary: the record must restart from exactly the block before it, and be authorized. */
function crossEpoch(
  anchor: ChainAnchor,
  epoch: number,
  recordBytes: Uint8Array | undefined,
  council: Genesis['council'],
): { anchor: ChainAnchor } | { problem: { code: string; message: string } } {
  if (epoch !== anchor.epoch + 1 || recordBytes === undefined) {
    return {
      problem: { code: 'EPOCH_BOUNDARY', message: `epoch ${epoch} after ${anchor.epoch} without its restart record` },
    }
  }
  let m
  let auth
  try {
    const rec = decodeRestartRecord(recordBytes)
    m = rec.manifest
    auth = rec.authorization
  } catch (err) {
    return { problem: { code: 'INVALID_RESTART_RECORD', message: (err as Error).message } }
  }
  if (m.epoch !== epoch || m.height !== anchor.height || m.blockHash !== anchor.hash) {
    return {
      problem: {
        code: 'RESTART_MISMATCH',
        message: `epoch ${epoch} restarts from block ${m.height} (${m.blockHash}); the verified chain ends at ${anchor.height} (${anchor.hash})`,
      },
    }
  }
  // Standby registration is ledger state the auditor does not replay; the nodes checked it.
  const v = verifyRestartAuthorization(m, auth, {
    council,
    currentWitnesses: anchor.validators.validators.map((x) => x.did),
    standbys: m.witnesses.map((w) => w.did),
    nowMs: Math.min(Date.now(), m.expiresAtMs - 1),
  })
  if (!v.ok) return { problem: { code: v.code, message: `restart to epoch ${epoch}: ${v.message}` } }
  return { anchor: { ...anchor, epoch, validators: new ValidatorSet(m.witnesses) } }
}

export async function auditChain(
  genesis: unknown,
  sources: readonly ChainSource[],
  opts: AuditOptions = {},
): Promise<AuditResult> {
  const start = genesisAnchor(genesis)
  const hashes = new Map<number, Map<string, string[]>>()
  const events = new Map<number, Set<string>>()
  const results: SourceResult[] = []
  for (const src of sources) results.push(await verifySource(src, start, opts, hashes, events))
  const forks = [...hashes]
    .filter(([, m]) => m.size > 1)
    .map(([h]) => h)
    .sort((a, b) => a - b)
  const chainAt = (h: number): string | undefined => {
    const m = hashes.get(h)
    return m !== undefined && m.size === 1 ? [...m.keys()][0] : undefined
  }
  const end = opts.toHeight ?? Math.max(0, ...results.map((r) => r.verifiedTo))
  const missing = results.filter((r) => r.verifiedTo < end).map((r) => `${r.name}@${r.verifiedTo + 1}`)
  const lostBlocks = (opts.expect ?? [])
    .filter((e) => chainAt(e.height) !== e.hash)
    .map((e) => {
      const found = chainAt(e.height)
      return { height: e.height, hash: e.hash, ...(found !== undefined ? { found } : {}) }
    })
  let lostEvents = 0
  for (const [id, h] of opts.finalEvents ?? []) if (!(events.get(h)?.has(id) ?? false)) lostEvents++
  const bad = results.filter(
    (r) => r.problem !== undefined && r.problem.code !== 'UNREADABLE' && r.problem.code !== 'UNREACHABLE',
  )
  const heights = hashes.size
  const ok = forks.length === 0 && bad.length === 0 && lostBlocks.length === 0 && lostEvents === 0 && heights > 0
  const parts = [
    `${heights} certified heights verified against the committee from genesis on ${results.map((r) => `${r.name} (to ${r.verifiedTo})`).join(', ')}`,
    forks.length > 0 ? `FORKS at ${forks.slice(0, 8).join(', ')}` : 'no fork',
    ...bad.map((r) => `${r.name} fails at ${r.problem!.height}: ${r.problem!.code} ${r.problem!.message}`),
    lostBlocks.length > 0
      ? `${lostBlocks.length} expected block(s) not in the chain (first at ${lostBlocks[0]!.height})`
      : 'every expected block present',
    opts.finalEvents !== undefined ? `${lostEvents} of ${opts.finalEvents.size} final events lost` : '',
    missing.length > 0 ? `not served: ${missing.join(', ')}` : '',
  ].filter((x) => x !== '')
  return {
    ok,
    heights,
    sources: results,
    forks: forks.slice(0, MAX_REPORTED),
    badCertificates: bad.length,
    missing: missing.slice(0, MAX_REPORTED),
    lostBlocks: lostBlocks.slice(0, MAX_REPORTED),
    lostEvents,
    message: parts.join('; '),
  }
}

/** A source reading `GET /v1/chain` from a node's public API. */
export function httpChainSource(name: string, baseUrl: string, timeoutMs = 10_000): ChainSource {
  const base = baseUrl.replace(/\/$/, '')
  return {
    name,
    async page(from, max) {
      let res: Response
      try {
        res = await fetch(`${base}/v1/chain?from=${from}&max=${max}`, { signal: AbortSignal.timeout(timeoutMs) })
      } catch (err) {
        throw Object.assign(new Error(`${name}: ${(err as Error).message}`), { code: 'UNREACHABLE' })
      }
      if (!res.ok) throw Object.assign(new Error(`${name}: HTTP ${res.status}`), { code: 'UNREADABLE' })
      return decode(new Uint8Array(await res.arrayBuffer())) as ChainPage
    },
  }
}
