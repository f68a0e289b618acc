import { decode, DecodeError } from '../crypto/encoding.ts'

/**
 * A fast encoder for the subset of DAG-CBOR that ledger state uses (plain objects, arrays, safe
 * integers, strings, bytes, booleans, null). It produces byte-for-byte the output of
 * @ipld/dag-cbor (cbor.test.ts checks that on random values) at a fraction of the cost: the state
 * root of a 2,000-event block re-encodes thousands of values, and the generic encoder's ~2 µs per
 * value would be most of the block's budget.
 */

let buf = new Uint8Array(64 * 1024)
let view = new DataView(buf.buffer)
let pos = 0

function ensure(n: number): void {
  if (pos + n <= buf.length) return
  let size = buf.length * 2
  while (size < pos + n) size *= 2
  const next = new Uint8Array(size)
  next.set(buf.subarray(0, pos))
  buf = next
  view = new DataView(buf.buffer)
}

function head(major: number, n: number): void {
  ensure(9)
  const m = major << 5
  if (n < 24) {
    buf[pos++] = m | n
  } else if (n < 0x100) {
    buf[pos++] = m | 24
    buf[pos++] = n
  } else if (n < 0x10000) {
    buf[pos++] = m | 25
    view.setUint16(pos, n)
    pos += 2
  } else if (n < 0x100000000) {
    buf[pos++] = m | 26
    view.setUint32(pos, n)
    pos += 4
  } else {
    buf[pos++] = m | 27
    view.setUint32(pos, Math.floor(n / 0x100000000))
    view.setUint32(pos + 4, n >>> 0)
    pos += 8
  }
}

const textEncoder = new TextEncoder()

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

function str(s: string): void {
  if (isAscii(s)) {
    head(3, s.length)
    ensure(s.length)
    for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i)
    return
  }
  const bytes = textEncoder.encode(s)
  head(3, bytes.length)
  ensure(bytes.length)
  buf.set(bytes, pos)
  pos += bytes.length
}

/** DAG-CBOR map key order: shorter UTF-8 encoding first, then bytewise. */
function keyOrder(a: string, b: string): number {
  if (isAscii(a) && isAscii(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
  const ea = textEncoder.encode(a)
  const eb = textEncoder.encode(b)
  return ea.length - eb.length || Buffer.compare(ea, eb)
}

export class EncodeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'EncodeError'
  }
}

function value(v: unknown): void {
  switch (typeof v) {
    case 'number':
      if (!Number.isSafeInteger(v) || Object.is(v, -0)) throw new EncodeError(`not a safe integer: ${v}`)
      if (v >= 0) head(0, v)
      else head(1, -1 - v)
      return
    case 'string':
      str(v)
      return
    case 'boolean':
      ensure(1)
      buf[pos++] = v ? 0xf5 : 0xf4
      return
    case 'object': {
      if (v === null) {
        ensure(1)
        buf[pos++] = 0xf6
        return
      }
      if (v instanceof Uint8Array) {
        head(2, v.length)
        ensure(v.length)
        buf.set(v, pos)
        pos += v.length
        return
      }
      if (Array.isArray(v)) {
        head(4, v.length)
        for (const item of v as unknown[]) value(item)
        return
      }
      const proto: unknown = Object.getPrototypeOf(v)
      if (proto !== Object.prototype && proto !== null) throw new EncodeError('only plain objects are encodable')
      const o = v as Record<string, unknown>
      const keys = Object.keys(o)
      if (keys.length > 1) keys.sort(keyOrder)
      head(5, keys.length)
      for (const k of keys) {
        str(k)
        value(o[k])
      }
      return
    }
    default:
      throw new EncodeError(`${typeof v} is not encodable (omit undefined fields)`)
  }
}

/** Canonical DAG-CBOR bytes of a state value (a fresh copy). */
export function encodeValue(v: unknown): Uint8Array {
  pos = 0
  value(v)
  const out = buf.slice(0, pos)
  // A snapshot grows the buffer to its size; do not keep megabytes around afterwards.
  if (buf.length > 1 << 20) {
    buf = new Uint8Array(64 * 1024)
    view = new DataView(buf.buffer)
  }
  return out
}

/** Like encodeValue, but a view into the encoder's buffer, valid only until the next encode. */
export function encodeValueTemp(v: unknown): Uint8Array {
  pos = 0
  value(v)
  return buf.subarray(0, pos)
}

/**
 * Decodes state-value bytes and proves they are canonical (re-encoding gives the same bytes), so
 * a value read from a snapshot or a state edit has exactly one encoding and one hash.
 */
export function decodeValue(bytes: Uint8Array): unknown {
  const v = decode(bytes)
  let again: Uint8Array
  try {
    again = encodeValue(v)
  } catch (err) {
    throw new DecodeError(`value outside the ledger's data model: ${(err as Error).message}`)
  }
  if (again.length !== bytes.length || Buffer.compare(again, bytes) !== 0) {
    throw new DecodeError('value is not canonically encoded')
  }
  return v
}
