/**
 * What `kubectl echonet status` and `report` print, pure: objects in, text out (or the same
 * facts as JSON/YAML with `-o`). Nothing secret is ever in these objects; signatures are public.
 */
import yaml from 'js-yaml'
import type { DisasterDeclaration, EchoNetNetwork, WitnessPool } from '../api/v1alpha1/types.ts'

export type OutputFormat = 'text' | 'json' | 'yaml'

export function format(value: unknown, output: OutputFormat, text: () => string): string {
  if (output === 'json') return JSON.stringify(value, null, 2) + '\n'
  if (output === 'yaml') return yaml.dump(value, { noRefs: true, lineWidth: 120 })
  return text()
}

const cond = (
  o: { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } },
  t: string,
) => o.status?.conditions?.find((c) => c.type === t)

export interface NetworkSummary {
  readonly namespace: string
  readonly name: string
  readonly networkId: string
  readonly ready: string
  readonly halted: string
  readonly quorum: string
  readonly epoch?: number
  readonly finalizedHeight?: number
  readonly certifiedHeight?: number
  readonly power: { online?: number; needed?: number; total?: number }
  readonly ssns: { ready?: number; wanted: number }
  readonly seeds: { ready?: number; wanted: number }
  readonly underReplicated?: number
  readonly pools: readonly {
    name: string
    mode: string
    replicas: number
    ready?: number
    inCommittee?: number
    promoted?: number
    condition?: string
  }[]
  readonly activeDeclarations: readonly { name: string; scenario: string; phase: string; step?: string }[]
  readonly conditions: readonly { type: string; status: string; reason: string; message: string }[]
}

export function summarize(
  net: EchoNetNetwork,
  pools: readonly WitnessPool[],
  declarations: readonly DisasterDeclaration[],
): NetworkSummary {
  const s = net.status ?? {}
  const name = net.metadata.name ?? ''
  const active = new Set(s.activeDeclarations ?? [])
  return {
    namespace: net.metadata.namespace ?? '',
    name,
    networkId: net.spec.networkId,
    ready: cond(net, 'Ready')?.status ?? 'Unknown',
    halted: cond(net, 'ConsensusHalted')?.status ?? 'Unknown',
    quorum: cond(net, 'QuorumAvailable')?.status ?? 'Unknown',
    ...(s.epoch !== undefined ? { epoch: s.epoch } : {}),
    ...(s.finalizedHeight !== undefined ? { finalizedHeight: s.finalizedHeight } : {}),
    ...(s.certifiedHeight !== undefined ? { certifiedHeight: s.certifiedHeight } : {}),
    power: {
      ...(s.powerOnline !== undefined ? { online: s.powerOnline } : {}),
      ...(s.powerNeeded !== undefined ? { needed: s.powerNeeded } : {}),
      ...(s.powerTotal !== undefined ? { total: s.powerTotal } : {}),
    },
    ssns: { ...(s.ssnsReady !== undefined ? { ready: s.ssnsReady } : {}), wanted: net.spec.storage.replicas },
    seeds: { ...(s.seedsReady !== undefined ? { ready: s.seedsReady } : {}), wanted: net.spec.seeds.replicas },
    ...(s.underReplicatedContent !== undefined ? { underReplicated: s.underReplicatedContent } : {}),
    pools: pools
      .filter((p) => p.spec.networkRef.name === name)
      .map((p) => ({
        name: p.metadata.name ?? '',
        mode: p.spec.mode,
        replicas: p.spec.replicas,
        ...(p.status?.readyReplicas !== undefined ? { ready: p.status.readyReplicas } : {}),
        ...(p.status?.inCommittee !== undefined ? { inCommittee: p.status.inCommittee } : {}),
        ...(p.status?.promoted !== undefined ? { promoted: p.status.promoted } : {}),
        ...(cond(p, 'Ready') !== undefined
          ? { condition: `${cond(p, 'Ready')!.reason}: ${cond(p, 'Ready')!.message}` }
          : {}),
      })),
    activeDeclarations: declarations
      .filter(
        (d) => d.spec.networkRef.name === name && (active.has(d.metadata.name ?? '') || d.status?.phase !== 'Resolved'),
      )
      .map((d) => ({
        name: d.metadata.name ?? '',
        scenario: d.spec.scenario,
        phase: d.status?.phase ?? 'Pending',
        ...(d.status?.runbook?.step !== undefined ? { step: d.status.runbook.step } : {}),
      })),
    conditions: (s.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      reason: c.reason,
      message: c.message,
    })),
  }
}

const n = (v: number | undefined): string => (v === undefined ? '?' : String(v))

export function statusText(x: NetworkSummary): string {
  const lines = [
    `Network ${x.namespace}/${x.name} (${x.networkId})`,
    `  Ready ${x.ready}   Quorum available ${x.quorum}   Consensus halted ${x.halted}`,
    `  Epoch ${n(x.epoch)}   finalized height ${n(x.finalizedHeight)}   certified height ${n(x.certifiedHeight)}`,
    `  Committee power online ${n(x.power.online)} of ${n(x.power.total)}, ${n(x.power.needed)} needed`,
    `  Storage nodes ready ${n(x.ssns.ready)} of ${x.ssns.wanted}   DHT seeds ready ${n(x.seeds.ready)} of ${x.seeds.wanted}   under-replicated content ${n(x.underReplicated)}`,
    '',
    '  Witness pools:',
    ...x.pools.map(
      (p) =>
        `    ${p.name.padEnd(20)} ${p.mode.padEnd(8)} ready ${n(p.ready)}/${p.replicas}   in committee ${n(p.inCommittee)}${p.mode === 'Standby' ? `   promoted ${n(p.promoted)}` : ''}`,
    ),
    '',
    x.activeDeclarations.length === 0 ? '  No active disaster declaration.' : '  Active disaster declarations:',
    ...x.activeDeclarations.map(
      (d) =>
        `    ${d.name.padEnd(40)} ${d.scenario.padEnd(18)} ${d.phase}${d.step !== undefined ? ` (${d.step})` : ''}`,
    ),
    '',
    '  Conditions:',
    ...x.conditions.map((c) => `    ${c.type.padEnd(16)} ${c.status.padEnd(7)} ${c.reason}: ${c.message}`),
  ]
  return lines.join('\n') + '\n'
}

export interface DeclarationReport {
  readonly namespace: string
  readonly name: string
  readonly network: string
  readonly scenario: string
  readonly phase: string
  readonly dryRun: boolean
  readonly authorizedAt?: string
  readonly signers: readonly string[]
  readonly rtoSeconds?: number
  readonly finalizedEventsLost?: number
  readonly restart?: {
    height?: number
    hash?: string
    manifestHash?: string
    witnessSet: readonly { node?: string; did: string; promoted: boolean }[]
  }
  readonly audit?: string
  readonly resilience?: string
  readonly steps: readonly {
    name: string
    phase: string
    attempts?: number
    startedAt?: string
    finishedAt?: string
    message?: string
  }[]
  readonly timeline: readonly { time: string; event: string }[]
  readonly postMortem?: string
}

export function report(d: DisasterDeclaration): DeclarationReport {
  const s = d.status ?? {}
  const r = s.runbook ?? {}
  return {
    namespace: d.metadata.namespace ?? '',
    name: d.metadata.name ?? '',
    network: d.spec.networkRef.name,
    scenario: d.spec.scenario,
    phase: s.phase ?? 'Pending',
    dryRun: d.spec.dryRun,
    ...(s.authorizedAt !== undefined ? { authorizedAt: s.authorizedAt } : {}),
    signers: s.verifiedSigners ?? [],
    ...(s.rtoSeconds !== undefined ? { rtoSeconds: s.rtoSeconds } : {}),
    ...(s.finalizedEventsLost !== undefined ? { finalizedEventsLost: s.finalizedEventsLost } : {}),
    ...(r.manifestHash !== undefined || r.restartHeight !== undefined
      ? {
          restart: {
            ...(r.restartHeight !== undefined ? { height: r.restartHeight } : {}),
            ...(r.restartHash !== undefined ? { hash: r.restartHash } : {}),
            ...(r.manifestHash !== undefined ? { manifestHash: r.manifestHash } : {}),
            witnessSet: (r.witnessSet ?? []).map((w) => ({
              ...(w.node !== undefined ? { node: w.node } : {}),
              did: w.did,
              promoted: w.promoted,
            })),
          },
        }
      : {}),
    ...(r.audit !== undefined ? { audit: r.audit.message } : {}),
    ...(r.resilience !== undefined ? { resilience: r.resilience.message } : {}),
    steps: (s.steps ?? []).map((x) => ({ ...x })),
    timeline: s.timeline ?? [],
    ...(s.postMortem !== undefined ? { postMortem: s.postMortem } : {}),
  }
}

export function reportText(x: DeclarationReport): string {
  const lines = [
    `Declaration ${x.namespace}/${x.name}: ${x.scenario} on ${x.network}${x.dryRun ? ' (dry run)' : ''}`,
    `  Phase ${x.phase}${x.authorizedAt !== undefined ? `   authorized ${x.authorizedAt} by ${x.signers.join(', ')}` : ''}`,
    `  RTO ${x.rtoSeconds === undefined ? '—' : `${x.rtoSeconds} s`}   finalized events lost ${x.finalizedEventsLost ?? '—'}`,
  ]
  if (x.restart !== undefined) {
    lines.push(
      `  Restart from block ${n(x.restart.height)} (${x.restart.hash ?? '?'}), manifest ${x.restart.manifestHash ?? '(not planned yet)'}`,
      `  New witness set: ${x.restart.witnessSet.map((w) => `${w.node ?? w.did}${w.promoted ? ' (promoted)' : ''}`).join(', ')}`,
    )
  }
  if (x.audit !== undefined) lines.push(`  Independent check: ${x.audit}`)
  if (x.resilience !== undefined) lines.push(`  Resilience: ${x.resilience}`)
  lines.push('', '  Steps:')
  for (const s of x.steps) {
    const when =
      s.startedAt === undefined ? '' : ` ${s.startedAt}${s.finishedAt !== undefined ? ` → ${s.finishedAt}` : ''}`
    lines.push(
      `    ${s.name.padEnd(20)} ${s.phase.padEnd(9)}${s.attempts !== undefined ? ` attempts ${s.attempts}` : ''}${when}`,
    )
    if (s.message !== undefined) lines.push(`      ${s.message}`)
  }
  lines.push('', '  Timeline:', ...x.timeline.map((t) => `    ${t.time}  ${t.event}`))
  if (x.postMortem !== undefined) lines.push('', '  Post-mortem:', ...x.postMortem.split('\n').map((l) => `    ${l}`))
  return lines.join('\n') + '\n'
}
