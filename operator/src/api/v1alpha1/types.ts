/**
 * TypeScript types of the `echonet.io/v1alpha1` kinds, inferred from the schemas in `schema.ts`
 * (never written by hand, so they cannot drift from the CRDs). `X` is the object as read from the
 * API server (defaults applied, so defaulted fields are present); `XInput` is what a user writes.
 */
import type { Infer, InferInput } from './openapi.ts'
import type {
  actionSchema,
  conditionSchema,
  disasterDeclarationSchema,
  disasterDeclarationSpecSchema,
  disasterDeclarationStatusSchema,
  echoNetNetworkSchema,
  echoNetNetworkSpecSchema,
  echoNetNetworkStatusSchema,
  parameterSchema,
  witnessPoolSchema,
  witnessPoolSpecSchema,
  witnessPoolStatusSchema,
} from './schema.ts'

export type Condition = Infer<typeof conditionSchema>
export type LedgerParameters = Infer<typeof parameterSchema>

export type EchoNetNetwork = Infer<typeof echoNetNetworkSchema>
export type EchoNetNetworkInput = InferInput<typeof echoNetNetworkSchema>
export type EchoNetNetworkSpec = Infer<typeof echoNetNetworkSpecSchema>
export type EchoNetNetworkStatus = Infer<typeof echoNetNetworkStatusSchema>

export type WitnessPool = Infer<typeof witnessPoolSchema>
export type WitnessPoolInput = InferInput<typeof witnessPoolSchema>
export type WitnessPoolSpec = Infer<typeof witnessPoolSpecSchema>
export type WitnessPoolStatus = Infer<typeof witnessPoolStatusSchema>

export type DisasterDeclaration = Infer<typeof disasterDeclarationSchema>
export type DisasterDeclarationInput = InferInput<typeof disasterDeclarationSchema>
export type DisasterDeclarationSpec = Infer<typeof disasterDeclarationSpecSchema>
export type DisasterDeclarationStatus = Infer<typeof disasterDeclarationStatusSchema>
export type DisasterAction = Infer<typeof actionSchema>

export type EchoNetResource = EchoNetNetwork | WitnessPool | DisasterDeclaration
