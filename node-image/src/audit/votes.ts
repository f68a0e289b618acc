import { readFile } from 'node:fs/promises'

/**
 * Double signing, from the vote logs nodes keep (`--vote-log`): every vote a node saw, one JSON
 * line each. A slot (validator, epoch, height, round, step) with two different signed block
 * hashes is equivocation; an empty result means nobody double-signed in what was seen.
 */
export async function doubleVotesIn(files: readonly string[]): Promise<{ votes: number; doubles: string[] }> {
  const slots = new Map<string, Set<string>>()
  let votes = 0
  for (const f of files) {
    const text = await readFile(f, 'utf8').catch(() => '')
    for (const line of text.split('\n')) {
      if (!line) continue
      let v: { validator: string; epoch: number; height: number; round: number; kind: string; blockHash: string | null }
      try {
        v = JSON.parse(line) as typeof v
      } catch {
        continue // a line cut by a kill mid-write
      }
      const key = `${v.validator}/${v.epoch}/${v.height}/${v.round}/${v.kind}`
      const set = slots.get(key) ?? new Set<string>()
      set.add(String(v.blockHash))
      slots.set(key, set)
      votes++
    }
  }
  return { votes, doubles: [...slots].filter(([, set]) => set.size > 1).map(([k]) => k) }
}
