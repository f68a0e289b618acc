// OCI image archives (`make images`, ADR 0012): read the index, manifest and config, and unpack
// the layers into a root filesystem once per manifest digest. Host tools only (tar, gzip).
import { execFile, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { ImageRuntime } from './launch.ts'

const run = promisify(execFile)

/** The runtime part of an image config (the OCI spec's `config` object). */
export interface ImageRuntimeConfig {
  User?: string
  Entrypoint?: string[] | null
  Cmd?: string[] | null
  Env?: string[] | null
  WorkingDir?: string
  ExposedPorts?: Record<string, unknown>
  Labels?: Record<string, string>
}

export interface OciImage {
  archive: string
  /** `io.containerd.image.name` of index.json (docker.io/echonet/echonet-node:0.1.0). */
  ref: string
  /** The manifest digest: what `ctr images ls`, a registry and the kubelet report. */
  digest: string
  /** The config digest (docker's image ID). */
  configDigest: string
  annotations: Record<string, string>
  config: ImageRuntimeConfig
  /** Layer blob paths inside the archive, bottom first. */
  layers: string[]
}

interface Descriptor {
  mediaType: string
  digest: string
  size: number
  annotations?: Record<string, string>
}

function member(archive: string, name: string): Buffer {
  return execFileSync('tar', ['-xOf', archive, name], { maxBuffer: 64 << 20 })
}

function blobPath(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest)
  if (m === null) throw new Error(`unsupported digest ${digest}`)
  return `blobs/sha256/${m[1]!}`
}

/** Reads an OCI archive's single image (index.json → manifest → config). */
export function readOciArchive(archive: string): OciImage {
  const index = JSON.parse(member(archive, 'index.json').toString('utf8')) as { manifests?: Descriptor[] }
  const manifests = index.manifests ?? []
  if (manifests.length !== 1) throw new Error(`${archive}: index.json has ${manifests.length} manifests, want 1`)
  const desc = manifests[0]!
  const manifest = JSON.parse(member(archive, blobPath(desc.digest)).toString('utf8')) as {
    config: Descriptor
    layers: Descriptor[]
    annotations?: Record<string, string>
  }
  const cfg = JSON.parse(member(archive, blobPath(manifest.config.digest)).toString('utf8')) as {
    config?: ImageRuntimeConfig
  }
  for (const l of manifest.layers) {
    if (!l.mediaType.endsWith('.tar+gzip') && !l.mediaType.endsWith('.tar.gzip')) {
      throw new Error(`${archive}: layer ${l.digest} has media type ${l.mediaType}; only gzip layers are supported`)
    }
  }
  return {
    archive,
    ref: desc.annotations?.['io.containerd.image.name'] ?? '',
    digest: desc.digest,
    configDigest: manifest.config.digest,
    annotations: manifest.annotations ?? {},
    config: cfg.config ?? {},
    layers: manifest.layers.map((l) => blobPath(l.digest)),
  }
}

/**
 * Unpacks the image's layers, bottom first, into `<cacheDir>/<manifest hex>/rootfs` unless that
 * is already there (a `.complete` marker is written last), and returns the rootfs path. Files keep
 * the layers' numeric owners (uid/gid 0 in our images) when run as root. Whiteouts (files deleted
 * by a later layer) are not supported: our images have none, and an image that has them is refused.
 */
export async function unpackOciImage(image: OciImage, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, image.digest.replace('sha256:', ''))
  const rootfs = join(dir, 'rootfs')
  if (existsSync(join(dir, '.complete'))) return rootfs
  mkdirSync(cacheDir, { recursive: true })
  const tmp = `${dir}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(join(tmp, 'rootfs'), { recursive: true })
  try {
    const blobs = join(tmp, 'blobs')
    mkdirSync(blobs)
    await run('tar', ['-xf', image.archive, '-C', blobs, ...image.layers])
    for (const layer of image.layers) {
      const listing = (await run('tar', ['-tzf', join(blobs, layer)], { maxBuffer: 256 << 20 })).stdout
      if (/(^|\/)\.wh\./m.test(listing)) throw new Error(`${image.archive}: layer ${layer} has whiteouts (unsupported)`)
      const owner = process.getuid?.() === 0 ? ['--numeric-owner', '--same-owner'] : ['--no-same-owner']
      await run('tar', ['-xzf', join(blobs, layer), '-C', join(tmp, 'rootfs'), '--same-permissions', ...owner])
    }
    rmSync(blobs, { recursive: true, force: true })
    writeFileSync(join(tmp, 'image.json'), JSON.stringify(image, null, 2) + '\n')
    writeFileSync(join(tmp, '.complete'), '')
    rmSync(dir, { recursive: true, force: true })
    renameSync(tmp, dir)
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true })
    throw err
  }
  return rootfs
}

/** `docker.io/library/x:1@sha256:…` → { repo: 'x', tag: '1', digest: 'sha256:…' } (docker.io implied). */
export function parseImageRef(image: string): { repo: string; tag: string | undefined; digest: string | undefined } {
  let s = image
  let digest: string | undefined
  const at = s.indexOf('@')
  if (at >= 0) {
    digest = s.slice(at + 1)
    s = s.slice(0, at)
  }
  let tag: string | undefined
  const colon = s.lastIndexOf(':')
  if (colon > s.lastIndexOf('/')) {
    tag = s.slice(colon + 1)
    s = s.slice(0, colon)
  }
  return { repo: s.replace(/^docker\.io\/(library\/)?/, ''), tag, digest }
}

/**
 * Which archive serves an image reference: by digest when the reference has one (the tag is then
 * ignored, as by a registry), else by repository and tag (`latest` when none).
 */
export function matchImage(images: readonly OciImage[], image: string): OciImage | undefined {
  const want = parseImageRef(image)
  return images.find((img) => {
    const have = parseImageRef(img.ref)
    if (have.repo !== want.repo) return false
    if (want.digest !== undefined) return img.digest === want.digest
    return (have.tag ?? 'latest') === (want.tag ?? 'latest')
  })
}

/**
 * The agent's image mode: the `*.oci.tar` archives of a directory (re-read when it changes),
 * unpacked on first use once per manifest digest into `cacheDir`.
 */
export class OciImageStore {
  readonly dir: string
  readonly cacheDir: string
  #mtimeMs = -1
  #images: OciImage[] = []
  readonly #unpacking = new Map<string, Promise<ImageRuntime>>()

  constructor(dir: string, cacheDir: string) {
    this.dir = dir
    this.cacheDir = cacheDir
  }

  list(): readonly OciImage[] {
    const st = statSync(this.dir)
    const mtime = Math.max(
      st.mtimeMs,
      ...readdirSync(this.dir)
        .filter((f) => f.endsWith('.oci.tar'))
        .map((f) => statSync(join(this.dir, f)).mtimeMs),
    )
    if (mtime !== this.#mtimeMs) {
      this.#images = readdirSync(this.dir)
        .filter((f) => f.endsWith('.oci.tar'))
        .sort()
        .map((f) => readOciArchive(join(this.dir, f)))
      this.#mtimeMs = mtime
    }
    return this.#images
  }

  lookup(image: string): OciImage | undefined {
    return matchImage(this.list(), image)
  }

  /** Unpacks (once per digest, concurrent callers share the work) and resolves the user. */
  runtime(img: OciImage): Promise<ImageRuntime> {
    let p = this.#unpacking.get(img.digest)
    if (p === undefined) {
      p = unpackOciImage(img, this.cacheDir).then((rootfs) => {
        const { uid, gid } = resolveImageUser(img.config.User, rootfs)
        return {
          rootfs,
          entrypoint: img.config.Entrypoint ?? [],
          cmd: img.config.Cmd ?? [],
          env: img.config.Env ?? [],
          workingDir: img.config.WorkingDir ?? '/',
          uid,
          gid,
        }
      })
      p.catch(() => this.#unpacking.delete(img.digest))
      this.#unpacking.set(img.digest, p)
    }
    return p
  }
}

/** `65532:65532`, `65532`, `nonroot` … → numeric ids, names looked up in the rootfs's passwd/group. */
export function resolveImageUser(user: string | undefined, rootfs: string): { uid: number; gid: number } {
  if (user === undefined || user === '') return { uid: 0, gid: 0 }
  const [u, g] = user.split(':') as [string, string | undefined]
  const table = (file: string): string[][] => {
    try {
      return readFileSync(join(rootfs, 'etc', file), 'utf8')
        .split('\n')
        .map((l) => l.split(':'))
    } catch {
      return []
    }
  }
  const lookup = (name: string, file: string, field: number): number | undefined => {
    if (/^\d+$/.test(name)) return Number(name)
    const row = table(file).find((r) => r[0] === name)
    return row?.[field] !== undefined ? Number(row[field]) : undefined
  }
  const uid = lookup(u, 'passwd', 2)
  if (uid === undefined) throw new Error(`image user ${u} is not in the image's /etc/passwd`)
  let gid = g !== undefined ? lookup(g, 'group', 2) : undefined
  if (g === undefined) {
    const row = table('passwd').find((r) => r[2] === String(uid))
    gid = row?.[3] !== undefined ? Number(row[3]) : uid
  }
  if (gid === undefined) throw new Error(`image group ${g ?? ''} is not in the image's /etc/group`)
  return { uid, gid }
}
