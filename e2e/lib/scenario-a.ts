/**
 * Scenario A (seed §2.A) on the local cluster, as the e2e test, `make up`'s drill and the
 * benchmark run it: four machines — `ops` (the operator, two replicas), `a` (five active
 * witnesses), `b` (two active witnesses and the DHT seed), `c` (four standbys) — a council of three (2 of 3)
 * whose keys the drill holds like council members would, and a recovery agent key in a Secret.
 * Losing machine `a` takes 5 of 7 witnesses for good; a replacement machine (`a2`) joins the
 * cluster as a cloud would bring one, and the operator must do the rest.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import yaml from 'js-yaml'
import { NodeIdentity, keyFileContent } from '../../node-image/src/crypto/identity.ts'
import {
  COUNCIL_ACTION_DOMAIN,
  encodeCouncilAction,
  signCouncilAction,
  signDeclaration,
} from '../../node-image/src/ledger/governance-payloads.ts'
import { declarationPayload } from '../../operator/src/api/v1alpha1/declaration-payload.ts'
import { validateDisasterDeclaration } from '../../operator/src/api/v1alpha1/validate.ts'
import type { CouncilAction } from '../../node-image/src/ledger/governance-payloads.ts'
import type { Did } from '../../node-image/src/crypto/did.ts'
import { signedTransfer } from '../../node-image/src/ledger/client-events.ts'
import { decode } from '../../node-image/src/crypto/encoding.ts'
import type { AuditResult, ChainPage } from '../../node-image/src/audit/index.ts'
import {
  REPO,
  LocalMachine,
  adminToken,
  auditNetwork,
  doubleVotesOn,
  installOperator,
  kubectl,
  kubectlJson,
  networkNodes,
  nodeStatus,
  sh,
  uninstallOperator,
  waitFor,
} from './cluster-kit.ts'

export const NETWORK = 'testnet'
const STAKE = 1_000
/** The operator's node poll (1 s) and the auto-declare threshold keep detection well inside the 30 s target. */
export const QUORUM_LOSS_SECONDS = 10

export interface ScenarioA {
  readonly ns: string
  readonly opNs: string
  readonly release: string
  readonly stateDir: string
  readonly chainId: string
  readonly council: readonly NodeIdentity[]
  readonly agent: NodeIdentity
  readonly load: NodeIdentity
  readonly machines: Map<string, LocalMachine>
  loadNonce: number
}

export interface ScenarioOptions {
  readonly stateDir: string
  /** Pod address ranges: 127.<base>.0.0/16 … 127.<base+4>.0.0/16. */
  readonly cidrBase: number
  readonly suffix?: string
  /** Machines outlive the script (make up). */
  readonly detached?: boolean
  /** Storage nodes and DHT seeds (default: no SSNs, one seed). */
  readonly storage?: {
    readonly ssns: number
    readonly k: number
    readonly m: number
    readonly seeds: number
    /** recovery.storageIncidentSeconds (default: the CRD's). */
    readonly incidentSeconds?: number
  }
}

const zone = (z: string): Record<string, string> => ({ 'echonet.io/zone': z })
/** Machines that may run the DHT seed: `b` at first (the e2e test adds `c` before losing `b`). */
export const DHT_LABEL = 'echonet.io/dht'

export function scenarioObjects(
  s: Pick<ScenarioA, 'chainId' | 'council' | 'agent' | 'load'>,
  storage: ScenarioOptions['storage'] = { ssns: 0, k: 1, m: 1, seeds: 1 },
): object[] {
  const pool = (name: string, mode: 'Active' | 'Standby', replicas: number, z: string, extra: object = {}) => ({
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'WitnessPool',
    metadata: { name },
    spec: {
      networkRef: { name: NETWORK },
      mode,
      replicas,
      stake: STAKE,
      volume: { size: '1Gi' },
      nodeSelector: zone(z),
      ...extra,
    },
  })
  return [
    {
      apiVersion: 'echonet.io/v1alpha1',
      kind: 'EchoNetNetwork',
      metadata: { name: NETWORK },
      spec: {
        networkId: s.chainId,
        genesis: {
          council: { members: s.council.map((c) => c.did), threshold: 2 },
          params: { committeeSize: 7, minWitnessStake: STAKE },
          // The recovery agent funds the keys the operator adds after a disaster; the load account sends events.
          accounts: [
            { did: s.agent.did, balance: 1_000_000_000 },
            { did: s.load.did, balance: 1_000_000_000 },
          ],
          treasury: 1_000_000_000,
        },
        seeds: { replicas: storage.seeds, nodeSelector: { [DHT_LABEL]: 'true' } },
        storage: { replicas: storage.ssns, erasure: { k: storage.k, m: storage.m } },
        checkpointInterval: 50,
        voteLog: true,
        recovery: {
          autoDeclare: true,
          quorumLossSeconds: QUORUM_LOSS_SECONDS,
          ...(storage.incidentSeconds !== undefined ? { storageIncidentSeconds: storage.incidentSeconds } : {}),
          agentKeySecretRef: { name: 'recovery-agent' },
        },
      },
    },
    pool('witnesses-a', 'Active', 5, 'a'),
    pool('witnesses-b', 'Active', 2, 'b'),
    pool('standbys', 'Standby', 4, 'c', { promotionPriority: 10 }),
  ]
}

/**
 * Brings the scenario up. `holder.s` is set before anything is created, so that a caller can tear
 * down whatever exists when setting up fails half-way.
 */
export async function setUpScenarioA(o: ScenarioOptions, holder: { s?: ScenarioA } = {}): Promise<ScenarioA> {
  const suffix = o.suffix ?? randomBytes(3).toString('hex')
  const s: ScenarioA = {
    ns: `scenario-a-${suffix}`,
    opNs: `scenario-a-op-${suffix}`,
    release: `sa-${suffix}`,
    stateDir: o.stateDir,
    chainId: `echonet-drill-${suffix}`,
    council: [0, 1, 2].map(() => NodeIdentity.generate()),
    agent: NodeIdentity.generate(),
    load: NodeIdentity.generate(),
    machines: new Map(),
    loadNonce: 0,
  }
  holder.s = s
  const machines: [string, string][] = [
    ['ops', 'ops'],
    ['a', 'a'],
    ['b', 'b'],
    ['c', 'c'],
  ]
  for (const [i, [name, z]] of machines.entries()) {
    const m = await LocalMachine.start({
      name: `machine-${name}-${suffix}`,
      podCidr: `127.${o.cidrBase + i}.0.0/16`,
      labels: { ...zone(z), ...(name === 'b' ? { [DHT_LABEL]: 'true' } : {}) },
      stateDir: join(o.stateDir, `machine-${name}`),
      provisioner: name === 'ops',
      ...(o.detached === true ? { detached: true } : {}),
    })
    s.machines.set(name, m)
  }
  kubectl(['create', 'namespace', s.ns])
  // Helm installs a chart's CRDs only when they are absent: bring the cluster's up to this tree's.
  kubectl(['apply', '--server-side', '--force-conflicts', '-f', join(REPO, 'crds')])
  installOperator({
    release: s.release,
    namespace: s.opNs,
    watch: [s.ns],
    nodeSelector: zone('ops'),
    replicas: 2,
    // A seed on a lost machine is replaced within a drill's time (production default: 5m, 2m).
    values: {
      nodePollInterval: '1s',
      'nodeReplacement.notReadyAfter': '45s',
      'nodeReplacement.forceDeleteAfter': '10s',
    },
    stateDir: o.stateDir,
  })
  const agentSecret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'recovery-agent' },
    stringData: { 'agent.key': keyFileContent(s.agent) },
  }
  kubectl(['-n', s.ns, 'apply', '-f', '-'], yaml.dump(agentSecret))
  kubectl(
    ['-n', s.ns, 'apply', '-f', '-'],
    scenarioObjects(s, o.storage)
      .map((d) => yaml.dump(d))
      .join('---\n'),
  )
  await waitForReadyExplained(s, 300_000)
  return s
}

export async function tearDownScenarioA(s: ScenarioA): Promise<void> {
  // The network first, while the operator still runs: it releases the witness-key finalizers.
  sh('kubectl', ['-n', s.ns, 'delete', 'echonetnetwork', NETWORK, '--wait=true', '--timeout=60s'])
  sh('kubectl', [
    '-n',
    s.ns,
    'wait',
    '--for=delete',
    'secret',
    '-l',
    'app.kubernetes.io/component=node-key',
    '--timeout=60s',
  ])
  uninstallOperator({ release: s.release, namespace: s.opNs, stateDir: s.stateDir })
  for (const m of s.machines.values()) await m.stop()
  sh('kubectl', ['delete', 'namespace', s.ns, s.opNs, '--wait=false'])
  for (const m of s.machines.values()) sh('kubectl', ['delete', 'node', m.name, '--ignore-not-found'])
}

/** Waits for Ready; when it gives up, says why: the network's conditions and its last Events. */
export async function waitForReadyExplained(s: Pick<ScenarioA, 'ns'>, ms: number): Promise<void> {
  try {
    await waitFor('network Ready', () => condition(s, 'Ready') === 'True', ms, 1_000)
  } catch (err) {
    const conds = sh('kubectl', [
      '-n',
      s.ns,
      'get',
      'echonetnetwork',
      NETWORK,
      '-o',
      'jsonpath={range .status.conditions[*]}  {.type}={.status} ({.reason}): {.message}{"\\n"}{end}',
    ]).stdout
    const events = sh('kubectl', ['-n', s.ns, 'get', 'events', '--sort-by=.lastTimestamp'])
      .stdout.split('\n')
      .slice(-15)
      .join('\n')
    throw new Error(`${(err as Error).message}\nconditions:\n${conds}\nlast events:\n${events}`)
  }
}

export function condition(s: Pick<ScenarioA, 'ns'>, type: string, field: 'status' | 'reason' = 'status'): string {
  try {
    return kubectl([
      '-n',
      s.ns,
      'get',
      'echonetnetwork',
      NETWORK,
      '-o',
      `jsonpath={.status.conditions[?(@.type=="${type}")].${field}}`,
    ])
  } catch {
    return ''
  }
}

/** DIDs of the nodes, from their key Secrets (what the operator generated). */
export function nodeDids(s: Pick<ScenarioA, 'ns'>): Map<string, string> {
  const secrets = (
    kubectlJson(['-n', s.ns, 'get', 'secrets', '-l', 'app.kubernetes.io/component=node-key']) as {
      items: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } }[]
    }
  ).items
  return new Map(
    secrets.flatMap((x) => {
      const node = x.metadata.labels?.['echonet.io/node']
      const did = x.metadata.annotations?.['echonet.io/did']
      return node !== undefined && did !== undefined ? [[node, did] as const] : []
    }),
  )
}

/**
 * The council signs a standing recovery policy (2 of 3, offline with their keys): the agent may
 * promote up to `maxPromotions` of the listed standbys once quorum has been lost for
 * QUORUM_LOSS_SECONDS; then it is set on the network, as an operator of the network would.
 */
export function signStandingPolicy(s: ScenarioA, standbys: readonly string[], maxPromotions = 4): void {
  const action: CouncilAction = {
    domain: COUNCIL_ACTION_DOMAIN,
    chainId: s.chainId,
    nonce: Date.now(),
    expiresAtMs: Date.now() + 24 * 3_600_000,
    action: {
      kind: 'standing-recovery-policy',
      agent: s.agent.did,
      quorumLossSeconds: QUORUM_LOSS_SECONDS,
      maxPromotions,
      standbys: standbys as Did[],
      allowStateEdits: false,
    },
  }
  const signatures = [s.council[0]!, s.council[1]!].map((c) => ({
    did: c.did,
    signature: Buffer.from(signCouncilAction(c.signer, c.did, action).sig).toString('base64'),
  }))
  const patch = {
    spec: {
      recovery: {
        standingPolicy: { payload: Buffer.from(encodeCouncilAction(action)).toString('base64'), signatures },
      },
    },
  }
  kubectl(['-n', s.ns, 'patch', 'echonetnetwork', NETWORK, '--type=merge', '-p', JSON.stringify(patch)])
}

/** A live witness or standby pod IP of the network (events go there; chain pages come from there). */
export function liveWitnessIp(s: Pick<ScenarioA, 'ns'>, prefer: (n: string) => boolean = () => true): string {
  const nodes = networkNodes(s.ns, NETWORK).filter(
    (n) => (n.role === 'witness' || n.role === 'standby') && n.ready && n.ip !== undefined,
  )
  const pick = nodes.find((n) => prefer(n.node)) ?? nodes[0]
  if (pick === undefined) throw new Error('no live witness')
  return pick.ip!
}

async function chainPage(ip: string, from: number): Promise<ChainPage> {
  const r = await fetch(`http://${ip}:8080/v1/chain?from=${from}&max=256`, { signal: AbortSignal.timeout(10_000) })
  return decode(new Uint8Array(await r.arrayBuffer())) as ChainPage
}

/** Sends `count` transfers from the load account to `ip`; returns their ids (not waiting). */
export async function sendTransfers(s: ScenarioA, ip: string, count: number): Promise<string[]> {
  const ids: string[] = []
  const events: string[] = []
  for (let i = 0; i < count; i++) {
    const ev = signedTransfer(s.load.signer, s.load.did, {
      chainId: s.chainId,
      nonce: ++s.loadNonce,
      fee: 1,
      to: NodeIdentity.generate().did,
      amount: 1,
    })
    ids.push(ev.id)
    events.push(Buffer.from(ev.bytes).toString('base64'))
  }
  const r = await fetch(`http://${ip}:8080/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
    signal: AbortSignal.timeout(10_000),
  })
  const body = (await r.json()) as { results?: { ok: boolean; code?: string }[] }
  const refused = (body.results ?? []).filter((x) => !x.ok)
  if (refused.length > 0) throw new Error(`${refused.length} transfers refused: ${refused[0]?.code ?? ''}`)
  return ids
}

/** Waits until every id is in a certified block on `ip`; returns id → height. */
export async function finalHeights(ip: string, ids: readonly string[], ms = 120_000): Promise<Map<string, number>> {
  const want = new Set(ids)
  const found = new Map<string, number>()
  let from = 1
  await waitFor(
    `${ids.length} events final`,
    async () => {
      for (;;) {
        const page = await chainPage(ip, from)
        for (const item of page.items)
          for (const id of item.eventIds) if (want.has(id)) found.set(id, item.header.height)
        if (page.items.length === 0) break
        from = page.items[page.items.length - 1]!.header.height + 1
      }
      return found.size === want.size
    },
    ms,
    500,
  )
  return found
}

export interface DeclarationJson {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string }
  spec: { standingPolicy?: object; councilSignatures?: object[]; manifestSignatures?: object[] }
  status?: {
    phase?: string
    rtoSeconds?: number
    finalizedEventsLost?: number
    steps?: { name: string; phase: string; message?: string; attempts?: number }[]
    timeline?: { time: string; event: string }[]
    conditions?: { type: string; status: string; reason: string; message: string }[]
    runbook?: {
      manifestHash?: string
      delivered?: string[]
      witnessSet?: { did: string; node?: string; promoted: boolean }[]
      restartHeight?: number
      audit?: { message: string }
      resilience?: { message: string }
      defences?: { applied?: string[]; throttled?: number; blocked?: number; message?: string }
      ledger?: { appliedAtHeight?: number; compensated?: number; message?: string }
      upgrade?: { upgradedPowerPercent?: number; behind?: string[]; message?: string }
      storage?: Record<string, unknown> & { communityShards?: { openOn?: string[]; closedAt?: string } }
    }
    postMortem?: string
  }
}

export function declarations(s: Pick<ScenarioA, 'ns'>): DeclarationJson[] {
  return (kubectlJson(['-n', s.ns, 'get', 'disasterdeclarations']) as { items: DeclarationJson[] }).items
}

export function declaration(s: Pick<ScenarioA, 'ns'>, name: string): DeclarationJson {
  return kubectlJson(['-n', s.ns, 'get', 'disasterdeclaration', name]) as DeclarationJson
}

export interface RecoveryResult {
  readonly declaration: DeclarationJson
  /** Test clock: the machine loss, and the first time a live voter reported the new epoch. */
  readonly lostAtMs: number
  readonly resumedAtMs: number
  readonly audit: AuditResult
  readonly doubleVotes: { votes: number; doubles: string[] }
  /** Committee members and warm standbys after the declaration was resolved. */
  readonly committee: number
  readonly standbys: { readyReplicas?: number; promoted?: number }
  readonly notes: readonly string[]
}

/**
 * The drill under the standing policy: load, lose machine `a` for good (5 of 7 witnesses), bring a
 * replacement machine into zone a, and wait — nobody acts — until the operator's automatic
 * declaration is Resolved. Every event final before, or queued during, the outage goes into
 * `finalEvents`; the chain and the votes are then checked from outside.
 */
export async function runPolicyRecovery(
  s: ScenarioA,
  finalEvents: Map<string, number>,
  replacement: { podCidr: string; stateDir: string; detached?: boolean },
): Promise<RecoveryResult> {
  const notes: string[] = []
  const t0 = Date.now()
  const note = (what: string): void => {
    notes.push(`+${((Date.now() - t0) / 1000).toFixed(1)} s  ${what}`)
  }
  const survivor = (): string => liveWitnessIp(s, (n) => n.startsWith('witnesses-b'))
  const before = await sendTransfers(s, survivor(), 40)
  for (const [id, h] of await finalHeights(survivor(), before)) finalEvents.set(id, h)
  note(`${before.length} transfers final before the fault`)

  const lostAtMs = Date.now()
  await s.machines.get('a')!.lose()
  note('machine a lost for good: its agent and the 5 witnesses on it SIGKILLed, volumes unreachable')
  s.machines.set(
    'a2',
    await LocalMachine.start({
      name: `machine-a2-${s.release}`,
      podCidr: replacement.podCidr,
      labels: zone('a'),
      stateDir: replacement.stateDir,
      ...(replacement.detached === true ? { detached: true } : {}),
    }),
  )
  note('a replacement machine joined zone a')
  const during = await sendTransfers(s, survivor(), 20)
  note(`${during.length} transfers submitted to a survivor during the outage`)

  const auto = await waitFor(
    'an automatic WitnessLoss declaration',
    () => declarations(s).find((d) => d.metadata.labels?.['echonet.io/automatic'] === 'true'),
    120_000,
  )
  note(`the operator declared ${auto.metadata.name}`)
  let resumedAtMs = 0
  const token = adminToken(s.ns, NETWORK)
  const resolved = await waitFor(
    'the automatic declaration Resolved',
    async () => {
      if (resumedAtMs === 0) {
        for (const n of networkNodes(s.ns, NETWORK)) {
          const st = n.ip === undefined ? undefined : await nodeStatus(n.ip, token)
          if (st !== undefined && st.epoch >= 1 && st.mode === 'running') {
            resumedAtMs = Date.now()
            note(`${n.node} reports epoch ${st.epoch}, running`)
            break
          }
        }
      }
      const x = declaration(s, auto.metadata.name)
      if (x.status?.phase === 'Failed') throw new Error(`declaration failed: ${JSON.stringify(x.status.steps)}`)
      return x.status?.phase === 'Resolved' ? x : undefined
    },
    420_000,
    1_000,
  )
  note(`${auto.metadata.name} Resolved`)
  for (const [id, h] of await finalHeights(survivor(), during)) finalEvents.set(id, h)
  const audit = await auditNetwork(s.ns, NETWORK, { finalEvents })
  const doubleVotes = await doubleVotesOn([...s.machines.values()])
  const st = await nodeStatus(survivor(), token)
  const standbys =
    (kubectlJson(['-n', s.ns, 'get', 'witnesspool', 'standbys']) as { status?: RecoveryResult['standbys'] }).status ??
    {}
  return {
    declaration: resolved,
    lostAtMs,
    resumedAtMs,
    audit,
    doubleVotes,
    committee: st?.committee.members.length ?? 0,
    standbys,
    notes,
  }
}

/**
 * A declaration of the scenario's network as a council writes it: `spec` (networkRef, networkId,
 * nonce and a one-hour expiry filled in) signed by `signers` over the canonical payload, as YAML
 * for `kubectl apply`.
 */
export function councilDeclarationYaml(
  s: Pick<ScenarioA, 'chainId'>,
  name: string,
  spec: Record<string, unknown>,
  signers: readonly NodeIdentity[],
): string {
  const full = {
    networkRef: { name: NETWORK },
    networkId: s.chainId,
    nonce: Date.now(),
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    ...spec,
  }
  const v = validateDisasterDeclaration({
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'DisasterDeclaration',
    metadata: { name },
    spec: full,
  })
  if (!v.ok) throw new Error(JSON.stringify(v.errors))
  const p = declarationPayload(v.value.spec, s.chainId)
  const councilSignatures = signers.map((c) => ({
    did: c.did,
    signature: Buffer.from(signDeclaration(c.signer, c.did, p).sig).toString('base64'),
  }))
  return yaml.dump({
    apiVersion: 'echonet.io/v1alpha1',
    kind: 'DisasterDeclaration',
    metadata: { name },
    spec: { ...full, councilSignatures },
  })
}
