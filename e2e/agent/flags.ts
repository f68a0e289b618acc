// Command-line flags (pure: argv + environment in, configuration out).
import path from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_POD_CIDR, parsePodCidr, type PodNetworkMode } from './ip.ts'
import type { Level } from './log.ts'

export interface Flags {
  nodeName: string
  kubeconfig: string
  stateDir: string
  imagesFile: string
  /** Image mode: run images found in this directory of OCI archives (`--image-dir`). */
  imageDir: string | undefined
  podCIDR: string
  /** `loopback`: pods share the host network on 127.A.x.y; `netns`: own namespaces on a bridge. */
  podNetwork: PodNetworkMode
  cpu: string
  memory: string
  maxPods: string
  apiHost: string | undefined
  provisioner: boolean
  kubeletPort: number
  logLevel: Level
  /** Extra labels of the Node (`--node-label zone=a`, repeatable): what pods' nodeSelectors match. */
  nodeLabels: Record<string, string>
  help: boolean
}

export const usage = `Usage: node e2e/agent/main.ts [flags]

EchoNet local node agent: a development/CI stand-in for the kubelet that runs the Pods bound
to its Node as host processes. Not for production.

  --node-name NAME      Node to register (default local-agent-0)
  --kubeconfig FILE     default $KUBECONFIG, else <cluster dir>/kubeconfig
  --state-dir DIR       pod dirs, logs, pid files, volumes (default <cluster dir>/agent)
  --images FILE         image → program map (default e2e/agent/images.json)
  --image-dir DIR       image mode: run images found among DIR/*.oci.tar (make images:
                        dist/images) chrooted in their unpacked layers as their user (needs
                        root); other images still map through --images. Env ECHONET_AGENT_IMAGES
  --pod-network MODE    loopback (default): pods share the host network, each binding its own
                        127.A.x.y; netns: each pod in its own network namespace, 10.244.A.y on
                        the bridge echonet0 (host: 10.244.0.1; needs root and iproute2).
                        Env ECHONET_AGENT_POD_NETWORK
  --pod-cidr CIDR       pool for pod IPs: 127.A.0.0/16 (loopback, default 127.1.0.0/16) or
                        10.244.A.0/24, A >= 1 (netns, default 10.244.1.0/24)
  --cpu N               Node capacity (default: number of CPUs)
  --memory QTY          Node capacity (default: total memory)
  --max-pods N          Node capacity (default 110)
  --api-host HOST       KUBERNETES_SERVICE_HOST for pods (default: the kubeconfig's server host)
  --no-provisioner      do not provision PersistentVolumes for Pending claims
  --kubelet-port N      port on 127.0.0.1 serving \`kubectl logs\` (default 0: any free port)
  --log-level LEVEL     debug | info | warn | error (default info)
  --node-label K=V      an extra label of the Node (repeatable), e.g. a zone for nodeSelectors

Signals: SIGTERM/SIGINT stop the agent and its pods' processes; SIGUSR2 stops the agent and
leaves the processes running (the next agent adopts them).`

export interface FlagDefaults {
  repoRoot: string
  cpus: number
  totalMemBytes: number
}

function kubeletPort(v: string): number {
  const n = Number(v)
  if (!/^\d+$/.test(v) || n > 65535) throw new Error(`--kubelet-port must be 0..65535, got ${JSON.stringify(v)}`)
  return n
}

const levels: readonly Level[] = ['debug', 'info', 'warn', 'error']

export function parseFlags(argv: string[], env: Record<string, string | undefined>, d: FlagDefaults): Flags {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'node-name': { type: 'string' },
      kubeconfig: { type: 'string' },
      'state-dir': { type: 'string' },
      images: { type: 'string' },
      'image-dir': { type: 'string' },
      'pod-cidr': { type: 'string' },
      'pod-network': { type: 'string' },
      cpu: { type: 'string' },
      memory: { type: 'string' },
      'max-pods': { type: 'string' },
      'api-host': { type: 'string' },
      'no-provisioner': { type: 'boolean' },
      'kubelet-port': { type: 'string' },
      'log-level': { type: 'string' },
      'node-label': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const clusterDir = env.ECHONET_CLUSTER_DIR ?? path.join(d.repoRoot, '.cluster')
  const nodeName = values['node-name'] ?? 'local-agent-0'
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(nodeName))
    throw new Error(`invalid node name ${JSON.stringify(nodeName)}`)
  const podNetwork = values['pod-network'] ?? env.ECHONET_AGENT_POD_NETWORK ?? 'loopback'
  if (podNetwork !== 'loopback' && podNetwork !== 'netns')
    throw new Error(`--pod-network must be loopback or netns, got ${JSON.stringify(podNetwork)}`)
  const podCIDR = values['pod-cidr'] ?? DEFAULT_POD_CIDR[podNetwork]
  parsePodCidr(podCIDR, podNetwork)
  const logLevel = (values['log-level'] ?? 'info') as Level
  if (!levels.includes(logLevel)) throw new Error(`invalid log level ${JSON.stringify(logLevel)}`)
  const intFlag = (name: string, v: string): string => {
    if (!/^[1-9]\d*$/.test(v)) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(v)}`)
    return v
  }
  const nodeLabels: Record<string, string> = {}
  for (const l of values['node-label'] ?? []) {
    const m =
      /^([a-z0-9A-Z]([-a-z0-9A-Z_./]{0,251}[a-z0-9A-Z])?)=([a-z0-9A-Z]([-a-z0-9A-Z_.]{0,61}[a-z0-9A-Z])?)?$/.exec(l)
    if (m === null) throw new Error(`--node-label must be key=value (a Kubernetes label), got ${JSON.stringify(l)}`)
    nodeLabels[m[1]!] = m[3] ?? ''
  }
  return {
    nodeName,
    kubeconfig: path.resolve(values.kubeconfig ?? env.KUBECONFIG ?? path.join(clusterDir, 'kubeconfig')),
    stateDir: path.resolve(values['state-dir'] ?? path.join(clusterDir, 'agent')),
    imagesFile: path.resolve(values.images ?? path.join(d.repoRoot, 'e2e/agent/images.json')),
    imageDir: ((d) => (d === undefined || d === '' ? undefined : path.resolve(d)))(
      values['image-dir'] ?? env.ECHONET_AGENT_IMAGES,
    ),
    podCIDR,
    podNetwork,
    cpu: intFlag('cpu', values.cpu ?? String(d.cpus)),
    memory: values.memory ?? `${Math.floor(d.totalMemBytes / 1024)}Ki`,
    maxPods: intFlag('max-pods', values['max-pods'] ?? '110'),
    apiHost: values['api-host'],
    provisioner: values['no-provisioner'] !== true,
    kubeletPort: kubeletPort(values['kubelet-port'] ?? '0'),
    logLevel,
    nodeLabels,
    help: values.help === true,
  }
}
