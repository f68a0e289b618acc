/**
 * The hard-fork preview request (`POST /admin/v1/restart/preview`), pure: the JSON body people's
 * tools send (StateEditInput) into the ledger's StateEdit list, and state values back into JSON
 * for people to review. Shape problems are INVALID_PAYLOAD (as in a manifest); a value outside the
 * ledger's data model is INVALID_STATE_EDIT (the ledger's code for an edit it cannot apply).
 */
import { isDid } from '../crypto/did.ts'
import { decodeValue, encodeValue } from '../ledger/cbor.ts'
import { MAX_RESTART_WITNESSES, MAX_STATE_EDITS, stateEditsProblem } from '../ledger/governance-payloads.ts'
import type { StateEdit } from '../ledger/governance-payloads.ts'
import { isObj } from '../util/guards.ts'
import type { JsonValue } from './admin-contract.ts'
import { ApiError } from './http-util.ts'

/** A preview carries at most a manifest's worth of edits (4 MiB record), base64 in JSON. */
export const MAX_PREVIEW_BODY_BYTES = 8 * 1024 * 1024

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

const invalid = (message: string): ApiError => new ApiError(400, 'INVALID_PAYLOAD', message)
const unapplicable = (message: string): ApiError => new ApiError(400, 'INVALID_STATE_EDIT', message)

function onlyFields(o: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  const extra = Object.keys(o).find((k) => !allowed.includes(k))
  if (extra !== undefined) throw invalid(`${path}.${extra} is not a known field`)
}

/** One edit's shape (pass 1): the value is encoded only once every edit has the right shape. */
function shapeOf(e: unknown, path: string): { op: 'put' | 'delete'; key: string; value?: unknown; cbor?: string } {
  if (!isObj(e)) throw invalid(`${path} must be an object`)
  if (e.op !== 'put' && e.op !== 'delete') throw invalid(`${path}.op must be put or delete`)
  if (typeof e.key !== 'string') throw invalid(`${path}.key must be a string`)
  if (e.op === 'delete') {
    onlyFields(e, path, ['op', 'key'])
    return { op: 'delete', key: e.key }
  }
  onlyFields(e, path, ['op', 'key', 'value', 'valueCbor'])
  if ('value' in e === 'valueCbor' in e) throw invalid(`${path} needs exactly one of value, valueCbor`)
  if ('value' in e) return { op: 'put', key: e.key, value: e.value }
  if (typeof e.valueCbor !== 'string' || !BASE64.test(e.valueCbor)) throw invalid(`${path}.valueCbor must be base64`)
  return { op: 'put', key: e.key, cbor: e.valueCbor }
}

/** The canonical bytes of one put's value; the ledger decodes them again when it applies the edit. */
function valueBytes(s: { value?: unknown; cbor?: string }, path: string): Uint8Array {
  if (s.cbor !== undefined) {
    const bytes = new Uint8Array(Buffer.from(s.cbor, 'base64'))
    try {
      decodeValue(bytes)
    } catch (err) {
      throw unapplicable(`${path}.valueCbor: ${(err as Error).message}`)
    }
    return bytes
  }
  try {
    return encodeValue(s.value)
  } catch (err) {
    throw unapplicable(`${path}.value: ${(err as Error).message}`)
  }
}

/**
 * The preview request: `{edits: StateEditInput[], witnesses?: DID[]}`. At least one edit (a
 * restart without edits needs no preview: `restart/plan`), each key once (two edits of one key
 * are a mistake in a document people sign, even if the ledger would apply them in order).
 */
export function parseRestartPreview(body: Buffer): { edits: StateEdit[]; witnesses?: string[] } {
  let b: unknown
  try {
    b = JSON.parse(body.toString('utf8'))
  } catch {
    throw new ApiError(400, 'MALFORMED_JSON', 'body is not JSON')
  }
  if (!isObj(b)) throw invalid('body must be {"edits": [{op, key, value | valueCbor}], "witnesses"?: [DID]}')
  onlyFields(b, 'body', ['edits', 'witnesses'])
  if (!Array.isArray(b.edits) || b.edits.length === 0 || b.edits.length > MAX_STATE_EDITS) {
    throw invalid(`edits must list 1 to ${MAX_STATE_EDITS} state edits`)
  }
  const shapes = (b.edits as unknown[]).map((e, i) => shapeOf(e, `edits[${i}]`))
  const seen = new Set<string>()
  for (const s of shapes) {
    if (seen.has(s.key)) throw invalid(`edits list ${s.key} twice`)
    seen.add(s.key)
  }
  const edits: StateEdit[] = shapes.map((s, i) =>
    s.op === 'delete' ? { op: 'delete', key: s.key } : { op: 'put', key: s.key, value: valueBytes(s, `edits[${i}]`) },
  )
  // Keys and value sizes exactly as a manifest's edits are judged, so what previews also signs.
  const problem = stateEditsProblem(edits, 'edits')
  if (problem !== undefined) throw invalid(problem)
  if (!('witnesses' in b)) return { edits }
  const w = b.witnesses
  if (!Array.isArray(w) || w.length === 0 || w.length > MAX_RESTART_WITNESSES || !w.every(isDid)) {
    throw invalid(`witnesses must list 1 to ${MAX_RESTART_WITNESSES} did:key DIDs`)
  }
  if (new Set(w).size !== w.length) throw invalid('witnesses lists a DID twice')
  return { edits, witnesses: w }
}

/** A state value as JSON for people: bytes in DAG-JSON's form {"/": {"bytes": base64}}. */
export function stateValueJson(v: unknown): JsonValue {
  if (v instanceof Uint8Array) return { '/': { bytes: Buffer.from(v).toString('base64').replace(/=+$/, '') } }
  if (Array.isArray(v)) return v.map((x: unknown) => stateValueJson(x))
  if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, stateValueJson(x)]))
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) return v
  return null
}
