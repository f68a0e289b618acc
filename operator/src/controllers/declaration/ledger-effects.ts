/**
 * Scenario C's effects (runbooks/critical-flaw.ts): carry the council-signed declaration onto the
 * ledger, and give the network a new node image. The recovery agent only pays the event's fee;
 * the authority is the council's signatures inside, which every node checks.
 */
import { signedDeclarationEvent } from '@echonet/node/events'
import { declarationPayload } from '../../api/v1alpha1/declaration-payload.ts'
import { MERGE_PATCH } from '../../k8s/index.ts'
import type { Effect, EffectOutcome } from '../../runbooks/types.ts'
import type { EffectContext } from './effects.ts'

type Of<K extends Effect['kind']> = Extract<Effect, { kind: K }>

export async function submitDeclaration(e: Of<'submitDeclaration'>, ctx: EffectContext): Promise<EffectOutcome> {
  const agent = ctx.agent
  if (agent === undefined) {
    return { ok: false, code: 'NO_AGENT_KEY', message: 'recovery.agentKeySecretRef names no readable agent key' }
  }
  const chainId = ctx.network.spec.networkId
  const spec = ctx.declaration.spec
  const declaration = declarationPayload(spec, chainId)
  const signatures = (spec.councilSignatures ?? []).map((s) => ({
    did: s.did,
    sig: new Uint8Array(Buffer.from(s.signature, 'base64')),
  }))
  const account = await ctx.admin.account(e.ip, agent.did)
  const ev = signedDeclarationEvent(agent.signer, agent.did, {
    chainId,
    nonce: (account?.nonce ?? 0) + 1,
    fee: e.fee,
    declaration,
    signatures,
  })
  const [verdict] = await ctx.admin.submitEvents(e.ip, [ev.bytes])
  if (verdict?.ok === true) return { ok: true, value: ev.id }
  return {
    ok: false,
    code: verdict?.code ?? 'NO_VERDICT',
    message: `${e.node} did not take the declaration event ${ev.id.slice(0, 16)}…`,
  }
}

export async function setNetworkImage(e: Of<'setNetworkImage'>, ctx: EffectContext): Promise<EffectOutcome> {
  const net = ctx.network
  const path = await ctx.client.path(net.apiVersion, net.kind, net.metadata.namespace, net.metadata.name)
  await ctx.client.request('PATCH', path, { body: { spec: { image: e.image } }, contentType: MERGE_PATCH })
  void ctx.recorder.record({
    regarding: net,
    related: ctx.declaration,
    reason: 'ImageChanged',
    action: 'Upgrade',
    note: `node image set to ${e.image} by DisasterDeclaration ${ctx.declaration.metadata.name ?? ''} (ScheduledUpgrade)`,
  })
  return { ok: true }
}
