/**
 * Carries out a runbook's effects (the only I/O of a runbook): ask a node for a restart plan,
 * sign with the recovery agent, hand a restart record to a node, read the chain back for the
 * independent check, mark key Secrets for restoring resilience, record Events. Each returns an
 * outcome the runbook records; none throws for a node's refusal (that is data, not an error).
 */
import type { NodeIdentity } from '@echonet/node/identity'
import { auditChain, httpChainSource } from '@echonet/node/audit'
import { signRestartManifest } from '@echonet/node/governance'
import type { CouncilAction, CouncilSignature } from '@echonet/node/governance'
import { decodeManifest, encodeRestartRecord } from '@echonet/node/restart'
import { Annotations } from '../../api/v1alpha1/labels.ts'
import type { DisasterDeclaration, EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import type { EventRecorder, K8sClient, KubeObject } from '../../k8s/index.ts'
import { MERGE_PATCH } from '../../k8s/index.ts'
import { keySecretName, podName } from '../shared/nodes.ts'
import { publicUrl } from '../shared/node-admin.ts'
import type { NodeAdmin } from '../shared/node-admin.ts'
import type { DeliveryAuth, Effect, EffectOutcome } from '../../runbooks/types.ts'
import { setNetworkImage, submitDeclaration } from './ledger-effects.ts'

export interface EffectContext {
  readonly client: K8sClient
  readonly admin: NodeAdmin
  readonly recorder: EventRecorder
  readonly network: EchoNetNetwork
  readonly declaration: DisasterDeclaration
  readonly token: string | undefined
  readonly agent: NodeIdentity | undefined
  /** The genesis document (the audit starts from its committee). */
  readonly genesis: unknown
  /** Survey entries (height, hash) that must still be in the chain after a restart. */
  readonly expectBlocks: readonly { height: number; hash: string }[]
  readonly signal: AbortSignal
}

const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'))

function failure(err: unknown): EffectOutcome {
  const e = err as { code?: unknown; message?: unknown }
  return { ok: false, code: typeof e.code === 'string' ? e.code : 'ERROR', message: String(e.message) }
}

export interface PolicyAuthorization {
  readonly action: CouncilAction
  readonly signatures: CouncilSignature[]
  readonly agent: string
}

/** The DAG-CBOR restart record a node takes: the recorded manifest with its authorization. */
export function restartRecord(auth: DeliveryAuth, policy?: PolicyAuthorization): Uint8Array {
  const manifest = decodeManifest(unb64(auth.manifest))
  if (auth.mode === 'council') {
    return encodeRestartRecord({
      manifest,
      authorization: {
        kind: 'council',
        signatures: auth.signatures.map((s) => ({ did: s.did as CouncilSignature['did'], sig: unb64(s.signature) })),
      },
    })
  }
  if (policy === undefined) throw new Error('a policy-signed restart needs the standing policy')
  return encodeRestartRecord({
    manifest,
    authorization: {
      kind: 'policy',
      policy: policy.action,
      policySignatures: policy.signatures,
      agentSignature: { did: policy.agent as CouncilSignature['did'], sig: unb64(auth.agentSignature) },
    },
  })
}

export async function execute(
  effect: Effect,
  ctx: EffectContext,
  policy: PolicyAuthorization | undefined,
): Promise<EffectOutcome> {
  if (ctx.signal.aborted) return { ok: false, code: 'ABORTED', message: 'the controller stopped (leadership lost)' }
  try {
    switch (effect.kind) {
      case 'plan': {
        if (ctx.token === undefined) return { ok: false, code: 'NO_TOKEN', message: 'no admin token' }
        const m = await ctx.admin.restartPlan({ ip: effect.ip, token: ctx.token }, effect.witnesses, effect.expiresAtMs)
        return { ok: true, value: m }
      }
      case 'previewFork': {
        if (ctx.token === undefined) return { ok: false, code: 'NO_TOKEN', message: 'no admin token' }
        return { ok: true, value: await ctx.admin.restartPreview({ ip: effect.ip, token: ctx.token }, effect.edits) }
      }
      case 'dhtRebootstrap': {
        if (ctx.token === undefined) return { ok: false, code: 'NO_TOKEN', message: 'no admin token' }
        return { ok: true, value: await ctx.admin.dhtRebootstrap({ ip: effect.ip, token: ctx.token }, effect.seeds) }
      }
      case 'setRepairPriorities': {
        if (ctx.token === undefined) return { ok: false, code: 'NO_TOKEN', message: 'no admin token' }
        await ctx.admin.setRepairPriorities({ ip: effect.ip, token: ctx.token }, effect.priorities)
        return { ok: true }
      }
      case 'storageRepair': {
        if (ctx.token === undefined) return { ok: false, code: 'NO_TOKEN', message: 'no admin token' }
        return { ok: true, value: await ctx.admin.storageRepair({ ip: effect.ip, token: ctx.token }) }
      }
      case 'agentSign': {
        if (ctx.agent === undefined) {
          return { ok: false, code: 'NO_AGENT_KEY', message: 'recovery.agentKeySecretRef names no readable agent key' }
        }
        const m = decodeManifest(unb64(effect.manifest))
        const sig = signRestartManifest(ctx.agent.signer, ctx.agent.did, m)
        return { ok: true, value: Buffer.from(sig.sig).toString('base64') }
      }
      case 'deliver': {
        if (ctx.token === undefined) return { ok: false, code: 'NO_TOKEN', message: 'no admin token' }
        const r = await ctx.admin.restart({ ip: effect.ip, token: ctx.token }, restartRecord(effect.record, policy))
        return { ok: true, value: r }
      }
      case 'audit': {
        const sources = effect.nodes.map((n) => httpChainSource(n.node, publicUrl(n.ip)))
        const a = await auditChain(ctx.genesis, sources, {
          toHeight: effect.toHeight,
          expect: [effect.expect, ...ctx.expectBlocks.filter((b) => b.height <= effect.expect.height)],
        })
        const ok = a.ok && a.missing.length === 0
        return {
          ok: true,
          value: {
            heights: a.heights,
            nodes: a.sources.map((x) => x.name),
            forks: a.forks.length,
            badCertificates: a.badCertificates,
            missing: [...a.missing],
            message: a.message,
            lost: a.lostBlocks.length === 0 ? 0 : a.lostBlocks.length,
            ok,
          },
        }
      }
      case 'restoreResilience': {
        const decl = ctx.declaration.metadata.name ?? ''
        const ns = ctx.network.metadata.namespace
        const net = ctx.network.metadata.name ?? ''
        const mark = async (node: string, annotations: Record<string, string>): Promise<void> => {
          const path = await ctx.client.path('v1', 'Secret', ns, keySecretName(net, node))
          await ctx.client.request('PATCH', path, { body: { metadata: { annotations } }, contentType: MERGE_PATCH })
        }
        for (const n of effect.plan.retire) await mark(n, { [Annotations.retired]: decl })
        for (const n of effect.plan.rekey) {
          // The machine the node was lost on may look Ready for a while: keep the new pod off it.
          const lost = await ctx.client.getOrUndefined<{ spec?: { nodeName?: string } } & KubeObject>(
            'v1',
            'Pod',
            podName(net, n),
            ns,
          )
          const machine = lost?.spec?.nodeName
          await mark(n, {
            [Annotations.rekey]: decl,
            ...(machine !== undefined ? { [Annotations.avoidMachines]: machine } : {}),
          })
        }
        for (const n of effect.plan.promoted) await mark(n, { [Annotations.promoted]: decl })
        return { ok: true }
      }
      case 'applyDefences': {
        if (ctx.token === undefined) return { ok: false, code: 'NO_TOKEN', message: 'no admin token' }
        const n = { ip: effect.ip, token: ctx.token }
        const d = effect.defences
        if (d.limits !== undefined) await ctx.admin.setLimits(n, d.limits.set, d.limits.expiresAtMs, d.reason)
        if (d.blocklist.length > 0) await ctx.admin.block(n, d.blocklist)
        return { ok: true }
      }
      case 'liftDefences': {
        if (ctx.token === undefined) return { ok: false, code: 'NO_TOKEN', message: 'no admin token' }
        const n = { ip: effect.ip, token: ctx.token }
        if (effect.defences.limits !== undefined) await ctx.admin.clearLimits(n)
        if (effect.defences.blocklist.length > 0)
          await ctx.admin.unblock(
            n,
            effect.defences.blocklist.map((e) => ({ kind: e.kind, value: e.value })),
          )
        return { ok: true }
      }
      case 'readDefences': {
        if (ctx.token === undefined) return { ok: false, code: 'NO_TOKEN', message: 'no admin token' }
        const token = ctx.token
        const views = await Promise.allSettled(effect.nodes.map((x) => ctx.admin.defences({ ip: x.ip, token })))
        let throttled = 0
        let blocked = 0
        let nodes = 0
        const sum = (m: Readonly<Partial<Record<string, number>>>): number =>
          Object.values(m).reduce<number>((a, v) => a + (v ?? 0), 0)
        for (const v of views) {
          if (v.status !== 'fulfilled') continue
          nodes++
          throttled += sum(v.value.throttled)
          blocked += sum(v.value.blocked)
        }
        return { ok: true, value: { throttled, blocked, nodes } }
      }
      case 'submitDeclaration':
        return await submitDeclaration(effect, ctx)
      case 'setNetworkImage':
        return await setNetworkImage(effect, ctx)
      case 'event':
        void ctx.recorder.record({
          regarding: ctx.declaration,
          related: ctx.network,
          type: effect.type,
          reason: effect.reason,
          action: 'Runbook',
          note: effect.note,
        })
        return { ok: true }
    }
  } catch (err) {
    return failure(err)
  }
}
