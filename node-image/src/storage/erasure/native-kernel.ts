import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { ErasureError } from './errors.ts'
import type { GfKernel } from './kernel.ts'
import type { Matrix } from './matrix.ts'

/**
 * The native kernel (node-image/native/erasure: Rust behind Node-API, built by its build.sh),
 * preferred over the wasm one where it was built and the CPU has a SIMD path for it. It works on
 * the caller's buffers directly: nothing is copied in or out. ECHONET_ERASURE_ADDON names another
 * file; ECHONET_ERASURE_NATIVE=0 turns it off (the codec then runs on the wasm kernel).
 */

export type NativePath = 'gfni-avx512' | 'gfni-avx2' | 'avx2'

interface NativeErasure {
  paths(): string[]
  apply(
    path: string,
    coefficients: Uint8Array,
    rows: number,
    cols: number,
    inputs: readonly Uint8Array[],
    outputs: readonly Uint8Array[],
  ): void
}

const DEFAULT_PATH = fileURLToPath(new URL('../../../native/erasure/echonet_erasure.node', import.meta.url))

function isNative(v: unknown): v is NativeErasure {
  return (
    typeof v === 'object' &&
    v !== null &&
    'paths' in v &&
    typeof v.paths === 'function' &&
    'apply' in v &&
    typeof v.apply === 'function'
  )
}

let addon: NativeErasure | null | undefined

/** The addon, or undefined when it was not built (or is turned off); a named addon that fails to load throws. */
function loadAddon(): NativeErasure | undefined {
  if (addon !== undefined) return addon ?? undefined
  addon = null
  if (process.env.ECHONET_ERASURE_NATIVE === '0') return undefined
  const named = process.env.ECHONET_ERASURE_ADDON
  const path = named !== undefined && named !== '' ? named : DEFAULT_PATH
  if (path === DEFAULT_PATH && !existsSync(path)) return undefined
  let mod: unknown
  try {
    mod = createRequire(import.meta.url)(path)
  } catch (err) {
    throw new ErasureError('BACKEND_UNAVAILABLE', `cannot load the erasure addon ${path}: ${(err as Error).message}`)
  }
  if (!isNative(mod)) throw new ErasureError('BACKEND_UNAVAILABLE', `${path} is not the EchoNet erasure addon`)
  addon = mod
  return mod
}

/** The SIMD paths of the native kernel this machine can run, fastest first (empty if none). */
export function nativePaths(): NativePath[] {
  return (loadAddon()?.paths() ?? []) as NativePath[]
}

export class NativeKernel implements GfKernel {
  readonly name = 'native'
  readonly path: NativePath
  readonly #addon: NativeErasure

  /** BACKEND_UNAVAILABLE if the addon is missing or this CPU cannot run `path`. */
  constructor(path?: NativePath) {
    const a = loadAddon()
    const paths = nativePaths()
    const pick = path ?? paths[0]
    if (a === undefined || pick === undefined || !paths.includes(pick)) {
      throw new ErasureError(
        'BACKEND_UNAVAILABLE',
        `the native erasure kernel${path ? ` (${path})` : ''} is not available`,
      )
    }
    this.#addon = a
    this.path = pick
  }

  apply(m: Matrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[]): void {
    if (m.rows === 0 || (outputs[0]?.length ?? 0) === 0) return
    this.#addon.apply(this.path, m.data, m.rows, m.cols, inputs, outputs)
  }
}

let shared: NativeKernel | null | undefined

/** The process-wide native kernel on the fastest path, or undefined. */
export function sharedNativeKernel(): NativeKernel | undefined {
  if (shared === undefined) {
    try {
      shared = new NativeKernel()
    } catch {
      shared = null
    }
  }
  return shared ?? undefined
}
