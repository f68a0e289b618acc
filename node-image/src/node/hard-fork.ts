/**
 * Hard forks at the node (DESIGN §4–5, issue 9): the preview a council's tooling builds the
 * RestartManifest from, and what a node does when it refuses an authorized manifest for its own
 * finalized block. Pure functions over a small ledger port; node.ts wires them in.
 */
import type { Did } from '../crypto/did.ts'
import { toHex } from '../crypto/hash.ts'
import { decodeValue } from '../ledger/cbor.ts'
import { LedgerError } from '../ledger/errors.ts'
import type { RestartManifest, StateEdit } from '../ledger/governance-payloads.ts'
import { manifestHash } from '../ledger/restart-record.ts'
import type { HaltCode, RestartPreview, StateEditView } from '../api/admin-contract.ts'
import { ApiError } from '../api/http-util.ts'
import { stateValueJson } from '../api/restart-preview.ts'

/** What a preview reads of the ledger (LedgerAdapter). */
export interface PreviewLedger {
  readonly chainId: string
  readonly height: number
  epoch(): number
  root(): Uint8Array
  committee(): { did: string; power: number }[]
  getRaw(key: string): Uint8Array | undefined
  previewHardFork(
    edits: readonly StateEdit[],
    dids: readonly Did[],
  ): { resultingStateRoot: Uint8Array; witnesses: { did: string; power: number }[] }
}

/**
 * The hard fork `edits` give from the finalized block `blockHash` (the ledger's height), with
 * `witnesses` as the new set (default: the committee now). Synchronous, so every field describes
 * the same block; the ledger is not changed. Edits the ledger cannot apply are 400
 * INVALID_STATE_EDIT; a listed DID that is neither witness nor standby is 409 RESTART_MISMATCH.
 */
export function previewHardFork(
  ledger: PreviewLedger,
  blockHash: string,
  edits: readonly StateEdit[],
  witnesses?: readonly string[],
): RestartPreview {
  const dids = (witnesses ?? ledger.committee().map((c) => c.did)) as Did[]
  let fork: ReturnType<PreviewLedger['previewHardFork']>
  try {
    fork = ledger.previewHardFork(edits, dids)
  } catch (err) {
    if (err instanceof LedgerError) {
      throw new ApiError(err.code === 'INVALID_STATE_EDIT' ? 400 : 409, err.code, err.message)
    }
    throw err
  }
  return {
    chainId: ledger.chainId,
    epoch: ledger.epoch(),
    height: ledger.height,
    blockHash,
    stateRoot: toHex(ledger.root()),
    resultingStateRoot: toHex(fork.resultingStateRoot),
    witnesses: fork.witnesses.map((w) => ({ did: w.did, power: w.power })),
    edits: edits.map((e) => editView(e, ledger.getRaw(e.key))),
  }
}

function editView(e: StateEdit, before: Uint8Array | undefined): StateEditView {
  const was = before === undefined ? {} : { before: stateValueJson(decodeValue(before)) }
  if (e.op === 'delete') return { op: 'delete', key: e.key, ...was }
  return {
    op: 'put',
    key: e.key,
    valueCbor: Buffer.from(e.value).toString('base64'),
    value: stateValueJson(decodeValue(e.value)),
    ...was,
  }
}

/**
 * An authorized restart manifest for this node's finalized block that its ledger refused (a hard
 * fork's resulting root it does not reach, edits it cannot apply, a witness set it computes
 * differently). The council meant the old epoch to end at that block: a node that cannot follow
 * must not carry the old chain on either, so it halts and says why — people decide (a corrected
 * manifest, or one without the edits). Kept in memory: restarting the process lifts it.
 */
export interface RestartRefusal {
  /** The refused manifest's epoch and restart height. */
  readonly epoch: number
  readonly height: number
  readonly manifestHash: string
  readonly code: string
  readonly message: string
}

export function refusalOf(m: RestartManifest, err: LedgerError): RestartRefusal {
  return { epoch: m.epoch, height: m.height, manifestHash: manifestHash(m), code: err.code, message: err.message }
}

/**
 * Whether the node may not sign at (epoch, height): nothing in the refused manifest's previous
 * epoch above its restart height. Certified blocks from peers are still followed (they are final
 * whatever this node does); adopting any manifest for the next epoch ends the hold.
 */
export function signingHeld(r: RestartRefusal | undefined, epoch: number, height: number): boolean {
  return r !== undefined && epoch === r.epoch - 1 && height > r.height
}

/** The halt a refusal puts the node in, while it is still in the old epoch. */
export function refusalHalt(
  r: RestartRefusal | undefined,
  epoch: number,
): { code: HaltCode; reason: string } | undefined {
  if (r === undefined || epoch !== r.epoch - 1) return undefined
  return {
    code: 'RESTART_REFUSED',
    reason: `refused restart manifest ${r.manifestHash} (epoch ${r.epoch}, from block ${r.height}): ${r.code}: ${r.message}; signing nothing in epoch ${epoch} past block ${r.height} until a manifest for epoch ${r.epoch} is adopted`,
  }
}
