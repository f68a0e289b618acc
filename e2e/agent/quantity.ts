// Kubernetes resource quantities ("500m", "1Gi", "2", "1e3") as plain numbers.

const suffixes: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
}

export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(q.trim())
  const factor = m === null ? undefined : suffixes[m[2]!]
  if (m === null || factor === undefined) throw new Error(`invalid quantity ${JSON.stringify(q)}`)
  return Number(m[1]) * factor
}
