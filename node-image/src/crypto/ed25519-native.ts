import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/**
 * The native verifier (node-image/native/ed25519, Rust `ed25519-zebra` as a Node-API addon),
 * loaded when it was built. `make setup` builds it; ECHONET_ED25519_ADDON names another file.
 */
export interface NativeEd25519 {
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  /** `[pub 32][sig 64][len u32 LE][message]…` in, one byte per item out (1 = verifies). */
  verifyPacked(packed: Uint8Array): Uint8Array
}

export class NativeAddonError extends Error {
  readonly code = 'ED25519_ADDON_UNLOADABLE'
}

const DEFAULT_PATH = fileURLToPath(new URL('../../native/ed25519/echonet_ed25519.node', import.meta.url))

function isNative(v: unknown): v is NativeEd25519 {
  return (
    typeof v === 'object' &&
    v !== null &&
    'verify' in v &&
    typeof v.verify === 'function' &&
    'verifyPacked' in v &&
    typeof v.verifyPacked === 'function'
  )
}

/** Undefined when the default addon was not built; a named addon that cannot load is an error. */
export function loadNativeEd25519(named = process.env.ECHONET_ED25519_ADDON): NativeEd25519 | undefined {
  const path = named !== undefined && named !== '' ? named : DEFAULT_PATH
  if (path === DEFAULT_PATH && !existsSync(path)) return undefined
  let mod: unknown
  try {
    mod = createRequire(import.meta.url)(path)
  } catch (err) {
    throw new NativeAddonError(`cannot load the Ed25519 addon ${path}: ${(err as Error).message}`)
  }
  if (!isNative(mod)) throw new NativeAddonError(`${path} is not the EchoNet Ed25519 addon`)
  return mod
}
