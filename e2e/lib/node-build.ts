/**
 * A second build of the node for upgrade drills: a copy of node-image's program (package.json,
 * bin, src) with another version, beside the repository's node_modules and native addons. It is
 * a real other build — its program bytes differ, so its digest differs (build-info.ts) — run by
 * the same Node binary.
 */
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readBuildInfo } from '../../node-image/src/node/build-info.ts'
import type { BuildInfo } from '../../node-image/src/node/build-info.ts'

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

export interface NodeBuild extends BuildInfo {
  readonly root: string
  /** The build's CLI entry point. */
  readonly main: string
}

/** Writes the build of `version` at `root` (replacing what was there). */
export async function makeNodeBuild(root: string, version: string): Promise<NodeBuild> {
  const src = join(REPO, 'node-image')
  await rm(root, { recursive: true, force: true })
  await mkdir(root, { recursive: true })
  await cp(join(src, 'src'), join(root, 'src'), { recursive: true })
  await cp(join(src, 'bin'), join(root, 'bin'), { recursive: true })
  const pkg = JSON.parse(await readFile(join(src, 'package.json'), 'utf8')) as Record<string, unknown>
  await writeFile(join(root, 'package.json'), `${JSON.stringify({ ...pkg, version }, null, 2)}\n`)
  // Modules resolve from the repository's node_modules; the addons are the same native code.
  await symlink(join(REPO, 'node_modules'), join(root, 'node_modules'))
  await symlink(join(src, 'native'), join(root, 'native'))
  return { ...readBuildInfo(root), root, main: join(root, 'src/cli/main.ts') }
}
