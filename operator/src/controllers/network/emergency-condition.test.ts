import { describe, expect, it } from 'vitest'
import type { AdminStatus, EmergencySummary } from '@echonet/node/admin'
import { emergencyCondition } from './emergency-condition.ts'

const status = (emergency?: EmergencySummary): AdminStatus =>
  ({
    governance: {
      council: { members: [], threshold: 1 },
      standbys: [],
      committeeSize: 4,
      eventFee: 1,
      ...(emergency ? { emergency } : {}),
    },
  }) as unknown as AdminStatus

describe('EmergencyInForce', () => {
  it('names a council halt first, then paused modules with their expiry, a scheduled upgrade and a declared scenario', () => {
    const c = emergencyCondition(
      status({
        halted: { sinceHeight: 40, reason: 'flaw in payouts' },
        pauses: [{ module: 'payouts', sinceHeight: 30, untilMs: Date.parse('2026-12-07T13:00:00Z') }],
        upgradePlan: {
          name: 'upgrade-0.2.0',
          height: 500,
          binaryDigest: `sha256:${'a'.repeat(64)}`,
          minVersion: '0.2.0',
          setAtHeight: 31,
        },
        declared: { scenario: 'CriticalFlaw', sinceHeight: 30 },
      }),
    )
    expect(c).toMatchObject({ status: 'True', reason: 'LedgerHalted' })
    expect(c.message).toContain('ledger halted by the council at height 40 (flaw in payouts)')
    expect(c.message).toContain('module payouts paused until 2026-12-07T13:00:00Z')
    expect(c.message).toContain('upgrade upgrade-0.2.0 at height 500 (echonet-node ≥ 0.2.0)')
    expect(c.message).toContain('CriticalFlaw declared at height 30')
  })

  it('is False with nothing in force, and Unknown when no witness answers', () => {
    expect(emergencyCondition(status({ pauses: [] }))).toMatchObject({ status: 'False', reason: 'None' })
    expect(emergencyCondition(undefined)).toMatchObject({ status: 'Unknown' })
    expect(emergencyCondition(status({ pauses: [{ module: 'ads', sinceHeight: 1, untilHeight: 9 }] }))).toMatchObject({
      status: 'True',
      reason: 'ModulesPaused',
    })
  })
})
