/**
 * `kubectl echonet hardfork plan`, the pure part (issue 9): the RestartManifest of a hard fork
 * built from a node's preview (POST /admin/v1/restart/preview), and the plan document council
 * members review and sign. A hard fork is a restart with state edits: the same witnesses, the
 * next epoch, from the node's finalized block; only the full council may sign it (a standing
 * recovery policy never can, and the nodes check that themselves).
 */
import yaml from 'js-yaml'
import type { CouncilSignature, RestartManifest } from '@echonet/node/governance'
import { decodeManifest, encodeManifest, encodeRestartRecord, manifestHash } from '@echonet/node/restart'
import type { RestartPreview, StateEditInput, StateEditView } from '@echonet/node/admin'
import { HardForkPlanError } from '../runbooks/hard-fork-manifest.ts'

export { HardForkPlanError, hardForkManifest } from '../runbooks/hard-fork-manifest.ts'

/** What `hardfork plan` prints: the facts to review, and the manifest bytes to sign. */
export interface HardForkPlan {
  readonly network: string
  readonly networkId: string
  /** The node whose finalized state was previewed. */
  readonly node: string
  /** The epoch the fork starts, from which block (height, hash, state root). */
  readonly epoch: number
  readonly height: number
  readonly blockHash: string
  readonly stateRoot: string
  /** The state root once the edits are applied: every node checks it and refuses any other. */
  readonly resultingStateRoot: string
  readonly witnesses: readonly { readonly did: string; readonly power: number }[]
  /** Each edit with the value the key holds now (`before`) and the new one. */
  readonly edits: readonly StateEditView[]
  readonly expiresAt: string
  /** sha-256 of the signed bytes: what council members compare before they sign. */
  readonly manifestHash: string
  /** The RestartManifest as DAG-CBOR, base64 (the format `council sign` and the runbooks use). */
  readonly manifest: string
  /** Council members' signatures over the manifest, added by `council sign --plan`. */
  readonly signatures?: readonly { readonly did: string; readonly signature: string }[]
}

/**
 * The edits file: YAML or JSON (JSON is YAML), a list of edits or `{edits: [...]}`. Only the
 * outline is checked here; the node judges every edit (and says why) when it previews them.
 */
export function parseEdits(text: string, file: string): StateEditInput[] {
  let doc: unknown
  try {
    doc = yaml.load(text)
  } catch (err) {
    throw new HardForkPlanError('INVALID_EDITS', `${file}: not YAML or JSON: ${(err as Error).message}`)
  }
  const list = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as { edits?: unknown }).edits : doc
  if (!Array.isArray(list) || list.length === 0) {
    throw new HardForkPlanError('INVALID_EDITS', `${file}: expected a list of edits {op: put|delete, key, value}`)
  }
  for (const [i, e] of list.entries()) {
    const o = e as { op?: unknown; key?: unknown } | null
    if (typeof o !== 'object' || o === null || typeof o.op !== 'string' || typeof o.key !== 'string') {
      throw new HardForkPlanError('INVALID_EDITS', `${file}: edit ${i} needs op and key`)
    }
  }
  return list as StateEditInput[]
}

export function hardForkPlan(
  where: { network: string; node: string },
  p: RestartPreview,
  m: RestartManifest,
): HardForkPlan {
  return {
    network: where.network,
    networkId: m.chainId,
    node: where.node,
    epoch: m.epoch,
    height: m.height,
    blockHash: m.blockHash,
    stateRoot: m.stateRoot,
    resultingStateRoot: p.resultingStateRoot,
    witnesses: m.witnesses,
    edits: p.edits,
    expiresAt: new Date(m.expiresAtMs).toISOString(),
    manifestHash: manifestHash(m),
    manifest: Buffer.from(encodeManifest(m)).toString('base64'),
  }
}

const json = (v: unknown): string => (v === undefined ? '(none)' : JSON.stringify(v))

export function hardForkPlanText(plan: HardForkPlan): string {
  return (
    [
      `Hard fork of ${plan.network} (${plan.networkId}), planned on ${plan.node}`,
      `  restart from block ${plan.height} ${plan.blockHash}`,
      `  state root now     ${plan.stateRoot}`,
      `  resulting root     ${plan.resultingStateRoot}   (every node checks it, and refuses a manifest that names another)`,
      `  new epoch          ${plan.epoch}, ${plan.witnesses.length} witnesses (the current committee): ${plan.witnesses.map((w) => `${w.did}=${w.power}`).join(' ')}`,
      `  expires            ${plan.expiresAt}`,
      `Edits (${plan.edits.length}):`,
      ...plan.edits.flatMap((e) => [
        `  ${e.op} ${e.key}`,
        `      before: ${json(e.before)}`,
        ...(e.op === 'put' ? [`      after:  ${json(e.value)}`] : []),
      ]),
      `Manifest ${plan.manifestHash} — the full council signs these bytes (a standing policy never can):`,
      plan.manifest,
    ].join('\n') + '\n'
  )
}

/**
 * The manifest a plan file carries, checked against the hash and network the plan states: a
 * council member signs (and the nodes get) exactly what was reviewed, or nothing.
 */
export function planManifest(doc: unknown, file: string): { plan: HardForkPlan; manifest: RestartManifest } {
  const plan = doc as Partial<HardForkPlan> | null
  if (typeof plan !== 'object' || plan === null || typeof plan.manifest !== 'string') {
    throw new HardForkPlanError('INVALID_PLAN', `${file}: not a hard-fork plan (kubectl echonet hardfork plan -o yaml)`)
  }
  let manifest: RestartManifest
  try {
    manifest = decodeManifest(new Uint8Array(Buffer.from(plan.manifest, 'base64')))
  } catch (err) {
    throw new HardForkPlanError('INVALID_PLAN', `${file}: manifest: ${(err as Error).message}`)
  }
  if (manifestHash(manifest) !== plan.manifestHash) {
    throw new HardForkPlanError(
      'INVALID_PLAN',
      `${file}: the manifest's hash is ${manifestHash(manifest)}, the plan says ${String(plan.manifestHash)}`,
    )
  }
  if (manifest.chainId !== plan.networkId) {
    throw new HardForkPlanError(
      'INVALID_PLAN',
      `${file}: the manifest is for ${manifest.chainId}, the plan says ${String(plan.networkId)}`,
    )
  }
  return { plan: plan as HardForkPlan, manifest }
}

/** The restart record the nodes take: the plan's manifest with its council signatures. */
export function planRecord(plan: HardForkPlan, manifest: RestartManifest): Uint8Array {
  const signatures = (plan.signatures ?? []).map((e) => ({
    did: e.did as CouncilSignature['did'],
    sig: new Uint8Array(Buffer.from(e.signature, 'base64')),
  }))
  return encodeRestartRecord({ manifest, authorization: { kind: 'council', signatures } })
}

/** One node's answer to `hardfork apply`: adopted (now or before), or its refusal code. */
export type ApplyAnswer =
  | {
      readonly node: string
      readonly epoch: number
      readonly adopted: boolean
      /** Adopted now: the node's state root after the fork, and the resulting root its edits gave. */
      readonly stateRoot?: string
      readonly resultingStateRoot?: string
    }
  | { readonly node: string; readonly code: string; readonly message: string }

export function applyText(manifestHashHex: string, answers: readonly ApplyAnswer[]): string {
  return (
    [
      `Hard fork ${manifestHashHex}:`,
      ...answers.map((a) =>
        'code' in a
          ? `  ${a.node}  REFUSED ${a.code}: ${a.message}`
          : `  ${a.node}  ${a.adopted ? 'adopted' : 'had adopted it already'} (epoch ${a.epoch}${a.stateRoot !== undefined ? `, state root ${a.stateRoot}` : ''})`,
      ),
    ].join('\n') + '\n'
  )
}
