// The kubelet's AtomicWriter layout for Secret/ConfigMap/projected volumes: the payload lives in
// a timestamped directory `..<time>.<rand>`, the symlink `..data` points at it, and each
// top-level entry is a symlink `name -> ..data/name`. An update writes a new directory and
// renames a fresh symlink over `..data`, so a reader sees either the old or the new payload,
// never a mix.
import { randomBytes } from 'node:crypto'
import {
  lstat,
  mkdir,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
  chmod,
  chown,
} from 'node:fs/promises'
import path from 'node:path'
import type { FileContent } from './volumes.ts'

const DATA = '..data'

async function readlinkOrUndefined(p: string): Promise<string | undefined> {
  try {
    return await readlink(p)
  } catch {
    return undefined
  }
}

/**
 * The mode a file gets: its own, plus group read (and execute) from its owner bits when the
 * volume belongs to a group (the pod's fsGroup, as the kubelet does: 0400 → 0440).
 */
export function effectiveMode(mode: number, gid: number | undefined): number {
  return gid === undefined ? mode : mode | ((mode & 0o500) >> 3)
}

async function sameContent(dir: string, files: Map<string, FileContent>, gid: number | undefined): Promise<boolean> {
  const existing = await listFiles(dir)
  if (existing.length !== files.size) return false
  for (const [rel, f] of files) {
    try {
      const full = path.join(dir, rel)
      const [buf, st] = await Promise.all([readFile(full), stat(full)])
      if (!buf.equals(f.content) || (st.mode & 0o777) !== effectiveMode(f.mode, gid)) return false
      if (gid !== undefined && st.gid !== gid) return false
    } catch {
      return false
    }
  }
  return true
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix === '' ? e.name : `${prefix}/${e.name}`
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), rel)))
    else out.push(rel)
  }
  return out
}

function timestampName(now: Date): string {
  const iso = now.toISOString().replace(/[-:]/g, '_').replace('T', '_').replace(/\..*$/, '')
  return `..${iso}.${randomBytes(4).toString('hex')}`
}

/**
 * Makes `dir` hold exactly `files`. Returns whether anything changed. With `gid` (image mode's
 * fsGroup) the files belong to that group and are group-readable before they become visible, so
 * a non-root reader never meets a file it cannot open (nor does a later write see a difference).
 */
export async function writeAtomic(
  dir: string,
  files: Map<string, FileContent>,
  now = new Date(),
  gid?: number,
): Promise<boolean> {
  await mkdir(dir, { recursive: true })
  const oldTarget = await readlinkOrUndefined(path.join(dir, DATA))
  if (oldTarget !== undefined && (await sameContent(path.join(dir, oldTarget), files, gid))) return false

  const tsName = timestampName(now)
  const tsDir = path.join(dir, tsName)
  await mkdir(tsDir, { mode: 0o755 })
  for (const [rel, f] of files) {
    const full = path.join(tsDir, rel)
    await mkdir(path.dirname(full), { recursive: true })
    await writeFile(full, f.content, { mode: f.mode })
    if (gid !== undefined) await chown(full, -1, gid)
    await chmod(full, effectiveMode(f.mode, gid)) // writeFile's mode is subject to the umask
  }
  const tmpLink = path.join(dir, '..data_tmp')
  await rm(tmpLink, { force: true })
  await symlink(tsName, tmpLink)
  await rename(tmpLink, path.join(dir, DATA))

  // Top-level user-visible links.
  const wanted = new Set([...files.keys()].map((rel) => rel.split('/')[0]!))
  for (const name of wanted) {
    const link = path.join(dir, name)
    const target = `${DATA}/${name}`
    if ((await readlinkOrUndefined(link)) !== target) {
      await rm(link, { force: true, recursive: true })
      await symlink(target, link)
    }
  }
  for (const name of await readdir(dir)) {
    if (name.startsWith('..') || wanted.has(name)) continue
    const link = path.join(dir, name)
    const st = await lstat(link)
    if (st.isSymbolicLink() && (await readlink(link)).startsWith(`${DATA}/`)) await rm(link, { force: true })
  }
  if (oldTarget !== undefined && oldTarget !== tsName)
    await rm(path.join(dir, oldTarget), { recursive: true, force: true })
  return true
}
