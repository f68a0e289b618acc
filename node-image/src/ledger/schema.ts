import { CID } from 'multiformats/cid'
import { isDid } from '../crypto/did.ts'
import type { Did } from '../crypto/did.ts'
import { LedgerError } from './errors.ts'
import type { LedgerErrorCode } from './errors.ts'

/**
 * Tiny runtime validators for untrusted input (decoded events, genesis files). Each throws a
 * LedgerError naming the offending path, so a client sees e.g. "payload.amount must be …".
 */
export type Obj = Record<string, unknown>

/** Largest amount anywhere: total supply is capped so that sums and 3·power stay safe integers. */
export const MAX_AMOUNT = 2 ** 51

export class Schema {
  readonly code: LedgerErrorCode
  constructor(code: LedgerErrorCode) {
    this.code = code
  }

  fail(message: string): never {
    throw new LedgerError(this.code, message)
  }

  obj(v: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Obj {
    if (!isPlainObject(v)) this.fail(`${path} must be an object`)
    for (const k of required) if (!(k in v)) this.fail(`${path}.${k} is required`)
    for (const k of Object.keys(v)) {
      if (!required.includes(k) && !optional.includes(k)) this.fail(`${path}.${k} is not a known field`)
    }
    return v
  }

  int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(`${path} must be an integer`)
    if (v < min || v > max) this.fail(`${path} must be between ${min} and ${max}, got ${v}`)
    return v
  }

  amount(v: unknown, path: string, min = 1): number {
    return this.int(v, path, min, MAX_AMOUNT)
  }

  str(v: unknown, path: string, max: number, min = 0): string {
    if (typeof v !== 'string' || v.length < min || v.length > max) {
      this.fail(`${path} must be a string of ${min} to ${max} characters`)
    }
    return v
  }

  match(v: unknown, path: string, re: RegExp, what: string): string {
    if (typeof v !== 'string' || !re.test(v)) this.fail(`${path} must be ${what}`)
    return v
  }

  hex32(v: unknown, path: string): string {
    return this.match(v, path, /^[0-9a-f]{64}$/, '64 lowercase hex digits (sha-256)')
  }

  did(v: unknown, path: string): Did {
    if (!isDid(v)) this.fail(`${path} must be an Ed25519 did:key`)
    return v
  }

  bytes(v: unknown, path: string, length?: number): Uint8Array {
    if (!(v instanceof Uint8Array)) this.fail(`${path} must be bytes`)
    if (length !== undefined && v.length !== length) this.fail(`${path} must be ${length} bytes`)
    return v
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T {
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(`${path} must be one of ${values.join(', ')}`)
    }
    return v as T
  }

  bool(v: unknown, path: string): boolean {
    if (typeof v !== 'boolean') this.fail(`${path} must be a boolean`)
    return v
  }

  list(v: unknown, path: string, max: number, min = 0): unknown[] {
    if (!Array.isArray(v) || v.length < min || v.length > max) this.fail(`${path} must be a list of ${min} to ${max}`)
    return v as unknown[]
  }

  /** A ContentID: a CIDv1 in its canonical string form (so one content has one key). */
  cid(v: unknown, path: string): string {
    const s = this.str(v, path, 128, 1)
    let cid: CID
    try {
      cid = CID.parse(s)
    } catch {
      this.fail(`${path} is not a CID`)
    }
    if (cid.version !== 1) this.fail(`${path} must be a CIDv1`)
    if (cid.toString() !== s) this.fail(`${path} must be in canonical base32 form ${cid.toString()}`)
    return s
  }
}

export function isPlainObject(v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) return false
  const proto: unknown = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/** Drops `undefined` fields recursively (DAG-CBOR cannot encode them; they mean "absent"). */
export function stripUndefined<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x: unknown) => stripUndefined(x)) as T
  if (!isPlainObject(v)) return v
  const out: Obj = {}
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = stripUndefined(x)
  return out as T
}

// Explicitly typed so that `fail()` (never) narrows at call sites.
export const payloadSchema: Schema = new Schema('INVALID_PAYLOAD')
