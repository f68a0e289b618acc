// Image → host program mapping (e2e/agent/images.json). There are no images here: an image
// name (tag and digest ignored) maps to the entry point of one of the project's programs.
import { readFileSync, statSync } from 'node:fs'

export interface ImageEntry {
  /** The image's ENTRYPOINT: replaced by the container's `command`. */
  entrypoint: string[]
  /** The image's CMD: default arguments, replaced by the container's `args`. */
  cmd: string[]
}

export type ImageMap = ReadonlyMap<string, ImageEntry>

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string')
}

/**
 * Parses the mapping file. Values are an argv array (the entry point) or
 * `{"entrypoint": [...], "cmd": [...]}`; `<repo>` is replaced by the repository root and a
 * leading `node` by `nodePath` (the agent's own Node binary). Keys starting with `_` are comments.
 */
export function parseImageMap(json: unknown, repoRoot: string, nodePath: string): ImageMap {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('images: expected an object')
  const out = new Map<string, ImageEntry>()
  const fix = (argv: string[], first: boolean): string[] =>
    argv.map((a, i) => (first && i === 0 && a === 'node' ? nodePath : a.replaceAll('<repo>', repoRoot)))
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    if (key.startsWith('_')) continue
    if (isStringArray(value)) {
      if (value.length === 0) throw new Error(`images: ${key}: empty entry point`)
      out.set(imageRepository(key), { entrypoint: fix(value, true), cmd: [] })
      continue
    }
    if (typeof value === 'object' && value !== null) {
      const v = value as { entrypoint?: unknown; cmd?: unknown }
      const entrypoint = v.entrypoint ?? []
      const cmd = v.cmd ?? []
      if (!isStringArray(entrypoint) || !isStringArray(cmd) || entrypoint.length + cmd.length === 0) {
        throw new Error(`images: ${key}: entrypoint and cmd must be string arrays, not both empty`)
      }
      out.set(imageRepository(key), { entrypoint: fix(entrypoint, true), cmd: fix(cmd, entrypoint.length === 0) })
      continue
    }
    throw new Error(`images: ${key}: expected an argv array or {entrypoint, cmd}`)
  }
  return out
}

/** `reg:5000/a/b:tag@sha256:…` → `reg:5000/a/b`. */
export function imageRepository(image: string): string {
  let s = image
  const at = s.indexOf('@')
  if (at >= 0) s = s.slice(0, at)
  const colon = s.lastIndexOf(':')
  if (colon > s.lastIndexOf('/')) s = s.slice(0, colon)
  return s
}

export function lookupImage(map: ImageMap, image: string): ImageEntry | undefined {
  const repo = imageRepository(image)
  return map.get(repo) ?? map.get(repo.replace(/^docker\.io\/(library\/)?/, ''))
}

/** The kubelet's rule: `command` replaces the entry point, `args` replace the default args. */
export function containerArgv(entry: ImageEntry, command: string[] | undefined, args: string[] | undefined): string[] {
  const hasCommand = command !== undefined && command.length > 0
  const hasArgs = args !== undefined && args.length > 0
  const ep = hasCommand ? command : entry.entrypoint
  const rest = hasArgs ? args : hasCommand ? [] : entry.cmd
  return [...ep, ...rest]
}

/** Re-reads the file when its mtime changes, so mappings can be added without a restart. */
export class ImageMapFile {
  readonly path: string
  readonly #repoRoot: string
  readonly #nodePath: string
  #mtimeMs = -1
  #map: ImageMap = new Map()

  constructor(path: string, repoRoot: string, nodePath: string) {
    this.path = path
    this.#repoRoot = repoRoot
    this.#nodePath = nodePath
  }

  get(): ImageMap {
    const mtime = statSync(this.path).mtimeMs
    if (mtime !== this.#mtimeMs) {
      this.#map = parseImageMap(JSON.parse(readFileSync(this.path, 'utf8')), this.#repoRoot, this.#nodePath)
      this.#mtimeMs = mtime
    }
    return this.#map
  }
}
