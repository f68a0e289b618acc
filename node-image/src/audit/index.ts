/**
 * `@echonet/node/audit`: checks that drills, tests and the operator share, independent of the
 * nodes they check — certified chains verified from genesis, lost final events, double votes.
 */
export { auditChain, genesisAnchor, httpChainSource } from './chain-audit.ts'
export type { AuditOptions, AuditResult, ChainPage, ChainSource, SourceResult } from './chain-audit.ts'
export { doubleVotesIn } from './votes.ts'
