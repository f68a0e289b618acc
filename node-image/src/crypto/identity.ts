import { publicKeyFromDid } from './did.ts'
import { verify } from './ed25519.ts'
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { generateKeyPair, keyPairFromSeed, Signer } from './ed25519.ts'
import type { Ed25519KeyPair } from './ed25519.ts'
import { didFromPublicKey } from './did.ts'
import type { Did } from './did.ts'
import { fsyncDir } from '../util/fs.ts'

/** One Ed25519 key per node: its DID and its libp2p PeerId both derive from it. */
export class NodeIdentity {
  readonly did: Did
  readonly signer: Signer
  readonly keyPair: Ed25519KeyPair
  constructor(keyPair: Ed25519KeyPair) {
    this.keyPair = keyPair
    this.signer = new Signer(keyPair)
    this.did = didFromPublicKey(keyPair.publicKey)
  }
  static generate(): NodeIdentity {
    return new NodeIdentity(generateKeyPair())
  }
  static fromSeed(seed: Uint8Array): NodeIdentity {
    return new NodeIdentity(keyPairFromSeed(seed))
  }
  /** libp2p's Ed25519 private key takes the 64-byte seed||public form. */
  libp2pPrivateKey(): PrivateKey {
    const raw = new Uint8Array(64)
    raw.set(this.keyPair.seed, 0)
    raw.set(this.keyPair.publicKey, 32)
    return privateKeyFromRaw(raw)
  }
  peerId(): PeerId {
    return peerIdFromPrivateKey(this.libp2pPrivateKey())
  }
}

export class KeyFileError extends Error {
  readonly code = 'KEY_FILE_INVALID'
  constructor(message: string) {
    super(message)
    this.name = 'KeyFileError'
  }
}

interface KeyFile {
  type: 'ed25519'
  did: string
  seed: string
}

/** The key file's content (JSON): what `writeKeyFile` writes and the operator puts in a node's Secret. */
export function keyFileContent(id: NodeIdentity): string {
  const body: KeyFile = { type: 'ed25519', did: id.did, seed: Buffer.from(id.keyPair.seed).toString('base64') }
  return JSON.stringify(body) + '\n'
}

/** Writes the key file with mode 0600, atomically (temp + fsync + rename + fsync dir). */
export async function writeKeyFile(path: string, id: NodeIdentity): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(keyFileContent(id))
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  await fsyncDir(dirname(path))
}

export async function readKeyFile(path: string): Promise<NodeIdentity> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new KeyFileError(`cannot read key file ${path}: ${(err as Error).message}`)
  }
  return parseKeyFile(text, path)
}

/** A key file's content (from a file, or a Kubernetes Secret) as an identity; `where` names it in errors. */
export function parseKeyFile(text: string, where = 'key file'): NodeIdentity {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new KeyFileError(`cannot read ${where}: ${(err as Error).message}`)
  }
  const f = parsed as Partial<KeyFile>
  if (f.type !== 'ed25519' || typeof f.seed !== 'string') throw new KeyFileError(`${where} is not an ed25519 key file`)
  const seed = new Uint8Array(Buffer.from(f.seed, 'base64'))
  if (seed.length !== 32) throw new KeyFileError(`${where}: seed must be 32 bytes`)
  const id = NodeIdentity.fromSeed(seed)
  if (f.did !== undefined && f.did !== id.did) throw new KeyFileError(`${where}: did does not match the seed`)
  return id
}

/**
 * The DID of the node behind a libp2p PeerId: both come from the same Ed25519 key, so a peer's
 * identity on the wire is its DID (undefined for non-Ed25519 or malformed ids).
 */
export function didFromPeerId(peer: string): string | undefined {
  try {
    const id = peerIdFromString(peer)
    return id.type === 'Ed25519' ? didFromPublicKey(id.publicKey.raw) : undefined
  } catch {
    return undefined
  }
}

/** Whether `sig` is `did`'s Ed25519 signature over `bytes` (false for a malformed DID). */
export function verifyDidSignature(did: string, bytes: Uint8Array, sig: Uint8Array): boolean {
  let pub: Uint8Array
  try {
    pub = publicKeyFromDid(did)
  } catch {
    return false
  }
  return verify(pub, bytes, sig)
}
