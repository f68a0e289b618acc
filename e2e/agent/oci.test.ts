import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { matchImage, parseImageRef, resolveImageUser } from './oci.ts'

describe('resolveImageUser', () => {
  const rootfs = mkdtempSync(join(tmpdir(), 'oci-user-'))
  mkdirSync(join(rootfs, 'etc'))
  writeFileSync(
    join(rootfs, 'etc', 'passwd'),
    'root:x:0:0::/root:/sbin/nologin\nnonroot:x:65532:65533::/home/nonroot:/sbin/nologin\n',
  )
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnonroot:x:65532:\nextra:x:65533:\n')
  afterAll(() => rmSync(rootfs, { recursive: true, force: true }))

  it('takes numeric ids as they are, and root when the image names no user', () => {
    expect(resolveImageUser('65532:65532', rootfs)).toEqual({ uid: 65532, gid: 65532 })
    expect(resolveImageUser('1000:2000', rootfs)).toEqual({ uid: 1000, gid: 2000 })
    expect(resolveImageUser(undefined, rootfs)).toEqual({ uid: 0, gid: 0 })
    expect(resolveImageUser('', rootfs)).toEqual({ uid: 0, gid: 0 })
  })

  it("looks names up in the image's passwd and group; a bare user gets its primary group", () => {
    expect(resolveImageUser('nonroot', rootfs)).toEqual({ uid: 65532, gid: 65533 })
    expect(resolveImageUser('nonroot:nonroot', rootfs)).toEqual({ uid: 65532, gid: 65532 })
    expect(resolveImageUser('65532', rootfs)).toEqual({ uid: 65532, gid: 65533 })
    expect(() => resolveImageUser('nobody', rootfs)).toThrow(/not in the image's \/etc\/passwd/)
    expect(() => resolveImageUser('nonroot:wheel', rootfs)).toThrow(/not in the image's \/etc\/group/)
  })
})

describe('matchImage', () => {
  const img = (ref: string, digest: string) => ({
    archive: '/x.oci.tar',
    ref,
    digest,
    configDigest: 'sha256:c',
    annotations: {},
    config: {},
    layers: [],
  })
  const images = [
    img('docker.io/echonet/echonet-node:0.1.0', 'sha256:aaa'),
    img('docker.io/echonet/echonet-operator:0.1.0', 'sha256:bbb'),
  ]
  it('matches repository and tag, with or without docker.io', () => {
    expect(matchImage(images, 'echonet/echonet-node:0.1.0')?.digest).toBe('sha256:aaa')
    expect(matchImage(images, 'docker.io/echonet/echonet-operator:0.1.0')?.digest).toBe('sha256:bbb')
    expect(matchImage(images, 'echonet/echonet-node:0.2.0')).toBeUndefined()
    expect(matchImage(images, 'echonet/echonet-node')).toBeUndefined() // latest
    expect(matchImage(images, 'echonet/test-http:1')).toBeUndefined()
  })
  it('matches by digest when the reference has one (the tag is then ignored)', () => {
    expect(matchImage(images, 'echonet/echonet-node:0.1.0@sha256:aaa')?.ref).toBe(
      'docker.io/echonet/echonet-node:0.1.0',
    )
    expect(matchImage(images, 'echonet/echonet-node@sha256:aaa')?.digest).toBe('sha256:aaa')
    expect(matchImage(images, 'echonet/echonet-node:0.1.0@sha256:fff')).toBeUndefined()
  })
  it('parses references', () => {
    expect(parseImageRef('reg:5000/a/b:t@sha256:x')).toEqual({ repo: 'reg:5000/a/b', tag: 't', digest: 'sha256:x' })
    expect(parseImageRef('docker.io/library/busybox')).toEqual({ repo: 'busybox', tag: undefined, digest: undefined })
  })
})
