import { describe, expect, it } from 'vitest'
import {
  envReferences,
  expand,
  formatMap,
  isEnvVarName,
  kubernetesServiceEnv,
  resolveEnv,
  type EnvSources,
} from './env.ts'
import type { ConfigMap, Container, Pod, Secret } from './kube/types.ts'

const b64 = (s: string): string => Buffer.from(s).toString('base64')

const pod: Pod = {
  metadata: {
    name: 'web',
    namespace: 'prod',
    uid: 'u-1',
    labels: { app: 'web', tier: 'a' },
    annotations: { note: 'x"y' },
  },
  spec: {
    containers: [{ name: 'app', resources: { limits: { cpu: '500m', memory: '64Mi' } } }],
    serviceAccountName: 'sa1',
  },
}
const rt = { podIP: '127.1.2.3', hostIP: '127.0.0.1', nodeName: 'n0', nodeAllocatable: { cpu: '4', memory: '8Gi' } }
const secrets: Record<string, Secret> = {
  s: { metadata: { name: 's', uid: '1' }, data: { password: b64('hunter2'), 'bad=key': b64('x'), TOKEN: b64('t') } },
}
const configMaps: Record<string, ConfigMap> = {
  c: { metadata: { name: 'c', uid: '2' }, data: { greeting: 'hello', PORT: '80' }, binaryData: { bin: b64('raw') } },
}
const sources: EnvSources = { secret: (n) => secrets[n], configMap: (n) => configMaps[n] }
const svc = kubernetesServiceEnv('127.0.0.1', 6443)

function run(c: Omit<Container, 'name'>) {
  return resolveEnv({ name: 'app', ...c }, pod, rt, sources, svc)
}

describe('expand', () => {
  const vars: Record<string, string> = { A: 'x', B: 'y' }
  const lookup = (n: string): string | undefined => vars[n]
  it.each([
    ['$(A)-$(B)', 'x-y'],
    ['$(MISSING)', '$(MISSING)'],
    ['$$(A)', '$(A)'],
    ['$$', '$'],
    ['a$b', 'a$b'],
    ['$(A', '$(A'],
    ['end$', 'end$'],
    ['', ''],
    ['$(A)$(A)', 'xx'],
  ])('%s → %s', (input, want) => {
    expect(expand(input, lookup)).toBe(want)
  })
})

describe('resolveEnv', () => {
  it('service variables, envFrom, env in order with $(VAR) expansion and overrides', () => {
    const r = run({
      envFrom: [{ configMapRef: { name: 'c' } }, { prefix: 'S_', secretRef: { name: 's' } }],
      env: [
        { name: 'PORT', value: '8080' },
        { name: 'URL', value: 'http://$(POD_IP):$(PORT)/$(KUBERNETES_SERVICE_PORT)' },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'LATE', value: '$(POD_IP)' },
        { name: 'EMPTY' },
      ],
    })
    if (!r.ok) throw new Error(r.message)
    expect(r.env.KUBERNETES_SERVICE_HOST).toBe('127.0.0.1')
    expect(r.env.KUBERNETES_SERVICE_PORT).toBe('6443')
    expect(r.env.greeting).toBe('hello')
    expect(r.env.bin).toBe('raw')
    expect(r.env.S_password).toBe('hunter2')
    expect(r.env.S_TOKEN).toBe('t')
    expect(r.env.PORT).toBe('8080')
    // POD_IP is defined after URL: not expanded (kubelet semantics)
    expect(r.env.URL).toBe('http://$(POD_IP):8080/6443')
    expect(r.env.LATE).toBe('127.1.2.3')
    expect(r.env.EMPTY).toBe('')
    expect(r.warnings.join()).toContain('S_bad=key')
  })

  it('fieldRefs', () => {
    const f = (fieldPath: string) => ({ name: fieldPath, valueFrom: { fieldRef: { fieldPath } } })
    const r = run({
      env: [
        f('metadata.name'),
        f('metadata.namespace'),
        f('metadata.uid'),
        f("metadata.labels['app']"),
        f("metadata.annotations['note']"),
        f('spec.nodeName'),
        f('spec.serviceAccountName'),
        f('status.podIP'),
        f('status.hostIP'),
      ],
    })
    if (!r.ok) throw new Error(r.message)
    expect(r.env).toMatchObject({
      'metadata.name': 'web',
      'metadata.namespace': 'prod',
      'metadata.uid': 'u-1',
      "metadata.labels['app']": 'web',
      "metadata.annotations['note']": 'x"y',
      'spec.nodeName': 'n0',
      'spec.serviceAccountName': 'sa1',
      'status.podIP': '127.1.2.3',
      'status.hostIP': '127.0.0.1',
    })
  })

  it('resourceFieldRef with divisor and node allocatable fallback', () => {
    const r = run({
      resources: { limits: { cpu: '500m', memory: '64Mi' } },
      env: [
        { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'MCPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
        { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'REQ', valueFrom: { resourceFieldRef: { resource: 'requests.memory' } } },
      ],
    })
    if (!r.ok) throw new Error(r.message)
    expect(r.env).toMatchObject({ CPU: '1', MCPU: '500', MEM_MI: '64', REQ: '0' })
  })

  it('secretKeyRef / configMapKeyRef, optional and missing', () => {
    const ok = run({
      env: [
        { name: 'P', valueFrom: { secretKeyRef: { name: 's', key: 'password' } } },
        { name: 'G', valueFrom: { configMapKeyRef: { name: 'c', key: 'greeting' } } },
        { name: 'O1', valueFrom: { secretKeyRef: { name: 'nope', key: 'k', optional: true } } },
        { name: 'O2', valueFrom: { configMapKeyRef: { name: 'c', key: 'nokey', optional: true } } },
      ],
      envFrom: [{ secretRef: { name: 'nope', optional: true } }],
    })
    if (!ok.ok) throw new Error(ok.message)
    expect(ok.env.P).toBe('hunter2')
    expect(ok.env.G).toBe('hello')
    expect('O1' in ok.env).toBe(false)
    expect('O2' in ok.env).toBe(false)

    const missingSecret = run({ env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] })
    expect(missingSecret).toEqual({
      ok: false,
      reason: 'CreateContainerConfigError',
      message: 'secret "nope" not found',
    })
    const missingKey = run({ env: [{ name: 'G', valueFrom: { configMapKeyRef: { name: 'c', key: 'zz' } } }] })
    expect(missingKey).toMatchObject({ ok: false, message: "couldn't find key zz in ConfigMap prod/c" })
    const missingFrom = run({ envFrom: [{ configMapRef: { name: 'zz' } }] })
    expect(missingFrom).toMatchObject({ ok: false, message: 'configmap "zz" not found' })
  })

  it('lists references', () => {
    expect(
      envReferences({
        name: 'x',
        envFrom: [{ secretRef: { name: 'a' } }, { configMapRef: { name: 'b' } }],
        env: [{ name: 'y', valueFrom: { secretKeyRef: { name: 'c', key: 'k' } } }],
      }),
    ).toEqual({ secrets: ['a', 'c'], configMaps: ['b'] })
  })

  it('env var names and label maps', () => {
    expect(isEnvVarName('A_b.c-1')).toBe(true)
    expect(isEnvVarName('a=b')).toBe(false)
    expect(isEnvVarName('')).toBe(false)
    expect(formatMap({ b: '2', a: 'x"y' })).toBe('a="x\\"y"\nb="2"')
  })
})
