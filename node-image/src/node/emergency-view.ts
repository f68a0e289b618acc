/**
 * The emergency state as the node serves it (api/emergency-contract.ts), read from its finalized
 * ledger. Pure apart from the reads: what is listed is what holds at the last block's time.
 */
import { toHex } from '../crypto/hash.ts'
import { councilActionBytes } from '../ledger/governance-payloads.ts'
import type { CouncilAction } from '../ledger/governance-payloads.ts'
import { declarationBytes } from '../ledger/declaration-payload.ts'
import type { DeclarationPayload } from '../ledger/declaration-payload.ts'
import { pauseActive } from '../ledger/modules/governance-state.ts'
import type { AuthorizationRecord } from '../ledger/state.ts'
import type { AuthorizationView, EmergencySummary, EmergencyView } from '../api/emergency-contract.ts'
import type { LedgerAdapter } from './ledger-adapter.ts'

type EmergencySource = Pick<
  LedgerAdapter,
  | 'emergency'
  | 'pauses'
  | 'upgradePlan'
  | 'protocol'
  | 'authorizations'
  | 'paramOverrides'
  | 'council'
  | 'root'
  | 'height'
  | 'timeMs'
  | 'chainId'
>

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

/** The part of the node's status the operator reads (no signatures: it checks those itself). */
export function emergencySummary(l: EmergencySource): EmergencySummary {
  const em = l.emergency()
  const now = l.timeMs
  const next = l.height + 1
  const plan = l.upgradePlan()
  const protocol = l.protocol()
  return {
    ...(em.declared !== undefined ? { declared: em.declared } : {}),
    ...(em.halted !== undefined ? { halted: em.halted } : {}),
    ...(em.stopAt !== undefined ? { stopAt: em.stopAt } : {}),
    ...(em.storageIncident !== undefined ? { storageIncident: em.storageIncident } : {}),
    pauses: Object.entries(l.pauses())
      .filter(([, p]) => pauseActive(p, next, now))
      .map(([module, p]) => ({ module, ...p })),
    ...(plan !== undefined ? { upgradePlan: plan } : {}),
    ...(protocol !== undefined ? { protocol } : {}),
  }
}

function authorizationView(a: AuthorizationRecord): AuthorizationView {
  const bytes =
    a.kind === 'declaration'
      ? declarationBytes(a.payload as DeclarationPayload)
      : councilActionBytes(a.payload as CouncilAction)
  return {
    kind: a.kind,
    height: a.height,
    payload: a.payload,
    signedBytes: b64(bytes),
    signatures: a.signatures.map((s) => ({ did: s.did, sig: b64(s.sig) })),
  }
}

export function emergencyView(l: EmergencySource): EmergencyView {
  const now = l.timeMs
  return {
    chainId: l.chainId,
    height: l.height,
    stateRoot: toHex(l.root()),
    council: l.council(),
    ...emergencySummary(l),
    paramOverrides: Object.entries(l.paramOverrides())
      .filter(([, o]) => o.expiresAtMs > now)
      .map(([name, o]) => ({ name, ...o })),
    authorizations: Object.fromEntries(
      Object.entries(l.authorizations()).map(([ref, a]) => [ref, authorizationView(a)]),
    ),
  }
}
