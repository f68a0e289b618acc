/**
 * A hard fork's RestartManifest from a node's preview (POST /admin/v1/restart/preview), pure:
 * used by `kubectl echonet hardfork plan` and by the CriticalFlaw runbook's StateEdit steps, so
 * both hand the council exactly the same bytes for the same preview.
 */
import { RESTART_MANIFEST_DOMAIN } from '@echonet/node/governance'
import type { RestartManifest, StateEdit } from '@echonet/node/governance'
import { decodeManifest, encodeManifest } from '@echonet/node/restart'
import type { RestartPreview } from '@echonet/node/admin'
import { CodedError } from '@echonet/node/errors'

export class HardForkPlanError extends CodedError {}

/**
 * The manifest from a preview: the previewed block, the witness set as the node computed it after
 * the edits, epoch = the node's epoch + 1 (`epoch`, when given, must say the same: planning on a
 * node that is behind or ahead is a mistake), the edits exactly as the node normalized them.
 */
export function hardForkManifest(p: RestartPreview, o: { expiresAtMs: number; epoch?: number }): RestartManifest {
  const epoch = p.epoch + 1
  if (o.epoch !== undefined && o.epoch !== epoch) {
    throw new HardForkPlanError(
      'EPOCH_MISMATCH',
      `--epoch ${o.epoch}: the node is at epoch ${p.epoch}, so the fork would start epoch ${epoch}`,
    )
  }
  const stateEdits: StateEdit[] = p.edits.map((e) => {
    if (e.op === 'delete') return { op: 'delete', key: e.key }
    if (e.valueCbor === undefined) throw new HardForkPlanError('BAD_PREVIEW', `the preview has no value for ${e.key}`)
    return { op: 'put', key: e.key, value: new Uint8Array(Buffer.from(e.valueCbor, 'base64')) }
  })
  const m = {
    domain: RESTART_MANIFEST_DOMAIN,
    chainId: p.chainId,
    epoch,
    height: p.height,
    blockHash: p.blockHash,
    stateRoot: p.stateRoot,
    witnesses: p.witnesses.map((w) => ({ did: w.did, power: w.power })),
    stateEdits,
    resultingStateRoot: p.resultingStateRoot,
    expiresAtMs: o.expiresAtMs,
  }
  // The nodes' own validation, round-tripped: what is printed is exactly what they will check.
  try {
    return decodeManifest(encodeManifest(m as RestartManifest))
  } catch (err) {
    throw new HardForkPlanError('BAD_PREVIEW', `the preview does not make a valid manifest: ${(err as Error).message}`)
  }
}
