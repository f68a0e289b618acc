// State-directory layout and the mapping of in-container paths to host paths (pure).
//
// Host processes share one filesystem, so a volume "mounted" at /data cannot appear at /data.
// Instead each container gets a root directory in which every mountPath is a symlink to the
// volume's host directory (`$ECHONET_ROOT/data` → volume), and absolute paths under a mountPath
// in env values, command, args and workingDir are rewritten to the host path
// (`--data-dir=/data/chain` → `--data-dir=<pvc dir>/chain`).
import path from 'node:path'
import type { Pod } from './kube/types.ts'

export interface PodRef {
  namespace: string
  name: string
  uid: string
}

export function podRef(pod: Pod): PodRef {
  return { namespace: pod.metadata.namespace ?? 'default', name: pod.metadata.name, uid: pod.metadata.uid }
}

/** `<ns>_<name>_<uid>`, like the kubelet's /var/log/pods entries. */
export function podDirName(p: PodRef): string {
  return `${p.namespace}_${p.name}_${p.uid}`
}

export function parsePodDirName(dir: string): PodRef | undefined {
  const m = /^([^_]+)_([^_]+)_([0-9a-f-]{36})$/.exec(dir)
  return m === null ? undefined : { namespace: m[1]!, name: m[2]!, uid: m[3]! }
}

export class Layout {
  readonly stateDir: string
  constructor(stateDir: string) {
    this.stateDir = path.resolve(stateDir)
  }
  get podsDir(): string {
    return path.join(this.stateDir, 'pods')
  }
  podDir(p: PodRef): string {
    return path.join(this.podsDir, podDirName(p))
  }
  volumeDir(p: PodRef, volume: string): string {
    return path.join(this.podDir(p), 'volumes', volume)
  }
  containerRoot(p: PodRef, container: string): string {
    return path.join(this.podDir(p), 'containers', container, 'root')
  }
  logFile(p: PodRef, container: string, restartCount: number): string {
    return path.join(this.podDir(p), 'logs', container, `${restartCount}.log`)
  }
  runDir(p: PodRef): string {
    return path.join(this.podDir(p), 'run')
  }
  pidFile(p: PodRef, container: string): string {
    return path.join(this.runDir(p), `${container}.json`)
  }
  /** Directory of a PersistentVolume the agent provisioned. */
  pvDir(pvName: string): string {
    return path.join(this.stateDir, 'volumes', pvName)
  }
}

export interface MountMapping {
  /** Path inside the "container", e.g. /data. */
  mountPath: string
  /** Host path it stands for (volume dir, or a file/dir in it for subPath). */
  hostPath: string
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

const boundaryBefore = `(^|[=:,;\\s'"])`
const boundaryAfter = `(?=$|[/:,;\\s'"])`

/**
 * Rewrites absolute paths at or under a mountPath (at the start of the value or after one of
 * `= : , ;` whitespace or a quote) to the host path. Longest mountPath first; `/` is never
 * rewritten.
 */
export function rewritePaths(value: string, mounts: readonly MountMapping[]): string {
  const sorted = mounts
    .map((m) => ({ ...m, mountPath: normalizeMountPath(m.mountPath) }))
    .filter((m) => m.mountPath !== '/')
    .sort((a, b) => b.mountPath.length - a.mountPath.length)
  if (sorted.length === 0) return value
  const re = new RegExp(
    boundaryBefore + '(' + sorted.map((m) => escapeRegExp(m.mountPath)).join('|') + ')' + boundaryAfter,
    'g',
  )
  return value.replace(re, (_all, pre: string, mp: string) => pre + sorted.find((m) => m.mountPath === mp)!.hostPath)
}

export function normalizeMountPath(p: string): string {
  const n = path.posix.normalize(p)
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n
}

/**
 * Host path of an in-container path: rewritten when under a mount, else placed inside the
 * container's root directory.
 */
export function hostPathFor(p: string, mounts: readonly MountMapping[], root: string): string {
  const rewritten = rewritePaths(p, mounts)
  return rewritten !== p ? rewritten : path.join(root, p)
}
