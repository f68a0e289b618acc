/**
 * Runtime validation of `echonet.io/v1alpha1` objects against the same schema objects the CRDs
 * are generated from (`schema.ts`), in the API server's order: prune nulls, apply defaults,
 * validate the structural schema, then evaluate the CEL rules (`x-kubernetes-validations`) with a
 * JavaScript CEL implementation. So an object the API server refuses is refused here with the same
 * message, and a `validate*` result is typed by the inferred types of `types.ts`.
 *
 * Use `validateX(obj)` for anything a person wrote (it returns a defaulted copy and readable
 * errors) and `isX(obj)` as a type guard for objects read from the API server (already defaulted).
 * Pass `{ old }` to also evaluate transition rules (`oldSelf`), as on an update.
 */
import { Environment } from '@marcbachmann/cel-js'
import type { ParseResult } from '@marcbachmann/cel-js'
import type { AnySchema, Infer, JSONSchemaProps, ValidationRule } from './openapi.ts'
import { isOpaque, literalValue, typeRequired } from './openapi.ts'
import { disasterDeclarationSchema, echoNetNetworkSchema, witnessPoolSchema } from './schema.ts'
import type { DisasterDeclaration, EchoNetNetwork, EchoNetResource, WitnessPool } from './types.ts'

export interface FieldError {
  /** Field path in the API server's notation, e.g. `spec.storage.erasure.k`. */
  readonly path: string
  readonly message: string
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] }

export interface ValidateOptions {
  /** The stored object, for transition rules (`oldSelf`), as on an update. */
  readonly old?: unknown
  /** Fill in schema defaults first, as the API server does (default true). */
  readonly applyDefaults?: boolean
  /** Refuse fields the schema does not know (default true, like `kubectl --validate=strict`). */
  readonly rejectUnknownFields?: boolean
}

/** One line per error: `spec.storage.erasure: erasure k + m must be at most 256 (...)`. */
export function formatErrors(errors: readonly FieldError[]): string {
  return errors.map((e) => `${e.path === '' ? '<root>' : e.path}: ${e.message}`).join('\n')
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function cloneJson(v: unknown): unknown {
  return v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as Json)
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`
}

// ---------------------------------------------------------------------------------------------
// Pruning of nulls and defaulting (in place, on a copy)

function defaultInPlace(s: JSONSchemaProps, v: unknown, apply: boolean): void {
  if (isOpaque(s)) return
  if (isPlainObject(v)) {
    if (s.properties !== undefined) {
      for (const [k, ps] of Object.entries(s.properties)) {
        // The API server prunes nulls of non-nullable fields before defaulting.
        if (v[k] === null) Reflect.deleteProperty(v, k)
        if (v[k] === undefined && apply && ps.default !== undefined) v[k] = cloneJson(ps.default)
        if (v[k] !== undefined) defaultInPlace(ps, v[k], apply)
      }
    } else if (s.additionalProperties !== undefined) {
      for (const k of Object.keys(v)) defaultInPlace(s.additionalProperties, v[k], apply)
    }
  } else if (Array.isArray(v) && s.items !== undefined) {
    for (const item of v) defaultInPlace(s.items, item, apply)
  }
}

// ---------------------------------------------------------------------------------------------
// CEL

const celEnv = new Environment({ unlistedVariablesAreDyn: true })
const compiled = new Map<string, ParseResult>()

/** Compiles (and caches) a CEL expression; throws on a syntax error. */
export function compileCel(expression: string): ParseResult {
  let p = compiled.get(expression)
  if (p === undefined) {
    p = celEnv.parse(expression)
    compiled.set(expression, p)
  }
  return p
}

/** The CEL view of a value: integers become CEL ints (bigint), as in Kubernetes. */
function toCel(s: JSONSchemaProps, v: unknown): unknown {
  if (typeof v === 'number' && Number.isInteger(v) && (s.type === 'integer' || s['x-kubernetes-int-or-string'])) {
    return BigInt(v)
  }
  if (Array.isArray(v)) return (v as unknown[]).map((x) => (s.items === undefined ? x : toCel(s.items, x)))
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) {
      const ps = s.properties?.[k] ?? s.additionalProperties
      if (ps !== undefined) out[k] = toCel(ps, x)
      else if (s.properties === undefined) out[k] = x
    }
    return out
  }
  return v
}

const OLD_SELF = /\boldSelf\b/

function evalRule(
  r: ValidationRule,
  s: JSONSchemaProps,
  value: unknown,
  old: { value: unknown } | undefined,
): string | undefined {
  const isTransition = OLD_SELF.test(r.rule)
  if (isTransition && old === undefined) return undefined
  const ctx: Record<string, unknown> = { self: toCel(s, value) }
  if (old !== undefined) ctx.oldSelf = toCel(s, old.value)
  let result: unknown
  try {
    result = compileCel(r.rule)(ctx)
  } catch (err) {
    return `rule could not be evaluated (${r.rule}): ${(err as Error).message.split('\n')[0]}`
  }
  if (result === true) return undefined
  if (r.messageExpression !== undefined) {
    try {
      const m: unknown = compileCel(r.messageExpression)(ctx)
      if (typeof m === 'string' && m !== '') return m
    } catch {
      // fall back to the static message, as the API server does
    }
  }
  return r.message ?? `failed rule: ${r.rule}`
}

// ---------------------------------------------------------------------------------------------
// Structural validation

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const INT32 = 2 ** 31

interface Ctx {
  readonly errors: FieldError[]
  readonly defaultsApplied: boolean
  readonly rejectUnknown: boolean
}

function typeName(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}

/** Validates `v` against `s`; returns false if any error was added under `path`. */
function check(s: JSONSchemaProps, v: unknown, path: string, old: { value: unknown } | undefined, c: Ctx): boolean {
  const before = c.errors.length
  const err = (message: string, at = path): void => {
    c.errors.push({ path: at, message })
  }

  if (isOpaque(s)) {
    if (!isPlainObject(v)) err(`must be an object, got ${typeName(v)}`)
    return c.errors.length === before
  }

  const lit = literalValue(s)
  if (lit !== undefined && v !== lit) err(`must be "${lit}"`)

  if (s['x-kubernetes-int-or-string'] === true) {
    if (typeof v === 'string') {
      if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) err(`must match '${s.pattern}'`)
    } else if (!(typeof v === 'number' && Number.isInteger(v))) {
      err(`must be an integer or a string, got ${typeName(v)}`)
    }
  } else {
    switch (s.type) {
      case 'string':
        if (typeof v !== 'string') err(`must be a string, got ${typeName(v)}`)
        else checkString(s, v, err)
        break
      case 'integer':
      case 'number':
        if (typeof v !== 'number' || !Number.isFinite(v) || (s.type === 'integer' && !Number.isInteger(v))) {
          err(`must be ${s.type === 'integer' ? 'an integer' : 'a number'}, got ${typeName(v)}`)
        } else {
          if (s.format === 'int32' && (v < -INT32 || v >= INT32)) err('must fit in 32 bits')
          if (s.minimum !== undefined && v < s.minimum) err(`should be greater than or equal to ${s.minimum}`)
          if (s.maximum !== undefined && v > s.maximum) err(`should be less than or equal to ${s.maximum}`)
        }
        break
      case 'boolean':
        if (typeof v !== 'boolean') err(`must be a boolean, got ${typeName(v)}`)
        break
      case 'array':
        if (!Array.isArray(v)) err(`must be an array, got ${typeName(v)}`)
        else checkArray(s, v, path, old, c, err)
        break
      case 'object':
        if (!isPlainObject(v)) err(`must be an object, got ${typeName(v)}`)
        else checkObject(s, v, path, old, c, err)
        break
      default:
        break
    }
  }
  if (s.enum !== undefined && !s.enum.includes(v as string | number)) {
    err(`Unsupported value: ${JSON.stringify(v)}: supported values: ${s.enum.map((e) => JSON.stringify(e)).join(', ')}`)
  }

  // CEL rules run on values that are structurally valid (a rule over a malformed value would
  // only report a type error).
  if (c.errors.length === before) {
    for (const r of s['x-kubernetes-validations'] ?? []) {
      const message = evalRule(r, s, v, old)
      if (message !== undefined) err(message, r.fieldPath === undefined ? path : `${path}${r.fieldPath}`)
    }
  }
  return c.errors.length === before
}

function checkString(s: JSONSchemaProps, v: string, err: (m: string) => void): void {
  let len = 0 // code points, as the API server counts runes
  for (const _ of v) len++
  if (s.minLength !== undefined && len < s.minLength) err(`should be at least ${s.minLength} chars long`)
  if (s.maxLength !== undefined && len > s.maxLength) err(`may not be more than ${s.maxLength} bytes`)
  if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) err(`should match '${s.pattern}'`)
  if (s.format === 'date-time' && (!DATE_TIME.test(v) || Number.isNaN(Date.parse(v)))) {
    err('must be an RFC 3339 date-time, e.g. 2025-01-02T15:04:05Z')
  }
  if (s.format === 'byte' && !BASE64.test(v)) err('must be base64 (standard alphabet, padded)')
}

function checkArray(
  s: JSONSchemaProps,
  v: unknown[],
  path: string,
  old: { value: unknown } | undefined,
  c: Ctx,
  err: (m: string, at?: string) => void,
): void {
  if (s.minItems !== undefined && v.length < s.minItems) err(`should have at least ${s.minItems} items`)
  if (s.maxItems !== undefined && v.length > s.maxItems) err(`must have at most ${s.maxItems} items`)
  const listType = s['x-kubernetes-list-type']
  const keys = s['x-kubernetes-list-map-keys'] ?? []
  const keyOf = (x: unknown): string =>
    listType === 'map' && isPlainObject(x) ? JSON.stringify(keys.map((k) => x[k])) : JSON.stringify(x)
  // Transition rules inside lists only correlate for map lists (by key), as in Kubernetes.
  const oldByKey = new Map<string, unknown>()
  if (listType === 'map' && old !== undefined && Array.isArray(old.value)) {
    for (const x of old.value) oldByKey.set(keyOf(x), x)
  }
  const seen = new Set<string>()
  v.forEach((item, i) => {
    const at = `${path}[${i}]`
    if (s.items !== undefined) {
      const key = keyOf(item)
      const oldItem = oldByKey.has(key) ? { value: oldByKey.get(key) } : undefined
      check(s.items, item, at, oldItem, c)
    }
    if (listType === 'set' || listType === 'map') {
      const key = keyOf(item)
      if (seen.has(key)) err(`Duplicate value: ${key}`, at)
      seen.add(key)
    }
  })
}

function checkObject(
  s: JSONSchemaProps,
  v: Record<string, unknown>,
  path: string,
  old: { value: unknown } | undefined,
  c: Ctx,
  err: (m: string, at?: string) => void,
): void {
  const oldObj = old !== undefined && isPlainObject(old.value) ? old.value : undefined
  if (s.properties !== undefined) {
    const required = new Set(typeRequired(s))
    for (const [k, ps] of Object.entries(s.properties)) {
      const at = join(path, k)
      if (v[k] === undefined) {
        if (required.has(k)) err('Required value', at)
        else if (!c.defaultsApplied && ps.default !== undefined) err('Required value (the API server defaults it)', at)
        continue
      }
      const oldChild = oldObj !== undefined && oldObj[k] !== undefined ? { value: oldObj[k] } : undefined
      check(ps, v[k], at, oldChild, c)
    }
    if (c.rejectUnknown) {
      for (const k of Object.keys(v)) if (!(k in s.properties)) err(`unknown field "${join(path, k)}"`)
    }
  } else if (s.additionalProperties !== undefined) {
    const entries = Object.entries(v)
    if (s.maxProperties !== undefined && entries.length > s.maxProperties) {
      err(`must have at most ${s.maxProperties} properties`)
    }
    for (const [k, x] of entries) {
      const oldChild = oldObj !== undefined && oldObj[k] !== undefined ? { value: oldObj[k] } : undefined
      check(s.additionalProperties, x, join(path, k), oldChild, c)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Public API

/** Validates `input` against `schema`; on success returns a (defaulted) copy typed by the schema. */
export function validate<S extends AnySchema>(
  schema: S,
  input: unknown,
  opts: ValidateOptions = {},
): ValidationResult<Infer<S>> {
  const applyDefaults = opts.applyDefaults ?? true
  let value: unknown
  try {
    value = cloneJson(input)
  } catch (e) {
    return { ok: false, errors: [{ path: '', message: `not JSON: ${(e as Error).message}` }] }
  }
  defaultInPlace(schema, value, applyDefaults)
  let old: { value: unknown } | undefined
  if (opts.old !== undefined) {
    const o = cloneJson(opts.old)
    defaultInPlace(schema, o, true)
    old = { value: o }
  }
  const c: Ctx = { errors: [], defaultsApplied: applyDefaults, rejectUnknown: opts.rejectUnknownFields ?? true }
  check(schema, value, '', old, c)
  return c.errors.length === 0 ? { ok: true, value: value as Infer<S> } : { ok: false, errors: c.errors }
}

export function validateEchoNetNetwork(obj: unknown, opts?: ValidateOptions): ValidationResult<EchoNetNetwork> {
  return validate(echoNetNetworkSchema, obj, opts)
}

export function validateWitnessPool(obj: unknown, opts?: ValidateOptions): ValidationResult<WitnessPool> {
  return validate(witnessPoolSchema, obj, opts)
}

export function validateDisasterDeclaration(
  obj: unknown,
  opts?: ValidateOptions,
): ValidationResult<DisasterDeclaration> {
  return validate(disasterDeclarationSchema, obj, opts)
}

/** Validates any of the three kinds, chosen by `kind`. */
export function validateResource(obj: unknown, opts?: ValidateOptions): ValidationResult<EchoNetResource> {
  const kind = isPlainObject(obj) ? obj.kind : undefined
  switch (kind) {
    case 'EchoNetNetwork':
      return validateEchoNetNetwork(obj, opts)
    case 'WitnessPool':
      return validateWitnessPool(obj, opts)
    case 'DisasterDeclaration':
      return validateDisasterDeclaration(obj, opts)
    default:
      return {
        ok: false,
        errors: [{ path: 'kind', message: 'must be EchoNetNetwork, WitnessPool or DisasterDeclaration' }],
      }
  }
}

const asRead: ValidateOptions = { applyDefaults: false }

/** Type guard for an object read from the API server (defaults already applied there). */
export function isEchoNetNetwork(obj: unknown): obj is EchoNetNetwork {
  return validate(echoNetNetworkSchema, obj, asRead).ok
}

export function isWitnessPool(obj: unknown): obj is WitnessPool {
  return validate(witnessPoolSchema, obj, asRead).ok
}

export function isDisasterDeclaration(obj: unknown): obj is DisasterDeclaration {
  return validate(disasterDeclarationSchema, obj, asRead).ok
}

/** Every CEL expression (rules and message expressions) of a schema tree, with its path. */
export function collectRules(s: JSONSchemaProps, path = ''): { path: string; rule: ValidationRule }[] {
  const out: { path: string; rule: ValidationRule }[] = []
  for (const rule of s['x-kubernetes-validations'] ?? []) out.push({ path, rule })
  for (const [k, ps] of Object.entries(s.properties ?? {})) out.push(...collectRules(ps, join(path, k)))
  if (s.items !== undefined) out.push(...collectRules(s.items, `${path}[]`))
  if (s.additionalProperties !== undefined) out.push(...collectRules(s.additionalProperties, `${path}.*`))
  return out
}
