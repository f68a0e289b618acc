/**
 * Emits the WebAssembly SIMD kernel as raw bytes: no .wat file, no assembler, no build step.
 *
 * The technique is the split-nibble table multiply of ISA-L and klauspost/reedsolomon (PSHUFB).
 * Multiplying by a constant c is linear over XOR, so for any byte b:
 *
 *     c · b = c · (b & 0x0f)  ^  c · (b & 0xf0) = LO_c[b & 0x0f] ^ HI_c[b >> 4]
 *
 * where LO_c and HI_c are 16-entry tables. `i8x16.swizzle(table, indices)` looks up 16 indices in a
 * 16-byte table at once, so two swizzles and an XOR multiply 16 bytes by c.
 *
 * One exported function `mul<G>` per output-group size G = 1..maxOutputs computes G output rows in
 * a single pass over the inputs, keeping the G accumulators in registers (v128 locals):
 *
 *   mul<G>(tab, in, inStride, nIn, out, outStride, len)
 *     for pos in 0, S, 2S, ... < len                          (S = 16 · vectors bytes per step)
 *       acc[o] = 0 for o < G
 *       for i in 0 .. nIn-1
 *         x  = load(in + i·inStride + pos)
 *         lo = x & 0x0f ;  hi = (x >> 4) & 0x0f
 *         for o < G: acc[o] ^= swizzle(LO[i][o], lo) ^ swizzle(HI[i][o], hi)
 *       store(out + o·outStride + pos, acc[o]) for o < G
 *
 * Tables are laid out at `tab` as [input i][output o] → 32 bytes (LO then HI), so the inner loop
 * walks them linearly. `len` must be a multiple of S; the caller pads (bytes past the real end are
 * computed and ignored). `nIn` must be at least 1 (the input loop tests at its bottom). Each step handles `vectors` 16-byte vectors per input so each table load
 * serves more than one swizzle.
 *
 * With `relaxed`, lookups use `i8x16.relaxed_swizzle` (relaxed SIMD), which V8 lowers to a bare
 * PSHUFB; plain `i8x16.swizzle` must zero lanes whose index is >= 16 and costs an extra saturating
 * add per lookup. Our indices are always < 16, where both instructions are defined to give the same
 * result, so the choice never changes the bytes.
 */

export interface KernelModuleOptions {
  /** Largest output group (number of exported functions). */
  readonly maxOutputs: number
  /** 16-byte vectors per input per loop step (1 or 2 are sensible). */
  readonly vectors: number
  /** Use i8x16.relaxed_swizzle instead of i8x16.swizzle. */
  readonly relaxed: boolean
}

// --- Binary encoding helpers ------------------------------------------------------------------

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = []
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n !== 0) byte |= 0x80
    out.push(byte)
  } while (n !== 0)
  return out
}

/** Signed LEB128 (for i32.const). */
function sleb(n: number): number[] {
  const out: number[] = []
  for (;;) {
    const byte = n & 0x7f
    n >>= 7
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)
    out.push(done ? byte : byte | 0x80)
    if (done) return out
  }
}

/** A name: its UTF-8 length then the bytes. */
function name(s: string): number[] {
  const bytes = new TextEncoder().encode(s)
  return [...uleb(bytes.length), ...bytes]
}

/** A vector: element count then the elements. */
function vec(items: readonly (readonly number[])[]): number[] {
  return [...uleb(items.length), ...items.flat()]
}

function section(id: number, body: readonly number[]): number[] {
  return [id, ...uleb(body.length), ...body]
}

const I32 = 0x7f
const V128 = 0x7b

// Instructions used by the kernel (core opcodes, then 0xFD-prefixed SIMD ones).
const ins = {
  block: [0x02, 0x40], // block with empty result type
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  tee: (local: number) => [0x22, ...uleb(local)],
  i32Const: (n: number) => [0x41, ...sleb(n)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32GeU: [0x4f],
  // SIMD. memarg = alignment exponent (4: 16 bytes) then a constant byte offset.
  v128Load: (offset: number) => [0xfd, ...uleb(0x00), 4, ...uleb(offset)],
  v128Store: (offset: number) => [0xfd, ...uleb(0x0b), 4, ...uleb(offset)],
  v128Const: (bytes: readonly number[]) => [0xfd, ...uleb(0x0c), ...bytes],
  v128And: [0xfd, ...uleb(0x4e)],
  v128Xor: [0xfd, ...uleb(0x51)],
  i16x8ShrU: [0xfd, ...uleb(0x8d)],
  i8x16Swizzle: [0xfd, ...uleb(0x0e)],
  i8x16RelaxedSwizzle: [0xfd, ...uleb(0x100)],
} as const

// --- The kernel -------------------------------------------------------------------------------

/** Parameter indices of every mul<G> function. */
const P_TAB = 0
const P_IN = 1
const P_IN_STRIDE = 2
const P_N_IN = 3
const P_OUT = 4
const P_OUT_STRIDE = 5
const P_LEN = 6
const N_PARAMS = 7

function mulBody(outputs: number, vectors: number, relaxed: boolean): number[] {
  // Locals after the parameters: i32 scratch first, then the v128s.
  const pos = N_PARAMS
  const ip = pos + 1 // input pointer: in + i·inStride + pos
  const tp = pos + 2 // table pointer
  const n = pos + 3 // inputs left
  const op = pos + 4 // output pointer
  const nI32 = 5
  const mask = N_PARAMS + nI32
  const x = (v: number) => mask + 1 + v
  const lo = (v: number) => mask + 1 + vectors + v
  const hi = (v: number) => mask + 1 + 2 * vectors + v
  const tlo = mask + 1 + 3 * vectors
  const thi = tlo + 1
  const acc = (o: number, v: number) => thi + 1 + o * vectors + v
  const nV128 = 1 + 3 * vectors + 2 + outputs * vectors

  const swizzle = relaxed ? ins.i8x16RelaxedSwizzle : ins.i8x16Swizzle
  const step = 16 * vectors
  const zero = ins.v128Const(new Array<number>(16).fill(0))
  const c: number[] = []
  const emit = (...parts: (readonly number[])[]): void => {
    for (const p of parts) c.push(...p)
  }

  emit(ins.v128Const(new Array<number>(16).fill(0x0f)), ins.set(mask))
  emit(ins.block, ins.loop) // $done: block, $outer: loop
  {
    // if (pos >= len) break $done
    emit(ins.get(pos), ins.get(P_LEN), ins.i32GeU, ins.brIf(1))
    emit(ins.get(P_IN), ins.get(pos), ins.i32Add, ins.set(ip))
    emit(ins.get(P_TAB), ins.set(tp))
    emit(ins.get(P_N_IN), ins.set(n))
    for (let o = 0; o < outputs; o++) for (let v = 0; v < vectors; v++) emit(zero, ins.set(acc(o, v)))

    emit(ins.loop) // $inner: one input per iteration
    {
      for (let v = 0; v < vectors; v++) {
        emit(ins.get(ip), ins.v128Load(16 * v), ins.tee(x(v)))
        emit(ins.get(mask), ins.v128And, ins.set(lo(v)))
        emit(ins.get(x(v)), ins.i32Const(4), ins.i16x8ShrU, ins.get(mask), ins.v128And, ins.set(hi(v)))
      }
      for (let o = 0; o < outputs; o++) {
        emit(ins.get(tp), ins.v128Load(32 * o), ins.set(tlo))
        emit(ins.get(tp), ins.v128Load(32 * o + 16), ins.set(thi))
        for (let v = 0; v < vectors; v++) {
          // acc ^= (swizzle(tlo, lo) ^ swizzle(thi, hi)): the inner XOR first keeps the chain short.
          emit(ins.get(acc(o, v)))
          emit(ins.get(tlo), ins.get(lo(v)), swizzle)
          emit(ins.get(thi), ins.get(hi(v)), swizzle)
          emit(ins.v128Xor, ins.v128Xor, ins.set(acc(o, v)))
        }
      }
      emit(ins.get(ip), ins.get(P_IN_STRIDE), ins.i32Add, ins.set(ip))
      emit(ins.get(tp), ins.i32Const(32 * outputs), ins.i32Add, ins.set(tp))
      // if (--n != 0) continue $inner
      emit(ins.get(n), ins.i32Const(1), ins.i32Sub, ins.tee(n), ins.brIf(0))
    }
    emit(ins.end)

    emit(ins.get(P_OUT), ins.get(pos), ins.i32Add, ins.set(op))
    for (let o = 0; o < outputs; o++) {
      if (o > 0) emit(ins.get(op), ins.get(P_OUT_STRIDE), ins.i32Add, ins.set(op))
      for (let v = 0; v < vectors; v++) emit(ins.get(op), ins.get(acc(o, v)), ins.v128Store(16 * v))
    }
    emit(ins.get(pos), ins.i32Const(step), ins.i32Add, ins.set(pos))
    emit(ins.br(0)) // continue $outer
  }
  emit(ins.end, ins.end) // end $outer, end $done
  emit(ins.end) // end of function

  const locals = vec([
    [...uleb(nI32), I32],
    [...uleb(nV128), V128],
  ])
  const body = [...locals, ...c]
  return [...uleb(body.length), ...body]
}

/**
 * The module: one memory (exported as "memory", grown by the host) and functions mul1..mulN.
 * All functions share the type (i32 × 7) → ().
 */
export function kernelModuleBytes(opts: KernelModuleOptions): Uint8Array<ArrayBuffer> {
  const { maxOutputs, vectors, relaxed } = opts
  const groups = Array.from({ length: maxOutputs }, (_, i) => i + 1)
  // (func (param i32 × 7)) with no results
  const funcType = [0x60, ...uleb(N_PARAMS), ...new Array<number>(N_PARAMS).fill(I32), ...uleb(0)]
  const exports = [
    [...name('memory'), 0x02, ...uleb(0)],
    ...groups.map((g) => [...name(`mul${g}`), 0x00, ...uleb(g - 1)]),
  ]
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d], // "\0asm"
    ...[0x01, 0x00, 0x00, 0x00], // version 1
    ...section(1, vec([funcType])), // type section
    ...section(3, vec(groups.map(() => uleb(0)))), // function section: every function has type 0
    ...section(5, vec([[0x00, ...uleb(1)]])), // memory section: one memory, min 1 page, no max
    ...section(7, vec(exports)), // export section
    ...section(10, vec(groups.map((g) => mulBody(g, vectors, relaxed)))), // code section
  ]
  return new Uint8Array(bytes)
}

export type MulFunction = (
  tab: number,
  input: number,
  inStride: number,
  nIn: number,
  output: number,
  outStride: number,
  len: number,
) => void
