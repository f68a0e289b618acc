import { describe, expect, it } from 'vitest'
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from '../../crypto/hash.ts'
import { DAG_CBOR_CODE } from '../../crypto/encoding.ts'
import { parseRepairPriorities, priorityOf, RepairPriorityStore } from './repair-priorities.ts'
import { repairOrder } from './repair.ts'

const cidOf = (s: string): string =>
  CID.create(1, DAG_CBOR_CODE, createDigest(0x12, sha256(new TextEncoder().encode(s)))).toString()
const [A, B, C, D] = ['a', 'b', 'c', 'd'].map(cidOf) as [string, string, string, string]
const quiet = (): void => undefined

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('parseRepairPriorities', () => {
  it('accepts {entries: [{cid, class}]}', () => {
    expect(parseRepairPriorities({ entries: [{ cid: A, class: 'critical' }] })).toEqual([{ cid: A, class: 'critical' }])
    expect(parseRepairPriorities({ entries: [] })).toEqual([])
  })

  it.each([
    ['no entries field', {}],
    ['a list instead of an object', [{ cid: A, class: 'critical' }]],
    ['null', null],
    ['an unknown class', { entries: [{ cid: A, class: 'urgent' }] }],
    ['a missing class', { entries: [{ cid: A }] }],
    ['a CID that is not a ContentID (raw codec)', { entries: [{ cid: 'bafkqaaa', class: 'recent' }] }],
    ['garbage for a CID', { entries: [{ cid: 'not-a-cid', class: 'recent' }] }],
    [
      'a CID listed twice',
      {
        entries: [
          { cid: A, class: 'recent' },
          { cid: A, class: 'critical' },
        ],
      },
    ],
    ['an unknown field', { entries: [{ cid: A, class: 'recent', weight: 9 }] }],
    ['an entry that is a string', { entries: [A] }],
    ['too many entries', { entries: Array.from({ length: 10_001 }, () => ({ cid: A, class: 'recent' })) }],
  ])('refuses %s with INVALID_REPAIR_PRIORITIES', (_what, body) => {
    expect(codeOf(() => parseRepairPriorities(body))).toBe('INVALID_REPAIR_PRIORITIES')
  })
})

describe('repair order with classes', () => {
  it('critical, then high-demand, then recent, then numeric, then the rest — within one margin', () => {
    const cls = new Map([
      [A, 'recent' as const],
      [B, 'critical' as const],
      [C, 'high-demand' as const],
    ])
    const numeric = new Map([[D, 1_000_000]])
    const items = [A, B, C, D, 'plain'].map((cid) => ({ cid, margin: 1, rec: { height: 1 } }))
    const order = repairOrder(
      [...items, { cid: 'closer-to-loss', margin: 0, rec: { height: 1 } }],
      (cid) => priorityOf(cls.get(cid), numeric.get(cid)),
      () => 0,
    )
    // Margin still comes first: content one loss away from being unrecoverable.
    expect(order.map((x) => x.cid)).toEqual(['closer-to-loss', B, C, A, D, 'plain'])
  })
})

describe('RepairPriorityStore', () => {
  it('persists the list and numeric priorities; a reopened store (a restarted SSN) has them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'repair-prio-'))
    const path = join(dir, 'repair-priorities.json')
    const s = await RepairPriorityStore.open(path, quiet)
    expect(s.list()).toEqual({ entries: [], revision: 0, updatedAtMs: 0 })
    const out = await s.replace(
      [
        { cid: A, class: 'critical' },
        { cid: B, class: 'recent' },
      ],
      5_000,
    )
    expect(out).toEqual({
      entries: [
        { cid: A, class: 'critical' },
        { cid: B, class: 'recent' },
      ],
      revision: 1,
      updatedAtMs: 5_000,
    })
    await s.setNumeric(C, 7, 6_000)
    // Written atomically: no temp file left beside it.
    expect(await readdir(dir)).toEqual(['repair-priorities.json'])
    const again = await RepairPriorityStore.open(path, quiet)
    expect(again.list()).toEqual({ ...out, revision: 2, updatedAtMs: 6_000 })
    expect(again.numeric()).toEqual([{ cid: C, priority: 7 }])
    expect(again.priority(A)).toBeGreaterThan(again.priority(B))
    expect(again.priority(B)).toBeGreaterThan(again.priority(C))
    // Replacing drops what the new list does not name; 0 clears a numeric priority.
    await again.replace([{ cid: B, class: 'high-demand' }])
    await again.setNumeric(C, 0)
    const third = await RepairPriorityStore.open(path, quiet)
    expect(third.list().entries).toEqual([{ cid: B, class: 'high-demand' }])
    expect(third.numeric()).toEqual([])
  })

  it('sets an unreadable file aside and starts empty (the evidence is kept)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'repair-prio-'))
    const path = join(dir, 'repair-priorities.json')
    await writeFile(path, '{"version":1,"entries":[{"cid":')
    const warned: string[] = []
    const s = await RepairPriorityStore.open(path, (level, msg) => warned.push(`${level} ${msg}`))
    expect(s.list().entries).toEqual([])
    expect(warned.some((w) => w.startsWith('warn'))).toBe(true)
    const files = await readdir(dir)
    expect(files.some((f) => f.startsWith('repair-priorities.json.corrupt-'))).toBe(true)
    const aside = files.find((f) => f.includes('corrupt'))!
    expect(await readFile(join(dir, aside), 'utf8')).toBe('{"version":1,"entries":[{"cid":')
  })

  it('a change that cannot be written is not in force either', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'repair-prio-'))
    // The parent "directory" is a file: every write fails.
    await writeFile(join(dir, 'file'), 'x')
    const s = await RepairPriorityStore.open(join(dir, 'file', 'repair-priorities.json'), quiet)
    await expect(s.replace([{ cid: A, class: 'critical' }])).rejects.toThrow()
    expect(s.list()).toEqual({ entries: [], revision: 0, updatedAtMs: 0 })
    await expect(s.setNumeric(A, 3)).rejects.toThrow()
    expect(s.numeric()).toEqual([])
  })
})
