import { readFile } from 'node:fs/promises'
import { watchFile, unwatchFile } from 'node:fs'

/**
 * The peer list: a JSON file (in Kubernetes a ConfigMap the operator keeps current) that may
 * change while the node runs. Polled rather than fs.watch'ed because ConfigMap updates swap a
 * symlink, which inotify on the file itself does not see.
 */

export interface PeerEntry {
  readonly peerId: string
  readonly addrs: readonly string[]
  readonly did?: string
  readonly role?: string
}

export class PeersFileError extends Error {
  readonly code = 'PEERS_FILE_INVALID'
  constructor(message: string) {
    super(message)
    this.name = 'PeersFileError'
  }
}

export function parsePeersFile(text: string): PeerEntry[] {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    throw new PeersFileError('peers file is not JSON')
  }
  const list = typeof v === 'object' && v !== null && 'peers' in v ? v.peers : v
  if (!Array.isArray(list)) throw new PeersFileError('peers file must be {"peers": [...]} or an array')
  return list.map((p: unknown, i) => {
    if (typeof p !== 'object' || p === null) throw new PeersFileError(`peer ${i} is not an object`)
    const e = p as Record<string, unknown>
    if (typeof e.peerId !== 'string' || !Array.isArray(e.addrs) || !e.addrs.every((a) => typeof a === 'string')) {
      throw new PeersFileError(`peer ${i} needs peerId and addrs`)
    }
    return {
      peerId: e.peerId,
      addrs: e.addrs,
      ...(typeof e.did === 'string' ? { did: e.did } : {}),
      ...(typeof e.role === 'string' ? { role: e.role } : {}),
    }
  })
}

export function watchPeersFile(
  path: string,
  onChange: (peers: PeerEntry[]) => void,
  onError: (err: Error) => void,
): () => void {
  let last = ''
  const load = async (): Promise<void> => {
    try {
      const text = await readFile(path, 'utf8')
      if (text === last) return
      const peers = parsePeersFile(text)
      last = text
      onChange(peers)
    } catch (err) {
      onError(err as Error)
    }
  }
  void load()
  watchFile(path, { interval: 1_000 }, () => void load())
  return () => {
    unwatchFile(path)
  }
}
