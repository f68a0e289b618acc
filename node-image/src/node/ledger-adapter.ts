import { toHex } from '../crypto/hash.ts'
import { Ledger } from '../ledger/ledger.ts'
import type { BlockContext } from '../ledger/ledger.ts'
import { checkEventsStateless, decodeEvent } from '../ledger/event.ts'
import type { SignedEvent } from '../ledger/event.ts'
import { genesisHash, validateGenesis } from '../ledger/genesis.ts'
import type { Genesis } from '../ledger/genesis.ts'
import { LedgerError } from '../ledger/errors.ts'
import type {
  Authorizations,
  ContentRecord,
  EmergencyState,
  ParamOverrides,
  Pauses,
  PosrRecord,
  ProtocolRecord,
  UpgradePlan,
} from '../ledger/state.ts'
import type { Params } from '../ledger/params.ts'
import type { DecodedEvent, LedgerBlockContext, LedgerExecution, LedgerPort } from '../consensus/ports.ts'
import type { RestartManifest, StateEdit } from '../ledger/governance-payloads.ts'
import type { Did } from '../crypto/did.ts'
import { buildInfo, upgradeProblem, versionAtLeast } from './build-info.ts'
import type { BuildInfo } from './build-info.ts'

/** Binds the ledger to the consensus engine's port. */

export type LedgerEvent = SignedEvent

export function loadGenesis(text: string): Genesis {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    throw new LedgerError('INVALID_GENESIS', 'genesis file is not JSON')
  }
  return validateGenesis(v)
}

/** Builds and validates a genesis document (CLI, testnet, operator). */
export function buildGenesis(g: unknown): Genesis {
  return validateGenesis(g)
}

export class LedgerAdapter implements LedgerPort<SignedEvent> {
  readonly #ledger: Ledger
  readonly genesisTimeMs: number
  readonly genesisHash: string

  private constructor(ledger: Ledger, genesis: Genesis) {
    this.#ledger = ledger
    this.genesisTimeMs = genesis.genesisTimeMs
    this.genesisHash = toHex(genesisHash(genesis))
  }

  static fromGenesis(g: Genesis): LedgerAdapter {
    return new LedgerAdapter(Ledger.fromGenesis(g), g)
  }

  static fromSnapshot(g: Genesis, bytes: Uint8Array): LedgerAdapter {
    return new LedgerAdapter(Ledger.fromSnapshot(bytes), g)
  }

  get chainId(): string {
    return this.#ledger.chainId
  }

  get height(): number {
    return this.#ledger.height
  }

  /** Consensus epoch: bumped by a coordinated restart. */
  epoch(): number {
    return this.#ledger.epoch
  }

  checkpointInterval(): number {
    return this.#ledger.params().checkpointInterval
  }

  root(): Uint8Array {
    return this.#ledger.root()
  }

  committee(): { did: string; power: number }[] {
    return this.#ledger.committee()
  }

  council(): { members: Did[]; threshold: number } {
    return this.#ledger.council()
  }

  standbys(): { did: Did; stake: number }[] {
    return this.#ledger.standbys()
  }

  /** Role, bonded stake, balance and last nonce of one DID. */
  registration(did: string): { role?: 'witness' | 'standby' | 'ssn'; bonded: number; balance: number; nonce: number } {
    const st = this.#ledger.stake(did)
    return {
      ...(st !== undefined && st.bonded > 0 ? { role: st.role } : {}),
      bonded: st?.bonded ?? 0,
      balance: this.#ledger.balanceOf(did),
      nonce: this.#ledger.nonceOf(did),
    }
  }

  /** The witness set (with powers) a restart manifest promoting exactly `dids` must list. */
  restartWitnessSet(dids: readonly Did[]): { did: string; power: number }[] {
    return this.#ledger.restartWitnessSet(dids)
  }

  /** Adopts an authorized restart manifest (all or nothing; see Ledger.applyRestart); the new root. */
  applyRestart(m: RestartManifest): Uint8Array {
    return this.#ledger.applyRestart(m)
  }

  /** A hard fork's resulting root and witness set, from the finalized state (nothing changes). */
  previewHardFork(
    edits: readonly StateEdit[],
    dids: readonly Did[],
  ): { resultingStateRoot: Uint8Array; witnesses: { did: string; power: number }[] } {
    return this.#ledger.previewHardFork(edits, dids)
  }

  /** The canonical bytes stored under a state key (undefined: no value). */
  getRaw(key: string): Uint8Array | undefined {
    return this.#ledger.getRaw(key)
  }

  decode(bytes: Uint8Array): SignedEvent {
    const ev = decodeEvent(bytes)
    if (ev.body.chainId !== this.#ledger.chainId) {
      throw new LedgerError('WRONG_CHAIN', `event is for ${ev.body.chainId}, this is ${this.#ledger.chainId}`)
    }
    return ev
  }

  verifyMany(events: readonly SignedEvent[]): (string | undefined)[] {
    return checkEventsStateless(events, this.#ledger.chainId).map((e) => e?.code)
  }

  describe(ev: SignedEvent): DecodedEvent {
    return { sender: ev.body.sender, nonce: ev.body.nonce, fee: ev.body.fee }
  }

  precheck(ev: SignedEvent): string | undefined {
    return this.#ledger.precheck(ev)
  }

  nonceOf(sender: string): number {
    return this.#ledger.nonceOf(sender)
  }

  /**
   * Why this node must not execute the block at `height`, or undefined. From an upgrade plan's
   * height on it needs the plan's version and digest (build-info.ts); under an upgrade already in
   * force, at least its version; at or past a council stop, nobody executes (a restart continues).
   * Checked before every execution — proposing, validating a proposal, replaying synced blocks —
   * so a node stops before the block instead of computing another state (Cosmos x/upgrade's halt).
   */
  executionProblem(
    height: number,
    build: BuildInfo = buildInfo(),
  ): { code: 'UPGRADE_REQUIRED' | 'COUNCIL_STOP'; reason: string } | undefined {
    const stop = this.#ledger.emergency().stopAt
    if (stop !== undefined && height >= stop.height) {
      return {
        code: 'COUNCIL_STOP',
        reason: `the council stopped the chain before height ${stop.height}${stop.reason === undefined ? '' : ` (${stop.reason})`}; a council-signed restart manifest from block ${stop.height - 1} continues it`,
      }
    }
    const plan = this.#ledger.upgradePlan()
    if (plan !== undefined && height >= plan.height) {
      const why = upgradeProblem(build, plan)
      return why === undefined ? undefined : { code: 'UPGRADE_REQUIRED', reason: why }
    }
    const p = this.#ledger.protocol()
    if (p !== undefined && !versionAtLeast(build.version, p.version)) {
      return {
        code: 'UPGRADE_REQUIRED',
        reason: `the network runs protocol ${p.name} (echonet-node ≥ ${p.version}) since height ${p.sinceHeight}; this node runs ${build.version}`,
      }
    }
    return undefined
  }

  execute(ctx: LedgerBlockContext, events: readonly SignedEvent[]): LedgerExecution {
    const stop = this.executionProblem(ctx.height)
    if (stop !== undefined)
      throw new LedgerError(stop.code === 'COUNCIL_STOP' ? 'LEDGER_HALTED' : stop.code, stop.reason)
    const c: BlockContext = {
      height: ctx.height,
      epoch: ctx.epoch,
      timeMs: ctx.timeMs,
      proposer: ctx.proposer as BlockContext['proposer'],
      randomness: ctx.randomness,
    }
    return this.#ledger.execute(c, [...events])
  }

  snapshot(): Uint8Array {
    return this.#ledger.snapshot()
  }

  /** The account, with its PoSR record if it is an SSN (additive: clients ignore unknown fields). */
  account(did: string): unknown {
    const posr = this.#ledger.posr(did)
    return { ...this.#ledger.account(did), ...(posr ? { posr } : {}) }
  }

  /** Read-only views the DDS services need (node/dds). */
  ssns(): { did: string; stake: number; suspended: boolean }[] {
    return this.#ledger.ssns()
  }

  content(cid: string): ContentRecord | undefined {
    return this.#ledger.content(cid)
  }

  contents(): { cid: string; rec: ContentRecord }[] {
    return this.#ledger.contents()
  }

  contentByBodyHash(bodyHash: string): string | undefined {
    return this.#ledger.contentByBodyHash(bodyHash)
  }

  balanceOf(did: string): number {
    return this.#ledger.balanceOf(did)
  }

  publishNonceUsed(creator: string, nonce: number): boolean {
    return this.#ledger.publishNonceUsed(creator, nonce)
  }

  /** Temporary parameter overrides recorded on the ledger (some may have expired). */
  paramOverrides(): ParamOverrides {
    return this.#ledger.paramOverrides()
  }

  /** Block time of the last finalized block. */
  get timeMs(): number {
    return this.#ledger.timeMs
  }

  params(): Params {
    return this.#ledger.params()
  }

  emergency(): EmergencyState {
    return this.#ledger.emergency()
  }

  pauses(): Pauses {
    return this.#ledger.pauses()
  }

  upgradePlan(): UpgradePlan | undefined {
    return this.#ledger.upgradePlan()
  }

  protocol(): ProtocolRecord | undefined {
    return this.#ledger.protocol()
  }

  authorizations(): Authorizations {
    return this.#ledger.authorizations()
  }

  posr(ssn: string): PosrRecord | undefined {
    return this.#ledger.posr(ssn)
  }
}
