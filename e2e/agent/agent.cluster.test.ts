// Integration test of the local node agent against a running local cluster (KUBECONFIG set;
// e2e/cluster/cluster-up.sh). Starts its own agent (Node `agent-it-<rand>`, pods on
// 127.77.0.0/16, state in a temp dir) and drives it with real kubectl.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, openSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Pod } from './kube/types.ts'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const kubeconfig = process.env.KUBECONFIG
const suffix = Math.random().toString(36).slice(2, 7)
const node = `agent-it-${suffix}`
const ns = `agent-it-${suffix}`

function kubectl(args: string[], input?: string): string {
  return execFileSync('kubectl', ['--kubeconfig', kubeconfig ?? '', ...args], {
    input,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

function getPod(name: string): Pod | undefined {
  try {
    return JSON.parse(kubectl(['-n', ns, 'get', 'pod', name, '-o', 'json'])) as Pod
  } catch {
    return undefined
  }
}

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** Exists and is not a zombie (a process adopted from an earlier agent may not be reaped here). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

function pvDirOf(claim: string): string {
  const pvName = kubectl(['-n', ns, 'get', 'pvc', claim, '-o', 'jsonpath={.spec.volumeName}'])
  return kubectl(['get', 'pv', pvName, '-o', 'jsonpath={.spec.hostPath.path}'])
}

const isReady = (p: Pod | undefined): boolean =>
  p?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True'

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
  return (await res.json()) as T
}

interface Info {
  pid: number
  cwd: string
  argv: string[]
  env: Record<string, string>
  secret: string | null
  config: string | null
  boots: string[]
  sa: { namespace: string; tokenLength: number } | null
}

const secretYaml = (password: string): string => `
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: ${ns}}
stringData: {password: ${password}, user: alice}
`

const webPod = (name = 'web'): string => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}}
spec:
  nodeSelector: {kubernetes.io/hostname: ${node}}
  terminationGracePeriodSeconds: 10
  containers:
  - name: app
    image: echonet/test-http:v1
    args: ["--mode=$(TEST_LITERAL)", "--data-dir=/data/chain"]
    ports: [{name: http, containerPort: 8080}]
    env:
    - {name: TEST_LITERAL, value: literal-value}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: TEST_PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
    - {name: TEST_GREETING, valueFrom: {configMapKeyRef: {name: settings, key: greeting}}}
    - {name: SECRET_FILE, value: /etc/creds/password}
    - {name: CONFIG_FILE, value: /etc/settings/app.conf}
    - {name: DATA_DIR, value: /data}
    envFrom:
    - {prefix: FROM_, configMapRef: {name: settings}}
    volumeMounts:
    - {name: creds, mountPath: /etc/creds, readOnly: true}
    - {name: settings, mountPath: /etc/settings}
    - {name: data, mountPath: /data}
    - {name: scratch, mountPath: /scratch}
    readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 1}
    livenessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 5, failureThreshold: 3}
  volumes:
  - {name: creds, secret: {secretName: creds}}
  - {name: settings, configMap: {name: settings}}
  - {name: data, persistentVolumeClaim: {claimName: data}}
  - {name: scratch, emptyDir: {}}
`

// Part of the cluster tier: without KUBECONFIG this is a failure, never a silent skip.
if (kubeconfig === undefined) throw new Error('KUBECONFIG is not set; start the cluster with e2e/cluster/cluster-up.sh')

describe('local node agent against the local cluster', () => {
  let stateDir = ''
  let agent: ChildProcess | undefined
  let agentLog = ''

  function startAgent(): ChildProcess {
    const fd = openSync(agentLog, 'a')
    const child = spawn(
      process.execPath,
      [
        path.join(repoRoot, 'e2e/agent/main.ts'),
        '--node-name',
        node,
        '--state-dir',
        stateDir,
        '--pod-cidr',
        '127.77.0.0/16',
        '--kubeconfig',
        kubeconfig ?? '',
        '--log-level',
        'debug',
      ],
      {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      },
    )
    return child
  }

  async function stopAgent(signal: NodeJS.Signals): Promise<void> {
    const a = agent
    if (a === undefined || a.exitCode !== null) return
    const exited = new Promise((r) => a.once('exit', r))
    a.kill(signal)
    await exited
    agent = undefined
  }

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'echonet-agent-it-'))
    agentLog = path.join(stateDir, 'agent.log')
    kubectl(['create', 'namespace', ns])
    agent = startAgent()
    await waitFor(
      `node ${node} Ready`,
      () => {
        try {
          return (
            kubectl(['get', 'node', node, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']) === 'True'
          )
        } catch {
          return undefined
        }
      },
      30_000,
    )
    // The default ServiceAccount of the new namespace must exist before pods can be created.
    await waitFor('default service account', () => {
      try {
        return kubectl(['-n', ns, 'get', 'serviceaccount', 'default', '-o', 'name']) !== ''
      } catch {
        return undefined
      }
    })
    kubectl(['apply', '-f', '-'], secretYaml('hunter2'))
    kubectl(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: ${ns}}
data: {greeting: hello, app.conf: "level=3\\n"}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: ${ns}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
`,
    )
  })

  afterAll(async () => {
    try {
      if (agent !== undefined) kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=90s'])
    } catch (err) {
      console.error(`deleting namespace ${ns}: ${String(err)}`)
    }
    await stopAgent('SIGTERM')
    try {
      kubectl(['delete', 'node', node, '--ignore-not-found'])
    } catch {
      // best effort
    }
    if (process.env.KEEP_AGENT_STATE === undefined) await rm(stateDir, { recursive: true, force: true })
    else console.log(`agent state and log kept in ${stateDir}`)
  })

  let podIP = ''
  let firstPid = 0

  it('runs a pod: Ready with its own 127.x IP; env, Secret, ConfigMap, PVC and token reach the process', async () => {
    const t0 = Date.now()
    kubectl(['apply', '-f', '-'], webPod())
    const pod = await waitFor('pod web Ready', () => {
      const p = getPod('web')
      return isReady(p) ? p : undefined
    })
    console.log(`pod web: create → Ready in ${Date.now() - t0} ms`)
    podIP = pod.status?.podIP ?? ''
    expect(podIP).toMatch(/^127\.77\.\d+\.\d+$/)
    expect(pod.status?.podIPs).toEqual([{ ip: podIP }])
    expect(pod.status?.hostIP).toBe('127.0.0.1')
    expect(pod.spec.nodeName).toBe(node)
    expect(pod.status?.containerStatuses?.[0]).toMatchObject({
      name: 'app',
      ready: true,
      started: true,
      restartCount: 0,
    })

    const info = await getJson<Info>(`http://${podIP}:8080/info`)
    firstPid = info.pid
    const pvName = kubectl(['-n', ns, 'get', 'pvc', 'data', '-o', 'jsonpath={.spec.volumeName}'])
    const pvDir = kubectl(['get', 'pv', pvName, '-o', 'jsonpath={.spec.hostPath.path}'])
    // Provisioned by this agent or by another one on the same host (any agent may win the race).
    expect(pvDir).toMatch(new RegExp(`/volumes/${pvName}$`))
    expect(info.env).toMatchObject({
      TEST_LITERAL: 'literal-value',
      POD_IP: podIP,
      POD_NAME: 'web',
      POD_NAMESPACE: ns,
      NODE_NAME: node,
      TEST_PASSWORD: 'hunter2',
      TEST_GREETING: 'hello',
      FROM_greeting: 'hello',
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      HOSTNAME: 'web',
      DATA_DIR: pvDir,
    })
    expect(info.env.KUBERNETES_SERVICE_PORT).toMatch(/^\d+$/)
    expect(info.argv).toEqual(['--mode=literal-value', `--data-dir=${pvDir}/chain`])
    expect(info.secret).toBe('hunter2')
    expect(info.config).toBe('level=3\n')
    expect(info.boots).toHaveLength(1)
    expect(info.sa).toMatchObject({ namespace: ns })
    expect(info.sa?.tokenLength).toBeGreaterThan(100)
    expect(info.env.ECHONET_SA_DIR).toMatch(new RegExp(`^${stateDir}/pods/`))
    // Secret files are owner-only.
    expect(
      execFileSync('stat', ['-L', '-c', '%a', path.join(info.env.ECHONET_ROOT ?? '', 'etc/creds/password')], {
        encoding: 'utf8',
      }).trim(),
    ).toBe('600')

    // The projected token is a real, pod-bound service-account token.
    const who = await getJson<{ status?: { userInfo?: { username?: string; extra?: Record<string, string[]> } } }>(
      `http://${podIP}:8080/whoami`,
    )
    expect(who.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:default`)
    expect(who.status?.userInfo?.extra?.['authentication.kubernetes.io/pod-name']).toEqual(['web'])
  })

  it('updates a mounted Secret in place (env stays as started)', async () => {
    kubectl(['apply', '-f', '-'], secretYaml('rotated'))
    const info = await waitFor(
      'secret file update',
      async () => {
        const i = await getJson<Info>(`http://${podIP}:8080/info`)
        return i.secret === 'rotated' ? i : undefined
      },
      30_000,
      500,
    )
    expect(info.env.TEST_PASSWORD).toBe('hunter2')
    expect(info.pid).toBe(firstPid)
  })

  it('restarts a killed process (restartCount, lastState) and the pod becomes Ready again', async () => {
    process.kill(firstPid, 'SIGKILL')
    const pod = await waitFor('restart', () => {
      const p = getPod('web')
      return (p?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && isReady(p) ? p : undefined
    })
    const cs = pod.status?.containerStatuses?.[0]
    expect(cs?.restartCount).toBe(1)
    expect(cs?.lastState.terminated).toMatchObject({ exitCode: 137, reason: 'Error' })
    const info = await getJson<Info>(`http://${podIP}:8080/info`)
    expect(info.pid).not.toBe(firstPid)
    expect(info.boots).toHaveLength(2)
    expect(pod.status?.podIP).toBe(podIP)
  })

  it('adopts running processes after an agent restart', async () => {
    const before = await getJson<Info>(`http://${podIP}:8080/info`)
    const containerID = getPod('web')?.status?.containerStatuses?.[0]?.containerID
    await stopAgent('SIGUSR2') // exit, leaving the processes running
    expect((await getJson<Info>(`http://${podIP}:8080/info`)).pid).toBe(before.pid)
    agent = startAgent()
    await waitFor(
      'adoption logged',
      () => readFileSync(agentLog, 'utf8').match(/adopted process .*pod=[^ ]*\/web/) ?? undefined,
      30_000,
    )
    await new Promise((r) => setTimeout(r, 3000))
    const pod = getPod('web')
    expect(isReady(pod)).toBe(true)
    expect(pod?.status?.containerStatuses?.[0]).toMatchObject({ restartCount: 1, containerID })
    expect((await getJson<Info>(`http://${podIP}:8080/info`)).pid).toBe(before.pid)
  })

  it('is quiet when idle: only Lease renewals are written', async () => {
    const auditLog = process.env.ECHONET_AUDIT_LOG ?? path.join(path.dirname(kubeconfig), 'logs/audit.log')
    expect(existsSync(auditLog), `audit log at ${auditLog}`).toBe(true)
    await new Promise((r) => setTimeout(r, 5000)) // let the restart settle
    const from = Date.now()
    await new Promise((r) => setTimeout(r, 25_000))
    const writes = (await readFile(auditLog, 'utf8'))
      .split('\n')
      .filter((l) => l.includes(`echonet-local-agent/${node}`))
      .map(
        (l) =>
          JSON.parse(l) as {
            stage: string
            verb: string
            requestReceivedTimestamp: string
            objectRef?: { resource?: string }
          },
      )
      .filter((e) => e.stage === 'ResponseComplete' && Date.parse(e.requestReceivedTimestamp) >= from)
    const resources = new Set(writes.map((e) => `${e.verb} ${e.objectRef?.resource ?? ''}`))
    expect([...resources]).toEqual(['update leases'])
    expect(writes.length).toBeGreaterThanOrEqual(2)
    expect(writes.length).toBeLessThanOrEqual(3)
  })

  it('deletes gracefully (SIGTERM, then the pod object goes) and keeps the PVC directory', async () => {
    const pid = (await getJson<Info>(`http://${podIP}:8080/info`)).pid
    const pvDir = pvDirOf('data')
    const t0 = Date.now()
    kubectl(['-n', ns, 'delete', 'pod', 'web', '--wait=true', '--timeout=60s'])
    console.log(`pod web: delete → gone in ${Date.now() - t0} ms`)
    expect(getPod('web')).toBeUndefined()
    expect(await readFile(path.join(pvDir, 'signals.log'), 'utf8')).toContain(`SIGTERM ${pid}`)
    expect(alive(pid)).toBe(false)

    kubectl(['apply', '-f', '-'], webPod())
    const pod = await waitFor('re-created pod Ready', () => {
      const p = getPod('web')
      return isReady(p) ? p : undefined
    })
    expect(pod.status?.podIP).toBe(podIP) // same name → same address
    const info = await getJson<Info>(`http://${podIP}:8080/info`)
    expect(info.boots).toHaveLength(3) // the data survived the pod
  })

  it('never runs two processes for one pod name, even after a forced delete', async () => {
    const old = await getJson<Info>(`http://${podIP}:8080/info`)
    kubectl(['-n', ns, 'delete', 'pod', 'web', '--force', '--grace-period=0'])
    kubectl(['apply', '-f', '-'], webPod())
    await waitFor('pod web Ready again', () => {
      const p = getPod('web')
      return isReady(p) && (p?.status?.containerStatuses?.[0]?.containerID ?? '') !== '' ? p : undefined
    })
    const info = await getJson<Info>(`http://${podIP}:8080/info`)
    expect(info.pid).not.toBe(old.pid)
    const signals = await readFile(path.join(info.env.DATA_DIR ?? '', 'signals.log'), 'utf8')
    const termLine = signals.split('\n').find((l) => l.startsWith(`SIGTERM ${old.pid} `))
    const bootLine = info.boots.find((l) => l.startsWith(`boot ${info.pid} `))
    expect(termLine).toBeDefined()
    expect(bootLine).toBeDefined()
    // The old process got SIGTERM and exited (300 ms later) before the new one started.
    expect(Date.parse(bootLine!.split(' ')[2]!)).toBeGreaterThan(Date.parse(termLine!.split(' ')[2]!) + 250)
  })

  it('shows ImageNotMapped for an image without a mapping', async () => {
    kubectl(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata: {name: unmapped, namespace: ${ns}}
spec:
  nodeSelector: {kubernetes.io/hostname: ${node}}
  containers: [{name: c, image: "registry.example.com/nope/thing:1.0"}]
`,
    )
    const waiting = await waitFor('ImageNotMapped', () => {
      const w = getPod('unmapped')?.status?.containerStatuses?.[0]?.state.waiting
      return w?.reason === 'ImageNotMapped' ? w : undefined
    })
    expect(waiting.message).toContain('registry.example.com/nope/thing:1.0')
    expect(waiting.message).toContain('images.json')
    expect(getPod('unmapped')?.status?.phase).toBe('Pending')
  })

  it('runs init containers, then honours restartPolicy Never (exit code, phase Failed)', async () => {
    kubectl(
      ['apply', '-f', '-'],
      `
apiVersion: v1
kind: Pod
metadata: {name: once, namespace: ${ns}}
spec:
  nodeSelector: {kubernetes.io/hostname: ${node}}
  restartPolicy: Never
  initContainers: [{name: init, image: echonet/test-http, command: [sh, -c, "echo init > /work/marker"], volumeMounts: [{name: w, mountPath: /work}]}]
  containers: [{name: main, image: echonet/test-http, command: [sh, -c, "cat /work/marker; exit 3"], volumeMounts: [{name: w, mountPath: /work}]}]
  volumes: [{name: w, emptyDir: {}}]
`,
    )
    const pod = await waitFor('pod once Failed', () => {
      const p = getPod('once')
      return p?.status?.phase === 'Failed' ? p : undefined
    })
    expect(pod.status?.initContainerStatuses?.[0]?.state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' })
    expect(pod.status?.containerStatuses?.[0]?.state.terminated).toMatchObject({ exitCode: 3, reason: 'Error' })
    const log = path.join(stateDir, 'pods', `${ns}_once_${pod.metadata.uid}`, 'logs/main/0.log')
    expect(await readFile(log, 'utf8')).toBe('init\n')
    // kubectl logs goes apiserver → the agent's containerLogs endpoint.
    expect(kubectl(['-n', ns, 'logs', 'once', '-c', 'main'])).toBe('init\n')
  })

  it('deletes the PVC directory with the claim', async () => {
    const pvName = kubectl(['-n', ns, 'get', 'pvc', 'data', '-o', 'jsonpath={.spec.volumeName}'])
    const pvDir = pvDirOf('data')
    expect(existsSync(pvDir)).toBe(true)
    kubectl(['-n', ns, 'delete', 'pod', 'web', '--wait=true', '--timeout=60s'])
    kubectl(['-n', ns, 'delete', 'pvc', 'data', '--wait=true', '--timeout=60s'])
    await waitFor('PV deleted', () => {
      try {
        kubectl(['get', 'pv', pvName])
        return undefined
      } catch {
        return true
      }
    })
    expect(existsSync(pvDir)).toBe(false)
  })
})
