import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { repairOrder } from './repair.ts'

const item = (cid: string, margin: number, height: number) => ({ cid, margin, rec: { height } })

describe('repairOrder', () => {
  it('puts the least margin first, then priority, then demand, then the newest', () => {
    const items = [
      item('a', 2, 10),
      item('b', 0, 5),
      item('c', 1, 1),
      item('d', 1, 9),
      item('e', 1, 3),
      item('f', 1, 8),
    ]
    const priority = (cid: string) => (cid === 'c' ? 5 : 0)
    const demand = (cid: string) => (cid === 'e' ? 100 : 0)
    expect(repairOrder(items, priority, demand).map((x) => x.cid)).toEqual(['b', 'c', 'e', 'd', 'f', 'a'])
  })

  it('never lets a priority or demand jump a smaller margin (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ margin: fc.integer({ min: -1, max: 4 }), height: fc.nat(), p: fc.integer(), d: fc.nat() }),
        ),
        (raw) => {
          const items = raw.map((r, i) => ({ ...item(`c${i}`, r.margin, r.height), p: r.p, d: r.d }))
          const byCid = new Map(items.map((x) => [x.cid, x]))
          const out = repairOrder(
            items,
            (c) => byCid.get(c)!.p,
            (c) => byCid.get(c)!.d,
          )
          expect(out).toHaveLength(items.length)
          for (let i = 1; i < out.length; i++) {
            const [a, b] = [out[i - 1]!, out[i]!]
            expect(a.margin).toBeLessThanOrEqual(b.margin)
            if (a.margin === b.margin) expect(a.p).toBeGreaterThanOrEqual(b.p)
          }
        },
      ),
    )
  })
})
