/**
 * Hard forks at the node (DESIGN §4–5, issue 9): the preview a council's tooling builds the
 * RestartManifest from. Pure functions over a small ledger port; node.ts wires them in.
 */
import type { Did } from '../crypto/did.ts'
import { toHex } from '../crypto/hash.ts'
import { decodeValue } from '../ledger/cbor.ts'
import { LedgerError } from '../ledger/errors.ts'
import type { StateEdit } from '../ledger/governance-payloads.ts'
import type { RestartPreview, StateEditView } from '../api/admin-contract.ts'
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
