/**
 * Scenario B driven by the operator on the local cluster (issue 11): a network with 4 SSNs (2 + 2
 * erasure coding) and 2 DHT seeds holds published content; both seeds are lost with their volumes
 * and one SSN with its volume (real deletions). A council-signed DataUnavailability declaration
 * puts a storage incident on the ledger (PoSR slashing paused), gives every node the seeds that
 * answer again as DHT bootstrap peers, puts one ContentID first in the SSNs' repair queues and
 * repairs until every SSN is back at full redundancy. The observer reads the ledger's emergency
 * state (checking the council signatures itself), every body back byte for byte, each SSN's own
 * storage report and a DHT provider lookup — not the declaration's status.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AdminClient } from '../../node-image/src/api/admin-contract.ts'
import type { EmergencyView, ShardIntakeStatus } from '../../node-image/src/api/admin-contract.ts'
import { publishAs } from '../../node-image/src/api/publish-client.ts'
import { verify } from '../../node-image/src/crypto/ed25519.ts'
import { publicKeyFromDid } from '../../node-image/src/crypto/did.ts'
import { adminToken, kubectl, kubectlJson, networkNodes, nodeStatus, waitFor } from '../lib/cluster-kit.ts'
import {
  NETWORK,
  councilDeclarationYaml,
  declaration,
  declarations,
  liveWitnessIp,
  setUpScenarioA,
  tearDownScenarioA,
} from '../lib/scenario-a.ts'
import type { DeclarationJson, ScenarioA } from '../lib/scenario-a.ts'

const stateDir = mkdtempSync(join(tmpdir(), 'echonet-data-unavailability-'))
const holder: { s?: ScenarioA } = {}
let s: ScenarioA

beforeAll(async () => {
  s = await setUpScenarioA(
    { stateDir, cidrBase: 160, storage: { ssns: 4, k: 2, m: 2, seeds: 2, incidentSeconds: 10 } },
    holder,
  )
}, 420_000)

afterAll(async () => {
  if (holder.s !== undefined) await tearDownScenarioA(holder.s)
  await rm(stateDir, { recursive: true, force: true })
}, 180_000)

const uid = (kind: string, name: string): string =>
  (kubectlJson(['-n', s.ns, 'get', kind, name]) as { metadata: { uid: string } }).metadata.uid

/**
 * Deletes a node's pod and its volume: the operator brings back a fresh pod on a fresh volume.
 * The operator may delete the pod itself first once it sees the claim go (then NotFound is fine).
 */
function loseWithVolume(node: string): { pvc: string; uid: string } {
  const pvc = `${NETWORK}-${node}-data`
  const before = uid('pvc', pvc)
  kubectl(['-n', s.ns, 'delete', 'pvc', pvc, '--wait=false'])
  kubectl([
    '-n',
    s.ns,
    'delete',
    'pod',
    `${NETWORK}-${node}`,
    '--wait=false',
    '--grace-period=0',
    '--force',
    '--ignore-not-found',
  ])
  return { pvc, uid: before }
}

describe('DataUnavailability on the local cluster', () => {
  it('seeds and an SSN lost with their volumes: the storage incident is on the ledger with the council signatures, the DHT answers through the new seeds, redundancy is restored and every body reads back byte for byte', async () => {
    const ip = liveWitnessIp(s)
    const bodies = [randomBytes(1 << 20), randomBytes(300_000), randomBytes(2 << 20)]
    const cids: string[] = []
    for (const b of bodies) {
      // Published by the scenario's funded load account: the creator signs and pays (ADR 0016).
      const r = await publishAs(`http://${ip}:8080`, s.load, b, { k: 2, m: 2 })
      expect(r.status, await r.clone().text()).toBe(201)
      cids.push(((await r.json()) as { cid: string }).cid)
    }
    const token = adminToken(s.ns, NETWORK)

    // The faults: both seeds and one SSN, each with its volume.
    const lostAt = Date.now()
    const lost = ['seed-0', 'seed-1', 'ssn-2'].map(loseWithVolume)
    const fresh = (l: { pvc: string; uid: string }): boolean => {
      try {
        return uid('pvc', l.pvc) !== l.uid
      } catch {
        return false // not there yet
      }
    }
    await waitFor('fresh volumes for the lost nodes', () => Promise.resolve(lost.every(fresh)), 180_000, 2_000)

    // recovery.autoDeclare: StorageDegraded / DHTDegraded for storageIncidentSeconds (10 s here) →
    // the operator declares a DataUnavailability itself, unsigned: it waits for the council.
    type AutoJson = DeclarationJson & { spec: { scenario?: string; actions?: { type: string }[] } }
    const auto = await waitFor(
      'an automatic DataUnavailability declaration',
      () =>
        Promise.resolve(
          (declarations(s) as AutoJson[]).find(
            (d) => d.metadata.labels?.['echonet.io/automatic'] === 'true' && d.spec.scenario === 'DataUnavailability',
          ),
        ),
      180_000,
      2_000,
    )
    console.log(
      `automatic declaration ${auto.metadata.name} ${Math.round((Date.now() - lostAt) / 1000)} s after the loss`,
    )
    expect(auto.spec.actions?.map((a) => a.type)).toEqual(['PausePoSRSlashing', 'RebootstrapDHT'])
    const waiting = await waitFor('the automatic declaration waiting for signatures', () => {
      const d = declaration(s, auto.metadata.name)
      const c = d.status?.conditions?.find((x) => x.type === 'Authorized')
      return Promise.resolve(c?.reason === 'Unsigned' ? d : undefined)
    })
    expect(waiting.status?.phase).toBe('Pending')

    const name = 'storage-incident'
    kubectl(
      ['-n', s.ns, 'apply', '-f', '-'],
      councilDeclarationYaml(
        s,
        name,
        {
          scenario: 'DataUnavailability',
          actions: [
            { type: 'PausePoSRSlashing', pausePoSRSlashing: { durationSeconds: 3600 } },
            { type: 'RebootstrapDHT', rebootstrapDHT: {} },
            { type: 'RepairPriority', repairPriority: { contentIds: [cids[2]!] } },
            {
              type: 'AcceptCommunityShards',
              acceptCommunityShards: { durationSeconds: 900, perIpPerMinute: 7, totalPerMinute: 70 },
            },
          ],
        },
        s.council.slice(0, 2),
      ),
    )
    // An observer of its own polls every SSN's admin API while the runbook runs: the community-shard
    // window must show up there with the declared limits, and a shard that does not verify against
    // its ContentID is refused while it is open.
    const seenOpen = new Map<string, ShardIntakeStatus>()
    const refusals: string[] = []
    let ssnIps: { node: string; ip: string }[] = []
    const polling = { on: true }
    const refresh = setInterval(() => {
      try {
        ssnIps = networkNodes(s.ns, NETWORK).flatMap((n) =>
          n.role === 'ssn' && n.ip ? [{ node: n.node, ip: n.ip }] : [],
        )
      } catch {
        // the apiserver is busy: keep the last list
      }
    }, 3_000)
    const observer = (async () => {
      while (polling.on) {
        for (const n of ssnIps) {
          const st = await new AdminClient(`http://${n.ip}:9090`, token).shardIntake().catch(() => undefined)
          if (st?.open !== true || seenOpen.has(n.node)) continue
          seenOpen.set(n.node, st)
          const r = await fetch(`http://${n.ip}:8080/v1/content/${cids[0]!}/shards/0`, {
            method: 'PUT',
            body: randomBytes(1_000),
          })
          refusals.push(`${r.status} ${((await r.json()) as { error?: { code?: string } }).error?.code ?? ''}`)
        }
        await new Promise((res) => setTimeout(res, 300))
      }
    })()
    const done = await waitFor(
      `${name} recovered`,
      () => {
        const d = declaration(s, name)
        if (d.status?.phase === 'Failed') throw new Error(`declaration failed: ${JSON.stringify(d.status.steps)}`)
        return Promise.resolve(d.status?.phase === 'Recovered' ? d : undefined)
      },
      420_000,
      2_000,
    )
    polling.on = false
    clearInterval(refresh)
    await observer
    console.log(`storage runbook: ${JSON.stringify(done.status?.runbook?.storage)}`)

    // The window was open on the SSNs with the declared limits and an expiry ~900 s out; a garbage
    // shard was refused for not matching (422 SHARD_MISMATCH, or 403 if the window closed in between).
    console.log(
      `community-shard window seen open on ${[...seenOpen.keys()].join(', ')}; refusals ${refusals.join(', ')}`,
    )
    expect(seenOpen.size).toBeGreaterThan(0)
    for (const w of seenOpen.values()) {
      expect(w.window).toMatchObject({ perIpPerMinute: 7, totalPerMinute: 70 })
      expect(w.window!.expiresAtMs - w.window!.openedAtMs).toBeGreaterThan(800_000)
    }
    expect(refusals.length).toBeGreaterThan(0)
    for (const x of refusals) expect(['422 SHARD_MISMATCH', '403 SHARD_INTAKE_CLOSED']).toContain(x)
    // Recovered closes it on every SSN long before its expiry, as each SSN says itself.
    await waitFor(
      'the community-shard window closed on every SSN',
      async () => {
        for (const n of networkNodes(s.ns, NETWORK).filter((x) => x.role === 'ssn')) {
          const st = await new AdminClient(`http://${n.ip!}:9090`, token).shardIntake().catch(() => undefined)
          if (st?.open !== false) return undefined
        }
        return true
      },
      60_000,
      1_000,
    )
    await waitFor('closedAt in the declaration status', () =>
      Promise.resolve(declaration(s, name).status?.runbook?.storage?.communityShards?.closedAt),
    )

    // The ledger, read by the observer: a storage incident authorized by two council members.
    const view = await fetch(`http://${liveWitnessIp(s)}:8080/v1/emergency`).then(
      async (r) => (await r.json()) as EmergencyView,
    )
    const ref = view.storageIncident?.authorizedBy
    expect(ref).toBeDefined()
    const auth = view.authorizations[ref!]!
    const bytes = Buffer.from(auth.signedBytes, 'base64')
    const signers = auth.signatures.filter(
      (x) =>
        view.council.members.includes(x.did) && verify(publicKeyFromDid(x.did), bytes, Buffer.from(x.sig, 'base64')),
    )
    expect(signers).toHaveLength(2)

    // Every SSN answers again and reports no content below full redundancy, by its own status.
    const ssns = networkNodes(s.ns, NETWORK).filter((n) => n.role === 'ssn')
    expect(ssns).toHaveLength(4)
    for (const n of ssns) {
      const st = await nodeStatus(n.ip!, token)
      expect(st?.storage?.underReplicated, n.node).toBe(0)
    }
    // Every body, byte for byte, through a witness.
    for (const [i, cid] of cids.entries()) {
      const r = await fetch(`http://${liveWitnessIp(s)}:8080/v1/content/${cid}`)
      expect(r.status).toBe(200)
      expect(Buffer.from(await r.arrayBuffer()).equals(bodies[i]!)).toBe(true)
    }
    // The DHT works again through the new seeds: a lookup from a witness finds providers.
    const admin = new AdminClient(`http://${liveWitnessIp(s)}:9090`, token)
    const providers = await waitFor(
      'providers of the prioritized content in the DHT',
      async () => {
        const p = await admin.dhtProviders(cids[2]!).catch(() => undefined)
        return p !== undefined && p.providers.length > 0 ? p.providers : undefined
      },
      120_000,
      2_000,
    )
    expect(providers.length).toBeGreaterThan(0)
  }, 900_000)
})
