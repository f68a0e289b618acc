/**
 * `kubectl echonet council action | sign --action | submit --action`, the pure part (issue 9):
 * build a council action (halt, resume, stop-at, …) as a document people review, add members'
 * signatures to it, and check them against the council before anything is sent. The document
 * carries the CouncilAction exactly as signed (plain JSON: every field is a string, number or
 * list) and the sha-256 of the signed bytes, so members compare one hash before they sign.
 */
import { createHash } from 'node:crypto'
import {
  COUNCIL_ACTION_DOMAIN,
  EMERGENCY_SCENARIOS,
  MODULE_NAMES,
  councilActionBytes,
  councilActionProblem,
  verifyCouncilAuthorization,
  withoutUndefined,
} from '@echonet/node/governance'
import type {
  CouncilAction,
  CouncilActionBody,
  CouncilSpec,
  EmergencyScenario,
  ModuleName,
} from '@echonet/node/governance'
import { verifyDidSignature } from '@echonet/node/identity'
import type { NodeIdentity } from '@echonet/node/identity'
import type { SignatureEntry } from './council.ts'
import { withSignature } from './council.ts'
import { CodedError } from '@echonet/node/errors'

export const ACTION_DOCUMENT_KIND = 'EchoNetCouncilAction'

/** Every kind the ledger knows; the common ones have flags, the rest take `--body <file>`. */
export const ACTION_KINDS = [
  'halt',
  'resume',
  'stop-at',
  'pause-module',
  'unpause-module',
  'set-params',
  'declare-emergency',
  'resolve-emergency',
  'storage-incident',
  'set-reputation',
  'cancel-upgrade',
  'upgrade-plan',
  'compensate',
  'witness-set-change',
  'council-change',
  'standing-recovery-policy',
] as const satisfies readonly CouncilActionBody['kind'][]

export type CouncilActionErrorCode =
  | 'INVALID_ACTION'
  | 'INVALID_DOCUMENT'
  | 'HASH_MISMATCH'
  | 'WRONG_NETWORK'
  | 'EXPIRED'
  | 'BAD_SIGNATURE'
  | 'COUNCIL_THRESHOLD_NOT_MET'
  | 'UNAUTHORIZED'

export class CouncilActionError extends CodedError<CouncilActionErrorCode> {}

/** What `council action` takes besides the kind (flags, or a body file for the rare kinds). */
export interface ActionOptions {
  readonly reason?: string
  readonly height?: number
  readonly module?: string
  /** pause-module: how long from now (ms). */
  readonly forMs?: number
  readonly untilHeight?: number
  /** set-params: name → value. */
  readonly params?: Readonly<Record<string, number>>
  /** set-params: the override lapses this long from now (ms); without it the change is permanent. */
  readonly paramsForMs?: number
  readonly scenario?: string
  readonly did?: string
  readonly score?: number
  readonly active?: boolean
  readonly name?: string
  /** Any kind: the action body as an object (kind included or implied). */
  readonly body?: Readonly<Record<string, unknown>>
}

/** The action body for `kind` from the options; the ledger's own validation decides the rest. */
export function actionBody(kind: string, o: ActionOptions, nowMs: number): CouncilActionBody {
  if (!(ACTION_KINDS as readonly string[]).includes(kind)) {
    throw new CouncilActionError('INVALID_ACTION', `unknown council action ${kind}: one of ${ACTION_KINDS.join(', ')}`)
  }
  const reason = o.reason !== undefined ? { reason: o.reason } : {}
  const need = <T>(v: T | undefined, flag: string): T => {
    if (v === undefined) throw new CouncilActionError('INVALID_ACTION', `${kind} needs ${flag}`)
    return v
  }
  if (o.body !== undefined) return { ...reason, ...o.body, kind } as CouncilActionBody
  switch (kind) {
    case 'halt':
    case 'resume':
    case 'resolve-emergency':
      return { kind, ...reason }
    case 'stop-at':
      return { kind, height: need(o.height, '--height <block>'), ...reason }
    case 'pause-module':
      if (o.forMs === undefined && o.untilHeight === undefined)
        throw new CouncilActionError('INVALID_ACTION', 'pause-module needs --for <duration> or --until-height <block>')
      return {
        kind,
        module: need(o.module, '--module <name>') as ModuleName,
        ...(o.forMs !== undefined ? { untilMs: nowMs + o.forMs } : {}),
        ...(o.untilHeight !== undefined ? { untilHeight: o.untilHeight } : {}),
        ...reason,
      }
    case 'unpause-module':
      return { kind, module: need(o.module, '--module <name>') as ModuleName, ...reason }
    case 'set-params':
      return {
        kind,
        params: need(o.params, '--param <name>=<value>'),
        ...(o.paramsForMs !== undefined ? { expiresAtMs: nowMs + o.paramsForMs } : {}),
        ...reason,
      }
    case 'declare-emergency':
      return { kind, scenario: need(o.scenario, '--scenario <scenario>') as EmergencyScenario, ...reason }
    case 'storage-incident':
      return { kind, active: need(o.active, '--active true|false'), ...reason }
    case 'set-reputation':
      return {
        kind,
        did: need(o.did, '--did <did>') as never,
        score: need(o.score, '--score <bps>'),
        ...reason,
      }
    case 'cancel-upgrade':
      return { kind, name: need(o.name, '--name <plan>') }
    default:
      throw new CouncilActionError('INVALID_ACTION', `${kind} takes its body from --body <file> (YAML or JSON)`)
  }
}

/** The document members review, sign and submit. */
export interface CouncilActionDocument {
  readonly kind: typeof ACTION_DOCUMENT_KIND
  readonly network: string
  readonly networkId: string
  readonly summary: string
  readonly expiresAt: string
  /** sha-256 (hex) of the exact bytes every member signs. */
  readonly actionHash: string
  readonly action: CouncilAction
  readonly signatures?: readonly SignatureEntry[]
}

export function actionHash(a: CouncilAction): string {
  return createHash('sha256').update(councilActionBytes(a)).digest('hex')
}

/** One line saying what the action does, for people. */
export function actionSummary(b: CouncilActionBody): string {
  const why = 'reason' in b && b.reason !== undefined ? ` (${b.reason})` : ''
  switch (b.kind) {
    case 'halt':
      return `halt the chain: every event but governance refused${why}`
    case 'resume':
      return `resume the chain (ends a halt, cancels a pending stop-at)${why}`
    case 'stop-at':
      return `stop the chain before block ${b.height}: no node executes it${why}`
    case 'pause-module':
      return `pause module ${b.module}${b.untilMs !== undefined ? ` until ${new Date(b.untilMs).toISOString()}` : ''}${b.untilHeight !== undefined ? ` until block ${b.untilHeight}` : ''}${why}`
    case 'set-params':
      return `set ${Object.entries(b.params)
        .map(([k, v]) => `${k}=${v}`)
        .join(
          ', ',
        )}${b.expiresAtMs !== undefined ? ` until ${new Date(b.expiresAtMs).toISOString()}` : ' permanently'}${why}`
    default:
      return `${b.kind}${why}`
  }
}

/** A new unsigned document; refuses what the ledger would refuse as malformed. */
export function buildActionDocument(
  where: { network: string; networkId: string },
  body: CouncilActionBody,
  o: { nonce: number; expiresAtMs: number },
): CouncilActionDocument {
  const action: CouncilAction = withoutUndefined({
    domain: COUNCIL_ACTION_DOMAIN,
    chainId: where.networkId,
    nonce: o.nonce,
    expiresAtMs: o.expiresAtMs,
    action: body,
  })
  const problem = councilActionProblem(action)
  if (problem !== undefined) throw new CouncilActionError('INVALID_ACTION', problem)
  return {
    kind: ACTION_DOCUMENT_KIND,
    network: where.network,
    networkId: where.networkId,
    summary: actionSummary(action.action),
    expiresAt: new Date(action.expiresAtMs).toISOString(),
    actionHash: actionHash(action),
    action,
    signatures: [],
  }
}

/**
 * A document read back from a file: a valid action, the hash it states is the hash of its bytes,
 * for the network it names. Anything edited after review fails here (or, if the hash was edited
 * too, every signature fails).
 */
export function parseActionDocument(doc: unknown, file: string): CouncilActionDocument {
  const d = doc as Partial<CouncilActionDocument> | null
  if (typeof d !== 'object' || d === null || d.kind !== ACTION_DOCUMENT_KIND || typeof d.action !== 'object') {
    throw new CouncilActionError(
      'INVALID_DOCUMENT',
      `${file}: not a council action document (kubectl echonet council action … --out ${file})`,
    )
  }
  const problem = councilActionProblem(d.action)
  if (problem !== undefined) throw new CouncilActionError('INVALID_ACTION', `${file}: ${problem}`)
  const action = withoutUndefined(d.action)
  const hash = actionHash(action)
  if (hash !== d.actionHash) {
    throw new CouncilActionError(
      'HASH_MISMATCH',
      `${file}: the action's hash is ${hash}, the document says ${String(d.actionHash)}: it changed after it was built`,
    )
  }
  if (action.chainId !== d.networkId) {
    throw new CouncilActionError(
      'WRONG_NETWORK',
      `${file}: the action is for ${action.chainId}, the document says ${String(d.networkId)}`,
    )
  }
  const sigs: unknown = d.signatures ?? []
  const isEntry = (s: unknown): s is SignatureEntry =>
    typeof s === 'object' &&
    s !== null &&
    typeof (s as { did?: unknown }).did === 'string' &&
    typeof (s as { signature?: unknown }).signature === 'string'
  if (!Array.isArray(sigs) || !sigs.every(isEntry)) {
    throw new CouncilActionError('INVALID_DOCUMENT', `${file}: signatures must be a list of {did, signature}`)
  }
  return { ...(d as CouncilActionDocument), action, signatures: sigs }
}

/** The document with `key`'s signature over the action (replacing an earlier one of the same member). */
export function signActionDocument(d: CouncilActionDocument, key: NodeIdentity): CouncilActionDocument {
  const entry = {
    did: key.did,
    signature: Buffer.from(key.signer.sign(councilActionBytes(d.action))).toString('base64'),
  }
  return { ...d, signatures: withSignature(d.signatures, entry) }
}

export const signatureBytes = (d: CouncilActionDocument): { did: string; sig: Uint8Array }[] =>
  (d.signatures ?? []).map((s) => ({ did: s.did, sig: new Uint8Array(Buffer.from(s.signature, 'base64')) }))

export interface ActionCheck {
  readonly ok: boolean
  readonly code?: CouncilActionErrorCode
  readonly message: string
  readonly signatures: readonly { readonly did: string; readonly member: boolean; readonly valid: boolean }[]
}

/**
 * The ledger's own verdict (same function, same codes) against `council`, for `networkId`, at
 * `nowMs`, with each signature listed: what `submit` checks before it sends anything.
 */
export function checkActionDocument(
  d: CouncilActionDocument,
  council: CouncilSpec,
  networkId: string,
  nowMs: number,
): ActionCheck {
  const bytes = councilActionBytes(d.action)
  const signatures = (d.signatures ?? []).map((s) => ({
    did: s.did,
    member: council.members.includes(s.did),
    valid: verifyDidSignature(s.did, bytes, new Uint8Array(Buffer.from(s.signature, 'base64'))),
  }))
  if (d.action.chainId !== networkId) {
    return {
      ok: false,
      code: 'WRONG_NETWORK',
      message: `the action is for ${d.action.chainId}, the node is on ${networkId}`,
      signatures,
    }
  }
  const r = verifyCouncilAuthorization(d.action, signatureBytes(d), council, nowMs)
  if (r.ok) {
    const n = new Set(signatures.filter((s) => s.member && s.valid).map((s) => s.did)).size
    return { ok: true, message: `${n} valid council signature(s), ${council.threshold} required`, signatures }
  }
  const code = r.code === 'INVALID_PAYLOAD' ? 'INVALID_ACTION' : r.code === 'WRONG_CHAIN' ? 'WRONG_NETWORK' : r.code
  return { ok: false, code: code as CouncilActionErrorCode, message: r.message, signatures }
}

export function actionDocumentText(d: CouncilActionDocument): string {
  const a = d.action
  return (
    [
      `Council action for ${d.network} (${d.networkId}): ${d.summary}`,
      `  kind       ${a.action.kind}`,
      `  nonce      ${a.nonce}`,
      `  expires    ${d.expiresAt}`,
      `  hash       ${d.actionHash}   (sha-256 of the bytes each member signs)`,
      `  signatures ${(d.signatures ?? []).length}${(d.signatures ?? []).map((s) => `\n    ${s.did}`).join('')}`,
    ].join('\n') + '\n'
  )
}

export function checkText(c: ActionCheck, council: CouncilSpec): string {
  return (
    [
      `Council ${council.threshold} of ${council.members.length} (the ledger's, as the node serves it): ${c.ok ? 'authorized' : `REFUSED ${c.code ?? ''}`}: ${c.message}`,
      ...c.signatures.map(
        (s) => `    ${s.did}  ${s.member ? 'council member' : 'NOT a member'}  ${s.valid ? 'valid' : 'INVALID'}`,
      ),
    ].join('\n') + '\n'
  )
}

/** `--param name=value` (repeatable) into a params map. */
export function parseParam(v: string, prev: Record<string, number> = {}): Record<string, number> {
  const m = /^([A-Za-z][A-Za-z0-9]*)=(-?\d+)$/.exec(v)
  if (m === null) throw new CouncilActionError('INVALID_ACTION', `--param ${v}: expected name=integer`)
  return { ...prev, [m[1]!]: Number(m[2]) }
}

export const MODULES: readonly string[] = MODULE_NAMES
export const SCENARIOS: readonly string[] = EMERGENCY_SCENARIOS
