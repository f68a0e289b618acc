import { describe, expect, it } from 'vitest'
import { mountMappings, planImageLaunch, planLaunch, SERVICE_ACCOUNT_MOUNT } from './launch.ts'
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

describe('planImageLaunch (image mode)', () => {
  const image = {
    rootfs: '/cache/abc/rootfs',
    entrypoint: ['node', '/app/node-image/bin/echonet-node.js'],
    cmd: ['--help'],
    env: ['PATH=/usr/local/bin:/usr/bin', 'NODE_ENV=production'],
    workingDir: '/app',
    uid: 65532,
    gid: 65532,
  }
  const base = {
    image,
    state: '/pods/p/containers/node/root',
    runner: '/repo/e2e/agent/container-run.sh',
    baseEnv: { PATH: '/host/bin' },
    hostname: 'w-0',
  }
  const pod = (sc: object = {}) => ({
    metadata: { name: 'w-0', uid: 'u' },
    spec: { containers: [], securityContext: sc },
  })
  const afterDashes = (argv: string[]) => argv.slice(argv.indexOf('--') + 1)
  const runnerArgs = (argv: string[]) => argv.slice(1, argv.indexOf('--'))

  it('keeps paths as the container sees them: args are expanded, not rewritten; volumes are bind-mounted', () => {
    const p = planImageLaunch({
      ...base,
      container: {
        name: 'node',
        args: ['run', '--data-dir=/data/chain', '--name=$(POD_NAME)'],
        volumeMounts: [
          { name: 'data', mountPath: '/data' },
          { name: 'sa', mountPath: SERVICE_ACCOUNT_MOUNT, readOnly: true },
        ],
      },
      pod: pod(),
      env: { POD_NAME: 'w-0', NODE_ENV: 'test' },
      mounts: [
        { mountPath: '/data', hostPath: '/h/pvc-1' },
        { mountPath: SERVICE_ACCOUNT_MOUNT, hostPath: '/h/sa' },
      ],
    })
    expect(p.argv[0]).toBe(base.runner)
    expect(afterDashes(p.argv)).toEqual([
      'node',
      '/app/node-image/bin/echonet-node.js',
      'run',
      '--data-dir=/data/chain',
      '--name=w-0',
    ])
    const r = runnerArgs(p.argv)
    expect(r).toEqual(
      expect.arrayContaining(['--lower', image.rootfs, '--state', base.state, '--user', '65532:65532', '--wd', '/app']),
    )
    expect(r).toEqual(
      expect.arrayContaining(['--bind', '/h/pvc-1:/data', '--bind', `/h/sa:${SERVICE_ACCOUNT_MOUNT}:ro`]),
    )
    // The pod's env wins over the image's; the runner itself gets the agent's PATH.
    expect(r).toEqual(
      expect.arrayContaining([
        '--env',
        'NODE_ENV=test',
        '--env',
        'PATH=/usr/local/bin:/usr/bin',
        '--env',
        'HOSTNAME=w-0',
      ]),
    )
    expect(r).not.toContain('--env NODE_ENV=production')
    expect(r.filter((a) => a.startsWith('NODE_ENV='))).toEqual(['NODE_ENV=test'])
    expect(r).not.toContain('--read-only')
    expect(p.env).toEqual({ PATH: '/host/bin' })
    expect(p.cwd).toBe(base.state)
  })

  it("runs as the container's, else the pod's, else the image's user; read-only root when asked", () => {
    const c = { name: 'c', securityContext: { runAsUser: 1000, readOnlyRootFilesystem: true } }
    const p1 = planImageLaunch({
      ...base,
      container: c,
      pod: pod({ runAsUser: 2000, runAsGroup: 3000 }),
      env: {},
      mounts: [],
    })
    expect(runnerArgs(p1.argv)).toEqual(expect.arrayContaining(['--user', '1000:3000', '--read-only']))
    const p2 = planImageLaunch({ ...base, container: { name: 'c' }, pod: pod(), env: {}, mounts: [] })
    expect(runnerArgs(p2.argv)).toEqual(expect.arrayContaining(['--user', '65532:65532']))
    expect(afterDashes(p2.argv)).toEqual(['node', '/app/node-image/bin/echonet-node.js', '--help'])
    const p3 = planImageLaunch({
      ...base,
      container: { name: 'c', command: ['node'], workingDir: '/work' },
      pod: pod(),
      env: {},
      mounts: [],
    })
    expect(afterDashes(p3.argv)).toEqual(['node'])
    expect(runnerArgs(p3.argv)).toEqual(expect.arrayContaining(['--wd', '/work']))
  })
})
