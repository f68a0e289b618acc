// The images built by `make images` (ADR 0012): reproducible, non-root, minimal, labelled, and
// runnable from the image alone — the node's entry point runs a one-witness network inside the
// unpacked image (chroot, read-only root, uid 65532, nothing from the host but the kernel), the
// operator's entry point serves its health endpoint, and containerd (what kind runs) imports both
// archives with kind's own `ctr import` flags and runs the node image with runc.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readOciArchive, resolveImageUser, unpackOciImage, type OciImage } from '../agent/oci.ts'

const run = promisify(execFile)
const repo = join(import.meta.dirname, '..', '..')
const outDir = join(repo, 'dist', 'images')
const isRoot = process.getuid?.() === 0
const containerRun = join(repo, 'e2e', 'agent', 'container-run.sh')

interface Built {
  ref: string
  digest: string
  archive: string
}
let built: Record<string, Built> = {}
let images: Record<string, OciImage> = {}
const scratch = mkdtempSync(join(tmpdir(), 'echonet-images-test-'))
const children: ChildProcess[] = []

function sha256File(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex')
}

beforeAll(async () => {
  // Cold (fresh machine): Debian packages, npm ci, the Go assembler; warm: seconds.
  await run(join(repo, 'images', 'build.sh'), [], { maxBuffer: 16 << 20 })
  built = JSON.parse(readFileSync(join(outDir, 'images.json'), 'utf8')) as Record<string, Built>
  images = {
    node: readOciArchive(join(outDir, 'echonet-node.oci.tar')),
    operator: readOciArchive(join(outDir, 'echonet-operator.oci.tar')),
  }
}, 1_200_000)

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  rmSync(scratch, { recursive: true, force: true })
})

describe('make images', () => {
  it('is reproducible: a second build with every layer compressed again gives the same bytes', async () => {
    const out2 = join(scratch, 'rebuild')
    await run(join(repo, 'images', 'build.sh'), ['--no-layer-cache'], {
      env: { ...process.env, ECHONET_IMAGES_OUT: out2 },
      maxBuffer: 16 << 20,
    })
    const again = JSON.parse(readFileSync(join(out2, 'images.json'), 'utf8')) as Record<string, Built>
    for (const name of ['echonet-node', 'echonet-operator']) {
      expect(again[name]!.digest).toBe(built[name]!.digest)
      expect(sha256File(join(out2, `${name}.oci.tar`))).toBe(sha256File(join(outDir, `${name}.oci.tar`)))
    }
    expect(images.node!.digest).toBe(built['echonet-node']!.digest)
  }, 600_000)

  it('both views of each archive (OCI index.json and docker manifest.json) name the same image', () => {
    for (const img of Object.values(images)) {
      const dm = JSON.parse(execFileSync('tar', ['-xOf', img.archive, 'manifest.json']).toString('utf8')) as {
        Config: string
        RepoTags: string[]
        Layers: string[]
      }[]
      expect(dm).toHaveLength(1)
      expect(dm[0]!.Config).toBe(`blobs/sha256/${img.configDigest.slice(7)}`)
      expect(dm[0]!.Layers).toEqual(img.layers)
      expect(`docker.io/${dm[0]!.RepoTags[0]!}`).toBe(img.ref)
      expect(execFileSync('tar', ['-tf', img.archive]).toString('utf8')).toContain('oci-layout')
    }
  })

  it('config: non-root 65532, entry points, env, ports; OCI annotations with version, revision, source, created', () => {
    const head = execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD']).toString('utf8').trim()
    const epoch = Number(execFileSync('git', ['-C', repo, 'log', '-1', '--format=%ct']).toString('utf8').trim())
    const created = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z')
    const want = {
      node: { entry: ['node', '/app/node-image/bin/echonet-node.js'], ports: ['7000/tcp', '8080/tcp', '9090/tcp'] },
      operator: { entry: ['node', '/app/operator/src/main.ts'], ports: ['8080/tcp', '8081/tcp'] },
    }
    for (const [name, img] of Object.entries(images)) {
      const w = want[name as keyof typeof want]
      expect(img.config.User).toBe('65532:65532')
      expect(img.config.Entrypoint).toEqual(w.entry)
      expect(img.config.Env).toContain('NODE_ENV=production')
      expect(img.config.Env?.some((e) => e.startsWith('PATH=') && e.includes('/usr/local/bin'))).toBe(true)
      expect(Object.keys(img.config.ExposedPorts ?? {}).sort()).toEqual(w.ports)
      const a = img.annotations
      expect(a['org.opencontainers.image.version']).toBe('0.1.0')
      expect(a['org.opencontainers.image.revision']).toMatch(new RegExp(`^${head}(-dirty)?$`))
      expect(a['org.opencontainers.image.source']).toMatch(/^(https?:|git@|\/)/)
      expect(a['org.opencontainers.image.created']).toBe(created)
      expect(img.config.Labels?.['org.opencontainers.image.revision']).toBe(a['org.opencontainers.image.revision'])
    }
  })

  it('layers: no shell, no package manager, root-owned, fixed mtimes, no setuid bits', () => {
    for (const img of Object.values(images)) {
      const created = img.annotations['org.opencontainers.image.created']!.slice(0, 16).replace('T', ' ')
      const names = new Set<string>()
      const dir = join(scratch, 'layers')
      mkdirSync(dir, { recursive: true })
      execFileSync('tar', ['-xf', img.archive, '-C', dir, ...img.layers])
      for (const layer of img.layers) {
        const lines = execFileSync('tar', ['--numeric-owner', '--utc', '-tvzf', join(dir, layer)], {
          maxBuffer: 256 << 20,
          env: { ...process.env, TZ: 'UTC' },
        })
          .toString('utf8')
          .split('\n')
          .filter(Boolean)
        for (const line of lines) {
          // -rwxr-xr-x 0/0 129379880 2026-12-06 22:58 usr/local/bin/node
          const m = /^(\S+) (\d+)\/(\d+)\s+\d+ (\S+ \S+) (.+?)(?: -> .*)?$/.exec(line)
          expect(m, line).not.toBeNull()
          const [, mode, uid, gid, mtime, name] = m!
          expect(`${uid!}/${gid!}`, name).toBe('0/0')
          expect(mtime, name).toBe(created)
          expect(mode!.slice(1), name).not.toMatch(/[sS]/)
          names.add(name!.replace(/\/$/, ''))
        }
      }
      for (const bad of [
        'bin/sh',
        'usr/bin/sh',
        'bin/bash',
        'bin/busybox',
        'usr/bin/dpkg',
        'usr/bin/apt',
        'usr/bin/apt-get',
      ]) {
        expect(names.has(bad), `${img.ref} has /${bad}`).toBe(false)
      }
      expect([...names].filter((n) => /(^|\/)s?bin\/(sh|bash|dash|ash|dpkg|apt|apt-get)$/.test(n))).toEqual([])
      expect(names.has('usr/local/bin/node')).toBe(true)
      expect(names.has('etc/passwd')).toBe(true)
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

/** Runs ARGV in the unpacked image with container-run.sh (the agent's image mode). */
function inImage(
  img: OciImage,
  rootfs: string,
  state: string,
  argv: string[],
  binds: string[] = [],
  extraEnv: string[] = [],
): ChildProcess {
  const { uid, gid } = resolveImageUser(img.config.User, rootfs)
  const args = ['--lower', rootfs, '--state', state, '--user', `${uid}:${gid}`, '--read-only']
  args.push('--wd', img.config.WorkingDir ?? '/')
  for (const b of binds) args.push('--bind', b)
  for (const e of [...(img.config.Env ?? []), ...extraEnv]) args.push('--env', e)
  const child = spawn(containerRun, [...args, '--', ...(img.config.Entrypoint ?? []), ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  return child
}

async function output(child: ChildProcess): Promise<string> {
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString('utf8')))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  if (code !== 0) throw new Error(`exit ${code}: ${out}`)
  return out
}

async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms
  let last: unknown
  while (Date.now() < end) {
    try {
      const v = await f()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`${what}: timed out (${String(last)})`)
}

describe('the images run from themselves (chroot, read-only root, uid 65532)', () => {
  let nodeRootfs = ''
  let opRootfs = ''
  beforeAll(async () => {
    // Never skipped: without root (chroot) this would pass without running what ships.
    if (!isRoot) throw new Error('running the images needs root (chroot)')
    nodeRootfs = await unpackOciImage(images.node!, join(scratch, 'unpacked'))
    opRootfs = await unpackOciImage(images.operator!, join(scratch, 'unpacked'))
  }, 120_000)

  it('the Dockerfiles (for users with Docker) produce the same /app layout and entry points', () => {
    for (const [df, rootfs, img] of [
      ['node-image/Dockerfile', nodeRootfs, images.node!],
      ['operator/Dockerfile', opRootfs, images.operator!],
    ] as const) {
      const text = readFileSync(join(repo, df), 'utf8')
      const final = text.slice(text.lastIndexOf('\nFROM '))
      const dests = [...final.matchAll(/^COPY (?:--from=\S+ )?(\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!] as const)
      expect(dests.length, df).toBeGreaterThan(3)
      for (const [src, dest] of dests) {
        // WORKDIR /app: relative destinations are under /app; `COPY dir dir` copies its contents.
        const target = dest.startsWith('/')
          ? dest
          : join('/app', dest.endsWith('/') ? join(dest, src.split('/').pop()!) : dest)
        expect(existsSync(join(rootfs, target)), `${df}: ${src} → ${target}`).toBe(true)
      }
      const ep = /^ENTRYPOINT (.+)$/m.exec(final)![1]!
      expect(JSON.parse(ep), df).toEqual(img.config.Entrypoint)
      expect(final).toContain('USER 65532:65532')
      for (const port of Object.keys(img.config.ExposedPorts ?? {}))
        expect(final).toMatch(new RegExp(`EXPOSE .*\\b${port.split('/')[0]!}\\b`))
    }
  })

  it('the node image: native addons load, and its entry point runs a one-witness network that finalizes blocks', async () => {
    const data = join(scratch, 'node-data')
    mkdirSync(data)
    chownSync(data, 65532, 65532)
    const bind = [`${data}:/data`]
    const state = join(scratch, 'c-node')
    // The Rust addons (ADR 0006, 0009) link against the image's glibc and libgcc_s.
    const probe = spawn(
      containerRun,
      [
        ...['--lower', nodeRootfs, '--state', state, '--user', '65532:65532', '--read-only', '--wd', '/app'],
        ...(images.node!.config.Env ?? []).flatMap((e) => ['--env', e]),
        '--',
        'node',
        '--input-type=module',
        '-e',
        `const { loadNativeEd25519 } = await import('/app/node-image/src/crypto/ed25519-native.ts')
         const { sharedNativeKernel } = await import('/app/node-image/src/storage/erasure/native-kernel.ts')
         console.log(JSON.stringify({ ed25519: loadNativeEd25519() !== undefined, erasure: sharedNativeKernel() !== undefined, uid: process.getuid() }))`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    children.push(probe)
    expect(JSON.parse((await output(probe)).trim().split('\n').pop()!)).toEqual({
      ed25519: true,
      erasure: true,
      uid: 65532,
    })

    const key = JSON.parse(
      (await output(inImage(images.node!, nodeRootfs, state, ['keygen', '--out', '/data/key.json'], bind))).trim(),
    ) as { did: string }
    await output(
      inImage(
        images.node!,
        nodeRootfs,
        state,
        ['genesis', '--chain-id', 'imgtest', '--council', key.did, '--threshold', '1'].concat([
          '--witness',
          `${key.did}=100`,
          '--out',
          '/data/genesis.json',
        ]),
        bind,
      ),
    )
    const api = 47_180 + Math.floor(Math.random() * 400)
    const node = inImage(
      images.node!,
      nodeRootfs,
      state,
      [
        ...['run', '--role', 'witness', '--data-dir', '/data/chain', '--key', '/data/key.json'],
        ...['--genesis', '/data/genesis.json', '--api-host', '127.0.0.1', '--api-port', String(api)],
        ...['--admin-port', String(api + 1), '--p2p', `/ip4/127.0.0.1/tcp/${api + 2}`],
      ],
      bind,
      ['ECHONET_ADMIN_TOKEN=image-test-admin-token-0123456789'],
    )
    let log = ''
    node.stdout?.on('data', (d: Buffer) => (log += d.toString('utf8')))
    node.stderr?.on('data', (d: Buffer) => (log += d.toString('utf8')))
    const height = await until('finalized height 3', 60_000, async () => {
      if (node.exitCode !== null) throw new Error(`node exited ${node.exitCode}: ${log}`)
      const r = await fetch(`http://127.0.0.1:${api}/v1/status`)
      const s = (await r.json()) as { finalizedHeight: number }
      return s.finalizedHeight >= 3 ? s.finalizedHeight : undefined
    })
    expect(height).toBeGreaterThanOrEqual(3)
    node.kill('SIGTERM')
    const code = await new Promise<number | null>((resolve) => {
      if (node.exitCode !== null) resolve(node.exitCode)
      else node.on('exit', resolve)
    })
    expect(code, log).toBe(0)
    // Written by uid 65532 on the volume; nothing could be written to the read-only root.
    expect(existsSync(join(data, 'chain'))).toBe(true)
  }, 120_000)

  it('the operator image: its entry point starts and serves /healthz (no cluster: informers retry)', async () => {
    const port = 47_600 + Math.floor(Math.random() * 300)
    const op = inImage(
      images.operator!,
      opRootfs,
      join(scratch, 'c-op'),
      [],
      [],
      [
        'ECHONET_NODE_IMAGE=' + built['echonet-node']!.ref,
        'POD_IP=127.0.0.1',
        `ECHONET_METRICS_PORT=${port}`,
        `ECHONET_HEALTH_PORT=${port + 1}`,
      ],
    )
    let log = ''
    op.stdout?.on('data', (d: Buffer) => (log += d.toString('utf8')))
    op.stderr?.on('data', (d: Buffer) => (log += d.toString('utf8')))
    const status = await until('operator /healthz', 30_000, async () => {
      if (op.exitCode !== null) throw new Error(`operator exited ${op.exitCode}: ${log}`)
      return (await fetch(`http://127.0.0.1:${port + 1}/healthz`)).status
    })
    expect(status).toBe(200)
    expect(log).toContain('echonet-operator started')
    op.kill('SIGTERM')
    await new Promise((r) => (op.exitCode !== null ? r(null) : op.on('exit', r)))
  }, 60_000)
})

const haveContainerd =
  isRoot &&
  ['containerd', 'ctr', 'runc'].every((c) => {
    try {
      execFileSync('sh', ['-c', `command -v ${c}`])
      return true
    } catch {
      return false
    }
  })

describe('containerd (what kind runs) accepts the archives', () => {
  let dir = ''
  let daemon: ChildProcess | undefined
  const ctr = (...args: string[]): Promise<{ stdout: string }> =>
    run('ctr', ['-a', join(dir, 'containerd.sock'), '-n', 'k8s.io', ...args], { maxBuffer: 16 << 20 })

  beforeAll(async () => {
    if (!haveContainerd)
      throw new Error('containerd, ctr and runc are needed, as root (scripts/ensure-debs.sh installs them)')
    dir = mkdtempSync(join(tmpdir(), 'echonet-ctrd-'))
    const cfg = join(dir, 'config.toml')
    execFileSync('sh', [
      '-c',
      `cat > ${cfg} <<EOF
version = 2
root = "${dir}/root"
state = "${dir}/state"
[grpc]
  address = "${dir}/containerd.sock"
EOF`,
    ])
    daemon = spawn('containerd', ['--config', cfg], { stdio: 'ignore' })
    children.push(daemon)
    await until('containerd', 30_000, async () => ((await ctr('version')).stdout.includes('Server') ? true : undefined))
  }, 60_000)

  afterAll(async () => {
    if (daemon !== undefined && daemon.exitCode === null) {
      daemon.kill('SIGTERM')
      await new Promise((r) => daemon!.on('exit', r))
    }
    try {
      execFileSync('sh', ['-c', `grep -o '${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`])
    } catch {
      // nothing mounted
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it("`ctr images import` with kind's flags stores both under their names and digests; runc runs the node image read-only as 65532", async () => {
    for (const img of Object.values(images)) {
      // kind load image-archive: ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=<s> -
      await ctr('images', 'import', '--all-platforms', '--digests', '--snapshotter', 'native', img.archive)
    }
    const ls = (await ctr('images', 'ls')).stdout
    for (const img of Object.values(images)) {
      expect(ls).toMatch(new RegExp(`${img.ref.replaceAll('.', '\\.')}\\s+\\S+\\s+${img.digest}`))
    }
    const { stdout } = await ctr(
      ...['run', '--rm', '--snapshotter', 'native', '--read-only', images.node!.ref, `t-${process.pid}`],
      ...[
        'node',
        '-e',
        'console.log(process.getuid(), process.env.NODE_ENV, require("node:fs").existsSync("/bin/sh"))',
      ],
    )
    expect(stdout.trim()).toBe('65532 production false')
  }, 120_000)
})
