/**
 * The canonical payload of a DisasterDeclaration (what council members and the recovery agent
 * sign, `@echonet/node/governance`), built from its spec exactly as the API server stores it:
 * schema defaults are filled in first, so a declaration signed offline from its YAML and the same
 * declaration read back from the cluster give the same bytes.
 */
import { DECLARATION_DOMAIN } from '@echonet/node/governance'
import type { DeclarationPayload } from '@echonet/node/governance'
import { disasterDeclarationSpecSchema } from './schema.ts'
import type { DisasterDeclarationSpec } from './types.ts'
import { validate } from './validate.ts'

export class PayloadError extends Error {
  readonly code = 'INVALID_DECLARATION'
}

/**
 * The payload of `spec` for the network whose id is `chainId`. Signatures and the dry-run flag
 * of the spec itself are not part of it except `dryRun`; nonce and expiry are required.
 */
export function declarationPayload(spec: unknown, chainId: string): DeclarationPayload {
  const r = validate(disasterDeclarationSpecSchema, spec, { rejectUnknownFields: false })
  if (!r.ok) throw new PayloadError(r.errors.map((e) => `${e.path}: ${e.message}`).join('; '))
  const s: DisasterDeclarationSpec = r.value
  if (s.nonce === undefined) throw new PayloadError('spec.nonce is required to sign a declaration (replay protection)')
  if (s.expiresAt === undefined) throw new PayloadError('spec.expiresAt is required to sign a declaration')
  const expiresAtMs = Date.parse(s.expiresAt)
  if (!Number.isFinite(expiresAtMs)) throw new PayloadError(`spec.expiresAt is not a time: ${s.expiresAt}`)
  return {
    domain: DECLARATION_DOMAIN,
    chainId,
    scenario: s.scenario,
    actions: JSON.parse(JSON.stringify(s.actions)) as unknown[],
    dryRun: s.dryRun,
    nonce: s.nonce,
    expiresAtMs,
  }
}
