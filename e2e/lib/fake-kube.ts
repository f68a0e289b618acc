/**
 * A stand-in for the Kubernetes API server, just enough for `kubectl-echonet` to find a network,
 * its admin token Secret and its node pods (discovery, get, list by label selector): testnet tests
 * run the CLI as a user does against real node processes, without a cluster. Read-only; anything
 * else is a 404 Status. Requests are recorded, so a test can see what the CLI asked for.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface FakeObject {
  readonly apiVersion: string
  readonly kind: string
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels?: Record<string, string> }
  readonly [field: string]: unknown
}

export interface FakeKube {
  /** A kubeconfig file pointing at the fake (current context namespace `namespace`). */
  readonly kubeconfig: string
  readonly requests: string[]
  close(): Promise<void>
}

const RESOURCES: Record<string, { group: string; plural: string }> = {
  Pod: { group: 'v1', plural: 'pods' },
  Secret: { group: 'v1', plural: 'secrets' },
  EchoNetNetwork: { group: 'echonet.io/v1alpha1', plural: 'echonetnetworks' },
}

function selects(selector: string | null, labels: Record<string, string> = {}): boolean {
  if (selector === null || selector === '') return true
  return selector.split(',').every((term) => {
    const [k, v] = term.split('=')
    return k !== undefined && labels[k] === v
  })
}

export async function fakeKube(dir: string, namespace: string, objects: readonly FakeObject[]): Promise<FakeKube> {
  const requests: string[] = []
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake')
    requests.push(`${req.method ?? ''} ${url.pathname}${url.search}`)
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    const notFound = () => send(404, { kind: 'Status', status: 'Failure', reason: 'NotFound', message: url.pathname })
    if (req.method !== 'GET') return notFound()
    for (const group of ['v1', 'echonet.io/v1alpha1']) {
      if (url.pathname === (group === 'v1' ? '/api/v1' : `/apis/${group}`)) {
        return send(200, {
          resources: Object.entries(RESOURCES)
            .filter(([, r]) => r.group === group)
            .map(([kind, r]) => ({ name: r.plural, kind, namespaced: true })),
        })
      }
    }
    const m = /^\/(?:api|apis)\/(.+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname)
    if (m === null) return notFound()
    const [, group, ns, plural, name] = m
    const kind = Object.entries(RESOURCES).find(([, r]) => r.group === group && r.plural === plural)?.[0]
    const matching = objects.filter((o) => o.kind === kind && o.metadata.namespace === ns)
    if (name === undefined) {
      const items = matching.filter((o) => selects(url.searchParams.get('labelSelector'), o.metadata.labels))
      return send(200, { apiVersion: group, kind: `${kind ?? ''}List`, metadata: {}, items })
    }
    const obj = matching.find((o) => o.metadata.name === name)
    return obj === undefined ? notFound() : send(200, obj)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  const kubeconfig = join(dir, 'fake-kubeconfig')
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
      'users: [{name: fake, user: {token: fake-user-token}}]',
      `contexts: [{name: fake, context: {cluster: fake, user: fake, namespace: ${namespace}}}]`,
      'current-context: fake',
    ].join('\n'),
  )
  return {
    kubeconfig,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
