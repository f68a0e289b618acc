import { describe, expect, it } from 'vitest'
import { mountMappings, planLaunch, SERVICE_ACCOUNT_MOUNT } from './launch.ts'
import { hostPathFor, Layout, parsePodDirName, podDirName, rewritePaths } from './paths.ts'

const mounts = [
  { mountPath: '/data', hostPath: '/h/pvc-1' },
  { mountPath: '/data/cache', hostPath: '/h/cache' },
  { mountPath: '/etc/conf.d/', hostPath: '/h/conf' },
]

describe('rewritePaths', () => {
  it.each([
    ['/data', '/h/pvc-1'],
    ['/data/chain/db', '/h/pvc-1/chain/db'],
    ['/data/cache/x', '/h/cache/x'],
    ['--data-dir=/data/chain', '--data-dir=/h/pvc-1/chain'],
    ['/data:/etc/conf.d/a.conf', '/h/pvc-1:/h/conf/a.conf'],
    ['/database', '/database'],
    ['x/data', 'x/data'],
    ['http://host/data', 'http://host/data'],
    ['"/data" /data', '"/h/pvc-1" /h/pvc-1'],
    ['', ''],
  ])('%s → %s', (input, want) => {
    expect(rewritePaths(input, mounts)).toBe(want)
  })

  it('never rewrites /', () => {
    expect(rewritePaths('/etc/x', [{ mountPath: '/', hostPath: '/h' }])).toBe('/etc/x')
  })

  it('maps other paths into the container root', () => {
    expect(hostPathFor('/work', mounts, '/root-c')).toBe('/root-c/work')
    expect(hostPathFor('/data/w', mounts, '/root-c')).toBe('/h/pvc-1/w')
  })
})

describe('layout', () => {
  it('names pod directories like the kubelet', () => {
    const ref = { namespace: 'ns', name: 'web-0', uid: '293894cb-a6d8-4758-b05a-692748bd7c8e' }
    expect(podDirName(ref)).toBe('ns_web-0_293894cb-a6d8-4758-b05a-692748bd7c8e')
    expect(parsePodDirName(podDirName(ref))).toEqual(ref)
    const l = new Layout('/state')
    expect(l.logFile(ref, 'app', 2)).toBe('/state/pods/ns_web-0_293894cb-a6d8-4758-b05a-692748bd7c8e/logs/app/2.log')
    expect(l.pvDir('pvc-x')).toBe('/state/volumes/pvc-x')
  })
})

describe('mountMappings', () => {
  it('joins subPath / subPathExpr and reports bad mounts', () => {
    const vols = new Map([
      ['data', '/h/data'],
      ['sa', '/h/sa'],
    ])
    const r = mountMappings(
      {
        name: 'c',
        volumeMounts: [
          { name: 'data', mountPath: '/data/', subPath: 'sub' },
          { name: 'data', mountPath: '/per-pod', subPathExpr: '$(POD_NAME)' },
          { name: 'sa', mountPath: SERVICE_ACCOUNT_MOUNT },
          { name: 'missing', mountPath: '/m' },
          { name: 'data', mountPath: '/bad', subPath: '../x' },
        ],
      },
      vols,
      { POD_NAME: 'web-0' },
    )
    expect(r.mounts).toEqual([
      { mountPath: '/data', hostPath: '/h/data/sub' },
      { mountPath: '/per-pod', hostPath: '/h/data/web-0' },
      { mountPath: SERVICE_ACCOUNT_MOUNT, hostPath: '/h/sa' },
    ])
    expect(r.errors).toHaveLength(2)
  })
})

describe('planLaunch', () => {
  it('builds argv, env, cwd and the service-account dir', () => {
    const plan = planLaunch({
      container: {
        name: 'app',
        args: ['--data-dir=/data', '--name=$(POD_NAME)', '$$(POD_NAME)'],
        workingDir: '/data/work',
      },
      entry: { entrypoint: ['/bin/node', '/repo/main.ts'], cmd: ['--ignored'] },
      env: { POD_NAME: 'web-0', DATA: '/data/x', PATH: '/custom' },
      mounts: [
        { mountPath: '/data', hostPath: '/h/pvc' },
        { mountPath: SERVICE_ACCOUNT_MOUNT, hostPath: '/h/sa' },
      ],
      root: '/pods/p/containers/app/root',
      baseEnv: { PATH: '/usr/bin', HOME: '/home/u' },
      hostname: 'web-0',
    })
    expect(plan.argv).toEqual(['/bin/node', '/repo/main.ts', '--data-dir=/h/pvc', '--name=web-0', '$(POD_NAME)'])
    expect(plan.env).toMatchObject({
      PATH: '/custom',
      HOME: '/home/u',
      HOSTNAME: 'web-0',
      DATA: '/h/pvc/x',
      ECHONET_ROOT: '/pods/p/containers/app/root',
      ECHONET_SA_DIR: '/h/sa',
    })
    expect(plan.cwd).toBe('/h/pvc/work')
    expect(plan.saDir).toBe('/h/sa')
  })

  it('leaves the image entry point alone when the repository lives under a mounted path (e.g. /tmp)', () => {
    const plan = planLaunch({
      container: { name: 'app', args: ['--scratch=/tmp/x'] },
      entry: { entrypoint: ['/tmp/clone/node', '/tmp/clone/main.ts'], cmd: [] },
      env: {},
      mounts: [{ mountPath: '/tmp', hostPath: '/h/tmp' }],
      root: '/r',
      baseEnv: {},
      hostname: 'h',
    })
    expect(plan.argv).toEqual(['/tmp/clone/node', '/tmp/clone/main.ts', '--scratch=/h/tmp/x'])
  })

  it('defaults cwd to the container root and has no SA dir without the mount', () => {
    const plan = planLaunch({
      container: { name: 'app' },
      entry: { entrypoint: ['prog'], cmd: [] },
      env: {},
      mounts: [],
      root: '/r',
      baseEnv: {},
      hostname: 'h',
    })
    expect(plan).toEqual({ argv: ['prog'], env: { HOSTNAME: 'h', ECHONET_ROOT: '/r' }, cwd: '/r', saDir: undefined })
  })
})
