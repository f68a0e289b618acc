import type { Did } from '../crypto/did.ts'
import { encode } from '../crypto/encoding.ts'
import { sha256 } from '../crypto/hash.ts'
import { MAX_COUNCIL_MEMBERS } from './governance-payloads.ts'
import { DEFAULT_PARAMS, paramProblem, paramsProblem } from './params.ts'
import type { Params } from './params.ts'
import { MAX_AMOUNT, Schema } from './schema.ts'

export interface GenesisStake {
  did: Did
  stake: number
}

export interface Genesis {
  /** Network id: lowercase DNS label (it is also a Kubernetes-facing name). */
  chainId: string
  genesisTimeMs: number
  council: { members: Did[]; threshold: number }
  /** Bonded witnesses; the active committee is the top `committeeSize` of them by stake. */
  witnesses: GenesisStake[]
  /** Pre-vetted standby witnesses (never active until promoted). */
  standbys: GenesisStake[]
  /** Storage nodes. */
  ssns?: GenesisStake[]
  accounts: { did: Did; balance: number }[]
  treasury: number
  params: Partial<Params>
}

const G: Schema = new Schema('INVALID_GENESIS')
const CHAIN_ID = /^[a-z0-9][a-z0-9-]{0,62}$/
const MAX_GENESIS_ENTRIES = 1_000_000

function stakes(v: unknown, path: string, seen: Map<string, string>): GenesisStake[] {
  const list = G.list(v, path, 10_000)
  return list.map((x, i) => {
    const p = `${path}[${i}]`
    const o = G.obj(x, p, ['did', 'stake'])
    const did = G.did(o.did, `${p}.did`)
    const before = seen.get(did)
    if (before !== undefined) G.fail(`${p}.did ${did} is already listed in ${before} (one stake role per DID)`)
    seen.set(did, path)
    return { did, stake: G.amount(o.stake, `${p}.stake`) }
  })
}

/**
 * Validates a genesis document (e.g. parsed from the EchoNetNetwork CR) and returns a normalized
 * copy. Errors are LedgerError INVALID_GENESIS with the path and the rule, e.g.
 * "genesis.council.threshold must be between 1 and 3, got 4".
 */
export function validateGenesis(g: unknown): Genesis {
  const o = G.obj(
    g,
    'genesis',
    ['chainId', 'genesisTimeMs', 'council', 'witnesses', 'standbys', 'accounts', 'treasury', 'params'],
    ['ssns'],
  )
  const chainId = G.match(o.chainId, 'genesis.chainId', CHAIN_ID, 'a lowercase DNS label (a-z, 0-9, -; ≤ 63)')
  const genesisTimeMs = G.int(o.genesisTimeMs, 'genesis.genesisTimeMs', 0)

  const c = G.obj(o.council, 'genesis.council', ['members', 'threshold'])
  const members = G.list(c.members, 'genesis.council.members', MAX_COUNCIL_MEMBERS, 1).map((m, i) =>
    G.did(m, `genesis.council.members[${i}]`),
  )
  if (new Set(members).size !== members.length) G.fail('genesis.council.members lists a DID twice')
  const threshold = G.int(c.threshold, 'genesis.council.threshold', 1, members.length)

  const seen = new Map<string, string>()
  const witnesses = stakes(o.witnesses, 'genesis.witnesses', seen)
  const standbys = stakes(o.standbys, 'genesis.standbys', seen)
  const ssns = o.ssns === undefined ? undefined : stakes(o.ssns, 'genesis.ssns', seen)

  const accountDids = new Set<string>()
  const accounts = G.list(o.accounts, 'genesis.accounts', MAX_GENESIS_ENTRIES).map((x, i) => {
    const p = `genesis.accounts[${i}]`
    const a = G.obj(x, p, ['did', 'balance'])
    const did = G.did(a.did, `${p}.did`)
    if (accountDids.has(did)) G.fail(`${p}.did ${did} is listed twice`)
    accountDids.add(did)
    return { did, balance: G.amount(a.balance, `${p}.balance`, 0) }
  })
  const treasury = G.amount(o.treasury, 'genesis.treasury', 0)

  const po = G.obj(o.params, 'genesis.params', [], Object.keys(DEFAULT_PARAMS))
  const params: Partial<Record<keyof Params, number>> = {}
  for (const [name, value] of Object.entries(po)) {
    const problem = paramProblem(name, value)
    if (problem !== undefined) G.fail(`genesis.params: ${problem}`)
    params[name as keyof Params] = value as number
  }
  const merged: Params = { ...DEFAULT_PARAMS, ...params }
  const cross = paramsProblem(merged)
  if (cross !== undefined) G.fail(`genesis.params: ${cross}`)

  let supply = treasury
  for (const a of accounts) supply += a.balance
  for (const s of [...witnesses, ...standbys, ...(ssns ?? [])]) supply += s.stake
  if (supply > MAX_AMOUNT) G.fail(`genesis total supply ${supply} exceeds the maximum ${MAX_AMOUNT}`)

  const active = witnesses.filter((w) => Math.floor(w.stake / merged.powerUnit) > 0)
  if (active.length === 0) {
    G.fail(`genesis.witnesses must contain at least one witness with stake ≥ powerUnit (${merged.powerUnit})`)
  }
  for (const [i, w] of witnesses.entries()) {
    if (w.stake < merged.minWitnessStake) {
      G.fail(`genesis.witnesses[${i}].stake ${w.stake} is below minWitnessStake ${merged.minWitnessStake}`)
    }
  }

  const out: Genesis = {
    chainId,
    genesisTimeMs,
    council: { members, threshold },
    witnesses,
    standbys,
    accounts,
    treasury,
    params,
  }
  if (ssns !== undefined) out.ssns = ssns
  return out
}

/** Hash of the canonical (DAG-CBOR) encoding of the validated genesis. */
export function genesisHash(g: Genesis): Uint8Array {
  return sha256(encode(validateGenesis(g)))
}
