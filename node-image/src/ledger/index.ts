/** Public surface of the ledger for the consensus layer, the node and the APIs. */
export { LedgerError, LEDGER_ERROR_CODES, isLedgerErrorCode } from './errors.ts'
export type { LedgerErrorCode } from './errors.ts'
export {
  MAX_EVENT_BYTES,
  EVENT_TYPES,
  INTERACTION_KINDS,
  POSR_OUTCOMES,
  signEvent,
  encodeEvent,
  decodeEvent,
  eventId,
  checkEventStateless,
  checkEventsStateless,
  validateSignedEvent,
  payloadOf,
  isEventType,
  signPosrAnswer,
} from './event.ts'
export type {
  EventBody,
  EventPayload,
  EventPayloadMap,
  EventType,
  InteractionKind,
  PosrAnswer,
  SignedEvent,
  TypedEventBody,
} from './event.ts'
export { validateGenesis, genesisHash } from './genesis.ts'
export type { Genesis, GenesisStake } from './genesis.ts'
export { Ledger, verifyProof } from './ledger.ts'
export type { AccountView, BlockContext, CommitteeMember, EventResult, Execution, StateProof } from './ledger.ts'
export { DEFAULT_PARAMS, PARAM_NAMES, PARAM_SPECS } from './params.ts'
export type { ParamName, Params } from './params.ts'
export { KEYS } from './state.ts'
export type * from './state.ts'
