/**
 * Scenario C driven by the operator on the local cluster (issue 9). A council-signed CriticalFlaw
 * declaration pauses a module and compensates accounts from the treasury; a second one schedules
 * an upgrade to another build of the node (a real second program: other version, other digest)
 * at a flag height. The operator carries each declaration onto the ledger, rolls every pod to the
 * new image one at a time, and the network keeps finalizing across the whole rollout and past the
 * flag height. A third one corrects state by a hard fork: the declaration stops the chain after a
 * chosen block, the operator previews the edit there and records the manifest, two council members
 * sign it with `kubectl echonet council sign`, and every node adopts it. Everything is checked on the nodes' public APIs (the emergency state with its
 * council signatures, balances, versions, heights), not in the operator's status.
 */
import { mkdtempSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EmergencyView } from '../../node-image/src/api/admin-contract.ts'
import { verify } from '../../node-image/src/crypto/ed25519.ts'
import { publicKeyFromDid } from '../../node-image/src/crypto/did.ts'
import { NodeIdentity, keyFileContent } from '../../node-image/src/crypto/identity.ts'
import { encodeValue } from '../../node-image/src/ledger/cbor.ts'
import { REPO, auditNetwork, kubectl, networkNodes, plugin, waitFor } from '../lib/cluster-kit.ts'
import {
  NETWORK,
  condition,
  councilDeclarationYaml,
  declaration,
  liveWitnessIp,
  setUpScenarioA,
  tearDownScenarioA,
} from '../lib/scenario-a.ts'
import type { ScenarioA } from '../lib/scenario-a.ts'
import { makeNodeBuild } from '../lib/node-build.ts'

const stateDir = mkdtempSync(join(tmpdir(), 'echonet-critical-flaw-'))
const holder: { s?: ScenarioA } = {}
let s: ScenarioA
/** e2e/agent/images.json maps `echonet/echonet-node-next` to this build's entry point. */
const NEXT_BUILD = join(REPO, '.build/node-next')

beforeAll(async () => {
  s = await setUpScenarioA({ stateDir, cidrBase: 140 }, holder)
}, 420_000)

afterAll(async () => {
  if (holder.s !== undefined) await tearDownScenarioA(holder.s)
  await rm(stateDir, { recursive: true, force: true })
  await rm(NEXT_BUILD, { recursive: true, force: true })
}, 180_000)

interface PublicStatus {
  mode: string
  haltCode?: string
  finalizedHeight: number
  version: string
  binaryDigest?: string
}

async function get<T>(ip: string, path: string): Promise<T> {
  const r = await fetch(`http://${ip}:8080${path}`, { signal: AbortSignal.timeout(5_000) })
  return (await r.json()) as T
}

/** The highest finalized height any witness serves publicly (the observer's view of finality). */
async function networkHeight(): Promise<number> {
  let best = 0
  for (const n of networkNodes(s.ns, NETWORK)) {
    if (n.role !== 'witness' || n.ip === undefined) continue
    const st = await get<PublicStatus>(n.ip, '/v1/status').catch(() => undefined)
    best = Math.max(best, st?.finalizedHeight ?? 0)
  }
  return best
}

describe('CriticalFlaw declarations on the local cluster', () => {
  it('PauseModules + Compensate: on the ledger with the council signatures anyone can check; the exact amounts paid from the treasury; EmergencyInForce on the network', async () => {
    const ip = liveWitnessIp(s)
    const [a, b] = [NodeIdentity.generate().did, NodeIdentity.generate().did]
    const name = 'payouts-flaw'
    kubectl(
      ['-n', s.ns, 'apply', '-f', '-'],
      councilDeclarationYaml(
        s,
        name,
        {
          scenario: 'CriticalFlaw',
          actions: [
            { type: 'PauseModules', pauseModules: { modules: ['payouts', 'engagement'], durationSeconds: 1800 } },
            {
              type: 'Compensate',
              compensate: {
                transfers: [
                  { to: a, amount: 5_000 },
                  { to: b, amount: 77 },
                ],
              },
            },
          ],
        },
        s.council.slice(1, 3),
      ),
    )
    await waitFor(
      `${name} recovered`,
      () => Promise.resolve(declaration(s, name).status?.phase === 'Recovered'),
      180_000,
      1_000,
    )
    // The observer reads the ledger through a node's public API and checks the council itself.
    const view = await get<EmergencyView>(ip, '/v1/emergency')
    expect(view.pauses.map((p) => p.module).sort()).toEqual(['engagement', 'payouts'])
    const ref = view.pauses[0]!.authorizedBy!
    const auth = view.authorizations[ref]!
    const bytes = Buffer.from(auth.signedBytes, 'base64')
    const signers = auth.signatures.filter(
      (x) =>
        view.council.members.includes(x.did) && verify(publicKeyFromDid(x.did), bytes, Buffer.from(x.sig, 'base64')),
    )
    expect(signers.map((x) => x.did).sort()).toEqual(
      s.council
        .slice(1, 3)
        .map((c) => c.did)
        .sort(),
    )
    const balance = async (did: string) => (await get<{ balance?: number }>(ip, `/v1/accounts/${did}`)).balance ?? 0
    expect([await balance(a), await balance(b)]).toEqual([5_000, 77])
    expect(declaration(s, name).status?.runbook?.ledger?.compensated).toBe(5_077)
    await waitFor(
      'EmergencyInForce on the network',
      () => Promise.resolve(condition(s, 'EmergencyInForce', 'reason') === 'ModulesPaused'),
      60_000,
      1_000,
    )
  }, 240_000)

  it('StateEdit: the declaration stops the chain after the chosen block; the operator plans the fork there, two members sign the manifest with kubectl echonet council sign, and every node comes out on one chain with the corrected balance, finalizing in the next epoch', async () => {
    const victim = NodeIdentity.generate().did
    const corrected = { balance: 4_242, nonce: 0, createdAt: 0 }
    const E = (await networkHeight()) + 60
    const name = 'balance-fork'
    kubectl(
      ['-n', s.ns, 'apply', '-f', '-'],
      councilDeclarationYaml(
        s,
        name,
        {
          scenario: 'CriticalFlaw',
          actions: [
            {
              type: 'StateEdit',
              stateEdit: {
                height: E,
                edits: [
                  {
                    op: 'put',
                    key: `acct/${victim}`,
                    value: Buffer.from(encodeValue(corrected)).toString('base64'),
                  },
                ],
              },
            },
            { type: 'CoordinatedRestart', coordinatedRestart: { timeoutSeconds: 300 } },
          ],
        },
        s.council.slice(0, 2),
      ),
    )
    const planned = await waitFor(
      'the fork manifest planned and awaiting council signatures',
      () => {
        const d = declaration(s, name)
        const st = d.status?.steps?.find((x) => x.name === 'AuthorizeRestart')
        return Promise.resolve(st?.message?.includes('awaiting council signatures') === true ? d : undefined)
      },
      300_000,
      1_000,
    )
    // The observer: every witness stopped on block E, by its own public status.
    const witnesses = networkNodes(s.ns, NETWORK).filter((n) => n.role === 'witness' && n.ip !== undefined)
    for (const n of witnesses) {
      expect(await get<PublicStatus>(n.ip!, '/v1/status')).toMatchObject({
        mode: 'halted',
        haltCode: 'COUNCIL_STOP',
        finalizedHeight: E,
      })
    }
    expect(planned.status?.runbook?.restartHeight).toBe(E)
    // Two members sign the manifest the operator recorded, with the plugin, as people would.
    for (const c of s.council.slice(1, 3)) {
      const f = join(stateDir, `${c.did.slice(-8)}.key`)
      await writeFile(f, keyFileContent(c), { mode: 0o600 })
      const r = plugin(['-n', s.ns, 'council', 'sign', name, '--key', f])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toContain(`state edit(s) (put acct/${victim})`)
    }
    await waitFor(
      `${name} recovered`,
      () => Promise.resolve(declaration(s, name).status?.phase === 'Recovered'),
      300_000,
      1_000,
    )
    const fork = declaration(s, name).status
    console.log(
      `hard fork at block ${E}: ${fork?.rtoSeconds ?? '?'} s from the chain frozen to finality in the new epoch`,
    )
    // Read back from every witness: one block after E on all of them, the edit in their state.
    const past = await waitFor(
      'every witness past the fork',
      async () => {
        const st = await Promise.all(
          witnesses.map((n) => get<PublicStatus>(n.ip!, '/v1/status').catch(() => undefined)),
        )
        return st.every((x) => x !== undefined && x.finalizedHeight > E + 2) ? st : undefined
      },
      120_000,
      1_000,
    )
    expect(past.every((x) => x!.mode === 'running')).toBe(true)
    // The auditor verifies the chain from genesis on every witness (certificates against the
    // committee it tracks itself, the restart record of the new epoch included): one chain.
    const audit = await auditNetwork(s.ns, NETWORK)
    expect(audit.message).toContain('no fork')
    expect(audit.forks).toEqual([])
    expect(audit.badCertificates).toBe(0)
    expect(audit.heights).toBeGreaterThan(E + 2)
    for (const n of witnesses) {
      expect(await get<{ balance?: number }>(n.ip!, `/v1/accounts/${victim}`)).toMatchObject({ balance: 4_242 })
    }
  }, 720_000)

  it('ScheduledUpgrade: pods rolled to the new build one at a time before the flag height, finality never stopping; a witness held back on the old build halts at the height naming what it needs; blocks finalize past it; released, it is rolled too', async () => {
    const next = await makeNodeBuild(NEXT_BUILD, '0.2.0')
    const ip = liveWitnessIp(s)
    const old = await get<PublicStatus>(ip, '/v1/status')
    expect(next.binaryDigest).not.toBe(old.binaryDigest)
    const h0 = await networkHeight()
    const H = h0 + 300
    const name = 'upgrade-0-2-0'
    // One witness is kept back on the old build (people's hold on the rollout): at H it must stop.
    const kept = networkNodes(s.ns, NETWORK).find((n) => n.role === 'witness' && n.ready && n.ip !== undefined)!
    kubectl(['-n', s.ns, 'annotate', 'pod', kept.pod, 'echonet.io/rollout-hold=true'])
    // The observer: the longest wait between two finalized heights, from the witnesses' public APIs.
    let longestGapMs = 0
    const watching = { on: true }
    const watcher = (async () => {
      let last = { h: 0, at: Date.now() }
      while (watching.on) {
        const h = await networkHeight()
        if (h > last.h) last = { h, at: Date.now() }
        longestGapMs = Math.max(longestGapMs, Date.now() - last.at)
        await new Promise((r) => setTimeout(r, 250))
      }
    })()
    try {
      kubectl(
        ['-n', s.ns, 'apply', '-f', '-'],
        councilDeclarationYaml(
          s,
          name,
          {
            scenario: 'CriticalFlaw',
            actions: [
              {
                type: 'ScheduledUpgrade',
                scheduledUpgrade: {
                  image: 'echonet/echonet-node-next:0.2.0',
                  height: H,
                  binaryDigest: next.binaryDigest,
                  minVersion: '0.2.0',
                },
              },
            ],
          },
          s.council.slice(0, 2),
        ),
      )
      await waitFor(
        `${name} recovered`,
        () => Promise.resolve(declaration(s, name).status?.phase === 'Recovered'),
        900_000,
        2_000,
      )
      // The witness left on the old build stopped before executing block H, saying what it needs.
      const stopped = await get<PublicStatus & { haltReason?: string }>(kept.ip!, '/v1/status')
      expect(stopped).toMatchObject({ mode: 'halted', haltCode: 'UPGRADE_REQUIRED', finalizedHeight: H - 1 })
      expect(stopped.haltReason).toContain('0.2.0')
      expect(stopped.haltReason).toContain(next.binaryDigest)
      // Released, it is rolled too and follows the chain past H.
      kubectl(['-n', s.ns, 'annotate', 'pod', kept.pod, 'echonet.io/rollout-hold-'])
      // Every node runs the new build, by its own public status.
      await waitFor(
        'every node on 0.2.0',
        async () => {
          for (const n of networkNodes(s.ns, NETWORK)) {
            if (n.ip === undefined || !n.ready) return false
            const st = await get<PublicStatus>(n.ip, '/v1/status').catch(() => undefined)
            if (st?.binaryDigest !== next.binaryDigest) return false
          }
          return true
        },
        600_000,
        2_000,
      )
      const after = await networkHeight()
      expect(after).toBeGreaterThan(H)
      const view = await get<EmergencyView>(liveWitnessIp(s), '/v1/emergency')
      expect(view.protocol).toMatchObject({ version: '0.2.0', sinceHeight: H, binaryDigest: next.binaryDigest })
      expect(declaration(s, name).status?.runbook?.upgrade?.upgradedPowerPercent).toBeGreaterThanOrEqual(67)
    } finally {
      watching.on = false
      await watcher
    }
    console.log(`longest wait between finalized heights during the rollout and the flag height: ${longestGapMs} ms`)
    // Never halted: the protocol's own halt window (10 s without a final block) was never reached.
    expect(longestGapMs).toBeLessThan(10_000)
  }, 1_500_000)
})
