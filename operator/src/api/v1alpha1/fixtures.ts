/**
 * Test fixtures of the `echonet.io/v1alpha1` API, shared by the unit tests (which run them through
 * `validate.ts`) and the cluster tests (which send them to a real API server with kubectl): the
 * same object must be accepted by both, or refused by both with the same message.
 */
import { DID_MESSAGE } from './schema.ts'
import type { DisasterDeclarationInput, EchoNetNetworkInput, WitnessPoolInput } from './types.ts'

/** Real did:key values (Ed25519 public keys, multicodec 0xed01, base58btc). */
export const COUNCIL_DIDS = [
  'did:key:z6Mkm1kQ6NTLoWNZAPPCPZY1AKyE6iH2wTNwCk9BdJ1cyA2R',
  'did:key:z6MkoiFFmA5J9i7vQTasKj8RBaLLzXfooHPMkkbBD7fRNK23',
  'did:key:z6MknjPemXP4DGkNfoNkztxVSSgCZTb6ndU75e9L5T1KKzfn',
] as const
export const OTHER_DIDS = [
  'did:key:z6MkjdpQDV3sU5qRX3h6JysKmwYE9k1qQSkUFNSyYRcddqX9',
  'did:key:z6Mkrw1V2n1gJQmc6RRR21tdjSj3RwwZftq1BRCvAARzyhme',
  'did:key:z6MkoBzuHyjtWqNtaXkTXCAzAkL9h71su5DJ5r7ji7addQ7m',
] as const

/** 64 bytes of base64 (an Ed25519 signature's size); the API only checks the encoding. */
export const FAKE_SIGNATURE = Buffer.alloc(64, 7).toString('base64')

export function validNetwork(name = 'testnet'): EchoNetNetworkInput {
  return {
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'EchoNetNetwork',
    metadata: { name },
    spec: {
      networkId: 'echonet-testnet',
      genesis: {
        council: { members: [...COUNCIL_DIDS], threshold: 2 },
        params: { committeeSize: 4 },
        accounts: [{ did: OTHER_DIDS[0], balance: 1_000_000_000 }],
      },
      seeds: { replicas: 3 },
      storage: { replicas: 6, erasure: { k: 4, m: 2 }, volume: { size: '1Gi' } },
      checkpointInterval: 50,
      recovery: { autoDeclare: true, quorumLossSeconds: 10 },
    },
  }
}

export function validPool(name = 'witnesses', network = 'testnet'): WitnessPoolInput {
  return {
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'WitnessPool',
    metadata: { name },
    spec: { networkRef: { name: network }, replicas: 4, mode: 'Active', stake: 1000 },
  }
}

export function validDeclaration(name = 'witness-loss', network = 'testnet'): DisasterDeclarationInput {
  return {
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'DisasterDeclaration',
    metadata: { name },
    spec: {
      networkRef: { name: network },
      scenario: 'WitnessLoss',
      summary: 'five of seven witnesses lost',
      actions: [
        { type: 'PausePoSRSlashing' },
        { type: 'PromoteStandbys', promoteStandbys: { count: 2 } },
        { type: 'CoordinatedRestart', coordinatedRestart: {} },
      ],
      nonce: 1,
      councilSignatures: [
        { did: COUNCIL_DIDS[0], signature: FAKE_SIGNATURE },
        { did: COUNCIL_DIDS[1], signature: FAKE_SIGNATURE },
      ],
    },
  }
}

/** A JSON merge patch (RFC 7386), as `kubectl patch --type=merge` sends. */
export type MergePatch = Record<string, unknown>

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k)
    else out[k] = applyMergePatch(out[k], v)
  }
  return out
}

export interface StatusStep {
  /** Merge patch sent to the `status` subresource before the update under test. */
  readonly status: MergePatch
}

/** An object (or an update of one) that the API must refuse, and the message it must give. */
export interface InvalidCase {
  readonly name: string
  /** The object to create; for an update, the stored object. */
  readonly object: Record<string, unknown>
  /** Status patches applied (through /status) after creating `object`. */
  readonly statusSteps?: readonly StatusStep[]
  /** For an update: a merge patch of the object that must be refused (status patch if `subresource`). */
  readonly update?: { readonly patch: MergePatch; readonly subresource?: 'status' }
  /** Substring of the error message (both `validate.ts` and the API server). */
  readonly message: string
}

const net = (patch: MergePatch, name = 'bad-net'): Record<string, unknown> =>
  applyMergePatch(validNetwork(name), patch) as Record<string, unknown>
const pool = (patch: MergePatch, name = 'bad-pool'): Record<string, unknown> =>
  applyMergePatch(validPool(name), patch) as Record<string, unknown>
const decl = (patch: MergePatch, name = 'bad-decl'): Record<string, unknown> =>
  applyMergePatch(validDeclaration(name), patch) as Record<string, unknown>

export const INVALID_CASES: readonly InvalidCase[] = [
  {
    name: 'erasure k = 0',
    object: net({ spec: { storage: { erasure: { k: 0 } } } }),
    message: 'erasure k (data shards) must be at least 1',
  },
  {
    name: 'erasure m = 0',
    object: net({ spec: { storage: { erasure: { m: 0 } } } }),
    message: 'erasure m (parity shards) must be at least 1',
  },
  {
    name: 'erasure k + m > 256',
    object: net({ spec: { storage: { replicas: 0, erasure: { k: 200, m: 100 } } } }),
    message: 'erasure k + m must be at most 256',
  },
  {
    name: 'fewer SSNs than k + m',
    object: net({ spec: { storage: { replicas: 5 } } }),
    message: 'storage.replicas must be 0 or at least erasure k + m',
  },
  {
    name: 'council threshold > council size',
    object: net({ spec: { genesis: { council: { threshold: 4 } } } }),
    message: 'council threshold must not exceed the number of council members',
  },
  {
    name: 'council threshold 0',
    object: net({ spec: { genesis: { council: { threshold: 0 } } } }),
    message: 'council threshold must be at least 1',
  },
  {
    name: 'malformed council DID',
    object: net({
      spec: { genesis: { council: { members: [COUNCIL_DIDS[0], COUNCIL_DIDS[1], 'did:key:z6MkO0Il'] } } },
    }),
    message: DID_MESSAGE,
  },
  {
    name: 'unknown field',
    object: net({ spec: { bogus: true } }),
    message: 'unknown field "spec.bogus"',
  },
  {
    name: 'neither genesis nor genesisRef',
    object: net({ spec: { genesis: null } }),
    message: 'exactly one of genesis or genesisRef must be set',
  },
  {
    name: 'both genesis and genesisRef',
    object: net({ spec: { genesisRef: { name: 'genesis' } } }),
    message: 'exactly one of genesis or genesisRef must be set',
  },
  {
    name: 'standing policy without agent key',
    object: net({
      spec: {
        recovery: {
          standingPolicy: {
            payload: FAKE_SIGNATURE,
            signatures: [
              { did: COUNCIL_DIDS[0], signature: FAKE_SIGNATURE },
              { did: COUNCIL_DIDS[1], signature: FAKE_SIGNATURE },
            ],
          },
        },
      },
    }),
    message: 'recovery.standingPolicy needs agentKeySecretRef',
  },
  {
    name: 'standing policy signed by a non-member',
    object: net({
      spec: {
        recovery: {
          agentKeySecretRef: { name: 'agent' },
          standingPolicy: {
            payload: FAKE_SIGNATURE,
            signatures: [
              { did: COUNCIL_DIDS[0], signature: FAKE_SIGNATURE },
              { did: OTHER_DIDS[1], signature: FAKE_SIGNATURE },
            ],
          },
        },
      },
    }),
    message: 'every recovery.standingPolicy signature must come from a council member',
  },
  {
    name: 'networkId changed',
    object: net({}, 'immutable-net'),
    update: { patch: { spec: { networkId: 'another-chain' } } },
    message: 'networkId is immutable',
  },
  {
    name: 'genesis changed',
    object: net({}, 'immutable-genesis'),
    update: { patch: { spec: { genesis: { council: { threshold: 3 } } } } },
    message: 'genesis is immutable',
  },
  {
    name: 'negative pool replicas',
    object: pool({ spec: { replicas: -1 } }),
    message: 'replicas must be 0 or more',
  },
  {
    name: 'pool mode not Active/Standby',
    object: pool({ spec: { mode: 'Passive' } }),
    message: 'Unsupported value: "Passive"',
  },
  {
    name: 'pool networkRef changed',
    object: pool({}, 'moving-pool'),
    update: { patch: { spec: { networkRef: { name: 'other' } } } },
    message: 'networkRef is immutable',
  },
  {
    name: 'StateEdit outside CriticalFlaw',
    object: decl({
      spec: {
        actions: [
          { type: 'CoordinatedRestart' },
          {
            type: 'StateEdit',
            stateEdit: {
              height: 10,
              edits: [{ op: 'delete', key: 'accounts/a' }],
              resultingStateRoot: 'ab'.repeat(32),
            },
          },
        ],
      },
    }),
    message: 'StateEdit is allowed only for scenario CriticalFlaw',
  },
  {
    name: 'StateEdit without CoordinatedRestart',
    object: decl({
      spec: {
        scenario: 'CriticalFlaw',
        actions: [
          {
            type: 'StateEdit',
            stateEdit: {
              height: 10,
              edits: [{ op: 'delete', key: 'accounts/a' }],
              resultingStateRoot: 'ab'.repeat(32),
            },
          },
        ],
      },
    }),
    message: 'StateEdit is applied by a coordinated restart',
  },
  {
    name: 'ScheduledUpgrade without its fields',
    object: decl({ spec: { scenario: 'CriticalFlaw', actions: [{ type: 'ScheduledUpgrade' }] } }),
    message: 'scheduledUpgrade must be set when type is ScheduledUpgrade, and only then',
  },
  {
    name: 'member of another action type',
    object: decl({
      spec: { actions: [{ type: 'CoordinatedRestart', promoteStandbys: { count: 1 } }] },
    }),
    message: 'promoteStandbys may be set only when type is PromoteStandbys',
  },
  {
    name: 'SetParameters without parameters',
    object: decl({
      spec: {
        scenario: 'NetworkAttack',
        actions: [{ type: 'SetParameters', setParameters: { parameters: {}, durationSeconds: 600 } }],
      },
    }),
    message: 'setParameters.parameters must set at least one parameter',
  },
  {
    name: 'standing policy authorizing Compensate',
    object: decl({
      spec: {
        scenario: 'CriticalFlaw',
        councilSignatures: null,
        standingPolicy: { agentDid: OTHER_DIDS[2], signature: FAKE_SIGNATURE },
        actions: [{ type: 'Compensate', compensate: { transfers: [{ to: OTHER_DIDS[0], amount: 10 }] } }],
      },
    }),
    message: 'a standing recovery policy can only authorize',
  },
  {
    name: 'malformed blocklist DID',
    object: decl({
      spec: {
        scenario: 'NetworkAttack',
        actions: [{ type: 'Blocklist', blocklist: { dids: ['did:web:example.com'] } }],
      },
    }),
    message: DID_MESSAGE,
  },
  {
    name: 'declaration spec changed after Authorized',
    object: decl({}, 'authorized-decl'),
    statusSteps: [{ status: { status: { phase: 'Pending' } } }, { status: { status: { phase: 'Authorized' } } }],
    update: { patch: { spec: { dryRun: true } } },
    message: 'spec is immutable once the declaration is Authorized',
  },
  {
    name: 'declaration phase skips ahead',
    object: decl({}, 'skipping-decl'),
    statusSteps: [{ status: { status: { phase: 'Pending' } } }],
    update: { patch: { status: { phase: 'Recovered' } }, subresource: 'status' },
    message: 'phase cannot change from Pending to Recovered',
  },
  {
    name: 'declaration scenario changed',
    object: decl({}, 'rescoped-decl'),
    update: { patch: { spec: { scenario: 'NetworkAttack' } } },
    message: 'scenario is immutable',
  },
]
