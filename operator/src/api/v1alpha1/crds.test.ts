import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, expectTypeOf, it } from 'vitest'
import yaml from 'js-yaml'
import { CRDS, crdFileName, crdObject } from './crds.ts'
import { CRD_DIRS, REPO_ROOT, renderCrds } from './generate.ts'
import type { JSONSchemaProps } from './openapi.ts'
import { isOpaque } from './openapi.ts'
import { ACTION_MEMBER, ACTION_TYPES, PAUSABLE_MODULES } from './schema.ts'
import type { DisasterAction, EchoNetNetwork, EchoNetNetworkInput, WitnessPool } from './types.ts'

describe('generated CRDs', () => {
  it('crds/ and the chart copy are exactly what gen-crds.ts produces now (run it after editing schema.ts)', async () => {
    const expected = await renderCrds()
    for (const dir of CRD_DIRS) {
      const abs = join(REPO_ROOT, dir)
      const files = (await readdir(abs)).filter((f) => f.endsWith('.yaml')).sort()
      expect(files, `${dir}: run node operator/scripts/gen-crds.ts`).toEqual([...expected.keys()].sort())
      for (const [name, text] of expected) {
        expect(await readFile(join(abs, name), 'utf8'), `${dir}/${name}: run node operator/scripts/gen-crds.ts`).toBe(
          text,
        )
      }
    }
  })

  it('the YAML parses back to the CRD objects (no aliases, nothing lost)', async () => {
    const rendered = await renderCrds()
    for (const d of CRDS) {
      expect(yaml.load(rendered.get(crdFileName(d))!)).toEqual(crdObject(d))
      expect(rendered.get(crdFileName(d))).not.toMatch(/[&*]ref_|&\w+\s*$/m)
    }
  })

  it('every kind is in category echonet, has a short name, status subresource and printer columns', () => {
    for (const d of CRDS) {
      const o = crdObject(d) as {
        spec: { names: { categories: string[]; shortNames: string[] }; versions: Record<string, unknown>[] }
      }
      expect(o.spec.names.categories).toEqual(['echonet'])
      expect(o.spec.names.shortNames.length).toBeGreaterThan(0)
      expect(o.spec.versions[0]!.subresources).toHaveProperty('status')
      expect((o.spec.versions[0]!.additionalPrinterColumns as unknown[]).length).toBeGreaterThan(3)
    }
    expect(CRDS.find((d) => d.kind === 'WitnessPool')?.scale).toEqual({
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    })
  })
})

/** Walks a schema tree. */
function walk(s: JSONSchemaProps, path: string, visit: (s: JSONSchemaProps, path: string) => void): void {
  visit(s, path)
  for (const [k, p] of Object.entries(s.properties ?? {})) walk(p, `${path}.${k}`, visit)
  if (s.items !== undefined) walk(s.items, `${path}[]`, visit)
  if (s.additionalProperties !== undefined) walk(s.additionalProperties, `${path}.*`, visit)
}

describe('schemas are structural and documented', () => {
  it('every field has a type (or is int-or-string) and a description, except the root metadata', () => {
    for (const d of CRDS) {
      walk(d.schema, d.kind, (s, path) => {
        if (isOpaque(s)) return
        expect(s.type !== undefined || s['x-kubernetes-int-or-string'] === true, `${path} has a type`).toBe(true)
        expect(s.description, `${path} has a description`).toBeTruthy()
      })
    }
  })

  it('every list is bounded and every object closed (no preserve-unknown-fields anywhere)', () => {
    for (const d of CRDS) {
      const text = JSON.stringify(d.schema)
      expect(text).not.toContain('x-kubernetes-preserve-unknown-fields')
      walk(d.schema, d.kind, (s, path) => {
        if (s.type === 'array') expect(s.maxItems, `${path} maxItems`).toBeTypeOf('number')
        if (s.additionalProperties !== undefined) expect(s.maxProperties, `${path} maxProperties`).toBeTypeOf('number')
      })
    }
  })

  it('defaults of objects are written out in full (the API server validates them as written)', () => {
    const storage = CRDS[0]!.schema.properties!.spec!.properties!.storage!
    expect(storage.default).toEqual({ replicas: 6, erasure: { k: 4, m: 2 }, volume: { size: '10Gi' } })
  })

  it('every action type has a member field or none, and rules for both', () => {
    expect(Object.keys(ACTION_MEMBER).sort()).toEqual([...ACTION_TYPES].sort())
    expect(PAUSABLE_MODULES).not.toContain('governance')
  })
})

describe('inferred types', () => {
  it('follow the schema: defaulted fields are required when read and optional when written', () => {
    expectTypeOf<EchoNetNetwork['spec']['storage']['erasure']>().toEqualTypeOf<{ k: number; m: number }>()
    expectTypeOf<EchoNetNetwork['spec']['paused']>().toEqualTypeOf<boolean>()
    expectTypeOf<EchoNetNetworkInput['spec']['paused']>().toEqualTypeOf<boolean | undefined>()
    expectTypeOf<undefined>().toExtend<EchoNetNetwork['spec']['genesis']>()
    expectTypeOf<WitnessPool['spec']['mode']>().toEqualTypeOf<'Active' | 'Standby'>()
    expectTypeOf<WitnessPool['kind']>().toEqualTypeOf<'WitnessPool'>()
    expectTypeOf<DisasterAction['type']>().toEqualTypeOf<(typeof ACTION_TYPES)[number]>()
    expectTypeOf<NonNullable<EchoNetNetwork['status']>['finalizedHeight']>().toEqualTypeOf<number | undefined>()
    expectTypeOf<NonNullable<EchoNetNetwork['spec']['storage']['volume']['size']>>().toEqualTypeOf<string | number>()
  })
})
