/**
 * Canonical governance payloads (DESIGN §5): council actions, the standing recovery policy and
 * restart manifests, with their signing bytes and verification. Exported as the package subpath
 * `@echonet/node/governance` for the operator, so this file imports only `../crypto/*` and the
 * pure parameter table — never ledger internals.
 */
import { isDid, publicKeyFromDid } from '../crypto/did.ts'
import type { Did } from '../crypto/did.ts'
import { verify } from '../crypto/ed25519.ts'
import type { Signer } from '../crypto/ed25519.ts'
import { signingBytes } from '../crypto/signing.ts'
import { decode, encode } from '../crypto/encoding.ts'
import { paramProblem } from './params.ts'
import { checkSignatures, MAX_COUNCIL_MEMBERS } from './council-signatures.ts'
import type { CouncilSpec, GovernanceErrorCode, VerifyResult } from './council-signatures.ts'

export { MAX_COUNCIL_MEMBERS, MAX_COUNCIL_SIGNATURES } from './council-signatures.ts'
export type { CouncilSpec, GovernanceErrorCode, SignersResult, VerifyResult } from './council-signatures.ts'
export * from './declaration-payload.ts'
import type { ParamName } from './params.ts'

export type { ParamName } from './params.ts'
export { PARAM_SPECS, PARAM_NAMES, DEFAULT_PARAMS } from './params.ts'

export const COUNCIL_ACTION_DOMAIN = 'echonet/council-action/v1'
export const RESTART_MANIFEST_DOMAIN = 'echonet/restart-manifest/v1'

/** Bounds keep every council action well inside one event (MAX_EVENT_BYTES = 16 KiB). */
export const MAX_LIST = 64
export const MAX_REASON_LENGTH = 512
export const MAX_RESTART_WITNESSES = 1_000
export const MAX_STATE_EDITS = 1_024
export const MAX_STATE_EDIT_VALUE_BYTES = 65_536
export const MAX_STATE_KEY_LENGTH = 1_024

export type EmergencyScenario = 'WitnessLoss' | 'DataUnavailability' | 'CriticalFlaw' | 'NetworkAttack'
export const EMERGENCY_SCENARIOS: readonly EmergencyScenario[] = [
  'WitnessLoss',
  'DataUnavailability',
  'CriticalFlaw',
  'NetworkAttack',
]

/** Modules whose events (or, for payouts, whose periodic work) the council can pause. */
export type ModuleName = 'accounts' | 'staking' | 'content' | 'engagement' | 'payouts' | 'ads' | 'posr'
export const MODULE_NAMES: readonly ModuleName[] = [
  'accounts',
  'staking',
  'content',
  'engagement',
  'payouts',
  'ads',
  'posr',
]

export interface CompensationTransfer {
  to: Did
  amount: number
}

/** Every optional field is omitted rather than `undefined` (DAG-CBOR cannot encode undefined). */
export type CouncilActionBody =
  | { kind: 'declare-emergency'; scenario: EmergencyScenario; reason?: string }
  | { kind: 'resolve-emergency'; reason?: string }
  /** Time-boxed: at least one of untilMs / untilHeight; the pause ends at whichever comes first. */
  | { kind: 'pause-module'; module: ModuleName; untilMs?: number; untilHeight?: number; reason?: string }
  | { kind: 'unpause-module'; module: ModuleName; reason?: string }
  /** With expiresAtMs: a temporary override that reverts at that block time; without: permanent. */
  | { kind: 'set-params'; params: Partial<Record<ParamName, number>>; expiresAtMs?: number; reason?: string }
  | { kind: 'witness-set-change'; promote: Did[]; demote: Did[]; reason?: string }
  /** While active, PoSR wrong-data results are recorded but not slashed. */
  | { kind: 'storage-incident'; active: boolean; reason?: string }
  /** binaryDigest is an OCI digest `sha256:<hex>` of the node image. */
  | { kind: 'upgrade-plan'; name: string; height: number; binaryDigest: string; minVersion: string }
  | { kind: 'cancel-upgrade'; name: string }
  /** Transfers from the treasury (scenario C, compensatory transactions). */
  | { kind: 'compensate'; transfers: CompensationTransfer[]; reason?: string }
  | { kind: 'council-change'; members: Did[]; threshold: number }
  | { kind: 'halt'; reason?: string }
  /**
   * Stop the chain before block `height` (scenario C: freeze a known state for a hard fork). No
   * node executes that block; a restart manifest from the block before continues the chain, a
   * council `resume` before the height cancels the stop.
   */
  | { kind: 'stop-at'; height: number; reason?: string }
  | { kind: 'resume'; reason?: string }
  | { kind: 'set-reputation'; did: Did; score: number; reason?: string }
  /**
   * DESIGN §5: "if quorum is lost for more than quorumLossSeconds, the agent may promote up to
   * maxPromotions standbys from `standbys` and restart from the highest certified height; no
   * state edits". The enclosing action's expiresAtMs is the policy's expiry.
   */
  | {
      kind: 'standing-recovery-policy'
      agent: Did
      quorumLossSeconds: number
      maxPromotions: number
      standbys: Did[]
      allowStateEdits: false
    }

export type CouncilActionKind = CouncilActionBody['kind']

export interface CouncilAction {
  domain: typeof COUNCIL_ACTION_DOMAIN
  chainId: string
  /** Unique per council action among unexpired ones (the ledger refuses a replay). */
  nonce: number
  expiresAtMs: number
  action: CouncilActionBody
}

export interface CouncilSignature {
  did: Did
  sig: Uint8Array
}

// ---------------------------------------------------------------------------------------------
// Structural validation (returns a readable problem, or undefined when valid).

type Obj = Record<string, unknown>

function isObj(v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false
  const proto: unknown = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * `undefined` fields mean "absent" (DAG-CBOR cannot encode them): drop them before validating or
 * signing, so an object built with `reason: undefined` signs and verifies like one without it.
 */
export function withoutUndefined<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x: unknown) => withoutUndefined(x)) as T
  if (!isObj(v)) return v
  const out: Obj = {}
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = withoutUndefined(x)
  return out as T
}

const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max

const isText = (v: unknown, max: number, min = 0): v is string =>
  typeof v === 'string' && v.length >= min && v.length <= max

const HEX32 = /^[0-9a-f]{64}$/
/** semver.org's x.y.z with optional pre-release and build (the form build-info.ts compares). */
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/
const CHAIN_ID = /^[a-z0-9][a-z0-9-]{0,62}$/

/** Checks that `o` has all of `required`, nothing outside required ∪ optional. */
function fieldsProblem(o: Obj, path: string, required: readonly string[], optional: readonly string[] = []) {
  for (const k of required) if (!(k in o)) return `${path}.${k} is required`
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) return `${path}.${k} is not a known field`
  }
  return undefined
}

function reasonProblem(o: Obj, path: string): string | undefined {
  if ('reason' in o && !isText(o.reason, MAX_REASON_LENGTH)) {
    return `${path}.reason must be a string of at most ${MAX_REASON_LENGTH} characters`
  }
  return undefined
}

function didListProblem(v: unknown, path: string, min: number, max: number): string | undefined {
  if (!Array.isArray(v) || v.length < min || v.length > max) return `${path} must be a list of ${min} to ${max} DIDs`
  const seen = new Set<string>()
  for (const [i, d] of v.entries()) {
    if (!isDid(d)) return `${path}[${i}] is not a did:key`
    if (seen.has(d)) return `${path} lists ${d} twice`
    seen.add(d)
  }
  return undefined
}

function bodyProblem(b: unknown): string | undefined {
  const p = 'action.action'
  if (!isObj(b)) return `${p} must be an object`
  const kind = b.kind
  const reasonOpt = ['reason']
  switch (kind) {
    case 'declare-emergency':
      return (
        fieldsProblem(b, p, ['kind', 'scenario'], reasonOpt) ??
        (EMERGENCY_SCENARIOS.includes(b.scenario as EmergencyScenario)
          ? reasonProblem(b, p)
          : `${p}.scenario must be one of ${EMERGENCY_SCENARIOS.join(', ')}`)
      )
    case 'resolve-emergency':
    case 'halt':
    case 'resume':
      return fieldsProblem(b, p, ['kind'], reasonOpt) ?? reasonProblem(b, p)
    case 'stop-at':
      return (
        fieldsProblem(b, p, ['kind', 'height'], reasonOpt) ??
        (isInt(b.height, 1) ? undefined : `${p}.height must be a positive integer`) ??
        reasonProblem(b, p)
      )
    case 'pause-module': {
      const f = fieldsProblem(b, p, ['kind', 'module'], ['untilMs', 'untilHeight', 'reason'])
      if (f !== undefined) return f
      if (!MODULE_NAMES.includes(b.module as ModuleName)) return `${p}.module must be one of ${MODULE_NAMES.join(', ')}`
      if (!('untilMs' in b) && !('untilHeight' in b)) return `${p}: a pause needs untilMs or untilHeight (time-boxed)`
      if ('untilMs' in b && !isInt(b.untilMs, 1)) return `${p}.untilMs must be a positive integer (ms since epoch)`
      if ('untilHeight' in b && !isInt(b.untilHeight, 1)) return `${p}.untilHeight must be a positive integer`
      return reasonProblem(b, p)
    }
    case 'unpause-module':
      return (
        fieldsProblem(b, p, ['kind', 'module'], reasonOpt) ??
        (MODULE_NAMES.includes(b.module as ModuleName)
          ? reasonProblem(b, p)
          : `${p}.module must be one of ${MODULE_NAMES.join(', ')}`)
      )
    case 'set-params': {
      const f = fieldsProblem(b, p, ['kind', 'params'], ['expiresAtMs', 'reason'])
      if (f !== undefined) return f
      if (!isObj(b.params) || Object.keys(b.params).length === 0) return `${p}.params must name at least one parameter`
      for (const [name, value] of Object.entries(b.params)) {
        const problem = paramProblem(name, value)
        if (problem !== undefined) return `${p}.params: ${problem}`
      }
      if ('expiresAtMs' in b && !isInt(b.expiresAtMs, 1)) return `${p}.expiresAtMs must be a positive integer`
      return reasonProblem(b, p)
    }
    case 'witness-set-change': {
      const f =
        fieldsProblem(b, p, ['kind', 'promote', 'demote'], reasonOpt) ??
        didListProblem(b.promote, `${p}.promote`, 0, MAX_LIST) ??
        didListProblem(b.demote, `${p}.demote`, 0, MAX_LIST)
      if (f !== undefined) return f
      const promote = b.promote as string[]
      const demote = b.demote as string[]
      if (promote.length + demote.length === 0) return `${p}: promote or demote at least one witness`
      const both = promote.find((d) => demote.includes(d))
      if (both !== undefined) return `${p}: ${both} is both promoted and demoted`
      return reasonProblem(b, p)
    }
    case 'storage-incident':
      return (
        fieldsProblem(b, p, ['kind', 'active'], reasonOpt) ??
        (typeof b.active === 'boolean' ? reasonProblem(b, p) : `${p}.active must be a boolean`)
      )
    case 'upgrade-plan': {
      const f = fieldsProblem(b, p, ['kind', 'name', 'height', 'binaryDigest', 'minVersion'])
      if (f !== undefined) return f
      if (!isText(b.name, 64, 1) || !/^[A-Za-z0-9._-]+$/.test(b.name))
        return `${p}.name must match [A-Za-z0-9._-]{1,64}`
      if (!isInt(b.height, 1)) return `${p}.height must be a positive integer`
      if (typeof b.binaryDigest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(b.binaryDigest)) {
        return `${p}.binaryDigest must be an OCI digest sha256:<64 hex>`
      }
      // A plan no build could ever meet would halt the network at its height.
      if (!isText(b.minVersion, 64, 1) || !SEMVER.test(b.minVersion))
        return `${p}.minVersion must be a semantic version (x.y.z)`
      return undefined
    }
    case 'cancel-upgrade':
      return fieldsProblem(b, p, ['kind', 'name']) ?? (isText(b.name, 64, 1) ? undefined : `${p}.name must be a string`)
    case 'compensate': {
      const f = fieldsProblem(b, p, ['kind', 'transfers'], reasonOpt)
      if (f !== undefined) return f
      if (!Array.isArray(b.transfers) || b.transfers.length < 1 || b.transfers.length > MAX_LIST) {
        return `${p}.transfers must list 1 to ${MAX_LIST} transfers`
      }
      for (const [i, t] of b.transfers.entries()) {
        const tp = `${p}.transfers[${i}]`
        if (!isObj(t)) return `${tp} must be an object`
        const tf = fieldsProblem(t, tp, ['to', 'amount'])
        if (tf !== undefined) return tf
        if (!isDid(t.to)) return `${tp}.to is not a did:key`
        if (!isInt(t.amount, 1)) return `${tp}.amount must be a positive integer`
      }
      return reasonProblem(b, p)
    }
    case 'council-change': {
      const f =
        fieldsProblem(b, p, ['kind', 'members', 'threshold']) ??
        didListProblem(b.members, `${p}.members`, 1, MAX_COUNCIL_MEMBERS)
      if (f !== undefined) return f
      const n = (b.members as string[]).length
      if (!isInt(b.threshold, 1, n)) return `${p}.threshold must be between 1 and ${n} (council size)`
      return undefined
    }
    case 'set-reputation': {
      const f = fieldsProblem(b, p, ['kind', 'did', 'score'], reasonOpt)
      if (f !== undefined) return f
      if (!isDid(b.did)) return `${p}.did is not a did:key`
      if (!isInt(b.score, 0, 10_000)) return `${p}.score must be between 0 and 10000 (bps)`
      return reasonProblem(b, p)
    }
    case 'standing-recovery-policy': {
      const f =
        fieldsProblem(b, p, ['kind', 'agent', 'quorumLossSeconds', 'maxPromotions', 'standbys', 'allowStateEdits']) ??
        didListProblem(b.standbys, `${p}.standbys`, 1, MAX_LIST)
      if (f !== undefined) return f
      if (!isDid(b.agent)) return `${p}.agent is not a did:key`
      if (!isInt(b.quorumLossSeconds, 1)) return `${p}.quorumLossSeconds must be a positive integer`
      if (!isInt(b.maxPromotions, 1, MAX_LIST)) return `${p}.maxPromotions must be between 1 and ${MAX_LIST}`
      if (b.allowStateEdits !== false) return `${p}.allowStateEdits must be false: a standing policy never edits state`
      return undefined
    }
    default:
      return `${p}.kind ${typeof kind === 'string' ? JSON.stringify(kind) : typeof kind} is not a known council action`
  }
}

/** Validates the shape of a council action; returns a readable problem or undefined. */
export function councilActionProblem(input: unknown): string | undefined {
  const a = withoutUndefined(input)
  if (!isObj(a)) return 'council action must be an object'
  const f = fieldsProblem(a, 'action', ['domain', 'chainId', 'nonce', 'expiresAtMs', 'action'])
  if (f !== undefined) return f
  if (a.domain !== COUNCIL_ACTION_DOMAIN) return `action.domain must be ${COUNCIL_ACTION_DOMAIN}`
  if (typeof a.chainId !== 'string' || !CHAIN_ID.test(a.chainId)) return 'action.chainId is not a valid network id'
  if (!isInt(a.nonce, 0)) return 'action.nonce must be a non-negative integer'
  if (!isInt(a.expiresAtMs, 1)) return 'action.expiresAtMs must be a positive integer (ms since epoch)'
  return bodyProblem(a.action)
}

export function isCouncilAction(a: unknown): a is CouncilAction {
  return councilActionProblem(a) === undefined
}

// ---------------------------------------------------------------------------------------------
// Council actions: signing and verification.

/** A council action as DAG-CBOR: how a standing policy travels in YAML (base64) and on the wire. */
export function encodeCouncilAction(a: CouncilAction): Uint8Array {
  return encode(withoutUndefined(a))
}

/** Decodes and validates a council action; a readable problem instead of an action when it is not one. */
export function decodeCouncilAction(bytes: Uint8Array): { action: CouncilAction } | { problem: string } {
  let v: unknown
  try {
    v = decode(bytes)
  } catch (err) {
    return { problem: `not DAG-CBOR: ${(err as Error).message}` }
  }
  const problem = councilActionProblem(v)
  return problem === undefined ? { action: v as CouncilAction } : { problem }
}

export function councilActionBytes(a: CouncilAction): Uint8Array {
  return signingBytes('council-action', withoutUndefined(a))
}

export function signCouncilAction(signer: Signer, did: Did, a: CouncilAction): CouncilSignature {
  return { did, sig: signer.sign(councilActionBytes(a)) }
}

/**
 * Verifies that ≥ threshold distinct current council members signed the action and that it has
 * not expired (expiresAtMs is exclusive: at nowMs === expiresAtMs it is expired).
 */
export function verifyCouncilAuthorization(
  a: CouncilAction,
  sigs: readonly { did: string; sig: Uint8Array }[],
  council: CouncilSpec,
  nowMs: number,
): VerifyResult {
  const problem = councilActionProblem(a)
  if (problem !== undefined) return { ok: false, code: 'INVALID_PAYLOAD', message: problem }
  if (nowMs >= a.expiresAtMs) {
    return { ok: false, code: 'EXPIRED', message: `council action expired at ${a.expiresAtMs} (now ${nowMs})` }
  }
  const r = checkSignatures(councilActionBytes(a), sigs, council, `council action ${a.action.kind}`)
  return r.ok ? { ok: true } : r
}

// ---------------------------------------------------------------------------------------------
// Restart manifests (DESIGN §4 "Coordinated restart").

/** A hard-fork state edit: the value is the DAG-CBOR encoding of the new state value. */
export type StateEdit = { op: 'put'; key: string; value: Uint8Array } | { op: 'delete'; key: string }

export interface RestartWitness {
  did: Did
  power: number
}

export interface RestartManifest {
  domain: typeof RESTART_MANIFEST_DOMAIN
  chainId: string
  /** The new epoch (votes are domain-separated by epoch, so nobody signs twice at a height). */
  epoch: number
  /** The certified restart height, its block hash and state root (hex). */
  height: number
  blockHash: string
  stateRoot: string
  /** The new witness set: surviving witnesses plus promoted standbys. */
  witnesses: RestartWitness[]
  stateEdits?: StateEdit[]
  /** Root after the state edits (required with edits). */
  resultingStateRoot?: string
  minVersion?: string
  expiresAtMs: number
}

export type RestartAuthorization =
  | { kind: 'council'; signatures: CouncilSignature[] }
  | { kind: 'policy'; policy: CouncilAction; policySignatures: CouncilSignature[]; agentSignature: CouncilSignature }

export interface RestartVerifyContext {
  council: CouncilSpec
  /** The active witness set at the restart height. */
  currentWitnesses: readonly string[]
  /** Registered standbys at the restart height. */
  standbys: readonly string[]
  nowMs: number
  /**
   * Time (ms) of the last finalized block this node knows. With a policy, the restart is allowed
   * only once nowMs - lastFinalizedMs ≥ quorumLossSeconds. Omitted: the duration is not checked.
   */
  lastFinalizedMs?: number
}

export type RestartVerifyResult =
  { ok: true; promoted: Did[]; demoted: Did[] } | { ok: false; code: GovernanceErrorCode; message: string }

/**
 * The shape of a list of hard-fork state edits (a manifest's `stateEdits`, or what a preview is
 * asked about): a readable problem, or undefined. Whether a value decodes, and which keys may not
 * be deleted, the ledger judges when it applies them (INVALID_STATE_EDIT).
 */
export function stateEditsProblem(edits: unknown, path = 'stateEdits'): string | undefined {
  if (!Array.isArray(edits) || edits.length > MAX_STATE_EDITS)
    return `${path} must list at most ${MAX_STATE_EDITS} edits`
  for (const [i, e] of edits.entries()) {
    const ep = `${path}[${i}]`
    if (!isObj(e)) return `${ep} must be an object`
    const ef = e.op === 'put' ? fieldsProblem(e, ep, ['op', 'key', 'value']) : fieldsProblem(e, ep, ['op', 'key'])
    if (ef !== undefined) return ef
    if (e.op !== 'put' && e.op !== 'delete') return `${ep}.op must be put or delete`
    if (typeof e.key !== 'string' || !/^[\x21-\x7e]{1,1024}$/.test(e.key)) return `${ep}.key must be printable ASCII`
    if (e.op === 'put' && (!(e.value instanceof Uint8Array) || e.value.length > MAX_STATE_EDIT_VALUE_BYTES)) {
      return `${ep}.value must be DAG-CBOR bytes of at most ${MAX_STATE_EDIT_VALUE_BYTES}`
    }
  }
  return undefined
}

export function restartManifestProblem(input: unknown): string | undefined {
  const m = withoutUndefined(input)
  if (!isObj(m)) return 'manifest must be an object'
  const f = fieldsProblem(
    m,
    'manifest',
    ['domain', 'chainId', 'epoch', 'height', 'blockHash', 'stateRoot', 'witnesses', 'expiresAtMs'],
    ['stateEdits', 'resultingStateRoot', 'minVersion'],
  )
  if (f !== undefined) return f
  if (m.domain !== RESTART_MANIFEST_DOMAIN) return `manifest.domain must be ${RESTART_MANIFEST_DOMAIN}`
  if (typeof m.chainId !== 'string' || !CHAIN_ID.test(m.chainId)) return 'manifest.chainId is not a valid network id'
  if (!isInt(m.epoch, 1)) return 'manifest.epoch must be a positive integer'
  if (!isInt(m.height, 0)) return 'manifest.height must be a non-negative integer'
  if (typeof m.blockHash !== 'string' || !HEX32.test(m.blockHash)) return 'manifest.blockHash must be 64 hex digits'
  if (typeof m.stateRoot !== 'string' || !HEX32.test(m.stateRoot)) return 'manifest.stateRoot must be 64 hex digits'
  if (!isInt(m.expiresAtMs, 1)) return 'manifest.expiresAtMs must be a positive integer'
  if (!Array.isArray(m.witnesses) || m.witnesses.length < 1 || m.witnesses.length > MAX_RESTART_WITNESSES) {
    return `manifest.witnesses must list 1 to ${MAX_RESTART_WITNESSES} witnesses`
  }
  const seen = new Set<string>()
  for (const [i, w] of m.witnesses.entries()) {
    const wp = `manifest.witnesses[${i}]`
    if (!isObj(w)) return `${wp} must be an object`
    const wf = fieldsProblem(w, wp, ['did', 'power'])
    if (wf !== undefined) return wf
    if (!isDid(w.did)) return `${wp}.did is not a did:key`
    if (seen.has(w.did)) return `manifest.witnesses lists ${w.did} twice`
    seen.add(w.did)
    if (!isInt(w.power, 1)) return `${wp}.power must be a positive integer`
  }
  if ('stateEdits' in m) {
    const ep = stateEditsProblem(m.stateEdits, 'manifest.stateEdits')
    if (ep !== undefined) return ep
    if ((m.stateEdits as unknown[]).length > 0 && !('resultingStateRoot' in m)) {
      return 'manifest.resultingStateRoot is required with state edits'
    }
  }
  if ('resultingStateRoot' in m && (typeof m.resultingStateRoot !== 'string' || !HEX32.test(m.resultingStateRoot))) {
    return 'manifest.resultingStateRoot must be 64 hex digits'
  }
  if ('minVersion' in m && !isText(m.minVersion, 64, 1)) return 'manifest.minVersion must be a version string'
  return undefined
}

export function restartManifestBytes(m: RestartManifest): Uint8Array {
  return signingBytes('restart-manifest', withoutUndefined(m))
}

export function signRestartManifest(signer: Signer, did: Did, m: RestartManifest): CouncilSignature {
  return { did, sig: signer.sign(restartManifestBytes(m)) }
}

function sortedDids(s: Iterable<string>): Did[] {
  return [...s].sort() as Did[]
}

/**
 * Verifies a restart manifest's authorization. Council: ≥ threshold members signed the manifest
 * itself (anything allowed, including state edits). Policy: the council signed a standing
 * recovery policy, its agent signed the manifest, and the manifest stays within the policy:
 * only listed, registered standbys promoted, at most maxPromotions of them, every other witness
 * from the current set, no state edits, quorum lost for long enough, nothing expired.
 */
export function verifyRestartAuthorization(
  m: RestartManifest,
  auth: RestartAuthorization,
  ctx: RestartVerifyContext,
): RestartVerifyResult {
  const problem = restartManifestProblem(m)
  if (problem !== undefined) return { ok: false, code: 'INVALID_PAYLOAD', message: problem }
  if (ctx.nowMs >= m.expiresAtMs) {
    return { ok: false, code: 'EXPIRED', message: `restart manifest expired at ${m.expiresAtMs} (now ${ctx.nowMs})` }
  }
  const current = new Set(ctx.currentWitnesses)
  const listed = new Set<string>(m.witnesses.map((w) => w.did))
  const promoted = sortedDids([...listed].filter((d) => !current.has(d)))
  const demoted = sortedDids([...current].filter((d) => !listed.has(d)))
  const bytes = restartManifestBytes(m)

  if (auth.kind === 'council') {
    const r = checkSignatures(bytes, auth.signatures, ctx.council, 'restart manifest')
    return r.ok ? { ok: true, promoted, demoted } : r
  }
  // Authorizations come from YAML and the network: check the kind at run time too.
  if ((auth as { kind: unknown }).kind !== 'policy') {
    return { ok: false, code: 'INVALID_PAYLOAD', message: 'unknown authorization kind' }
  }

  const policy = auth.policy
  const pp = councilActionProblem(policy)
  if (pp !== undefined) return { ok: false, code: 'INVALID_PAYLOAD', message: `policy: ${pp}` }
  const body = policy.action
  if (body.kind !== 'standing-recovery-policy') {
    return { ok: false, code: 'INVALID_PAYLOAD', message: `policy is a ${body.kind} action` }
  }
  if (policy.chainId !== m.chainId) {
    return { ok: false, code: 'WRONG_CHAIN', message: `policy is for ${policy.chainId}, manifest for ${m.chainId}` }
  }
  const pr = verifyCouncilAuthorization(policy, auth.policySignatures, ctx.council, ctx.nowMs)
  if (!pr.ok) return { ok: false, code: pr.code, message: `standing recovery policy: ${pr.message}` }

  const agent: unknown = auth.agentSignature
  if (!isObj(agent) || agent.did !== body.agent) {
    return { ok: false, code: 'UNAUTHORIZED', message: `manifest must be signed by the policy agent ${body.agent}` }
  }
  if (!(agent.sig instanceof Uint8Array) || !verify(publicKeyFromDid(body.agent), bytes, agent.sig)) {
    return { ok: false, code: 'BAD_SIGNATURE', message: 'agent signature over the manifest does not verify' }
  }
  if ((m.stateEdits !== undefined && m.stateEdits.length > 0) || m.resultingStateRoot !== undefined) {
    return { ok: false, code: 'POLICY_VIOLATION', message: 'a standing recovery policy never allows state edits' }
  }
  const standbys = new Set(ctx.standbys)
  const unregistered = promoted.find((d) => !standbys.has(d))
  if (unregistered !== undefined) {
    return {
      ok: false,
      code: 'POLICY_VIOLATION',
      message: `${unregistered} is neither a current witness nor a registered standby`,
    }
  }
  const allowed = new Set<string>(body.standbys)
  const outside = promoted.find((d) => !allowed.has(d))
  if (outside !== undefined) {
    return { ok: false, code: 'POLICY_VIOLATION', message: `standby ${outside} is not in the policy's standby list` }
  }
  if (promoted.length > body.maxPromotions) {
    return {
      ok: false,
      code: 'POLICY_VIOLATION',
      message: `manifest promotes ${promoted.length} standbys, the policy allows ${body.maxPromotions}`,
    }
  }
  if (ctx.lastFinalizedMs !== undefined) {
    const lostMs = ctx.nowMs - ctx.lastFinalizedMs
    if (lostMs < body.quorumLossSeconds * 1000) {
      return {
        ok: false,
        code: 'POLICY_VIOLATION',
        message: `quorum lost for ${Math.floor(lostMs / 1000)} s, the policy requires ${body.quorumLossSeconds} s`,
      }
    }
  }
  return { ok: true, promoted, demoted }
}
