/**
 * What every `kubectl-echonet` command shares: the global flags, the API server client (like
 * kubectl: kubeconfig, context, namespace), durations and output formats.
 */
import { InvalidArgumentError } from 'commander'
import type { K8sClient } from '../k8s/index.ts'
import type { OutputFormat } from './render.ts'

export interface Globals {
  namespace?: string
  allNamespaces?: boolean
  output: OutputFormat
  kubeconfig?: string
  context?: string
}

/**
 * The API server client, loaded on first use: the Kubernetes client library takes seconds to
 * import, and the offline commands (council sign, action --network-id, submit --url) never need it.
 */
export async function client(g: Globals): Promise<{ c: K8sClient; namespace: string }> {
  const { K8sClient, loadKubeConfig } = await import('../k8s/index.ts')
  const kc = loadKubeConfig(g.kubeconfig !== undefined ? { kubeconfig: g.kubeconfig } : {})
  if (g.context !== undefined) kc.setCurrentContext(g.context)
  const ctxNs = kc.getContextObject(kc.getCurrentContext())?.namespace
  return { c: new K8sClient(kc), namespace: g.namespace ?? ctxNs ?? 'default' }
}

export const out = (s: string): void => {
  process.stdout.write(s)
}

export function duration(v: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(v)
  if (m === null) throw new InvalidArgumentError('a duration like 30m, 2h or 1d')
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']
}

export function outputFormat(v: string): OutputFormat {
  if (v !== 'json' && v !== 'yaml' && v !== 'text') throw new InvalidArgumentError('json, yaml or text')
  return v
}
