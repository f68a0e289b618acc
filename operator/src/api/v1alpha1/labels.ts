/**
 * Label, annotation and finalizer names of the `echonet.io` API. Labels are what selectors match
 * (values ≤ 63 characters of [A-Za-z0-9_.-], so no DIDs); anything longer is an annotation.
 */
import { GROUP } from './schema.ts'

/** Recommended Kubernetes labels (app.kubernetes.io/*) set on everything the operator creates. */
export const Labels = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
  version: 'app.kubernetes.io/version',
  /** EchoNetNetwork name. */
  network: `${GROUP}/network`,
  /** Node role: witness | standby | ssn | seed. */
  role: `${GROUP}/role`,
  /** WitnessPool name (witness and standby pods). */
  pool: `${GROUP}/pool`,
  /** Ordinal of a node within its pool or role (0, 1, ...), stable across pod replacements. */
  ordinal: `${GROUP}/ordinal`,
  /** DisasterDeclaration name, on objects created for a declaration (e.g. drills). */
  declaration: `${GROUP}/declaration`,
  /** "true" on a DisasterDeclaration the operator created itself (recovery.autoDeclare). */
  automatic: `${GROUP}/automatic`,
} as const

export const LabelValues = {
  name: 'echonet-node',
  partOf: 'echonet',
  managedBy: 'echonet-operator',
} as const

export const NodeRoles = ['witness', 'standby', 'ssn', 'seed'] as const
export type NodeRoleLabel = (typeof NodeRoles)[number]

export const Annotations = {
  /** The node's did:key (too long and has ':' for a label). */
  did: `${GROUP}/did`,
  /** The node's libp2p PeerId. */
  peerId: `${GROUP}/peer-id`,
  /** Pause reconciliation of one object (Strimzi-style), in addition to spec.paused on networks: "true". */
  reconcilePaused: `${GROUP}/reconcile-paused`,
  /** Hash of the desired pod spec, so the operator replaces a pod only when it changed. */
  specHash: `${GROUP}/spec-hash`,
  /** On a node pod: "true" keeps it on its template while a rollout goes on (a canary kept back). */
  rolloutHold: `${GROUP}/rollout-hold`,
  /** Fencing: "true" stops the node process from signing (witness) before anything else happens. */
  fenced: `${GROUP}/fenced`,
  /** Restart epoch a pod was started for. */
  epoch: `${GROUP}/epoch`,
  /** On a DisasterDeclaration created by the operator: the condition that triggered it. */
  autoDeclaredBy: `${GROUP}/auto-declared-by`,
  /**
   * Hash of the object as the operator last applied it: an object whose hash matches is not
   * applied again, so an unchanged network causes no API writes at all (not even no-op applies).
   */
  appliedHash: `${GROUP}/applied-hash`,
  /**
   * On a node key Secret, written by a WitnessLoss runbook after a restart demoted the key: the node
   * is retired (its seat went to a promoted standby; no pod is ever created for it again), or is to
   * be given a fresh key and volume (`rekey`), or — on a standby — it was promoted into the committee
   * (its pool grows a new standby in its place). The value names the declaration.
   */
  retired: `${GROUP}/retired`,
  rekey: `${GROUP}/rekey`,
  promoted: `${GROUP}/promoted`,
  /**
   * On a node key Secret marked `rekey`: the machines (Node names, comma-separated) its lost pod ran
   * on. The new pod is kept off them: a machine lost for good may still look Ready for the node
   * monitor's grace period, and a pod scheduled there would never start.
   */
  avoidMachines: `${GROUP}/avoid-machines`,
  /**
   * On a DisasterDeclaration: "true" closes a Failed (or Recovered) declaration as Resolved once
   * people have dealt with it; an automatic declaration is never made while one is unresolved.
   */
  resolve: `${GROUP}/resolve`,
  /** On a node key Secret: the recovery agent's transfer that funds the node's stake (`<nonce>:<event id>`). */
  funded: `${GROUP}/funded`,
  /** Ask for an immediate reconcile (any new value), like `kubectl annotate ... --overwrite`. */
  reconcileRequest: `${GROUP}/reconcile-request`,
} as const

/**
 * Finalizers: only where cleanup outside Kubernetes' garbage collection is needed (DESIGN §6).
 * Everything else is cleaned up through ownerReferences.
 */
export const Finalizers = {
  /**
   * On witness key Secrets: removed only after no pod with that key runs and its signing record
   * is kept, so a key can never sign from two pods or be lost while its node still runs.
   */
  witnessKey: `${GROUP}/witness-key-protection`,
} as const

/** Server-side apply field manager of the operator (DESIGN §6). */
export const FIELD_MANAGER = 'echonet-operator'

/** Labels every object of a network carries (and that its selectors match). */
export function networkLabels(network: string, role?: NodeRoleLabel): Record<string, string> {
  const l: Record<string, string> = {
    [Labels.name]: LabelValues.name,
    [Labels.instance]: network,
    [Labels.partOf]: LabelValues.partOf,
    [Labels.managedBy]: LabelValues.managedBy,
    [Labels.network]: network,
  }
  if (role !== undefined) {
    l[Labels.role] = role
    l[Labels.component] = role
  }
  return l
}

/** The label selector string of a WitnessPool's pods (`status.selector`, for the scale subresource). */
export function poolSelector(network: string, pool: string): string {
  return `${Labels.network}=${network},${Labels.pool}=${pool}`
}
