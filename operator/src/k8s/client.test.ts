import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ApiError, K8sClient, isAlreadyExists, isConflict, isNotFound, loadKubeConfig, resourcePath } from './client.ts'
import { microTime } from './lease.ts'

const dir = mkdtempSync(join(tmpdir(), 'echonet-sa-'))
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('loadKubeConfig', () => {
  it('loads in-cluster credentials from $ECHONET_SA_DIR', async () => {
    writeFileSync(join(dir, 'token'), 'tok-123\n')
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n')
    writeFileSync(join(dir, 'namespace'), 'echonet-system\n')
    const kc = loadKubeConfig({
      env: { ECHONET_SA_DIR: dir, KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '6443' },
    })
    expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443')
    expect(kc.getCurrentCluster()?.caFile).toBe(join(dir, 'ca.crt'))
    const client = new K8sClient(kc)
    expect(client.namespace).toBe('echonet-system')
    const opts: https.RequestOptions = {}
    await kc.applyToHTTPSOptions(opts)
    expect((opts.headers as Record<string, string> | undefined)?.Authorization).toBe('Bearer tok-123')
    // the token file is re-read, so a rotated token is used
    writeFileSync(join(dir, 'token'), 'tok-456\n')
    const opts2: https.RequestOptions = {}
    await kc.applyToHTTPSOptions(opts2)
    expect((opts2.headers as Record<string, string> | undefined)?.Authorization).toBe('Bearer tok-456')
  })

  it('brackets IPv6 service hosts and needs KUBERNETES_SERVICE_HOST', () => {
    const kc = loadKubeConfig({ env: { ECHONET_SA_DIR: dir, KUBERNETES_SERVICE_HOST: 'fd00::1' } })
    expect(kc.getCurrentCluster()?.server).toBe('https://[fd00::1]:443')
    expect(() => loadKubeConfig({ env: { ECHONET_SA_DIR: dir } })).toThrow(/KUBERNETES_SERVICE_HOST/)
  })

  it('prefers an explicit kubeconfig / $KUBECONFIG', () => {
    const file = join(dir, 'kubeconfig')
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://10.1.2.3:6443"}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u, namespace: ns1}}]',
        'current-context: x',
      ].join('\n'),
    )
    const kc = loadKubeConfig({ env: { KUBECONFIG: file, ECHONET_SA_DIR: dir, KUBERNETES_SERVICE_HOST: '1.1.1.1' } })
    expect(kc.getCurrentCluster()?.server).toBe('https://10.1.2.3:6443')
    expect(new K8sClient(kc).namespace).toBe('ns1')
  })
})

describe('helpers', () => {
  it('builds resource paths', () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true }
    expect(resourcePath(cm, 'ns')).toBe('/api/v1/namespaces/ns/configmaps')
    expect(resourcePath(cm, 'ns', 'a')).toBe('/api/v1/namespaces/ns/configmaps/a')
    const pool = { apiVersion: 'echonet.io/v1alpha1', kind: 'WitnessPool', plural: 'witnesspools', namespaced: true }
    expect(resourcePath(pool, 'ns', 'p', 'status')).toBe(
      '/apis/echonet.io/v1alpha1/namespaces/ns/witnesspools/p/status',
    )
    const node = { apiVersion: 'v1', kind: 'Node', plural: 'nodes', namespaced: false }
    expect(resourcePath(node, 'ignored', 'n1')).toBe('/api/v1/nodes/n1')
  })

  it('classifies API errors', () => {
    const conflict = new ApiError('PUT', '/x', 409, { kind: 'Status', reason: 'Conflict', message: 'changed' })
    const exists = new ApiError('POST', '/x', 409, { kind: 'Status', reason: 'AlreadyExists' })
    expect(isConflict(conflict)).toBe(true)
    expect(isAlreadyExists(conflict)).toBe(false)
    expect(isAlreadyExists(exists)).toBe(true)
    expect(isNotFound(new ApiError('GET', '/x', 404, undefined))).toBe(true)
    expect(conflict.message).toBe('PUT /x: 409 Conflict changed')
  })

  it('formats MicroTime with 6 fractional digits', () => {
    expect(microTime(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).toBe('2026-01-02T03:04:05.678000Z')
  })
})
