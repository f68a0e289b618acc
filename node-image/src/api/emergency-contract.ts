/**
 * The ledger-backed emergency state (`GET /v1/emergency`, public): what the council has put in
 * force — a declared scenario, a halt, module pauses, parameter overrides, an upgrade plan — each
 * naming the signed payload that authorized it, served with the council's signatures and the
 * exact bytes they signed. Anyone can check an announcement against the council (seed §4:
 * communication channels that resist spoofing) without trusting the node that serves it: verify
 * each Ed25519 signature over `signedBytes` with the key in the signer's did:key, and count the
 * signers that are members of `council`. Plain data; no node internals.
 */

export interface EmergencyRecordView {
  readonly sinceHeight: number
  readonly reason?: string
  /** Key of `authorizations`. */
  readonly authorizedBy?: string
}

export interface PauseView extends EmergencyRecordView {
  readonly module: string
  readonly untilMs?: number
  readonly untilHeight?: number
}

export interface UpgradePlanView {
  readonly name: string
  readonly height: number
  readonly binaryDigest: string
  readonly minVersion: string
  readonly setAtHeight: number
  readonly authorizedBy?: string
}

export interface ProtocolView {
  readonly name: string
  readonly version: string
  readonly binaryDigest: string
  readonly sinceHeight: number
}

export interface AuthorizationView {
  readonly kind: 'council-action' | 'declaration'
  /** Height of the block that applied it. */
  readonly height: number
  /** The CouncilAction or DeclarationPayload as signed (JSON). */
  readonly payload: unknown
  /** Base64 of the exact bytes every signature is over (domain tag + DAG-CBOR payload). */
  readonly signedBytes: string
  readonly signatures: readonly { readonly did: string; readonly sig: string }[]
}

/** The emergency part of a node's status (the operator's view; no signatures). */
export interface EmergencySummary {
  readonly declared?: EmergencyRecordView & { readonly scenario: string; readonly untilMs?: number }
  readonly halted?: EmergencyRecordView
  /** No node executes block `height` or later; a restart manifest continues the chain. */
  readonly stopAt?: EmergencyRecordView & { readonly height: number }
  readonly storageIncident?: EmergencyRecordView
  readonly pauses: readonly PauseView[]
  readonly upgradePlan?: UpgradePlanView
  readonly protocol?: ProtocolView
}

export interface EmergencyView extends EmergencySummary {
  readonly chainId: string
  /** The finalized height and state root this view was read at. */
  readonly height: number
  readonly stateRoot: string
  readonly council: { readonly members: readonly string[]; readonly threshold: number }
  readonly paramOverrides: readonly {
    readonly name: string
    readonly value: number
    readonly expiresAtMs: number
    readonly setAtHeight: number
    readonly authorizedBy?: string
  }[]
  readonly authorizations: Readonly<Record<string, AuthorizationView>>
}
