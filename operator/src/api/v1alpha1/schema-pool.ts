/** WitnessPool: spec and status schemas. */
import { int32, map, literal, object, optional, resource, string, stringEnum, opaqueObject } from './openapi.ts'
import type { ObjectMeta } from './meta.ts'
import {
  API_VERSION,
  amount,
  objectName,
  resources,
  volume,
  replicas,
  conditions,
  observedGeneration,
} from './schema-common.ts'
import { height } from './schema-network.ts'

// ---------------------------------------------------------------------------------------------
// WitnessPool

export const WITNESS_POOL_MODES = ['Active', 'Standby'] as const

export const networkRef = () =>
  object(
    { name: objectName('Name of the EchoNetNetwork in the same namespace.') },
    {
      description: 'The EchoNetNetwork this object belongs to (same namespace). Immutable.',
      rules: [{ rule: 'self == oldSelf', message: 'networkRef is immutable' }],
    },
  )

export const witnessPoolSpecSchema = object(
  {
    networkRef: networkRef(),
    replicas: replicas(
      'Witness nodes in this pool, each with its own key, volume and pod. Scalable with kubectl scale.',
      1,
    ),
    mode: stringEnum(WITNESS_POOL_MODES, {
      description:
        'Active witnesses vote in the committee; Standby witnesses follow the chain (verify certificates, keep snapshots) without voting and are promoted in a disaster.',
      default: 'Active',
    }),
    stake: optional(amount('Stake registered on the ledger for each witness of the pool.')),
    resources: optional(resources()),
    volume: volume('10Gi', 'blocks, snapshots and signing record'),
    promotionPriority: int32({
      description: 'Order in which Standby pools are promoted: higher first.',
      default: 0,
      minimum: -1000,
      maximum: 1000,
    }),
    nodeSelector: optional(
      map(string({ description: 'Label value.', maxLength: 63 }), {
        description:
          "Labels a machine must carry to run this pool's pods (the pod's nodeSelector): keep a pool's witnesses on the machines, zones or operators they belong to, and a foundation's standbys on its own.",
        maxProperties: 16,
      }),
    ),
  },
  { description: 'Desired state of a pool of witness nodes.' },
)

export const witnessPoolStatusSchema = object(
  {
    observedGeneration: observedGeneration(),
    conditions: conditions('Ready, Progressing, Degraded'),
    replicas: optional(int32({ description: 'Witness pods that exist.', minimum: 0 })),
    readyReplicas: optional(
      int32({
        description:
          'Witness pods that are ready and whose key the ledger knows (in the committee or on the standby list).',
        minimum: 0,
      }),
    ),
    inCommittee: optional(int32({ description: 'Members whose key is in the committee now.', minimum: 0 })),
    syncedHeight: height('Lowest finalized height among the ready witnesses of the pool.'),
    promoted: optional(
      int32({ description: 'Standby witnesses of this pool promoted into the committee.', minimum: 0 }),
    ),
    selector: optional(
      string({ description: "Label selector of the pool's pods (for the scale subresource).", maxLength: 1024 }),
    ),
  },
  { description: 'Observed state of the pool, written by the operator.' },
)

export const witnessPoolSchema = resource(
  {
    apiVersion: literal(API_VERSION, 'APIVersion of this object: echonet.io/v1alpha1.'),
    kind: literal('WitnessPool', 'Kind of this object: WitnessPool.'),
    metadata: opaqueObject<ObjectMeta>(),
    spec: witnessPoolSpecSchema,
    status: optional(witnessPoolStatusSchema),
  },
  {
    description:
      'WitnessPool is a set of witness nodes of an EchoNetNetwork: Active (voting) or Standby (kept warm, promoted in a disaster).',
  },
)
