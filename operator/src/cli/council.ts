/**
 * Council members' side of a declaration, pure: sign the declaration (authorizes the operator to
 * run its runbook) or the RestartManifest the runbook planned and waits on (authorizes the nodes
 * to restart), and check who signed what. Keys never leave the member's file.
 */
import { decodeManifest } from '@echonet/node/restart'
import { restartManifestBytes, signDeclaration, signRestartManifest, declarationBytes } from '@echonet/node/governance'
import { verifyDidSignature } from '@echonet/node/identity'
import type { NodeIdentity } from '@echonet/node/identity'
import type { RestartManifest } from '@echonet/node/governance'
import { declarationPayload } from '../api/v1alpha1/declaration-payload.ts'
import type { DisasterDeclaration } from '../api/v1alpha1/types.ts'

export type SignTarget = 'declaration' | 'manifest'

export interface SignatureEntry {
  readonly did: string
  readonly signature: string
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')

/** What a council member signs now: the declaration while it is Pending, the manifest once planned. */
export function signTarget(decl: DisasterDeclaration): SignTarget {
  const phase = decl.status?.phase ?? 'Pending'
  return phase !== 'Pending' && decl.status?.runbook?.manifest !== undefined ? 'manifest' : 'declaration'
}

export function sign(
  decl: DisasterDeclaration,
  networkId: string,
  key: NodeIdentity,
  target: SignTarget,
): { field: 'councilSignatures' | 'manifestSignatures'; entry: SignatureEntry; what: string } {
  if (target === 'manifest') {
    const m = decl.status?.runbook?.manifest
    if (m === undefined) throw new Error(`${decl.metadata.name ?? ''} has no planned manifest to sign yet`)
    const manifest = decodeManifest(new Uint8Array(Buffer.from(m, 'base64')))
    if (manifest.chainId !== networkId)
      throw new Error(`the manifest is for network ${manifest.chainId}, not ${networkId}`)
    const sig = signRestartManifest(key.signer, key.did, manifest)
    return {
      field: 'manifestSignatures',
      entry: { did: key.did, signature: b64(sig.sig) },
      what: `restart manifest ${decl.status?.runbook?.manifestHash ?? ''}: epoch ${manifest.epoch}, restart from block ${manifest.height}, ${manifest.witnesses.length} witnesses${(manifest.stateEdits ?? []).length > 0 ? `, ${manifest.stateEdits!.length} state edit(s) (${manifest.stateEdits!.map((e) => `${e.op} ${e.key}`).join(', ')}) giving state root ${manifest.resultingStateRoot ?? '?'}` : ''}`,
    }
  }
  const payload = declarationPayload(decl.spec, networkId)
  const sig = signDeclaration(key.signer, key.did, payload)
  return {
    field: 'councilSignatures',
    entry: { did: key.did, signature: b64(sig.sig) },
    what: `declaration ${decl.metadata.name ?? ''}: ${payload.scenario}, ${payload.actions.length} action(s), nonce ${payload.nonce}, expires ${new Date(payload.expiresAtMs).toISOString()}${payload.dryRun ? ', dry run' : ''}`,
  }
}

/** A member's signature over a restart manifest given on its own (a hard-fork plan file). */
export function signManifest(manifest: RestartManifest, key: NodeIdentity): SignatureEntry {
  return { did: key.did, signature: b64(signRestartManifest(key.signer, key.did, manifest).sig) }
}

/** The list with `entry` added (replacing an earlier signature of the same member). */
export function withSignature(list: readonly SignatureEntry[] | undefined, entry: SignatureEntry): SignatureEntry[] {
  return [...(list ?? []).filter((s) => s.did !== entry.did), entry]
}

export interface SignatureCheck {
  readonly did: string
  readonly member: boolean
  readonly valid: boolean
}

export interface VerifyReport {
  readonly council: { readonly members: readonly string[]; readonly threshold: number }
  readonly declaration: {
    readonly signatures: readonly SignatureCheck[]
    readonly enough: boolean
    readonly problem?: string
  }
  readonly manifest?: {
    readonly hash: string
    readonly signatures: readonly SignatureCheck[]
    readonly enough: boolean
  }
}

function check(
  sigs: readonly SignatureEntry[],
  council: { members: readonly string[]; threshold: number },
  bytes: Uint8Array,
): { signatures: SignatureCheck[]; enough: boolean } {
  const signatures = sigs.map((s) => ({
    did: s.did,
    member: council.members.includes(s.did),
    valid: verifyDidSignature(s.did, bytes, new Uint8Array(Buffer.from(s.signature, 'base64'))),
  }))
  const counted = new Set(signatures.filter((s) => s.member && s.valid).map((s) => s.did))
  return { signatures, enough: counted.size >= council.threshold && signatures.every((s) => !s.member || s.valid) }
}

export function verify(
  decl: DisasterDeclaration,
  networkId: string,
  council: { members: readonly string[]; threshold: number },
): VerifyReport {
  let declaration: VerifyReport['declaration']
  try {
    declaration = check(
      decl.spec.councilSignatures ?? [],
      council,
      declarationBytes(declarationPayload(decl.spec, networkId)),
    )
  } catch (err) {
    declaration = { signatures: [], enough: false, problem: (err as Error).message }
  }
  const m = decl.status?.runbook?.manifest
  if (m === undefined) return { council, declaration }
  const manifest = decodeManifest(new Uint8Array(Buffer.from(m, 'base64')))
  return {
    council,
    declaration,
    manifest: {
      hash: decl.status?.runbook?.manifestHash ?? '',
      ...check(decl.spec.manifestSignatures ?? [], council, restartManifestBytes(manifest)),
    },
  }
}
