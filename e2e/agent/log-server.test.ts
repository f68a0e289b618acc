import { describe, expect, it } from 'vitest'
import { parseLogRequest, tailLines } from './log-server.ts'

describe('log server', () => {
  it('parses kubelet containerLogs URLs', () => {
    expect(parseLogRequest('/containerLogs/ns/web-0/app?follow=true&tailLines=10&limitBytes=5')).toEqual({
      namespace: 'ns',
      pod: 'web-0',
      container: 'app',
      follow: true,
      previous: false,
      tailLines: 10,
      limitBytes: 5,
    })
    expect(parseLogRequest('/containerLogs/ns/p/c?previous=true')).toMatchObject({
      previous: true,
      follow: false,
      tailLines: undefined,
    })
    expect(parseLogRequest('/exec/ns/p/c')).toBeUndefined()
  })

  it('tails lines', () => {
    const t = Buffer.from('a\nb\nc\n')
    expect(tailLines(t, 2).toString()).toBe('b\nc\n')
    expect(tailLines(t, 5).toString()).toBe('a\nb\nc\n')
    expect(tailLines(t, 0).toString()).toBe('')
    expect(tailLines(Buffer.from('a\nb'), 1).toString()).toBe('b')
  })
})
