import { describe, expect, it } from 'vitest'
import type { AdminStatus } from '@echonet/node/admin'
import { FakeNodeAdmin } from '../shared/fake-node-admin.ts'
import { execute } from './effects.ts'
import type { EffectContext } from './effects.ts'

/** The community-shard window's effects through the NodeAdmin (a fake standing in for the nodes). */
function ctx(admin: FakeNodeAdmin, token: string | undefined): EffectContext {
  return {
    admin,
    token,
    signal: new AbortController().signal,
    expectBlocks: [],
  } as unknown as EffectContext
}

const window = { expiresAtMs: Date.now() + 60_000, perIpPerMinute: 5, totalPerMinute: 50, reason: 'test' }

describe('community-shard window effects', () => {
  it('opens and closes the window on a node and hands back what it reports', async () => {
    const admin = new FakeNodeAdmin()
    admin.statuses.set('10.0.0.3', {} as AdminStatus)
    const open = await execute(
      { kind: 'openShardIntake', node: 'ssn-3', ip: '10.0.0.3', window },
      ctx(admin, 't'),
      undefined,
    )
    expect(open).toMatchObject({ ok: true, value: { open: true, window: { expiresAtMs: window.expiresAtMs } } })
    const closed = await execute(
      { kind: 'closeShardIntake', node: 'ssn-3', ip: '10.0.0.3' },
      ctx(admin, 't'),
      undefined,
    )
    expect(closed).toMatchObject({ ok: true, value: { open: false } })
    expect(admin.calls).toEqual([
      { op: 'openShardIntake', ip: '10.0.0.3', req: window },
      { op: 'closeShardIntake', ip: '10.0.0.3' },
    ])
  })

  it("a node's refusal, an unreachable node and a missing token come back as codes, not throws", async () => {
    const admin = new FakeNodeAdmin()
    admin.statuses.set('10.0.0.3', {} as AdminStatus)
    admin.intakeRefusals.set('10.0.0.3', 'INVALID_SHARD_INTAKE')
    const e = { kind: 'openShardIntake' as const, node: 'ssn-3', ip: '10.0.0.3', window }
    expect(await execute(e, ctx(admin, 't'), undefined)).toMatchObject({ ok: false, code: 'INVALID_SHARD_INTAKE' })
    expect(await execute({ ...e, ip: '10.0.0.9' }, ctx(admin, 't'), undefined)).toMatchObject({
      ok: false,
      code: 'UNREACHABLE',
    })
    expect(await execute(e, ctx(admin, undefined), undefined)).toMatchObject({ ok: false, code: 'NO_TOKEN' })
  })
})
