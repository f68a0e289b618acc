/**
 * The `echonet.io/v1alpha1` API: the single source of truth for the three CRDs (`crds/*.yaml` are
 * generated from here by `operator/scripts/gen-crds.ts`), for the TypeScript types (`types.ts`
 * infers them from these objects) and for the runtime type guard (`validate.ts` walks them and
 * evaluates the same CEL rules). Edit this file, then run `node operator/scripts/gen-crds.ts`.
 *
 * Conventions: every field has a description (`kubectl explain`); every list and string that a
 * CEL rule touches has a bound (CEL cost estimation); rules carry a message a person can act on.
 */ export * from './schema-common.ts'
export * from './schema-network.ts'
export * from './schema-pool.ts'
export * from './schema-declaration.ts'
