/**
 * The three CustomResourceDefinitions as objects: names, short names, category, subresources,
 * printer columns and selectable fields around the schemas of `schema.ts`. `generate.ts` renders
 * them to `crds/*.yaml`; the operator may also use them (e.g. to check the installed CRDs).
 */
import type { JSONSchemaProps } from './openapi.ts'
import { GROUP, VERSION, disasterDeclarationSchema, echoNetNetworkSchema, witnessPoolSchema } from './schema.ts'

export const CATEGORY = 'echonet'

export interface PrinterColumn {
  readonly name: string
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date'
  readonly jsonPath: string
  readonly description: string
  readonly priority?: number
}

export interface CrdDefinition {
  readonly kind: string
  readonly plural: string
  readonly singular: string
  readonly shortNames: readonly string[]
  readonly schema: JSONSchemaProps
  readonly printerColumns: readonly PrinterColumn[]
  readonly scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string }
  readonly selectableFields?: readonly string[]
}

const ready: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'The Ready condition',
}
const age: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation',
}

export const echoNetNetworkCrd: CrdDefinition = {
  kind: 'EchoNetNetwork',
  plural: 'echonetnetworks',
  singular: 'echonetnetwork',
  shortNames: ['enn'],
  schema: echoNetNetworkSchema,
  printerColumns: [
    ready,
    { name: 'Height', type: 'integer', jsonPath: '.status.finalizedHeight', description: 'Finalized height' },
    {
      name: 'Certified',
      type: 'integer',
      jsonPath: '.status.certifiedHeight',
      description: 'Highest certified height',
    },
    { name: 'Power', type: 'integer', jsonPath: '.status.powerOnline', description: 'Committee power online' },
    { name: 'Needed', type: 'integer', jsonPath: '.status.powerNeeded', description: 'Power needed for finality' },
    { name: 'SSNs', type: 'integer', jsonPath: '.status.ssnsReady', description: 'Ready storage nodes' },
    {
      name: 'Under-Replicated',
      type: 'integer',
      jsonPath: '.status.underReplicatedContent',
      description: 'Content with fewer than k+m healthy shards',
      priority: 1,
    },
    {
      name: 'Network-ID',
      type: 'string',
      jsonPath: '.spec.networkId',
      description: 'Network (chain) id',
      priority: 1,
    },
    { name: 'Paused', type: 'boolean', jsonPath: '.spec.paused', description: 'Reconciliation paused', priority: 1 },
    age,
  ],
  selectableFields: ['.spec.networkId'],
}

export const witnessPoolCrd: CrdDefinition = {
  kind: 'WitnessPool',
  plural: 'witnesspools',
  singular: 'witnesspool',
  shortNames: ['wp'],
  schema: witnessPoolSchema,
  printerColumns: [
    { name: 'Network', type: 'string', jsonPath: '.spec.networkRef.name', description: 'EchoNetNetwork' },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Active or Standby' },
    { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', description: 'Desired witnesses' },
    {
      name: 'Ready',
      type: 'integer',
      jsonPath: '.status.readyReplicas',
      description: 'Ready witnesses whose key the ledger knows',
    },
    { name: 'Committee', type: 'integer', jsonPath: '.status.inCommittee', description: 'Members in the committee' },
    { name: 'Synced', type: 'integer', jsonPath: '.status.syncedHeight', description: 'Lowest synced height' },
    {
      name: 'Promoted',
      type: 'integer',
      jsonPath: '.status.promoted',
      description: 'Standbys promoted',
      priority: 1,
    },
    age,
  ],
  scale: {
    specReplicasPath: '.spec.replicas',
    statusReplicasPath: '.status.replicas',
    labelSelectorPath: '.status.selector',
  },
  selectableFields: ['.spec.networkRef.name', '.spec.mode'],
}

export const disasterDeclarationCrd: CrdDefinition = {
  kind: 'DisasterDeclaration',
  plural: 'disasterdeclarations',
  singular: 'disasterdeclaration',
  shortNames: ['dd'],
  schema: disasterDeclarationSchema,
  printerColumns: [
    { name: 'Network', type: 'string', jsonPath: '.spec.networkRef.name', description: 'EchoNetNetwork' },
    { name: 'Scenario', type: 'string', jsonPath: '.spec.scenario', description: 'Disaster scenario' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Declaration phase' },
    { name: 'RTO', type: 'number', jsonPath: '.status.rtoSeconds', description: 'Measured recovery time (s)' },
    {
      name: 'Lost',
      type: 'integer',
      jsonPath: '.status.finalizedEventsLost',
      description: 'Finalized events lost',
      priority: 1,
    },
    { name: 'Dry-Run', type: 'boolean', jsonPath: '.spec.dryRun', description: 'Dry run', priority: 1 },
    age,
  ],
  selectableFields: ['.spec.networkRef.name', '.spec.scenario'],
}

export const CRDS: readonly CrdDefinition[] = [echoNetNetworkCrd, witnessPoolCrd, disasterDeclarationCrd]

/** Plain JSON copy: drops the builders' type-only members and undefined values. */
function plain(s: JSONSchemaProps): unknown {
  return JSON.parse(JSON.stringify(s)) as unknown
}

/** The `apiextensions.k8s.io/v1` CustomResourceDefinition object for one kind. */
export function crdObject(d: CrdDefinition): Record<string, unknown> {
  const subresources: Record<string, unknown> = { status: {} }
  if (d.scale !== undefined) subresources.scale = { ...d.scale }
  const version: Record<string, unknown> = {
    name: VERSION,
    served: true,
    storage: true,
    schema: { openAPIV3Schema: plain(d.schema) },
    subresources,
    additionalPrinterColumns: d.printerColumns.map((c) => ({ ...c })),
  }
  if (d.selectableFields !== undefined) version.selectableFields = d.selectableFields.map((jsonPath) => ({ jsonPath }))
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${d.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'echonet' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: d.kind,
        listKind: `${d.kind}List`,
        plural: d.plural,
        singular: d.singular,
        shortNames: [...d.shortNames],
        categories: [CATEGORY],
      },
      scope: 'Namespaced',
      versions: [version],
    },
  }
}

/** File name in `crds/` (controller-gen's `<group>_<plural>.yaml`). */
export function crdFileName(d: CrdDefinition): string {
  return `${GROUP}_${d.plural}.yaml`
}
