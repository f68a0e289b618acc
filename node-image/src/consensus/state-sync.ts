import { toHex } from '../crypto/hash.ts'
import { BlockError, blockHash, verifyCertificate } from './block.ts'
import type { BlockHeader } from './block.ts'
import type { CommitCertificate } from './messages.ts'
import { ValidatorSet } from './validators.ts'
import type { Validator } from './validators.ts'

/**
 * Light-client verification of a header chain, for state sync: starting from the genesis
 * committee, every header must extend the previous one, name the committee that certified it,
 * and carry > 2/3 of that committee's precommits; the committee for the next height is the set
 * whose hash the header names (`nextValidatorsHash`), supplied by the peer and checked against
 * that hash. A snapshot whose root equals the last verified header's state root is then
 * trustworthy without replaying history. Pure: no I/O.
 */

export interface CertifiedHeader {
  readonly header: BlockHeader
  readonly certificate: CommitCertificate
}

export interface ChainAnchor {
  readonly height: number
  readonly hash: string
  readonly validators: ValidatorSet
  /** Epoch of the anchor block (0 at genesis). */
  readonly epoch: number
}

export function verifyHeaderChain(
  start: ChainAnchor,
  items: readonly CertifiedHeader[],
  sets: ReadonlyMap<string, readonly Validator[]>,
): ChainAnchor {
  let { height, hash, validators } = start
  const { epoch } = start
  for (const { header, certificate } of items) {
    if (header.height !== height + 1)
      throw new BlockError('SYNC_GAP', `header ${header.height} does not follow ${height}`)
    if (header.epoch !== epoch) {
      // A coordinated restart installed this committee: only the ledger state at the boundary
      // can check the manifest's authorization, so the caller replays blocks instead.
      throw new BlockError('EPOCH_BOUNDARY', `header ${header.height} opens epoch ${header.epoch} after ${epoch}`)
    }
    if (header.prevHash !== hash)
      throw new BlockError('WRONG_PARENT', `header ${header.height} does not extend ${hash}`)
    if (header.validatorsHash !== toHex(validators.hash())) {
      throw new BlockError('WRONG_VALIDATORS', `header ${header.height} names another committee`)
    }
    const h = blockHash(header)
    if (certificate.height !== header.height)
      throw new BlockError('CERTIFICATE_MISMATCH', 'certificate for another height')
    verifyCertificate(certificate, validators, h)
    if (header.nextValidatorsHash !== header.validatorsHash) {
      const next = sets.get(header.nextValidatorsHash)
      if (!next) throw new BlockError('MISSING_VALIDATOR_SET', `no validator set for ${header.nextValidatorsHash}`)
      const vs = new ValidatorSet(next)
      if (toHex(vs.hash()) !== header.nextValidatorsHash) {
        throw new BlockError('WRONG_VALIDATORS', 'supplied validator set does not match its hash')
      }
      validators = vs
    }
    height = header.height
    hash = h
  }
  return { height, hash, validators, epoch }
}
