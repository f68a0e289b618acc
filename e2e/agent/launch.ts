// From a container spec to what is executed (pure): argv (image entry point + command/args with
// `$(VAR)` expansion, as the kubelet does), environment, working directory, and the host paths
// standing in for volume mounts.
import path from 'node:path'
import type { Container } from './kube/types.ts'
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
