import { open, rename, mkdir } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'

/** fsync a directory so that a rename inside it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** Atomic durable file replace: write temp, fsync, rename over, fsync the directory. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`
  const fh = await open(tmp, 'w', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  await fsyncDir(dirname(path))
}

/** Writes all of `bytes` (a write may take fewer than asked). */
export async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += (await fh.write(bytes, at, bytes.length - at)).bytesWritten
}

/** Writes `chunks` (`total` bytes in all) with one writev, then finishes whatever it left short. */
export async function writevAll(fh: FileHandle, chunks: Uint8Array[], total: number): Promise<void> {
  let done = (await fh.writev(chunks)).bytesWritten
  for (let i = 0, start = 0; done < total && i < chunks.length; start += chunks[i]!.length, i++) {
    const c = chunks[i]!
    if (done >= start + c.length) continue
    for (let at = done - start; at < c.length;) {
      const { bytesWritten } = await fh.write(c, at, c.length - at)
      at += bytesWritten
      done += bytesWritten
    }
  }
}

/** Fills `into` from `position`; a file that ends first throws `ended()`. */
export async function readExactly(
  fh: FileHandle,
  into: Uint8Array,
  position: number,
  ended: () => Error,
): Promise<void> {
  for (let at = 0; at < into.length;) {
    const { bytesRead } = await fh.read(into, at, into.length - at, position + at)
    if (bytesRead === 0) throw ended()
    at += bytesRead
  }
}
