/** DisasterDeclaration status: phases, steps, timeline and what each runbook recorded. */
import { array, boolean, integer, map, number, object, optional, string, stringEnum } from './openapi.ts'
import { SHA256_DIGEST, did, conditions, observedGeneration } from './schema-common.ts'
import { count } from './schema-network.ts'

const quoted = (xs: readonly string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`

/** Counts of the community-shard window (scenario B.5, B.6), as the nodes report them. */
const shardCounts = (description: string) =>
  object(
    {
      accepted: integer({ description: 'Shards that verified against their ContentID and were stored.', minimum: 0 }),
      rejected: map(integer({ description: 'Submissions refused with this code.', minimum: 0 }), {
        description: 'Refused submissions by stable code (SHARD_MISMATCH, SHARD_INTAKE_RATE_LIMITED, …).',
        maxProperties: 64,
      }),
      reuploadsMatched: integer({
        description: 'Creator re-uploads the nodes matched to the ContentID already registered for their bodyHash.',
        minimum: 0,
      }),
    },
    { description },
  )

const communityShardsStatus = object(
  {
    openedAt: optional(string({ description: 'When the runbook opened the window.', format: 'date-time' })),
    expiresAt: optional(
      string({ description: 'When the window closes on the nodes by themselves.', format: 'date-time' }),
    ),
    perIpPerMinute: optional(integer({ description: 'Shards one client IP may submit per minute.', minimum: 1 })),
    totalPerMinute: optional(integer({ description: 'Shards all clients may submit per minute.', minimum: 1 })),
    openOn: optional(
      array(string({ description: 'A node name.', maxLength: 253 }), {
        description: 'SSNs whose admin status reports the window open (last observation).',
        maxItems: 1000,
      }),
    ),
    counts: optional(shardCounts('Since the window opened, summed over the nodes (SSNs and replaced pods too).')),
    closedAt: optional(string({ description: 'When the window closed (or lapsed).', format: 'date-time' })),
    nodes: optional(
      array(
        object(
          {
            node: string({ description: 'A node name.', maxLength: 253 }),
            ip: string({ description: 'The pod IP the counts are from.', maxLength: 64 }),
            openedAt: optional(
              string({ description: 'When the window was opened on this pod (SSNs).', format: 'date-time' }),
            ),
            base: shardCounts("The pod's counters when the runbook first saw it (they count since it started)."),
            seen: shardCounts("The pod's counters last seen."),
          },
          { description: "One node's counters." },
        ),
        { description: 'Per node: what the counts are made of.', maxItems: 1000 },
      ),
    ),
    carried: optional(shardCounts('Counts of pods that are gone or restarted since (their counters reset).')),
    lastRefusal: optional(string({ description: 'The last refusal of a node to open the window.', maxLength: 1024 })),
    message: optional(string({ description: 'Where the window stands.', maxLength: 4096 })),
  },
  { description: 'Scenario B.5/B.6: the community-shard window and what came through it.' },
)

export const DECLARATION_PHASES = [
  'Pending',
  'Authorized',
  'Executing',
  'Verifying',
  'Recovered',
  'Failed',
  'Resolved',
] as const
export type DeclarationPhase = (typeof DECLARATION_PHASES)[number]

/** Allowed phase changes (besides staying put), enforced by a CEL transition rule. */
export const PHASE_TRANSITIONS: Record<DeclarationPhase, readonly DeclarationPhase[]> = {
  Pending: ['Authorized', 'Failed', 'Resolved'],
  Authorized: ['Executing', 'Failed', 'Resolved'],
  Executing: ['Verifying', 'Failed'],
  Verifying: ['Recovered', 'Failed'],
  Recovered: ['Resolved'],
  Failed: ['Resolved'],
  Resolved: [],
}

const phaseTransitionRule = Object.entries(PHASE_TRANSITIONS)
  .filter(([, to]) => to.length > 0)
  .map(([from, to]) => `(oldSelf == '${from}' && self in ${quoted(to)})`)
  .join(' || ')

export const STEP_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed', 'Skipped'] as const

const runbookNode = (what: string) => string({ description: what, maxLength: 253 })

/** What a runbook recorded (DESIGN §6): enough for a new leader to resume, and for people to read. */
export const runbookSchema = object(
  {
    step: optional(string({ description: 'The step being executed.', maxLength: 128 })),
    faultAt: optional(
      string({
        description: 'When the fault began: the time of the last block finalized before it.',
        format: 'date-time',
      }),
    ),
    survey: optional(
      array(
        object(
          {
            node: runbookNode('Node name.'),
            did: optional(did('The node key.')),
            role: optional(string({ description: 'Node role.', maxLength: 16 })),
            reachable: boolean({ description: 'The node answered its admin API.' }),
            epoch: optional(integer({ description: 'Its consensus epoch.', minimum: 0 })),
            height: optional(integer({ description: 'Its highest certified height.', minimum: 0 })),
            hash: optional(string({ description: 'Block hash at that height (hex).', maxLength: 64 })),
          },
          { description: 'What one node held when the runbook assessed the network.' },
        ),
        { description: 'Every node surveyed before any change.', maxItems: 512, listType: 'atomic' },
      ),
    ),
    restartHeight: optional(
      integer({ description: 'The highest certified height any node holds: the restart point.', minimum: 0 }),
    ),
    restartHash: optional(string({ description: 'Block hash at the restart height (hex).', maxLength: 64 })),
    witnessSet: optional(
      array(
        object(
          {
            did: did('A member of the new witness set.'),
            node: optional(runbookNode('Its node name.')),
            power: optional(integer({ description: 'Voting power.', minimum: 0 })),
            promoted: boolean({ description: 'A standby promoted into the committee.', default: false }),
          },
          { description: 'One member of the new witness set.' },
        ),
        {
          description: 'The witness set the restart installs: survivors and promoted standbys.',
          maxItems: 1000,
          listType: 'atomic',
        },
      ),
    ),
    manifest: optional(
      string({
        description:
          'The RestartManifest (DAG-CBOR, base64), recorded before it is signed or sent: a new leader never plans another.',
        format: 'byte',
        maxLength: 262_144,
      }),
    ),
    manifestHash: optional(string({ description: 'Hash of the manifest: what council members sign.', maxLength: 64 })),
    manifestExpiresAt: optional(string({ description: 'When the manifest expires.', format: 'date-time' })),
    agentSignature: optional(
      string({
        description: "The recovery agent's signature over the manifest (base64).",
        format: 'byte',
        maxLength: 256,
      }),
    ),
    delivered: optional(
      array(runbookNode('A node that adopted the manifest.'), {
        description: 'Nodes that adopted the manifest so far.',
        maxItems: 1000,
        listType: 'set',
      }),
    ),
    touches: optional(
      array(string({ description: 'An object or node the runbook changes.', maxLength: 512 }), {
        description: 'What the runbook changes (or, in a dry run, would change).',
        maxItems: 512,
        listType: 'atomic',
      }),
    ),
    resumedAt: optional(
      string({ description: 'When the first block after the restart was final.', format: 'date-time' }),
    ),
    resumedHeight: optional(integer({ description: 'That block.', minimum: 0 })),
    audit: optional(
      object(
        {
          heights: integer({ description: 'Certified heights checked.', minimum: 0 }),
          nodes: array(runbookNode('A node read.'), {
            description: 'Nodes whose blocks were read.',
            maxItems: 64,
            listType: 'atomic',
          }),
          forks: integer({ description: 'Heights with two different certified blocks.', minimum: 0 }),
          badCertificates: integer({ description: 'Blocks whose commit certificate did not verify.', minimum: 0 }),
          missing: array(string({ description: 'node@height', maxLength: 300 }), {
            description: 'Heights a node could not serve (reported, not skipped).',
            maxItems: 64,
            listType: 'atomic',
          }),
          message: string({ description: 'Summary.', maxLength: 4096 }),
        },
        {
          description:
            "The independent check of the chain after recovery (certificates verified against the committee, not the nodes' word).",
        },
      ),
    ),
    resilience: optional(
      object(
        {
          activeWanted: integer({ description: 'Active witnesses the pools ask for.', minimum: 0 }),
          committee: integer({ description: 'Committee members now.', minimum: 0 }),
          standbysWanted: integer({ description: 'Standby witnesses the pools ask for.', minimum: 0 }),
          standbys: integer({ description: 'Registered standbys not in the committee now.', minimum: 0 }),
          message: string({ description: 'What was done, or what is missing.', maxLength: 4096 }),
        },
        { description: "Restoring resilience after the recovery: the spec'd number of active witnesses and standbys." },
      ),
    ),
    defences: optional(
      object(
        {
          startedAt: optional(string({ description: 'When the first node took the defences.', format: 'date-time' })),
          limitsExpireAt: optional(
            string({ description: 'When the pushed rate limits lapse on the nodes.', format: 'date-time' }),
          ),
          blocklistExpiresAt: optional(
            string({ description: 'When the pushed blocklist entries lapse on the nodes.', format: 'date-time' }),
          ),
          applied: optional(
            array(string({ description: 'node@podIP', maxLength: 300 }), {
              description: 'Nodes (at their pod IP) that took the defences; a new pod of a node gets them again.',
              maxItems: 1000,
              listType: 'set',
            }),
          ),
          throttled: optional(
            integer({ description: 'Requests, events, frames or connections the nodes throttled (sum).', minimum: 0 }),
          ),
          blocked: optional(
            integer({
              description: 'Requests, events or connections the nodes refused by the blocklist (sum).',
              minimum: 0,
            }),
          ),
          lifted: optional(boolean({ description: 'The defences were lifted from the nodes at resolution.' })),
          message: optional(string({ description: 'What is in force, and its effect.', maxLength: 4096 })),
        },
        { description: 'Scenario D: the rate limits and blocklist pushed to every node, and their effect.' },
      ),
    ),
    storage: optional(
      object(
        {
          classification: optional(
            stringEnum(
              ['SSNFailure', 'DHTFailure', 'SSNAndDHTFailure', 'Corruption', 'UnderReplicated', 'None'] as const,
              {
                description:
                  'What the assessment found: storage nodes lost, the DHT lost, both, corrupt shards (content below full redundancy while the SSNs that answer have quarantined corrupt shards), or only content below full redundancy.',
              },
            ),
          ),
          ssns: optional(integer({ description: 'Storage nodes the network has.', minimum: 0 })),
          ssnsReachable: optional(integer({ description: 'Storage nodes that answer.', minimum: 0 })),
          seeds: optional(integer({ description: 'DHT seeds the network has.', minimum: 0 })),
          seedsReachable: optional(integer({ description: 'DHT seeds that answer.', minimum: 0 })),
          underReplicated: optional(
            integer({
              description: 'Registered content below k + m healthy shards (the highest count any SSN reports).',
              minimum: 0,
            }),
          ),
          quarantined: optional(
            integer({
              description:
                'Corrupt shards found by scrub or on read and quarantined, summed over the SSNs that answer (each counts its volume since it was created).',
              minimum: 0,
            }),
          ),
          rebootstrapped: optional(
            array(string({ description: 'A node name.', maxLength: 253 }), {
              description: 'Nodes given the new DHT bootstrap peers (they re-provide what they hold).',
              maxItems: 1000,
              listType: 'set',
            }),
          ),
          prioritized: optional(
            array(string({ description: 'A node name.', maxLength: 253 }), {
              description: 'SSNs that took the repair priorities.',
              maxItems: 1000,
              listType: 'set',
            }),
          ),
          repairRuns: optional(integer({ description: 'Repair runs the runbook started on the SSNs.', minimum: 0 })),
          repairedContent: optional(
            integer({ description: 'Content the SSNs repaired in those runs (sum).', minimum: 0 }),
          ),
          lastRepairAt: optional(string({ description: 'When the last repair round started.', format: 'date-time' })),
          round: optional(
            object(
              {
                nodes: array(string({ description: 'A node name.', maxLength: 253 }), {
                  description: 'SSNs whose repair run of this round answered.',
                  maxItems: 1000,
                }),
                underReplicated: integer({
                  description: 'Content below k + m healthy shards that the runs found (the highest count).',
                  minimum: 0,
                }),
                failed: integer({ description: 'Content the runs could not repair (sum).', minimum: 0 }),
              },
              { description: 'The last repair round: done when it covers every SSN and found nothing to repair.' },
            ),
          ),
          communityShards: optional(communityShardsStatus),
          message: optional(string({ description: 'Where the incident stands.', maxLength: 4096 })),
        },
        { description: 'Scenario B: the storage incident as assessed, and the repair.' },
      ),
    ),
    ledger: optional(
      object(
        {
          actions: optional(
            array(string({ description: 'A ledger action (pause-module, upgrade-plan, …).', maxLength: 64 }), {
              description: 'What the council-signed declaration does on the ledger (every node checks the signatures).',
              maxItems: 128,
            }),
          ),
          submittedAt: optional(
            string({ description: 'When the declaration was last sent to the ledger.', format: 'date-time' }),
          ),
          attempts: optional(integer({ description: 'Times it was sent.', minimum: 0 })),
          appliedAtHeight: optional(
            integer({ description: 'Finalized height at which the nodes report it in force.', minimum: 0 }),
          ),
          compensated: optional(
            integer({ description: 'Total paid from the treasury by Compensate actions.', minimum: 0 }),
          ),
          message: optional(string({ description: 'What is in force on the ledger.', maxLength: 4096 })),
        },
        { description: 'Scenario C: the declaration on the ledger (pauses, parameters, upgrade plan, compensation).' },
      ),
    ),
    upgrade: optional(
      object(
        {
          image: optional(string({ description: 'The node image rolled out.', maxLength: 512 })),
          height: optional(integer({ description: 'Flag height.', minimum: 1 })),
          binaryDigest: optional(string({ description: 'Digest the plan names.', pattern: SHA256_DIGEST })),
          minVersion: optional(string({ description: 'Version the plan needs.', maxLength: 64 })),
          imageSetAt: optional(string({ description: 'When the network was given the image.', format: 'date-time' })),
          upgradedPowerPercent: optional(
            integer({ description: 'Share of committee power on the new build (version and digest).', minimum: 0 }),
          ),
          finalizedHeight: optional(integer({ description: 'The network finalized height last seen.', minimum: 0 })),
          behind: optional(
            array(string({ description: 'node (version)', maxLength: 300 }), {
              description: 'Nodes not on the new build.',
              maxItems: 1000,
            }),
          ),
          message: optional(string({ description: 'Where the upgrade stands.', maxLength: 4096 })),
        },
        { description: 'Scenario C: a coordinated upgrade at a flag height.' },
      ),
    ),
  },
  { description: 'What the runbook recorded: the survey, the plan, the manifest and its delivery, the checks.' },
)

export const disasterDeclarationStatusSchema = object(
  {
    observedGeneration: observedGeneration(),
    conditions: conditions('Authorized, Progressing, Recovered, Failed'),
    phase: optional(
      stringEnum(DECLARATION_PHASES, {
        description: 'Pending → Authorized → Executing → Verifying → Recovered or Failed → Resolved.',
        rules: [
          {
            rule: `self == oldSelf || ${phaseTransitionRule}`,
            message:
              'invalid phase transition (Pending → Authorized → Executing → Verifying → Recovered/Failed → Resolved)',
            messageExpression: "'phase cannot change from ' + oldSelf + ' to ' + self",
          },
        ],
      }),
    ),
    authorizedAt: optional(string({ description: 'When the authorization was verified.', format: 'date-time' })),
    verifiedSigners: optional(
      array(did('A signer whose signature verified.'), {
        description: 'Council members (or the agent) whose signatures the operator verified.',
        maxItems: 64,
        listType: 'set',
      }),
    ),
    steps: optional(
      array(
        object(
          {
            name: string({ description: 'Step name (the action type, or a runbook step).', maxLength: 128 }),
            phase: stringEnum(STEP_PHASES, { description: 'Step phase.' }),
            attempts: optional(integer({ description: 'How many times the step retried an action.', minimum: 0 })),
            message: optional(string({ description: 'What the step did or why it failed.', maxLength: 4096 })),
            startedAt: optional(string({ description: 'When the step started.', format: 'date-time' })),
            finishedAt: optional(string({ description: 'When the step finished.', format: 'date-time' })),
          },
          { description: 'Status of one step.' },
        ),
        { description: 'Per-step status, in execution order.', maxItems: 128, listType: 'atomic' },
      ),
    ),
    timeline: optional(
      array(
        object(
          {
            time: string({ description: 'When.', format: 'date-time' }),
            event: string({ description: 'What happened.', maxLength: 1024 }),
          },
          { description: 'One timeline entry.' },
        ),
        {
          description: 'What happened when (fault, detection, each action, recovery).',
          maxItems: 512,
          listType: 'atomic',
        },
      ),
    ),
    rtoSeconds: optional(
      number({ description: 'Measured recovery time: fault to finality resumed / redundancy restored.', minimum: 0 }),
    ),
    finalizedEventsLost: count('Finalized events lost (0 is the target: RPO = 0).'),
    postMortem: optional(string({ description: 'Post-mortem summary.', maxLength: 32_768 })),
    runbook: optional(runbookSchema),
  },
  { description: 'Observed state of the declaration, written by the operator.' },
)
