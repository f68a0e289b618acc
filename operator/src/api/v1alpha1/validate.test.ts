import { describe, expect, it } from 'vitest'
import {
  INVALID_CASES,
  applyMergePatch,
  validDeclaration,
  validNetwork,
  validPool,
  type InvalidCase,
} from './fixtures.ts'
import {
  collectRules,
  compileCel,
  formatErrors,
  isDisasterDeclaration,
  isEchoNetNetwork,
  isWitnessPool,
  validateDisasterDeclaration,
  validateEchoNetNetwork,
  validateResource,
  validateWitnessPool,
} from './validate.ts'
import { CRDS } from './crds.ts'

/** The stored object and the new one of a case, as the API server would see them. */
function caseObjects(c: InvalidCase): { next: unknown; old?: unknown } {
  let stored: unknown = c.object
  for (const s of c.statusSteps ?? []) stored = applyMergePatch(stored, s.status)
  if (c.update === undefined) return { next: stored }
  return { next: applyMergePatch(stored, c.update.patch), old: stored }
}

describe('validate: valid objects', () => {
  it('accepts a network and fills in the defaults the API server would', () => {
    const r = validateEchoNetNetwork(validNetwork())
    if (!r.ok) throw new Error(formatErrors(r.errors))
    expect(r.value.spec.paused).toBe(false)
    expect(r.value.spec.recovery.quorumLossSeconds).toBe(10)
    expect(r.value.spec.storage.volume).toEqual({ size: '1Gi' })
    expect(r.value.spec.seeds.volume.size).toBe('1Gi')
    expect(r.value.spec.adminTokenSecretRef).toBeUndefined()
    // the input is not mutated
    expect(validNetwork().spec.paused).toBeUndefined()
  })

  it('defaults a minimal network like the API server (nested defaults of defaulted objects)', () => {
    const r = validateEchoNetNetwork({
      apiVersion: 'echonet.io/v1alpha1',
      kind: 'EchoNetNetwork',
      metadata: { name: 'min' },
      spec: { networkId: 'min', genesisRef: { name: 'genesis' } },
    })
    if (!r.ok) throw new Error(formatErrors(r.errors))
    expect(r.value.spec.storage).toEqual({ replicas: 6, erasure: { k: 4, m: 2 }, volume: { size: '10Gi' } })
    expect(r.value.spec.genesisRef).toEqual({ name: 'genesis', key: 'genesis.json' })
    expect(r.value.spec.recovery).toEqual({ autoDeclare: false, quorumLossSeconds: 15, storageIncidentSeconds: 900 })
    expect(r.value.spec.checkpointInterval).toBe(100)
  })

  it('accepts a pool and a declaration', () => {
    const p = validateWitnessPool(validPool())
    expect(p.ok && p.value.spec.promotionPriority).toBe(0)
    const d = validateDisasterDeclaration(validDeclaration())
    if (!d.ok) throw new Error(formatErrors(d.errors))
    expect(d.value.spec.dryRun).toBe(false)
    expect(d.value.spec.actions[2]).toEqual({ type: 'CoordinatedRestart', coordinatedRestart: { timeoutSeconds: 300 } })
  })

  it('prunes null like the API server (null then default)', () => {
    const n = applyMergePatch(validNetwork(), {}) as Record<string, Record<string, unknown>>
    n.spec!.paused = null
    const r = validateEchoNetNetwork(n)
    expect(r.ok && r.value.spec.paused).toBe(false)
  })

  it('accepts every action type in a scenario that allows it', () => {
    const d = applyMergePatch(validDeclaration('all'), {
      spec: {
        scenario: 'CriticalFlaw',
        actions: [
          { type: 'PauseModules', pauseModules: { modules: ['payouts', 'ads'], durationSeconds: 3600 } },
          {
            type: 'ScheduledUpgrade',
            scheduledUpgrade: {
              image: 'echonet/node:1.0.1',
              height: 1200,
              binaryDigest: `sha256:${'a'.repeat(64)}`,
              minVersion: '1.0.1',
            },
          },
          {
            type: 'Compensate',
            compensate: {
              transfers: [{ to: 'did:key:z6MkjdpQDV3sU5qRX3h6JysKmwYE9k1qQSkUFNSyYRcddqX9', amount: 5 }],
            },
          },
          { type: 'CoordinatedRestart', coordinatedRestart: { height: 1100 } },
          {
            type: 'StateEdit',
            stateEdit: {
              height: 1100,
              edits: [{ op: 'put', key: 'payouts/pool', value: 'AAEC' }],
              resultingStateRoot: '0f'.repeat(32),
            },
          },
          { type: 'SetParameters', setParameters: { parameters: { feeMultiplierBps: 30_000 }, durationSeconds: 600 } },
          { type: 'RateLimits', rateLimits: { perIp: { ratePerSecond: 10, burst: 20 } } },
          { type: 'Blocklist', blocklist: { cidrs: ['203.0.113.0/24'] } },
          { type: 'PausePoSRSlashing' },
          { type: 'RebootstrapDHT' },
        ],
      },
    })
    const r = validateDisasterDeclaration(d)
    if (!r.ok) throw new Error(formatErrors(r.errors))
    const storage = applyMergePatch(validDeclaration('storage'), {
      spec: {
        scenario: 'DataUnavailability',
        actions: [
          { type: 'PausePoSRSlashing' },
          { type: 'RebootstrapDHT' },
          { type: 'ReplaceFailedSSNs' },
          { type: 'RepairPriority' },
          { type: 'AcceptCommunityShards' },
        ],
      },
    })
    const s = validateDisasterDeclaration(storage)
    if (!s.ok) throw new Error(formatErrors(s.errors))
    expect(s.value.spec.actions[3]).toEqual({ type: 'RepairPriority' })
  })

  it('allows spec changes while Pending and legal phase transitions', () => {
    const pending = applyMergePatch(validDeclaration(), { status: { phase: 'Pending' } })
    const signed = applyMergePatch(pending, { spec: { dryRun: true } })
    expect(validateDisasterDeclaration(signed, { old: pending }).ok).toBe(true)
    const authorized = applyMergePatch(pending, { status: { phase: 'Authorized' } })
    expect(validateDisasterDeclaration(authorized, { old: pending }).ok).toBe(true)
    const resolved = applyMergePatch(authorized, { status: { phase: 'Resolved' } })
    expect(validateDisasterDeclaration(resolved, { old: authorized }).ok).toBe(true)
  })
})

describe('validate: refused objects (same cases as the API server test)', () => {
  it.each(INVALID_CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { next, old } = caseObjects(c)
    const r = validateResource(next, { old })
    expect(r.ok).toBe(false)
    if (!r.ok) expect(formatErrors(r.errors)).toContain(c.message)
    // and the same object is fine without the update (the case is about the update only)
    if (old !== undefined) expect(validateResource(old).ok).toBe(true)
  })

  it('reports structural errors with the field path', () => {
    const r = validateEchoNetNetwork({
      apiVersion: 'v1',
      kind: 'EchoNetNetwork',
      metadata: {},
      spec: { networkId: 'X' },
    })
    expect(r.ok).toBe(false)
    const text = r.ok ? '' : formatErrors(r.errors)
    expect(text).toContain('apiVersion: must be "echonet.io/v1alpha1"')
    expect(text).toContain("spec.networkId: should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'")
    const typed = validateEchoNetNetwork(
      applyMergePatch(validNetwork(), { spec: { storage: { erasure: { k: 'four' } } } }),
    )
    expect(typed.ok ? '' : formatErrors(typed.errors)).toBe('spec.storage.erasure.k: must be an integer, got string')
    expect(validateResource({ kind: 'Pod' }).ok).toBe(false)
    expect(validateResource('nope').ok).toBe(false)
  })

  it('refuses duplicates in set and map lists', () => {
    const dup = applyMergePatch(validNetwork(), {
      spec: {
        genesis: {
          council: {
            members: [
              'did:key:z6Mkm1kQ6NTLoWNZAPPCPZY1AKyE6iH2wTNwCk9BdJ1cyA2R',
              'did:key:z6Mkm1kQ6NTLoWNZAPPCPZY1AKyE6iH2wTNwCk9BdJ1cyA2R',
            ],
            threshold: 1,
          },
        },
      },
    })
    const r = validateEchoNetNetwork(dup)
    expect(r.ok ? '' : formatErrors(r.errors)).toContain('spec.genesis.council.members[1]: Duplicate value')
  })

  it('refuses bad formats (base64, date-time, quantity, int32)', () => {
    const d = applyMergePatch(validDeclaration(), {
      spec: {
        expiresAt: 'tomorrow',
        councilSignatures: [{ did: 'did:key:z6Mkm1kQ6NTLoWNZAPPCPZY1AKyE6iH2wTNwCk9BdJ1cyA2R', signature: '***' }],
      },
    })
    const r = validateDisasterDeclaration(d)
    const text = r.ok ? '' : formatErrors(r.errors)
    expect(text).toContain('spec.expiresAt: must be an RFC 3339 date-time')
    expect(text).toContain("spec.councilSignatures[0].signature: should match '^[A-Za-z0-9+/]*={0,2}$'")
    const n = applyMergePatch(validNetwork(), {
      spec: { storage: { volume: { size: '10 gigs' } }, seeds: { replicas: 2 ** 31 } },
    })
    const nt = validateEchoNetNetwork(n)
    const ntext = nt.ok ? '' : formatErrors(nt.errors)
    expect(ntext).toContain('spec.storage.volume.size: must match')
    expect(ntext).toContain('spec.seeds.replicas: must fit in 32 bits')
  })
})

describe('type guards (objects read from the API server)', () => {
  it('accept defaulted objects and refuse undefaulted or invalid ones', () => {
    const n = validateEchoNetNetwork(validNetwork())
    expect(n.ok && isEchoNetNetwork(n.value)).toBe(true)
    expect(isEchoNetNetwork(validNetwork())).toBe(false) // missing defaulted fields: not as read from the API
    const p = validateWitnessPool(validPool())
    expect(p.ok && isWitnessPool(p.value)).toBe(true)
    expect(isWitnessPool(n.ok ? n.value : undefined)).toBe(false)
    const d = validateDisasterDeclaration(validDeclaration())
    expect(d.ok && isDisasterDeclaration(d.value)).toBe(true)
    expect(isDisasterDeclaration(null)).toBe(false)
  })

  it('narrows the type', () => {
    const read: unknown = (() => {
      const r = validateWitnessPool(validPool())
      return r.ok ? r.value : undefined
    })()
    if (!isWitnessPool(read)) throw new Error('expected a WitnessPool')
    const mode: 'Active' | 'Standby' = read.spec.mode
    expect(mode).toBe('Active')
  })
})

describe('CEL rules', () => {
  it('every rule and message expression compiles in the JavaScript CEL evaluator', () => {
    let n = 0
    for (const crd of CRDS) {
      for (const { path, rule } of collectRules(crd.schema)) {
        expect(() => compileCel(rule.rule), `${crd.kind} ${path}: ${rule.rule}`).not.toThrow()
        if (rule.messageExpression !== undefined) compileCel(rule.messageExpression)
        expect(rule.message ?? rule.messageExpression, `${crd.kind} ${path} has a message`).toBeTruthy()
        n++
      }
    }
    expect(n).toBeGreaterThan(30)
  })
})
