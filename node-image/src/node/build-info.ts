/**
 * What this node runs (issue 9, Cosmos x/upgrade's "binary" check): its version from the package
 * and a digest of its program — sha256 over the sorted paths and contents of every source file
 * of the package (tests excluded) and its package.json. Two builds that differ in any byte of the
 * program differ in digest; the same tree gives the same digest on every machine. An upgrade plan
 * names the version and digest the network moves to (`echonet-node version` prints both).
 */
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import semver from 'semver'

export interface BuildInfo {
  readonly version: string
  /** `sha256:<64 hex>`, the format of an upgrade plan's binaryDigest. */
  readonly binaryDigest: string
}

const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url))

function programFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...programFiles(p))
    else if (e.isFile() && !/\.test\.ts$/.test(e.name) && !e.name.endsWith('testkit.ts')) out.push(p)
  }
  return out
}

/** The build of the package rooted at `root` (this node's own by default). */
export function readBuildInfo(root: string = PACKAGE_ROOT): BuildInfo {
  const pkgPath = join(root, 'package.json')
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { version?: unknown }
  const version = typeof pkg.version === 'string' && semver.valid(pkg.version) !== null ? pkg.version : '0.0.0'
  const files = [pkgPath, ...programFiles(join(root, 'src'))]
    .map((f) => ({ f, rel: relative(root, f).split(sep).join('/') }))
    .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
  const h = createHash('sha256')
  for (const { f, rel } of files) {
    h.update(rel)
      .update('\0')
      .update(createHash('sha256').update(readFileSync(f)).digest())
      .update('\n')
  }
  return { version, binaryDigest: `sha256:${h.digest('hex')}` }
}

let own: BuildInfo | undefined
export function buildInfo(): BuildInfo {
  own ??= readBuildInfo()
  return own
}

/**
 * Whether a node of `build` may execute blocks from the plan's height on: at least the plan's
 * minVersion and exactly its digest. Otherwise, the reason, naming what it needs.
 */
export function upgradeProblem(
  build: BuildInfo,
  plan: { name: string; height: number; minVersion: string; binaryDigest: string },
): string | undefined {
  if (versionAtLeast(build.version, plan.minVersion) && build.binaryDigest === plan.binaryDigest) return undefined
  return (
    `upgrade ${plan.name} activates at height ${plan.height} and needs echonet-node ≥ ${plan.minVersion} ` +
    `with digest ${plan.binaryDigest}; this node runs ${build.version} (${build.binaryDigest})`
  )
}

/** `version` ≥ `min` as semantic versions; an invalid min is never met. */
export function versionAtLeast(version: string, min: string): boolean {
  return semver.valid(min) !== null && semver.valid(version) !== null && semver.gte(version, min)
}
