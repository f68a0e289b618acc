import { mkdtemp, readFile, readdir, readlink, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { writeAtomic } from './atomic-writer.ts'
import type { Pod, Secret } from './kube/types.ts'
import {
  planVolume,
  secretFileMode,
  tokenKeys,
  volumeReferences,
  type FileContent,
  type VolumeSources,
} from './volumes.ts'

const b64 = (s: string): string => Buffer.from(s).toString('base64')
const pod: Pod = {
  metadata: { name: 'web', namespace: 'ns', uid: 'u', labels: { b: '2', a: '1' } },
  spec: { containers: [{ name: 'app' }] },
}
const rt = { podIP: '127.1.0.9', hostIP: '127.0.0.1', nodeName: 'n', nodeAllocatable: {} }
const secret: Secret = { metadata: { name: 's', uid: '1' }, data: { password: b64('pw'), user: b64('alice') } }
const src: VolumeSources = {
  secret: (n) => (n === 's' ? secret : undefined),
  configMap: (n) =>
    n === 'kube-root-ca.crt' ? { metadata: { name: n, uid: '2' }, data: { 'ca.crt': 'CA' } } : undefined,
  token: (k) => (k.expirationSeconds === 3607 ? 'TOKEN' : undefined),
}

function files(plan: ReturnType<typeof planVolume>): Record<string, [string, string]> {
  if (plan.kind !== 'files') throw new Error(`expected files, got ${JSON.stringify(plan)}`)
  return Object.fromEntries([...plan.files].map(([p, f]) => [p, [f.content.toString(), f.mode.toString(8)]]))
}

describe('planVolume', () => {
  it('secret: all keys, owner-only modes', () => {
    expect(files(planVolume({ name: 'v', secret: { secretName: 's', defaultMode: 0o644 } }, pod, rt, src))).toEqual({
      password: ['pw', '600'],
      user: ['alice', '600'],
    })
  })

  it('secret items with paths and modes; missing key is an error unless optional', () => {
    const v = { name: 'v', secret: { secretName: 's', items: [{ key: 'password', path: 'sub/pw', mode: 0o440 }] } }
    expect(files(planVolume(v, pod, rt, src))).toEqual({ 'sub/pw': ['pw', '400'] })
    const bad = { name: 'v', secret: { secretName: 's', items: [{ key: 'nope', path: 'x' }] } }
    expect(planVolume(bad, pod, rt, src)).toMatchObject({ kind: 'error' })
    expect(files(planVolume({ name: 'v', secret: { ...bad.secret, optional: true } }, pod, rt, src))).toEqual({})
  })

  it('missing secret: error, or empty when optional', () => {
    expect(planVolume({ name: 'v', secret: { secretName: 'x' } }, pod, rt, src)).toEqual({
      kind: 'error',
      message: 'secret "x" not found',
    })
    expect(files(planVolume({ name: 'v', secret: { secretName: 'x', optional: true } }, pod, rt, src))).toEqual({})
  })

  it('the kube-api-access projected volume', () => {
    const v = {
      name: 'kube-api-access-abc',
      projected: {
        defaultMode: 0o644,
        sources: [
          { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
        ],
      },
    }
    expect(files(planVolume(v, pod, rt, src))).toEqual({
      token: ['TOKEN', '600'],
      'ca.crt': ['CA', '644'],
      namespace: ['ns', '644'],
    })
    expect(tokenKeys({ ...pod, spec: { ...pod.spec, volumes: [v] } })).toEqual([
      { audience: '', expirationSeconds: 3607 },
    ])
  })

  it('token not fetched yet → error', () => {
    const v = {
      name: 't',
      projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 600 } }] },
    }
    expect(planVolume(v, pod, rt, src)).toMatchObject({ kind: 'error' })
  })

  it('downwardAPI labels', () => {
    const v = { name: 'd', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }
    expect(files(planVolume(v, pod, rt, src))).toEqual({ labels: ['a="1"\nb="2"', '644'] })
  })

  it('emptyDir, PVC, hostPath and unsupported kinds', () => {
    expect(planVolume({ name: 'e', emptyDir: {} }, pod, rt, src)).toEqual({ kind: 'emptyDir' })
    expect(planVolume({ name: 'p', persistentVolumeClaim: { claimName: 'c' } }, pod, rt, src)).toEqual({
      kind: 'pvc',
      claimName: 'c',
    })
    expect(planVolume({ name: 'h', hostPath: { path: '/x' } }, pod, rt, src)).toEqual({ kind: 'hostPath', path: '/x' })
    expect(planVolume({ name: 'n', nfs: { server: 's', path: '/' } }, pod, rt, src)).toMatchObject({
      kind: 'error',
      message: expect.stringContaining('nfs') as unknown,
    })
  })

  it('lists referenced objects', () => {
    const p: Pod = {
      ...pod,
      spec: {
        ...pod.spec,
        volumes: [
          { name: 'a', secret: { secretName: 's1' } },
          { name: 'b', configMap: { name: 'c1' } },
          { name: 'c', projected: { sources: [{ secret: { name: 's2' } }, { configMap: { name: 'c2' } }] } },
        ],
      },
    }
    expect(volumeReferences(p)).toEqual({ secrets: ['s1', 's2'], configMaps: ['c1', 'c2'] })
  })

  it('secret file modes are owner-only', () => {
    expect(secretFileMode(0o644)).toBe(0o600)
    expect(secretFileMode(0o400)).toBe(0o400)
    expect(secretFileMode(0o755)).toBe(0o700)
    expect(secretFileMode(0o044)).toBe(0o400)
  })
})

describe('writeAtomic', () => {
  let dir = ''
  afterEach(async () => {
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })
  const payload = (o: Record<string, string>, mode = 0o600): Map<string, FileContent> =>
    new Map(Object.entries(o).map(([k, v]) => [k, { content: Buffer.from(v), mode }]))

  it('writes the ..data layout, swaps atomically, removes stale entries, and skips identical payloads', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atomic-'))
    const vol = path.join(dir, 'vol')
    expect(await writeAtomic(vol, payload({ a: '1', 'sub/b': '2' }))).toBe(true)
    expect(await readFile(path.join(vol, 'a'), 'utf8')).toBe('1')
    expect(await readFile(path.join(vol, 'sub/b'), 'utf8')).toBe('2')
    expect(await readlink(path.join(vol, 'a'))).toBe('..data/a')
    expect(((await stat(path.join(vol, 'a'))).mode & 0o777).toString(8)).toBe('600')
    const first = await readlink(path.join(vol, '..data'))

    expect(await writeAtomic(vol, payload({ a: '1', 'sub/b': '2' }))).toBe(false)
    expect(await readlink(path.join(vol, '..data'))).toBe(first)

    expect(await writeAtomic(vol, payload({ a: 'changed' }))).toBe(true)
    expect(await readFile(path.join(vol, 'a'), 'utf8')).toBe('changed')
    const entries = (await readdir(vol)).sort()
    expect(entries).toHaveLength(3) // a, ..data, ..<timestamp>
    expect(entries).not.toContain('sub')
    expect(entries).not.toContain(first)
  })
  it("with the pod's fsGroup: group-owned and group-readable before the swap, and no rewrite when nothing changed", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'atomic-'))
    const vol = path.join(dir, 'vol')
    const gid = process.getgid!() // a group this process may give files to, root or not
    expect(await writeAtomic(vol, payload({ key: 'k' }, 0o400), new Date(), gid)).toBe(true)
    const st = await stat(path.join(vol, 'key'))
    expect((st.mode & 0o777).toString(8)).toBe('440')
    expect(st.gid).toBe(gid)
    const first = await readlink(path.join(vol, '..data'))
    // What used to flap: the group bits made every sync see a "change" and rewrite the file
    // owner-only for a moment (a container reading it then got EACCES).
    expect(await writeAtomic(vol, payload({ key: 'k' }, 0o400), new Date(), gid)).toBe(false)
    expect(await readlink(path.join(vol, '..data'))).toBe(first)
  })
})
