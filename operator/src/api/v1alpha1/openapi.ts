/**
 * A small typed builder for Kubernetes structural OpenAPI v3 schemas (the `openAPIV3Schema` of a
 * CustomResourceDefinition). Each builder returns a plain JSON-Schema object — exactly what goes
 * into `crds/*.yaml` — whose TypeScript type also carries, as phantom type parameters, the
 * TypeScript type of the values it accepts. So one object is the source of three things:
 *
 * - the CRD schema (serialized by `generate.ts`),
 * - the TypeScript types (`Infer<typeof schema>` / `InferInput<typeof schema>`, see `types.ts`),
 * - the runtime type guard (`validate.ts` walks the same objects, applies defaults and evaluates
 *   the same CEL rules).
 *
 * Why not JSON Schema + `json-schema-to-ts` or TypeBox: Kubernetes accepts a restricted dialect
 * (no `additionalProperties: false`, `anyOf` without types, `x-kubernetes-*` extensions), and
 * `FromSchema` over schemas this size is slow to typecheck. Builders that can only produce the
 * structural dialect, with a required `description` on every field, keep the CRDs valid by
 * construction and the types cheap.
 */

declare const OUT: unique symbol
declare const IN: unique symbol
declare const PRESENCE: unique symbol

/**
 * How a property appears on its parent object: `required` (the user must set it), `defaulted`
 * (the API server fills it in, so it is always present on objects read back) or `optional`.
 */
export type Presence = 'required' | 'optional' | 'defaulted'

/** A CEL validation rule (`x-kubernetes-validations` item). */
export interface ValidationRule {
  readonly rule: string
  readonly message?: string
  readonly messageExpression?: string
  readonly reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate'
  readonly fieldPath?: string
  readonly optionalOldSelf?: boolean
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that the builders emit. */
export interface JSONSchemaProps {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean'
  readonly description?: string
  readonly format?: string
  readonly default?: unknown
  readonly enum?: readonly (string | number)[]
  readonly pattern?: string
  readonly minLength?: number
  readonly maxLength?: number
  readonly minimum?: number
  readonly maximum?: number
  readonly minItems?: number
  readonly maxItems?: number
  readonly maxProperties?: number
  readonly properties?: Readonly<Record<string, JSONSchemaProps>>
  readonly required?: readonly string[]
  readonly items?: JSONSchemaProps
  readonly additionalProperties?: JSONSchemaProps
  readonly anyOf?: readonly JSONSchemaProps[]
  readonly 'x-kubernetes-int-or-string'?: true
  readonly 'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map'
  readonly 'x-kubernetes-list-map-keys'?: readonly string[]
  readonly 'x-kubernetes-map-type'?: 'atomic' | 'granular'
  readonly 'x-kubernetes-validations'?: readonly ValidationRule[]
}

/**
 * A schema whose accepted values have type `Out` once the API server has applied defaults,
 * `In` as a user writes them, and which sits on its parent object with presence `P`.
 * The three symbol-keyed members exist only in the type system.
 */
export interface Schema<Out, In = Out, P extends Presence = Presence> extends JSONSchemaProps {
  readonly [OUT]?: Out
  readonly [IN]?: In
  readonly [PRESENCE]?: P
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- `any` here only matches any schema in conditional types
export type AnySchema = Schema<any, any>

/** The type of a value as read from the API server (defaults applied). */
export type Infer<S> = S extends Schema<infer O, infer _I, infer _P> ? O : never
/** The type of a value as a user writes it (defaulted fields optional). */
export type InferInput<S> = S extends Schema<infer _O, infer I, infer _P> ? I : never
type PresenceOf<S> = S extends Schema<infer _O, infer _I, infer P> ? P : never

type Simplify<T> = { -readonly [K in keyof T]: T[K] } & {}

type OutObject<P extends Record<string, AnySchema>> = Simplify<
  { -readonly [K in keyof P as PresenceOf<P[K]> extends 'optional' ? never : K]: Infer<P[K]> } & {
    -readonly [K in keyof P as PresenceOf<P[K]> extends 'optional' ? K : never]?: Infer<P[K]>
  }
>
type InObject<P extends Record<string, AnySchema>> = Simplify<
  { -readonly [K in keyof P as PresenceOf<P[K]> extends 'required' ? K : never]: InferInput<P[K]> } & {
    -readonly [K in keyof P as PresenceOf<P[K]> extends 'required' ? never : K]?: InferInput<P[K]>
  }
>

type PresenceFor<O> = O extends { default: unknown } ? 'defaulted' : 'required'

/** Options every builder takes. A description is mandatory: `kubectl explain` shows it. */
export interface Common {
  readonly description: string
  readonly rules?: readonly ValidationRule[]
}

const optionalSchemas = new WeakSet<JSONSchemaProps>()
const opaqueSchemas = new WeakSet<JSONSchemaProps>()

/** Was this schema wrapped with `optional()`? (Decides the parent's `required` list.) */
export function isOptional(s: JSONSchemaProps): boolean {
  return optionalSchemas.has(s)
}

/** Is this an opaque object (root `metadata`), validated by the API server itself? */
export function isOpaque(s: JSONSchemaProps): boolean {
  return opaqueSchemas.has(s)
}

function withRules<T extends JSONSchemaProps>(base: T, rules: readonly ValidationRule[] | undefined): T {
  return rules === undefined || rules.length === 0 ? base : { ...base, 'x-kubernetes-validations': rules }
}

function pick(o: object, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const k of keys) {
    const v = (o as Record<string, unknown>)[k]
    if (v !== undefined) out[k] = v
  }
  return out
}

export interface StringOpts extends Common {
  readonly default?: string
  readonly pattern?: string
  readonly minLength?: number
  readonly maxLength?: number
  readonly format?: 'date-time' | 'byte' | 'duration'
}

export function string<const O extends StringOpts>(o: O): Schema<string, string, PresenceFor<O>> {
  const s: JSONSchemaProps = {
    type: 'string',
    ...pick(o, ['description', 'format', 'default', 'pattern', 'minLength', 'maxLength']),
  }
  return withRules(s, o.rules)
}

export interface EnumOpts<V extends string> extends Common {
  readonly default?: V
}

/** A string restricted to `values`; its TypeScript type is the union of the literals. */
export function stringEnum<const V extends string, const O extends EnumOpts<V>>(
  values: readonly V[],
  o: O,
): Schema<V, V, PresenceFor<O>> {
  const s: JSONSchemaProps = { type: 'string', ...pick(o, ['description', 'default']), enum: values }
  return withRules(s, o.rules)
}

export interface NumberOpts extends Common {
  readonly default?: number
  readonly minimum?: number
  readonly maximum?: number
}

/** A 64-bit integer (`format: int64`). JavaScript numbers are exact up to 2^53. */
export function integer<const O extends NumberOpts>(o: O): Schema<number, number, PresenceFor<O>> {
  const s: JSONSchemaProps = {
    type: 'integer',
    format: 'int64',
    ...pick(o, ['description', 'default', 'minimum', 'maximum']),
  }
  return withRules(s, o.rules)
}

/** A 32-bit integer (`format: int32`), e.g. replica counts, as Kubernetes uses for them. */
export function int32<const O extends NumberOpts>(o: O): Schema<number, number, PresenceFor<O>> {
  const s: JSONSchemaProps = {
    type: 'integer',
    format: 'int32',
    ...pick(o, ['description', 'default', 'minimum', 'maximum']),
  }
  return withRules(s, o.rules)
}

/** A floating-point number (measurements such as an RTO in seconds; never for money or counts). */
export function number<const O extends NumberOpts>(o: O): Schema<number, number, PresenceFor<O>> {
  return withRules({ type: 'number', ...pick(o, ['description', 'default', 'minimum', 'maximum']) }, o.rules)
}

export interface BooleanOpts extends Common {
  readonly default?: boolean
}

export function boolean<const O extends BooleanOpts>(o: O): Schema<boolean, boolean, PresenceFor<O>> {
  return withRules({ type: 'boolean', ...pick(o, ['description', 'default']) }, o.rules)
}

/** The Kubernetes `resource.Quantity` pattern (as controller-gen emits it). */
export const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$'

export interface QuantityOpts extends Common {
  readonly default?: string
}

/** A `resource.Quantity` (int-or-string, e.g. `10Gi`, `500m`, `2`). */
export function quantity<const O extends QuantityOpts>(o: O): Schema<string | number, string | number, PresenceFor<O>> {
  const s: JSONSchemaProps = {
    ...pick(o, ['description', 'default']),
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: QUANTITY_PATTERN,
    'x-kubernetes-int-or-string': true,
  }
  return withRules(s, o.rules)
}

export interface ArrayOpts extends Common {
  readonly minItems?: number
  /** Required: CEL cost estimation and etcd object size both need a bound. */
  readonly maxItems: number
  readonly listType?: 'atomic' | 'set' | 'map'
  readonly listMapKeys?: readonly string[]
  readonly default?: readonly unknown[]
}

export function array<I extends AnySchema, const O extends ArrayOpts>(
  items: I,
  o: O,
): Schema<Infer<I>[], InferInput<I>[], PresenceFor<O>> {
  const s: Record<string, unknown> = {
    type: 'array',
    ...pick(o, ['description', 'default', 'minItems', 'maxItems']),
    items,
  }
  if (o.listType !== undefined) s['x-kubernetes-list-type'] = o.listType
  if (o.listMapKeys !== undefined) s['x-kubernetes-list-map-keys'] = o.listMapKeys
  return withRules(s as JSONSchemaProps, o.rules)
}

export interface ObjectOpts extends Common {
  readonly default?: Record<string, unknown>
}

/**
 * An object with a fixed set of properties; unknown fields are pruned by the API server (and
 * refused by `kubectl`'s strict field validation and by `validate.ts`). A property is required
 * unless it has a `default` or is wrapped with `optional()`.
 */
export function object<const P extends Record<string, AnySchema>, const O extends ObjectOpts>(
  props: P,
  o: O,
): Schema<OutObject<P>, InObject<P>, PresenceFor<O>> {
  const required = Object.keys(props).filter((k) => {
    const p = props[k]!
    return !isOptional(p) && p.default === undefined
  })
  const s: Record<string, unknown> = { type: 'object', description: o.description }
  // The API server validates a default (CEL rules included) without applying nested defaults to
  // it, so a default is written out in full: `default: {}` becomes `{k: 4, m: 2}`.
  if (o.default !== undefined) s.default = materializeDefault(props, o.default)
  if (required.length > 0) s.required = required
  s.properties = props
  return withRules(s as JSONSchemaProps, o.rules)
}

function materializeDefault(props: Record<string, JSONSchemaProps>, given: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = { ...given }
  for (const [k, p] of Object.entries(props)) {
    if (out[k] === undefined && p.default !== undefined) out[k] = p.default
  }
  return out
}

export interface MapOpts extends Common {
  readonly maxProperties: number
}

/** A string-keyed map (`additionalProperties`). */
export function map<V extends AnySchema, const O extends MapOpts>(
  values: V,
  o: O,
): Schema<Record<string, Infer<V>>, Record<string, InferInput<V>>, PresenceFor<O>> {
  const s: JSONSchemaProps = {
    type: 'object',
    ...pick(o, ['description', 'maxProperties']),
    additionalProperties: values,
  }
  return withRules(s, o.rules)
}

const typeRequiredKeys = new WeakMap<JSONSchemaProps, readonly string[]>()

/** Keys a value must have although the CRD's `required` omits them (see `resource()`). */
export function typeRequired(s: JSONSchemaProps): readonly string[] {
  return typeRequiredKeys.get(s) ?? s.required ?? []
}

/**
 * The root of a custom resource. Like `object()`, but `apiVersion`, `kind` and `metadata` stay out
 * of the CRD's `required` (the API server always sets them) while the TypeScript type and
 * `validate.ts` still require them.
 */
export function resource<const P extends Record<string, AnySchema>>(
  props: P,
  o: ObjectOpts,
): Schema<OutObject<P>, InObject<P>, 'required'> {
  const s = object(props, o)
  const all = s.required ?? []
  const crdRequired = all.filter((k) => k !== 'apiVersion' && k !== 'kind' && k !== 'metadata')
  const { required: _drop, ...rest } = s
  const root = (crdRequired.length > 0 ? { ...rest, required: crdRequired } : rest) as typeof s
  // keep `required` after `description` for readable YAML: rebuild in a fixed key order
  const ordered = Object.fromEntries(Object.entries(root).sort(([a], [b]) => keyRank(a) - keyRank(b))) as typeof s
  typeRequiredKeys.set(ordered, all)
  return ordered
}

const KEY_ORDER = ['type', 'description', 'required', 'properties', 'x-kubernetes-validations']
function keyRank(k: string): number {
  const i = KEY_ORDER.indexOf(k)
  return i === -1 ? KEY_ORDER.length : i
}

/** Marks a property as optional (not in the parent's `required`, may be absent when read). */
export function optional<O, I>(s: Schema<O, I, 'required'>): Schema<O, I, 'optional'> {
  const copy: JSONSchemaProps = { ...s }
  optionalSchemas.add(copy)
  return copy
}

/**
 * The root `metadata` of a custom resource: Kubernetes allows only `type: object` there and
 * validates ObjectMeta itself.
 */
export function opaqueObject<T>(): Schema<T, T, 'required'> {
  const s: JSONSchemaProps = { type: 'object' }
  opaqueSchemas.add(s)
  return s
}

const literalValues = new WeakMap<JSONSchemaProps, string>()

/** The constant a `literal()` schema stands for, if it is one. */
export function literalValue(s: JSONSchemaProps): string | undefined {
  return literalValues.get(s)
}

/**
 * A constant string (`apiVersion`, `kind`): typed as the literal and checked by `validate.ts`;
 * the CRD says only `type: string`, as for every built-in kind (the API server sets both).
 */
export function literal<const V extends string>(value: V, description: string): Schema<V, V, 'required'> {
  const s: JSONSchemaProps = { type: 'string', description }
  literalValues.set(s, value)
  return s
}
