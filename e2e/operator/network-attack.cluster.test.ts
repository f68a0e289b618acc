/**
 * Scenario D driven by the operator on the local cluster (issue 10): a council-signed
 * NetworkAttack declaration pushes rate limits and a blocklist to every node; the attacker's
 * address is cut off and its DID refused; the nodes' counts reach the declaration's status; the
 * network stays Ready (Progressing=Defending); resolving the declaration lifts everything from
 * every node. Each outcome is checked on the nodes themselves (their admin and public APIs, from
 * the attacker's own loopback address), not from the operator's status.
 */
import { mkdtempSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AdminClient } from '../../node-image/src/api/admin-contract.ts'
import type { DefencesView } from '../../node-image/src/api/admin-contract.ts'
import { adminToken, kubectl, networkNodes, waitFor } from '../lib/cluster-kit.ts'
import {
  NETWORK,
  condition,
  councilDeclarationYaml,
  declaration,
  liveWitnessIp,
  sendTransfers,
  setUpScenarioA,
  tearDownScenarioA,
} from '../lib/scenario-a.ts'
import type { ScenarioA } from '../lib/scenario-a.ts'

const stateDir = mkdtempSync(join(tmpdir(), 'echonet-network-attack-'))
const holder: { s?: ScenarioA } = {}
let s: ScenarioA
/** The attacker's address (outside every pod range of the scenario). */
const ATTACKER_IP = '127.0.251.7'
const ATTACKER_CIDR = '127.0.251.0/24'

beforeAll(async () => {
  s = await setUpScenarioA({ stateDir, cidrBase: 110 }, holder)
}, 420_000)

afterAll(async () => {
  if (holder.s !== undefined) await tearDownScenarioA(holder.s)
  await rm(stateDir, { recursive: true, force: true })
}, 180_000)

/** GET /v1/status from the attacker's address on a fresh connection: the status code, or how it was cut off. */
function fromAttacker(ip: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(
      { host: ip, port: 8080, path: '/v1/status', agent: false, localAddress: ATTACKER_IP, timeout: 5_000 },
      (res) => {
        res.resume()
        resolve(`HTTP ${res.statusCode ?? 0}`)
      },
    )
    req.on('error', (err) => resolve(`closed (${err.message})`))
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

/** Every node's own view of its defences (pods with an IP), read with the network's admin token. */
async function nodeDefences(): Promise<Map<string, DefencesView>> {
  const token = adminToken(s.ns, NETWORK)
  const out = new Map<string, DefencesView>()
  for (const n of networkNodes(s.ns, NETWORK)) {
    if (n.ip === undefined || !n.ready) continue
    out.set(n.node, await new AdminClient(`http://${n.ip}:9090`, token, { timeoutMs: 5_000 }).defences())
  }
  return out
}

describe('NetworkAttack declaration (council-signed RateLimits + Blocklist)', () => {
  it('pushes the defences to every node, which enforce them; the network stays Ready; resolving lifts them', async () => {
    const ip = liveWitnessIp(s)
    expect(await fromAttacker(ip)).toBe('HTTP 200')
    const name = 'flood-2026-12-06'
    kubectl(
      ['-n', s.ns, 'apply', '-f', '-'],
      councilDeclarationYaml(
        s,
        name,
        {
          scenario: 'NetworkAttack',
          actions: [
            {
              type: 'RateLimits',
              rateLimits: { perDid: { ratePerSecond: 50, burst: 100 }, durationSeconds: 600 },
            },
            {
              type: 'Blocklist',
              blocklist: { cidrs: [ATTACKER_CIDR], dids: [s.load.did], durationSeconds: 600 },
            },
          ],
        },
        s.council.slice(0, 2),
      ),
    )
    await waitFor(
      `${name} to hold its defences`,
      () => Promise.resolve(declaration(s, name).status?.phase === 'Verifying'),
      120_000,
      500,
    )

    // Every node holds the entries and the limit, by its own account.
    const views = await nodeDefences()
    expect(views.size).toBeGreaterThanOrEqual(12)
    for (const [node, v] of views) {
      expect(v.blocklist.map((e) => `${e.kind} ${e.value}`).sort(), node).toEqual([
        `did ${s.load.did}`,
        `ip ${ATTACKER_CIDR}`,
      ])
      expect(v.limits.eventsPerDid, node).toEqual({ ratePerSec: 50, burst: 100 })
      expect(v.override?.expiresAtMs ?? 0, node).toBeGreaterThan(Date.now() + 500_000)
    }
    // The attacker is cut off at connect, on every witness; its DID is refused from any address.
    for (const n of networkNodes(s.ns, NETWORK).filter((x) => x.role === 'witness' && x.ip !== undefined)) {
      expect(await fromAttacker(n.ip!)).toMatch(/^closed/)
    }
    await expect(sendTransfers(s, ip, 3)).rejects.toThrow(/BLOCKED/)
    s.loadNonce -= 3

    // The nodes' counts reach the declaration; the network is defended and Ready.
    await waitFor(
      'refusals counted in the declaration',
      () => Promise.resolve(declaration(s, name).status?.runbook?.defences?.blocked ?? 0),
      60_000,
      1_000,
    )
    expect(condition(s, 'Ready')).toBe('True')
    expect(condition(s, 'Progressing', 'reason')).toBe('Defending')

    // Resolved by people: lifted from every node first.
    kubectl(['-n', s.ns, 'annotate', 'disasterdeclaration', name, 'echonet.io/resolve=true'])
    await waitFor(
      `${name} resolved`,
      () => Promise.resolve(declaration(s, name).status?.phase === 'Resolved'),
      60_000,
      500,
    )
    for (const [node, v] of await nodeDefences()) {
      expect(v.blocklist, node).toEqual([])
      expect(v.override, node).toBeUndefined()
    }
    expect(await fromAttacker(ip)).toBe('HTTP 200')
    expect(await sendTransfers(s, ip, 2)).toHaveLength(2)
  }, 360_000)
})
