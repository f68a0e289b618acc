// From a container spec to what is executed (pure): argv (image entry point + command/args with
// `$(VAR)` expansion, as the kubelet does), environment, working directory, and the host paths
// standing in for volume mounts.
import path from 'node:path'
import type { Container, Pod } from './kube/types.ts'
import { expand } from './env.ts'
import { containerArgv, type ImageEntry } from './images.ts'
import { hostPathFor, normalizeMountPath, rewritePaths, type MountMapping } from './paths.ts'

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount'

/** Mount mappings of a container, given the host directory of each pod volume. */
export function mountMappings(
  container: Container,
  volumePaths: ReadonlyMap<string, string>,
  env: Record<string, string>,
): { mounts: MountMapping[]; errors: string[] } {
  const mounts: MountMapping[] = []
  const errors: string[] = []
  for (const vm of container.volumeMounts ?? []) {
    const base = volumePaths.get(vm.name)
    if (base === undefined) {
      errors.push(`volume ${JSON.stringify(vm.name)} is not available`)
      continue
    }
    const sub = vm.subPathExpr !== undefined ? expand(vm.subPathExpr, (n) => env[n]) : (vm.subPath ?? '')
    if (sub.startsWith('/') || sub.split('/').includes('..')) {
      errors.push(`invalid subPath ${JSON.stringify(sub)} for volume ${vm.name}`)
      continue
    }
    mounts.push({ mountPath: normalizeMountPath(vm.mountPath), hostPath: sub === '' ? base : path.join(base, sub) })
  }
  return { mounts, errors }
}

export interface LaunchInput {
  container: Container
  entry: ImageEntry
  /** The container's resolved environment (resolveEnv). */
  env: Record<string, string>
  mounts: MountMapping[]
  /** The container's root directory (mountPaths are symlinked inside it). */
  root: string
  /** Variables every process gets (PATH, HOME, ...), overridable by the pod. */
  baseEnv: Record<string, string>
  hostname: string
}

export interface LaunchPlan {
  argv: string[]
  env: Record<string, string>
  cwd: string
  saDir: string | undefined
}

export function planLaunch(i: LaunchInput): LaunchPlan {
  const lookup = (n: string): string | undefined => i.env[n]
  // Only what the pod spec says is in the container's filesystem view and gets rewritten; the
  // image's entry point and default args are host paths already (images.json), which a mount
  // such as /tmp must not capture when the repository itself lives under /tmp.
  const command = i.container.command?.map((a) => rewritePaths(expand(a, lookup), i.mounts))
  const args = i.container.args?.map((a) => rewritePaths(expand(a, lookup), i.mounts))
  const argv = containerArgv(i.entry, command, args)
  const saDir = i.mounts.find((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT)?.hostPath
  const env: Record<string, string> = { ...i.baseEnv, HOSTNAME: i.hostname }
  for (const [k, v] of Object.entries(i.env)) env[k] = rewritePaths(v, i.mounts)
  env.ECHONET_ROOT = i.root
  if (saDir !== undefined) env.ECHONET_SA_DIR = saDir
  const cwd =
    i.container.workingDir === undefined || i.container.workingDir === ''
      ? i.root
      : hostPathFor(i.container.workingDir, i.mounts, i.root)
  return { argv, env, cwd, saDir }
}

/** What image mode needs to know of the image (its config, and where it is unpacked). */
export interface ImageRuntime {
  /** The unpacked root filesystem (shared by every container of this digest; never written). */
  rootfs: string
  entrypoint: string[]
  cmd: string[]
  /** NAME=VALUE, as in the image config. */
  env: string[]
  workingDir: string
  /** The image's user, resolved against its /etc/passwd and /etc/group. */
  uid: number
  gid: number
}

export interface ImageLaunchInput {
  container: Container
  pod: Pod
  image: ImageRuntime
  /** The container's resolved environment (resolveEnv): overrides the image's. */
  env: Record<string, string>
  mounts: MountMapping[]
  /** The container's state directory (overlay upper/work and mount point). */
  state: string
  /** e2e/agent/container-run.sh */
  runner: string
  /** The agent's own variables (PATH …) for the runner script itself, not for the container. */
  baseEnv: Record<string, string>
  hostname: string
}

/**
 * Image mode: the container runs chrooted in its image (container-run.sh), so paths are the
 * container's own: nothing is rewritten, volumes are bind-mounted at their mountPaths, the
 * service-account token is at the standard path. User: runAsUser/runAsGroup of the container,
 * else of the pod, else the image's.
 */
export function planImageLaunch(i: ImageLaunchInput): LaunchPlan & { uid: number; gid: number } {
  const lookup = (n: string): string | undefined => i.env[n]
  const command = i.container.command?.map((a) => expand(a, lookup))
  const args = i.container.args?.map((a) => expand(a, lookup))
  const argv = containerArgv({ entrypoint: i.image.entrypoint, cmd: i.image.cmd }, command, args)
  const env: Record<string, string> = {}
  for (const kv of i.image.env) {
    const eq = kv.indexOf('=')
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  env.HOSTNAME = i.hostname
  Object.assign(env, i.env)
  const csc = i.container.securityContext
  const psc = i.pod.spec.securityContext
  const uid = csc?.runAsUser ?? psc?.runAsUser ?? i.image.uid
  const gid = csc?.runAsGroup ?? psc?.runAsGroup ?? i.image.gid
  const wd =
    i.container.workingDir !== undefined && i.container.workingDir !== '' ? i.container.workingDir : i.image.workingDir
  const runner = [i.runner, '--lower', i.image.rootfs, '--state', i.state, '--user', `${uid}:${gid}`]
  runner.push('--wd', wd === '' ? '/' : wd, '--hostname', i.hostname)
  if (csc?.readOnlyRootFilesystem === true) runner.push('--read-only')
  for (const m of i.mounts) {
    const vm = (i.container.volumeMounts ?? []).find((v) => normalizeMountPath(v.mountPath) === m.mountPath)
    runner.push('--bind', `${m.hostPath}:${m.mountPath}${vm?.readOnly === true ? ':ro' : ''}`)
  }
  for (const [k, v] of Object.entries(env)) runner.push('--env', `${k}=${v}`)
  const saDir = i.mounts.find((m) => m.mountPath === SERVICE_ACCOUNT_MOUNT)?.hostPath
  return { argv: [...runner, '--', ...argv], env: { ...i.baseEnv }, cwd: i.state, saDir, uid, gid }
}
