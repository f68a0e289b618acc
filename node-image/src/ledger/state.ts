import type { Did } from '../crypto/did.ts'
import type { EmergencyScenario, ModuleName } from './governance-payloads.ts'
import type { ParamName, Params } from './params.ts'

/**
 * State keys (namespace before the first '/') and the value shapes stored under them. Values are
 * immutable: a module writes a new object, never mutates one it read.
 */
export const KEYS = {
  meta: 'sys/meta',
  treasury: 'sys/treasury',
  lastPayout: 'sys/last-payout',
  council: 'gov/council',
  params: 'gov/params',
  overrides: 'gov/param-overrides',
  pauses: 'gov/pauses',
  emergency: 'gov/emergency',
  upgrade: 'gov/upgrade',
  /** The last upgrade whose flag height was reached: the protocol rules in force. */
  protocol: 'gov/protocol',
  /** Signed payloads behind the emergency records in force (served publicly for anyone to check). */
  authorizations: 'gov/authorizations',
  recoveryPolicy: 'gov/recovery-policy',
  account: (did: string) => `acct/${did}`,
  stake: (did: string) => `stake/${did}`,
  reputation: (did: string) => `rep/${did}`,
  content: (cid: string) => `content/${cid}`,
  bodyHash: (hex: string) => `bodyhash/${hex}`,
  poe: (did: string) => `poe/${did}`,
  ad: (escrowId: string) => `ad/${escrowId}`,
  posr: (ssn: string) => `posr/${ssn}`,
  councilNonce: (nonce: number) => `gnonce/${nonce}`,
  declarationNonce: (nonce: number) => `dnonce/${nonce}`,
  /** A creator's used publish-authorization nonce, kept until the authorization expires. */
  publishNonce: (creator: string, nonce: number) => `pnonce/${creator}/${nonce}`,
} as const

export const NS = {
  account: 'acct',
  stake: 'stake',
  reputation: 'rep',
  content: 'content',
  bodyHash: 'bodyhash',
  poe: 'poe',
  ad: 'ad',
  posr: 'posr',
  councilNonce: 'gnonce',
  declarationNonce: 'dnonce',
  publishNonce: 'pnonce',
} as const

/** Suffix of a key after its namespace (e.g. the DID of `acct/<did>`). */
export function keySuffix(key: string): string {
  return key.slice(key.indexOf('/') + 1)
}

export interface Meta {
  readonly chainId: string
  readonly genesisHash: string
  readonly height: number
  readonly epoch: number
  readonly timeMs: number
}

export interface Treasury {
  readonly balance: number
}

export interface Account {
  readonly balance: number
  /** Last applied nonce: the next event of this sender must carry nonce + 1. */
  readonly nonce: number
  /** Height at which the account first appeared (0 = genesis); drives "new DID" weighting. */
  readonly createdAt: number
}

export type StakeRole = 'witness' | 'standby' | 'ssn'
export const STAKE_ROLES: readonly StakeRole[] = ['witness', 'standby', 'ssn']

export interface Suspension {
  readonly sinceHeight: number
  readonly reason: string
}

export interface StakeRecord {
  readonly role: StakeRole
  readonly bonded: number
  /** Stake on its way out: still slashable, withdrawable from releaseHeight. */
  readonly unbonding: number
  readonly releaseHeight: number
  readonly slashed: number
  readonly suspended?: Suspension
}

export interface Reputation {
  /** 0..10_000 bps. DIDs without a record have full reputation (10_000). */
  readonly score: number
}

export interface ContentRecord {
  readonly bodyHash: string
  readonly size: number
  readonly k: number
  readonly m: number
  readonly creator: Did
  readonly height: number
}

export interface BodyHashIndex {
  readonly cid: string
}

export interface PoeScore {
  readonly score: number
}

export interface AdEscrow {
  readonly advertiser: Did
  readonly cid: string
  readonly creator: Did
  readonly attester: Did
  readonly pricePerImpression: number
  readonly remaining: number
  readonly released: number
  readonly impressions: number
  readonly openedAt: number
}

export type PosrOutcome = 'pass' | 'wrong-data' | 'unreachable'

export interface PosrLast {
  readonly height: number
  readonly challengeHeight: number
  readonly witness: Did
  readonly cid: string
  readonly shard: number
  readonly segment: number
  readonly outcome: PosrOutcome
  /** Amount slashed by this result (0 when none). */
  readonly slashed: number
  /** Why a due slash was not applied. */
  readonly skipped?: 'storage-incident' | 'halted'
}

export interface PosrRecord {
  readonly passes: number
  readonly wrongData: number
  readonly unreachable: number
  readonly slashedTotal: number
  readonly skippedSlashes: number
  readonly lastChallengeHeight: number
  readonly last: PosrLast
}

export interface CouncilState {
  readonly members: Did[]
  readonly threshold: number
}

/**
 * Which signed payload put a record in force: `c<nonce>` a council action, `d<nonce>` a disaster
 * declaration (a key of KEYS.authorizations while the record holds).
 */
export type AuthorizationRef = string

export interface ParamOverride {
  readonly value: number
  readonly expiresAtMs: number
  readonly setAtHeight: number
  readonly authorizedBy?: AuthorizationRef
}

export type ParamOverrides = Readonly<Partial<Record<ParamName, ParamOverride>>>

export interface PauseRecord {
  readonly untilMs?: number
  readonly untilHeight?: number
  readonly reason?: string
  readonly sinceHeight: number
  readonly authorizedBy?: AuthorizationRef
}

export type Pauses = Readonly<Partial<Record<ModuleName, PauseRecord>>>

export interface EmergencyState {
  readonly declared?: {
    readonly scenario: EmergencyScenario
    readonly reason?: string
    readonly sinceMs: number
    readonly sinceHeight: number
    /** A declaration's emergency lapses with it (a council action's lasts until resolved). */
    readonly untilMs?: number
    readonly authorizedBy?: AuthorizationRef
  }
  readonly halted?: { readonly reason?: string; readonly sinceHeight: number; readonly authorizedBy?: AuthorizationRef }
  /** No node executes block `height` or later (a council `stop-at`); a restart continues the chain. */
  readonly stopAt?: {
    readonly height: number
    readonly reason?: string
    readonly sinceHeight: number
    readonly authorizedBy?: AuthorizationRef
  }
  readonly storageIncident?: {
    readonly reason?: string
    readonly sinceHeight: number
    /** Set when a declaration declared it: it lapses with the declaration (or its duration). */
    readonly untilMs?: number
    readonly authorizedBy?: AuthorizationRef
  }
}

export interface UpgradePlan {
  readonly name: string
  readonly height: number
  readonly binaryDigest: string
  readonly minVersion: string
  readonly setAtHeight: number
  readonly authorizedBy?: AuthorizationRef
}

/** The rules in force: the last upgrade plan whose height was reached (absent: genesis rules). */
export interface ProtocolRecord {
  readonly name: string
  readonly version: string
  readonly binaryDigest: string
  readonly sinceHeight: number
}

/** A signed payload kept while a record it authorized is in force. */
export interface AuthorizationRecord {
  readonly kind: 'council-action' | 'declaration'
  readonly height: number
  /** The CouncilAction or DeclarationPayload exactly as signed. */
  readonly payload: unknown
  readonly signatures: readonly { readonly did: Did; readonly sig: Uint8Array }[]
}

export type Authorizations = Readonly<Record<AuthorizationRef, AuthorizationRecord>>

export interface RecoveryPolicyRecord {
  readonly agent: Did
  readonly quorumLossSeconds: number
  readonly maxPromotions: number
  readonly standbys: Did[]
  readonly expiresAtMs: number
  readonly nonce: number
  readonly setAtHeight: number
}

export interface LastPayout {
  readonly height: number
  readonly pool: number
  readonly paid: number
  readonly recipients: number
  readonly totalScore: number
}

/** A used publish-authorization nonce (KEYS.publishNonce), dropped once the authorization expired. */
export interface PublishNonce {
  readonly expiresAtMs: number
}

export interface CouncilNonce {
  readonly expiresAtMs: number
}

export type { Params }
