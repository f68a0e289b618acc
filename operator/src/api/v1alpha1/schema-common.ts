/**
 * Shared building blocks of the `echonet.io/v1alpha1` schemas (schema.ts explains the conventions).
 */
import { PARAM_SPECS } from '@echonet/node/governance'
import type { ParamName } from '@echonet/node/governance'
import type { AnySchema, Schema } from './openapi.ts'
import { array, int32, integer, map, object, optional, quantity, string, stringEnum } from './openapi.ts'

export const GROUP = 'echonet.io'
export const VERSION = 'v1alpha1'
export const API_VERSION = `${GROUP}/${VERSION}` as const

/** `did:key` with a base58btc multibase value (DESIGN §4: every node and council member). */
export const DID_PATTERN = '^did:key:z[1-9A-HJ-NP-Za-km-z]+$'
export const DID_MESSAGE = "must be a did:key: 'did:key:z' followed by base58btc characters (no 0, O, I or l)"

export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
/** The ledger's largest amount (2^51): amounts are safe integers in base units. */
export const MAX_AMOUNT = 2 ** 51
export const SHA256_DIGEST = '^sha256:[a-f0-9]{64}$'
export const HEX_HASH = '^[a-f0-9]{64}$'
export const MAX_DURATION_SECONDS = 30 * 24 * 3600

// ---------------------------------------------------------------------------------------------
// Shared building blocks

export const did = (description: string) =>
  string({ description, maxLength: 64, rules: [{ rule: `self.matches('${DID_PATTERN}')`, message: DID_MESSAGE }] })

export const amount = (description: string) =>
  integer({ description: `${description} In base units (at most 2^51).`, minimum: 0, maximum: MAX_AMOUNT })

export const objectName = (description: string) =>
  string({ description, pattern: DNS_LABEL, minLength: 1, maxLength: 63 })

export const durationSeconds = (description: string) =>
  int32({ description: `${description} In seconds, at most 30 days.`, minimum: 1, maximum: MAX_DURATION_SECONDS })

export const secretKeyRef = (description: string, defaultKey: string) =>
  object(
    {
      name: string({ description: 'Name of the Secret in the same namespace.', minLength: 1, maxLength: 253 }),
      key: string({ description: 'Key within the Secret.', default: defaultKey, minLength: 1, maxLength: 253 }),
    },
    { description },
  )

export const resources = () =>
  object(
    {
      requests: optional(
        map(quantity({ description: 'A resource quantity.' }), {
          description: 'Minimum resources (cpu, memory, ephemeral-storage) the scheduler reserves.',
          maxProperties: 16,
        }),
      ),
      limits: optional(
        map(quantity({ description: 'A resource quantity.' }), {
          description: 'Maximum resources the container may use.',
          maxProperties: 16,
        }),
      ),
    },
    { description: 'Compute resources of the node container (as in a Pod container).' },
  )

export const volume = (defaultSize: string, what: string) =>
  object(
    {
      size: quantity({ description: `Requested size of each PersistentVolumeClaim (${what}).`, default: defaultSize }),
      storageClassName: optional(
        string({
          description:
            'StorageClass of the PersistentVolumeClaims; unset uses the cluster default, "" disables dynamic provisioning.',
          maxLength: 253,
        }),
      ),
    },
    { description: `Persistent volume of each pod (${what}).`, default: {} },
  )

export const replicas = (description: string, defaultValue: number) =>
  int32({
    description,
    default: defaultValue,
    maximum: 1000,
    rules: [{ rule: 'self >= 0', message: 'replicas must be 0 or more' }],
  })

/** The standard `metav1.Condition`, with the same bounds and patterns as Kubernetes' own. */
export const conditionSchema = object(
  {
    type: string({
      description: 'Type of condition in CamelCase, e.g. Ready.',
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
      maxLength: 316,
    }),
    status: stringEnum(['True', 'False', 'Unknown'] as const, { description: 'Status of the condition.' }),
    observedGeneration: optional(
      integer({
        description: 'The .metadata.generation the condition was set for; older than metadata.generation means stale.',
        minimum: 0,
      }),
    ),
    lastTransitionTime: string({
      description: 'Last time the condition changed from one status to another.',
      format: 'date-time',
    }),
    reason: string({
      description: 'Machine-readable CamelCase reason for the last transition.',
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      minLength: 1,
      maxLength: 1024,
    }),
    message: string({ description: 'Human-readable details about the transition.', maxLength: 32768 }),
  },
  { description: 'A standard Kubernetes condition (metav1.Condition).' },
)

export const conditions = (types: string) =>
  optional(
    array(conditionSchema, {
      description: `Current state as standard conditions: ${types}.`,
      maxItems: 32,
      listType: 'map',
      listMapKeys: ['type'],
    }),
  )

export const observedGeneration = () =>
  optional(integer({ description: 'The .metadata.generation the operator last acted on.', minimum: 0 }))

// ---------------------------------------------------------------------------------------------
// Ledger parameters (genesis and SetParameters)

export const sentence = (doc: string): string => `${doc.charAt(0).toUpperCase()}${doc.slice(1)}.`

/**
 * Ledger parameters, generated from the node's own table (`PARAM_SPECS` of
 * `@echonet/node/governance`: names, bounds, docs), so the CRD accepts exactly what nodes accept.
 */
export function parameters<K extends ParamName>(
  names: readonly K[],
  description: string,
): Schema<{ [P in K]?: number }, { [P in K]?: number }, 'required'> {
  const props: Record<string, AnySchema> = {}
  for (const n of names) {
    const spec = PARAM_SPECS[n]
    props[n] = optional(
      integer({
        description: `${sentence(spec.doc)} Default ${spec.default}.`,
        minimum: spec.min,
        maximum: spec.max,
      }),
    )
  }
  return object(props, { description }) as Schema<{ [P in K]?: number }, { [P in K]?: number }, 'required'>
}

export const PARAMETER_NAMES = (Object.keys(PARAM_SPECS) as ParamName[]).sort()

/** Set by the spec itself (checkpointInterval, storage.erasure), not by genesis.params. */
export const SPEC_PARAMS: readonly ParamName[] = ['checkpointInterval', 'erasureK', 'erasureM']

export const parameterSchema = parameters(
  PARAMETER_NAMES,
  'Ledger parameters (integers; fractions in basis points, 10000 = 100 %). An unset field keeps its current value.',
)

export const genesisParameterSchema = parameters(
  PARAMETER_NAMES.filter((n) => !SPEC_PARAMS.includes(n)),
  'Genesis ledger parameters; unset ones take the node defaults. checkpointInterval and erasure k/m come from the spec.',
)

export const anyParameterSet = PARAMETER_NAMES.map((k) => `has(self.parameters.${k})`).join(' || ')
