/** DisasterDeclaration: the scenario B (storage incident) action members. */
import { MAX_SHARD_INTAKE_PER_MINUTE, MAX_SHARD_INTAKE_SECONDS } from '@echonet/node/admin'
import type { AnySchema } from './openapi.ts'
import { array, boolean, int32, object, optional, string, stringEnum } from './openapi.ts'
import { durationSeconds } from './schema-common.ts'

export const storageActionMembers = {
  pausePoSRSlashing: optional(
    object(
      {
        durationSeconds: optional(
          durationSeconds('How long slashing stays paused; unset lasts until the declaration is Resolved.'),
        ),
      },
      { description: 'Pause PoSR slashing so that honest SSNs are not slashed during the incident.' },
    ),
  ),
  rebootstrapDHT: optional(
    object(
      {
        seeds: optional(
          array(string({ description: 'A libp2p multiaddr including /p2p/<PeerId>.', maxLength: 512 }), {
            description: "Bootstrap peers; unset uses the network's seed pods.",
            maxItems: 64,
            listType: 'set',
          }),
        ),
      },
      { description: 'Give every node new DHT bootstrap peers and make nodes re-advertise their holdings.' },
    ),
  ),
  replaceFailedSSNs: optional(
    object(
      {
        nodes: optional(
          array(string({ description: 'Name of an SSN pod.', maxLength: 253 }), {
            description: 'SSN pods to replace; unset replaces every SSN found failed (unreachable or corrupt).',
            maxItems: 256,
            listType: 'set',
          }),
        ),
        maxConcurrent: int32({ description: 'SSNs replaced at the same time.', default: 1, minimum: 1, maximum: 256 }),
      },
      { description: 'Replace failed storage nodes (new pod and volume); repair refills their shards.' },
    ),
  ),
  repairPriority: optional(
    object(
      {
        order: array(stringEnum(['CriticalMetadata', 'Recent', 'HighDemand'] as const, { description: 'A class.' }), {
          description:
            'Order in which content classes are repaired. Not applied yet (issue 11): the operator does not classify content, and an SSN ranks the classes it was given critical, high-demand, recent; contentIds is what the runbook puts first today.',
          default: ['CriticalMetadata', 'Recent', 'HighDemand'],
          minItems: 1,
          maxItems: 3,
          listType: 'set',
        }),
        contentIds: optional(
          array(string({ description: 'A ContentID (CIDv1).', maxLength: 128 }), {
            description: 'ContentIDs to repair before anything else.',
            maxItems: 1024,
            listType: 'set',
          }),
        ),
      },
      { description: 'Reorder the repair queue.' },
    ),
  ),
  acceptCommunityShards: optional(
    object(
      {
        durationSeconds: optional(
          int32({
            description:
              "How long the window stays open, in seconds, at most 7 days (the nodes' bound). Unset: until the declaration's expiresAt, at most 7 days. It closes earlier when the declaration is Recovered, Failed or resolved.",
            minimum: 1,
            maximum: MAX_SHARD_INTAKE_SECONDS,
          }),
        ),
        perIpPerMinute: int32({
          description: 'Shards one client IP may submit per minute to each SSN.',
          default: 30,
          minimum: 1,
          maximum: MAX_SHARD_INTAKE_PER_MINUTE,
        }),
        totalPerMinute: int32({
          description: 'Shards all clients together may submit per minute to each SSN.',
          default: 600,
          minimum: 1,
          maximum: MAX_SHARD_INTAKE_PER_MINUTE,
        }),
        matchReuploads: boolean({
          description:
            "Report creator re-uploads the nodes matched to existing ContentIDs by bodyHash (status.runbook.storage.communityShards). The matching itself is the ledger's rule and always on.",
          default: true,
        }),
      },
      {
        description:
          'Open a time-boxed, rate-limited window on every SSN in which anyone may submit shards (PUT /v1/content/<cid>/shards/<index>), each kept only if it verifies against its ContentID.',
        rules: [
          {
            rule: '!has(self.perIpPerMinute) || !has(self.totalPerMinute) || self.perIpPerMinute <= self.totalPerMinute',
            message: 'acceptCommunityShards.perIpPerMinute must not exceed totalPerMinute',
          },
        ],
      },
    ),
  ),
} satisfies Record<string, AnySchema>
