import { describe, expect, it } from 'vitest'
import { containerArgv, imageRepository, lookupImage, parseImageMap } from './images.ts'

describe('images', () => {
  const map = parseImageMap(
    {
      _comment: 'ignored',
      'echonet/node': ['node', '<repo>/node-image/src/cli/main.ts'],
      'echonet/tool:1.0': { entrypoint: ['node', '<repo>/tool.ts'], cmd: ['--default'] },
      'docker.io/library/busybox': { cmd: ['sh'] },
    },
    '/repo',
    '/usr/bin/node24',
  )

  it('parses entries, substituting <repo> and node', () => {
    expect(map.get('echonet/node')).toEqual({
      entrypoint: ['/usr/bin/node24', '/repo/node-image/src/cli/main.ts'],
      cmd: [],
    })
    expect(map.get('echonet/tool')).toEqual({ entrypoint: ['/usr/bin/node24', '/repo/tool.ts'], cmd: ['--default'] })
    expect(map.has('_comment')).toBe(false)
  })

  it('rejects malformed entries', () => {
    expect(() => parseImageMap({ x: [] }, '/r', 'node')).toThrow(/empty/)
    expect(() => parseImageMap({ x: 3 }, '/r', 'node')).toThrow()
    expect(() => parseImageMap([], '/r', 'node')).toThrow()
  })

  it.each([
    ['echonet/node', 'echonet/node'],
    ['echonet/node:v1.2', 'echonet/node'],
    ['registry:5000/echonet/node:v1', 'registry:5000/echonet/node'],
    ['registry:5000/echonet/node', 'registry:5000/echonet/node'],
    ['echonet/node@sha256:abc', 'echonet/node'],
    ['echonet/node:v1@sha256:abc', 'echonet/node'],
  ])('repository of %s is %s', (image, repo) => {
    expect(imageRepository(image)).toBe(repo)
  })

  it('looks up by repository, ignoring tag and a docker.io prefix', () => {
    expect(lookupImage(map, 'echonet/node:latest')?.entrypoint[1]).toBe('/repo/node-image/src/cli/main.ts')
    expect(lookupImage(map, 'docker.io/echonet/node:1')).toBeDefined()
    expect(lookupImage(map, 'echonet/other')).toBeUndefined()
  })

  it('applies command/args as the kubelet does', () => {
    const e = { entrypoint: ['ep', 'x'], cmd: ['c1'] }
    expect(containerArgv(e, undefined, undefined)).toEqual(['ep', 'x', 'c1'])
    expect(containerArgv(e, [], [])).toEqual(['ep', 'x', 'c1'])
    expect(containerArgv(e, undefined, ['a'])).toEqual(['ep', 'x', 'a'])
    expect(containerArgv(e, ['cmd'], undefined)).toEqual(['cmd'])
    expect(containerArgv(e, ['cmd'], ['a', 'b'])).toEqual(['cmd', 'a', 'b'])
  })
})
