import { describe, expect, it } from 'vitest'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readBuildInfo, upgradeProblem, versionAtLeast } from './build-info.ts'

const PKG = fileURLToPath(new URL('../..', import.meta.url))
const DIGEST = `sha256:${'c'.repeat(64)}`
const plan = { name: 'upgrade-0.2.0', height: 100, minVersion: '0.2.0', binaryDigest: DIGEST }

describe('build info', () => {
  it('the digest is of the program: the same tree gives the same digest, one changed byte or another version another', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echonet-build-info-'))
    try {
      await cp(join(PKG, 'src'), join(dir, 'src'), { recursive: true })
      await cp(join(PKG, 'package.json'), join(dir, 'package.json'))
      const a = readBuildInfo(dir)
      expect(a).toEqual(readBuildInfo(PKG))
      expect(a.binaryDigest).toMatch(/^sha256:[0-9a-f]{64}$/)
      // Tests are not the program: changing one leaves the digest alone.
      await writeFile(join(dir, 'src/node/build-info.test.ts'), '// changed\n')
      expect(readBuildInfo(dir)).toEqual(a)
      const f = join(dir, 'src/ledger/params.ts')
      await writeFile(f, `${await readFile(f, 'utf8')}\n`)
      expect(readBuildInfo(dir).binaryDigest).not.toBe(a.binaryDigest)
      const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>
      await writeFile(join(dir, 'package.json'), JSON.stringify({ ...pkg, version: '0.2.0' }))
      expect(readBuildInfo(dir).version).toBe('0.2.0')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a node may run past the flag height only on the named digest at ≥ minVersion; the reason names what it needs', () => {
    expect(upgradeProblem({ version: '0.2.0', binaryDigest: DIGEST }, plan)).toBeUndefined()
    expect(upgradeProblem({ version: '0.3.1', binaryDigest: DIGEST }, plan)).toBeUndefined()
    const old = upgradeProblem({ version: '0.1.0', binaryDigest: DIGEST }, plan)
    expect(old).toContain('≥ 0.2.0')
    const other = upgradeProblem({ version: '0.2.0', binaryDigest: `sha256:${'d'.repeat(64)}` }, plan)
    expect(other).toContain(DIGEST)
    expect(versionAtLeast('0.10.0', '0.9.0')).toBe(true)
    expect(versionAtLeast('0.2.0-rc.1', '0.2.0')).toBe(false)
    expect(versionAtLeast('0.2.0', 'not-a-version')).toBe(false)
  })
})
