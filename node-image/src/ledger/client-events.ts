/**
 * Events a client outside the node signs (`@echonet/node/events`): the operator's recovery agent
 * funds the keys it adds after genesis, load generators send transfers. Only what a client needs:
 * build, sign and encode; the node checks everything again when the event arrives.
 */
import type { Did } from '../crypto/did.ts'
import type { Signer } from '../crypto/ed25519.ts'
import { sha256, toHex } from '../crypto/hash.ts'
import { encodeEvent, signEvent } from './event.ts'
import type { DeclarationPayload } from './declaration-payload.ts'
import type { CouncilAction } from './governance-payloads.ts'

export interface SignedEventBytes {
  /** The encoded signed event, as `POST /v1/events` takes it (base64 in JSON, or DAG-CBOR). */
  readonly bytes: Uint8Array
  /** Its id: sha256 of the bytes, as blocks list it. */
  readonly id: string
}

export type { DeclarationPayload } from './declaration-payload.ts'

type Signed = ReturnType<typeof signEvent>
type CouncilSignatures = readonly { did: string; sig: Uint8Array }[]

/** The encoded event and its id (every client event ends here). */
function sealed(ev: Signed): SignedEventBytes {
  const bytes = encodeEvent(ev)
  return { bytes, id: toHex(sha256(bytes)) }
}

const councilSigs = (s: CouncilSignatures) => s.map((x) => ({ did: x.did as Did, sig: x.sig }))

export function signedTransfer(
  signer: Signer,
  sender: string,
  t: { chainId: string; nonce: number; fee: number; to: string; amount: number; memo?: string },
): SignedEventBytes {
  const ev = signEvent(signer, sender as Did, {
    chainId: t.chainId,
    type: 'accounts.transfer',
    nonce: t.nonce,
    fee: t.fee,
    payload: { to: t.to as Did, amount: t.amount, ...(t.memo !== undefined ? { memo: t.memo } : {}) },
  })
  return sealed(ev)
}

/**
 * A council-signed disaster declaration, carried onto the ledger by whoever pays the fee (the
 * operator's recovery agent): its authority is the council's signatures inside, which every node
 * checks itself; the sender adds none.
 */
export function signedDeclarationEvent(
  signer: Signer,
  sender: string,
  t: {
    chainId: string
    nonce: number
    fee: number
    declaration: DeclarationPayload
    signatures: CouncilSignatures
  },
): SignedEventBytes {
  const ev = signEvent(signer, sender as Did, {
    chainId: t.chainId,
    type: 'governance.declaration',
    nonce: t.nonce,
    fee: t.fee,
    payload: { declaration: t.declaration, signatures: councilSigs(t.signatures) },
  })
  return sealed(ev)
}

/**
 * A council action (halt, resume, stop-at, …) with its council signatures, carried onto the
 * ledger by whoever pays the fee (`kubectl echonet council submit`): the authority is the
 * signatures inside, which every node checks at admission and again at execution.
 */
export function signedCouncilActionEvent(
  signer: Signer,
  sender: string,
  t: {
    chainId: string
    nonce: number
    fee: number
    action: CouncilAction
    signatures: CouncilSignatures
  },
): SignedEventBytes {
  const ev = signEvent(signer, sender as Did, {
    chainId: t.chainId,
    type: 'governance.council-action',
    nonce: t.nonce,
    fee: t.fee,
    payload: { action: t.action, signatures: councilSigs(t.signatures) },
  })
  return sealed(ev)
}
