/**
 * Scenario A driven by the operator on the local cluster (issue 8), with real faults: machines
 * (node agents and every process on them) are lost for good, the operator declares and recovers
 * by itself under a council-signed standing policy, then again with council signatures given
 * through `kubectl echonet council sign` while its leader is killed mid-delivery. Every check of
 * the outcome is independent of the operator: the certified chain is read back from the nodes and
 * verified from genesis, votes are read from the nodes' volumes, pods and processes from the
 * cluster and /proc.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import yaml from 'js-yaml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keyFileContent, NodeIdentity } from '../../node-image/src/crypto/identity.ts'
import { signDeclaration } from '../../node-image/src/ledger/governance-payloads.ts'
import { declarationPayload } from '../../operator/src/api/v1alpha1/declaration-payload.ts'
import { validateDisasterDeclaration } from '../../operator/src/api/v1alpha1/validate.ts'
import {
  LocalMachine,
  adminToken,
  auditNetwork,
  doubleVotesOn,
  kubectl,
  kubectlJson,
  networkNodes,
  nodeStatus,
  plugin,
  waitFor,
  writesBy,
} from '../lib/cluster-kit.ts'
import {
  NETWORK,
  condition,
  declaration,
  declarations,
  finalHeights,
  liveWitnessIp,
  nodeDids,
  sendTransfers,
  setUpScenarioA,
  signStandingPolicy,
  tearDownScenarioA,
} from '../lib/scenario-a.ts'
import type { DeclarationJson, ScenarioA } from '../lib/scenario-a.ts'

const stateDir = mkdtempSync(join(tmpdir(), 'echonet-witness-loss-'))
let s: ScenarioA
/** Every event seen final so far (id → height): none may ever be lost. */
const finalEvents = new Map<string, number>()
const keyFiles: string[] = []

const holder: { s?: ScenarioA } = {}

beforeAll(async () => {
  s = await setUpScenarioA({ stateDir, cidrBase: 90 }, holder)
  const dids = nodeDids(s)
  signStandingPolicy(
    s,
    [0, 1, 2, 3].map((i) => dids.get(`standbys-${i}`)!),
    4,
  )
  for (const [i, c] of s.council.entries()) {
    const f = join(stateDir, `council-${i}.key`)
    writeFileSync(f, keyFileContent(c), { mode: 0o600 })
    keyFiles.push(f)
  }
}, 420_000)

afterAll(async () => {
  // Whatever exists, even when setting up failed half-way.
  if (holder.s !== undefined) await tearDownScenarioA(holder.s)
  if (process.env.KEEP_E2E_STATE === undefined) await rm(stateDir, { recursive: true, force: true })
  else console.log(`state kept in ${stateDir}`)
}, 180_000)

const OPERATOR = (): string => `system:serviceaccount:${s.opNs}:${s.release}-echonet-operator`
const epochs = async (): Promise<number[]> => {
  const token = adminToken(s.ns, NETWORK)
  const out: number[] = []
  for (const n of networkNodes(s.ns, NETWORK)) {
    if (n.ip === undefined || (n.role !== 'witness' && n.role !== 'standby')) continue
    const st = await nodeStatus(n.ip, token)
    if (st !== undefined) out.push(st.epoch)
  }
  return out
}
const step = (d: DeclarationJson, name: string) => d.status?.steps?.find((x) => x.name === name)
const authorized = (d: DeclarationJson) => d.status?.conditions?.find((c) => c.type === 'Authorized')

/** A declaration of this network as a person writes it (the CRD fills in defaults). */
function declYaml(name: string, spec: Record<string, unknown>): string {
  const obj = {
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'DisasterDeclaration',
    metadata: { name },
    spec: {
      networkRef: { name: NETWORK },
      scenario: 'WitnessLoss',
      networkId: s.chainId,
      actions: [{ type: 'PromoteStandbys' }, { type: 'CoordinatedRestart' }],
      nonce: Date.now(),
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      ...spec,
    },
  }
  return yaml.dump(obj)
}

function councilSigned(
  spec: Record<string, unknown>,
  signers: readonly NodeIdentity[],
  chainId = s.chainId,
): Record<string, unknown> {
  const full = {
    networkRef: { name: NETWORK },
    scenario: 'WitnessLoss',
    actions: [{ type: 'PromoteStandbys' }, { type: 'CoordinatedRestart' }],
    ...spec,
  }
  const v = validateDisasterDeclaration({
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'DisasterDeclaration',
    metadata: { name: 'x' },
    spec: full,
  })
  if (!v.ok) throw new Error(JSON.stringify(v.errors))
  const p = declarationPayload(v.value.spec, chainId)
  return {
    ...spec,
    councilSignatures: signers.map((c) => ({
      did: c.did,
      signature: Buffer.from(signDeclaration(c.signer, c.did, p).sig).toString('base64'),
    })),
  }
}

async function refusedWith(name: string, reason: string): Promise<DeclarationJson> {
  return waitFor(
    `${name} refused with ${reason}`,
    () => {
      const d = declaration(s, name)
      return authorized(d)?.reason === reason ? d : undefined
    },
    60_000,
  )
}

/** Nothing ran: no step started, no manifest planned. */
function untouched(d: DeclarationJson): void {
  expect(d.status?.runbook?.manifestHash, d.metadata.name).toBeUndefined()
  for (const x of d.status?.steps ?? [])
    expect(['Pending', 'Skipped'], `${d.metadata.name} ${x.name}`).toContain(x.phase)
}

describe('scenario A on the local cluster: 7 witnesses, 5 lost for good, 4 standbys', () => {
  it('a dry run plans on the healthy network and changes nothing (audit log and nodes); a declaration outside the standing policy is refused', async () => {
    const from = Date.now()
    const r = plugin([
      '-n',
      s.ns,
      'declare',
      'WitnessLoss',
      '--network',
      NETWORK,
      '--name',
      'dry-run',
      '--dry-run',
      '--apply',
    ])
    expect(r.code, r.stderr).toBe(0)
    const d = await waitFor('dry run resolved', () => {
      const x = declaration(s, 'dry-run')
      return x.status?.phase === 'Resolved' ? x : undefined
    })
    expect(d.status?.runbook?.manifestHash).toMatch(/^[0-9a-f]{64}$/)
    expect(step(d, 'CoordinatedRestart')).toMatchObject({ phase: 'Skipped' })
    expect(step(d, 'CoordinatedRestart')?.message).toMatch(/dry run: would hand manifest/)
    const writes = writesBy(OPERATOR(), from, Date.now()).filter(
      (w) =>
        !/^(patch|update) (echonetnetworks|witnesspools|disasterdeclarations)\/status\//.test(w) &&
        !w.startsWith('create events'),
    )
    expect(writes).toEqual([])
    expect(new Set(await epochs())).toEqual(new Set([0]))

    // Signed by the agent, but asking for more promotions than the policy allows.
    const outside = {
      nonce: Date.now(),
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      actions: [{ type: 'PromoteStandbys', promoteStandbys: { count: 6 } }, { type: 'CoordinatedRestart' }],
    }
    const v = validateDisasterDeclaration({
      apiVersion: 'echonet.io/v1alpha1',
      kind: 'DisasterDeclaration',
      metadata: { name: 'x' },
      spec: { networkRef: { name: NETWORK }, scenario: 'WitnessLoss', ...outside },
    })
    if (!v.ok) throw new Error(JSON.stringify(v.errors))
    const sig = signDeclaration(s.agent.signer, s.agent.did, declarationPayload(v.value.spec, s.chainId))
    kubectl(
      ['-n', s.ns, 'apply', '-f', '-'],
      declYaml('outside-policy', {
        ...outside,
        standingPolicy: { agentDid: s.agent.did, signature: Buffer.from(sig.sig).toString('base64') },
      }),
    )
    untouched(await refusedWith('outside-policy', 'OutsidePolicy'))
  }, 240_000)

  it('under the standing policy the operator recovers alone: quorum loss detected, declared, standbys promoted, restarted, verified, resilience restored', async () => {
    const survivor = () => liveWitnessIp(s, (n) => n.startsWith('witnesses-b'))
    const before = await sendTransfers(s, survivor(), 40)
    for (const [id, h] of await finalHeights(survivor(), before)) finalEvents.set(id, h)

    const lostAt = Date.now()
    await s.machines.get('a')!.lose()
    // A cloud replaces the lost machine; its pods are the operator's business.
    s.machines.set(
      'a2',
      await LocalMachine.start({
        name: `machine-a2-${s.release}`,
        podCidr: '127.94.0.0/16',
        labels: { 'echonet.io/zone': 'a' },
        stateDir: join(stateDir, 'machine-a2'),
      }),
    )
    // Submissions during the outage queue at the survivors and must be final afterwards.
    const during = await sendTransfers(s, survivor(), 20)

    const auto = await waitFor(
      'an automatic WitnessLoss declaration',
      () => declarations(s).find((d) => d.metadata.labels?.['echonet.io/automatic'] === 'true'),
      120_000,
    )
    expect(auto.spec.standingPolicy).toBeDefined()
    let resumedAt = 0
    const d = await waitFor(
      'the automatic declaration Resolved',
      async () => {
        if (resumedAt === 0 && (await epochs()).some((e) => e >= 1)) resumedAt = Date.now()
        const x = declaration(s, auto.metadata.name)
        if (x.status?.phase === 'Failed') throw new Error(`declaration failed: ${JSON.stringify(x.status.steps)}`)
        return x.status?.phase === 'Resolved' ? x : undefined
      },
      420_000,
      1_000,
    )
    console.log(
      `scenario A (policy): machine lost → epoch 1 seen by the test after ${((resumedAt - lostAt) / 1000).toFixed(1)} s; declaration RTO ${d.status?.rtoSeconds ?? '?'} s`,
    )
    for (const x of d.status?.steps ?? []) expect(`${x.name}=${x.phase}`).toBe(`${x.name}=Succeeded`)
    expect(d.status?.rtoSeconds).toBeGreaterThan(0)
    expect(d.status?.finalizedEventsLost).toBe(0)
    expect(
      d.status?.runbook?.witnessSet
        ?.filter((w) => w.promoted)
        .map((w) => w.node)
        .sort(),
    ).toEqual(['standbys-0', 'standbys-1', 'standbys-2', 'standbys-3'])
    expect(d.status?.postMortem).toContain('RTO')
    expect((d.status?.timeline ?? []).length).toBeGreaterThan(8)

    // Independent: every event final before the loss or queued during it is in the verified chain.
    for (const [id, h] of await finalHeights(survivor(), during)) finalEvents.set(id, h)
    const audit = await auditNetwork(s.ns, NETWORK, { finalEvents })
    expect(audit.message).toContain('no fork')
    expect(audit.forks).toEqual([])
    expect(audit.badCertificates).toBe(0)
    expect(audit.lostEvents).toBe(0)
    const dv = await doubleVotesOn([...s.machines.values()])
    expect(dv.votes).toBeGreaterThan(100)
    expect(dv.doubles).toEqual([])

    // Resilience: 7 active witnesses again (one lost seat re-keyed on the new machine), 4 warm standbys.
    const token = adminToken(s.ns, NETWORK)
    const st = await nodeStatus(survivor(), token)
    expect(st?.epoch).toBe(1)
    expect(st?.committee.members).toHaveLength(7)
    const standbys = kubectlJson(['-n', s.ns, 'get', 'witnesspool', 'standbys']) as {
      status?: { readyReplicas?: number; promoted?: number }
    }
    expect(standbys.status?.promoted).toBe(4)
    expect(standbys.status?.readyReplicas).toBe(8)
    await waitFor('network Ready again', () => condition(s, 'Ready') === 'True', 120_000)
  }, 720_000)

  it('with council signatures instead (kubectl echonet council sign, 2 of 3), refused declarations leave the halted network untouched, and a leader killed mid-delivery is replaced without repeating anything', async () => {
    // The council revokes the standing policy: from now on recovery needs its signatures.
    kubectl([
      '-n',
      s.ns,
      'patch',
      'echonetnetwork',
      NETWORK,
      '--type=merge',
      '-p',
      '{"spec":{"recovery":{"standingPolicy":null}}}',
    ])
    const survivor = () => liveWitnessIp(s, (n) => n.startsWith('standbys'))
    const before = await sendTransfers(s, survivor(), 20)
    for (const [id, h] of await finalHeights(survivor(), before)) finalEvents.set(id, h)

    // Lose machines b and a2: 3 of the 7 seats (two survivors of the first disaster, the re-keyed witness).
    await s.machines.get('b')!.lose()
    await s.machines.get('a2')!.lose()
    const auto = await waitFor(
      'an unsigned automatic declaration waiting for the council',
      () =>
        declarations(s).find(
          (d) =>
            d.metadata.labels?.['echonet.io/automatic'] === 'true' &&
            d.status?.phase === 'Pending' &&
            authorized(d)?.reason === 'Unsigned',
        ),
      120_000,
    )
    expect(authorized(auto)?.message).toMatch(/2 of the 3 council members must sign/)

    // What was tried, each refused before anything ran:
    const [c0, c1] = s.council as [NodeIdentity, NodeIdentity, NodeIdentity]
    const outsider = NodeIdentity.generate()
    const base = () => ({
      nonce: Date.now() + Math.floor(Math.random() * 1e6),
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    })
    kubectl(['-n', s.ns, 'apply', '-f', '-'], declYaml('unsigned', base()))
    kubectl(['-n', s.ns, 'apply', '-f', '-'], declYaml('one-of-two', councilSigned(base(), [c0])))
    const forged = councilSigned(base(), [c0, c1]) as { councilSignatures: { did: string; signature: string }[] }
    forged.councilSignatures[1] = {
      did: c1.did,
      signature: (councilSigned(base(), [outsider]) as typeof forged).councilSignatures[0]!.signature,
    }
    kubectl(['-n', s.ns, 'apply', '-f', '-'], declYaml('forged', forged))
    kubectl(
      ['-n', s.ns, 'apply', '-f', '-'],
      declYaml(
        'expired',
        councilSigned({ ...base(), expiresAt: new Date(Date.now() - 60_000).toISOString() }, [c0, c1]),
      ),
    )
    kubectl(
      ['-n', s.ns, 'apply', '-f', '-'],
      declYaml(
        'other-network',
        councilSigned({ ...base(), networkId: 'echonet-elsewhere' }, [c0, c1], 'echonet-elsewhere'),
      ),
    )
    const cases: [string, string][] = [
      ['unsigned', 'Unsigned'],
      ['one-of-two', 'ThresholdNotMet'],
      ['forged', 'BadSignature'],
      ['expired', 'Expired'],
      ['other-network', 'WrongNetwork'],
    ]
    for (const [name, reason] of cases) untouched(await refusedWith(name, reason))
    expect(new Set(await epochs())).toEqual(new Set([1]))

    // Two council members sign the operator's declaration with the plugin.
    for (const k of [keyFiles[0]!, keyFiles[2]!]) {
      const r = plugin(['-n', s.ns, 'council', 'sign', auto.metadata.name, '--key', k])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toMatch(/signing the declaration/)
    }
    const v = plugin(['-n', s.ns, 'council', 'verify', auto.metadata.name])
    expect(v.stdout).toMatch(/enough valid signatures/)
    // A copy of the now authorized declaration under another name is a replay.
    const planned = await waitFor(
      'the restart manifest planned and awaiting council signatures',
      () => {
        const x = declaration(s, auto.metadata.name)
        return step(x, 'AuthorizeRestart')?.message?.includes('awaiting council signatures') === true ? x : undefined
      },
      180_000,
    )
    const copy = kubectlJson(['-n', s.ns, 'get', 'disasterdeclaration', auto.metadata.name]) as {
      spec: Record<string, unknown>
    }
    kubectl(
      ['-n', s.ns, 'apply', '-f', '-'],
      yaml.dump({
        apiVersion: 'echonet.io/v1alpha1',
        kind: 'DisasterDeclaration',
        metadata: { name: 'replayed' },
        spec: { ...copy.spec, manifestSignatures: undefined },
      }),
    )
    untouched(await refusedWith('replayed', 'Replayed'))
    const manifestHash = planned.status?.runbook?.manifestHash
    expect(manifestHash).toMatch(/^[0-9a-f]{64}$/)

    // Pause one promoted standby so that the manifest reaches only some nodes, then kill the leader there.
    const setMembers = planned.status?.runbook?.witnessSet ?? []
    const stalled = setMembers
      .filter((w) => w.promoted)
      .map((w) => w.node!)
      .sort()
      .at(-1)!
    const machineC = s.machines.get('c')!
    expect(machineC.signalPod(s.ns, `${NETWORK}-${stalled}`, 'SIGSTOP')).toBeGreaterThan(0)
    try {
      for (const k of [keyFiles[0]!, keyFiles[1]!]) {
        const r = plugin(['-n', s.ns, 'council', 'sign', auto.metadata.name, '--key', k])
        expect(r.code, r.stderr).toBe(0)
        expect(r.stderr).toMatch(/signing the restart manifest/)
      }
      const partial = await waitFor(
        'the manifest delivered to some nodes, not all',
        () => {
          const x = declaration(s, auto.metadata.name)
          const got = x.status?.runbook?.delivered ?? []
          return got.length > 0 && !got.includes(stalled) ? x : undefined
        },
        120_000,
        200,
      )
      const leader = kubectl([
        '-n',
        s.opNs,
        'get',
        'lease',
        `${s.release}-echonet-operator-leader`,
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]).split('_')[0]!
      expect(s.machines.get('ops')!.signalPod(s.opNs, leader, 'SIGKILL')).toBeGreaterThan(0)
      console.log(
        `killed the operator leader ${leader} with the manifest at ${(partial.status?.runbook?.delivered ?? []).join(', ')}`,
      )
    } finally {
      machineC.signalPod(s.ns, `${NETWORK}-${stalled}`, 'SIGCONT')
    }
    const d = await waitFor(
      'the council-signed declaration Resolved',
      () => {
        const x = declaration(s, auto.metadata.name)
        if (x.status?.phase === 'Failed') throw new Error(`declaration failed: ${JSON.stringify(x.status.steps)}`)
        return x.status?.phase === 'Resolved' ? x : undefined
      },
      480_000,
      1_000,
    )
    // Nothing non-idempotent repeated: one plan, the same manifest before and after the new leader.
    expect(d.status?.runbook?.manifestHash).toBe(manifestHash)
    expect((d.status?.timeline ?? []).filter((t) => t.event.startsWith('PlanRestart: started'))).toHaveLength(1)
    expect(d.status?.runbook?.delivered).toContain(stalled)
    for (const x of d.status?.steps ?? []) expect(`${x.name}=${x.phase}`).toBe(`${x.name}=Succeeded`)
    expect(d.status?.finalizedEventsLost).toBe(0)

    const audit = await auditNetwork(s.ns, NETWORK, { finalEvents })
    expect(audit.forks).toEqual([])
    expect(audit.badCertificates).toBe(0)
    expect(audit.lostEvents).toBe(0)
    expect((await doubleVotesOn([...s.machines.values()])).doubles).toEqual([])
    expect(new Set((await epochs()).filter((e) => e >= 2))).toEqual(new Set([2]))
    const report = plugin(['-n', s.ns, 'report', auto.metadata.name])
    expect(report.stdout).toMatch(/RTO \d/)
    expect(report.stdout).toContain('Post-mortem')
  }, 900_000)
})
