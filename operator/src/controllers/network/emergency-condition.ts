/**
 * The `EmergencyInForce` condition (issue 9), pure: what the council has put in force on the
 * ledger, as the most advanced voter reports it — a halt, module pauses with their expiry, a
 * declared scenario, a scheduled upgrade. Times are the records' own (absolute), so an unchanged
 * ledger gives an unchanged message and no status write.
 */
import type { AdminStatus } from '@echonet/node/admin'
import { NetworkCondition } from '../../api/v1alpha1/conditions.ts'
import type { ConditionInput } from '../../api/v1alpha1/conditions.ts'

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')

export function emergencyCondition(ref: AdminStatus | undefined): ConditionInput {
  const em = ref?.governance?.emergency
  if (em === undefined) {
    return {
      type: NetworkCondition.EmergencyInForce,
      status: ref === undefined ? 'Unknown' : 'False',
      reason: ref === undefined ? 'NoWitnessStatus' : 'None',
      message: ref === undefined ? 'no witness answered its admin API' : 'no council emergency record in force',
    }
  }
  const parts: string[] = []
  if (em.stopAt !== undefined)
    parts.push(
      `chain stopped by the council before height ${em.stopAt.height}${em.stopAt.reason ? ` (${em.stopAt.reason})` : ''}: a restart manifest continues it`,
    )
  if (em.halted !== undefined)
    parts.push(
      `ledger halted by the council at height ${em.halted.sinceHeight}${em.halted.reason ? ` (${em.halted.reason})` : ''}`,
    )
  for (const p of em.pauses) {
    const until = [
      ...(p.untilMs !== undefined ? [iso(p.untilMs)] : []),
      ...(p.untilHeight !== undefined ? [`height ${p.untilHeight}`] : []),
    ].join(' or ')
    parts.push(`module ${p.module} paused until ${until}`)
  }
  if (em.upgradePlan !== undefined)
    parts.push(
      `upgrade ${em.upgradePlan.name} at height ${em.upgradePlan.height} (echonet-node ≥ ${em.upgradePlan.minVersion})`,
    )
  if (em.declared !== undefined) parts.push(`${em.declared.scenario} declared at height ${em.declared.sinceHeight}`)
  if (em.storageIncident !== undefined) parts.push(`storage incident since height ${em.storageIncident.sinceHeight}`)
  if (parts.length === 0) {
    return {
      type: NetworkCondition.EmergencyInForce,
      status: 'False',
      reason: 'None',
      message:
        em.protocol !== undefined
          ? `protocol ${em.protocol.version} in force since height ${em.protocol.sinceHeight}`
          : 'no council emergency record in force',
    }
  }
  const reason =
    em.stopAt !== undefined
      ? 'ChainStopped'
      : em.halted !== undefined
        ? 'LedgerHalted'
        : em.pauses.length > 0
          ? 'ModulesPaused'
          : em.upgradePlan !== undefined
            ? 'UpgradeScheduled'
            : 'EmergencyDeclared'
  return {
    type: NetworkCondition.EmergencyInForce,
    status: 'True',
    reason,
    message: `${parts.join('; ')} (GET /v1/emergency on any node lists the council signatures)`,
  }
}
