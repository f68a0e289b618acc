import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Prometheus metrics of a node (`echonet_` prefix, base units, `_total` counters). */
export class NodeMetrics {
  readonly registry = new Registry()
  readonly finalizedHeight = new Gauge({
    name: 'echonet_finalized_height',
    help: 'Height of the last finalized block',
    registers: [this.registry],
  })
  readonly blocks = new Counter({
    name: 'echonet_blocks_finalized_total',
    help: 'Blocks finalized',
    registers: [this.registry],
  })
  readonly events = new Counter({
    name: 'echonet_events_finalized_total',
    help: 'Events finalized',
    labelNames: ['result'],
    registers: [this.registry],
  })
  readonly submitted = new Counter({
    name: 'echonet_events_submitted_total',
    help: 'Events submitted to this node',
    labelNames: ['result'],
    registers: [this.registry],
  })
  readonly mempoolSize = new Gauge({
    name: 'echonet_mempool_events',
    help: 'Events waiting in the mempool',
    registers: [this.registry],
  })
  readonly rounds = new Gauge({
    name: 'echonet_consensus_round',
    help: 'Current consensus round',
    registers: [this.registry],
  })
  readonly equivocations = new Counter({
    name: 'echonet_consensus_equivocations_total',
    help: 'Equivocations observed',
    registers: [this.registry],
  })
  readonly restarts = new Counter({
    name: 'echonet_consensus_restarts_total',
    help: 'Coordinated restarts after which consensus resumed (a new epoch began)',
    registers: [this.registry],
  })
  readonly badFrames = new Counter({
    name: 'echonet_p2p_bad_frames_total',
    help: 'Malformed p2p frames received',
    labelNames: ['code'],
    registers: [this.registry],
  })
  readonly peers = new Gauge({ name: 'echonet_p2p_peers', help: 'Connected peers', registers: [this.registry] })
  readonly powerOnline = new Gauge({
    name: 'echonet_committee_power_online',
    help: 'Committee power seen online',
    registers: [this.registry],
  })
  readonly powerNeeded = new Gauge({
    name: 'echonet_committee_power_needed',
    help: 'Committee power needed for finality',
    registers: [this.registry],
  })
  readonly blockInterval = new Histogram({
    name: 'echonet_block_interval_seconds',
    help: 'Time between finalized blocks',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  })
  readonly corruptShards = new Counter({
    name: 'echonet_dds_corrupt_shards_total',
    help: 'Stored shards that failed their hash check (quarantined, never served)',
    registers: [this.registry],
  })
  readonly shardRequestErrors = new Counter({
    name: 'echonet_dds_shard_request_errors_total',
    help: 'Shard protocol requests this node answered with an error',
    labelNames: ['op', 'code'],
    registers: [this.registry],
  })
  readonly contentBytes = new Counter({
    name: 'echonet_dds_content_bytes_total',
    help: 'Content body bytes published or fetched through this node',
    labelNames: ['dir'],
    registers: [this.registry],
  })
  readonly underReplicated = new Gauge({
    name: 'echonet_dds_under_replicated_content',
    help: 'Registered content with fewer than k + m healthy shards (as seen by this SSN)',
    registers: [this.registry],
  })
  readonly repairQueue = new Gauge({
    name: 'echonet_dds_repair_queue_length',
    help: 'Content waiting for repair on this node',
    registers: [this.registry],
  })
  readonly repairBytes = new Counter({
    name: 'echonet_dds_repair_bytes_total',
    help: 'Shard bytes rebuilt and re-placed by repair (rate() gives repair bytes/s)',
    registers: [this.registry],
  })
  readonly repairs = new Counter({
    name: 'echonet_dds_repairs_total',
    help: 'Repairs of one content by result',
    labelNames: ['result'],
    registers: [this.registry],
  })
  readonly posrResults = new Counter({
    name: 'echonet_posr_results_submitted_total',
    help: 'PoSR results this witness submitted, by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  })
  readonly throttled = new Counter({
    name: 'echonet_ratelimit_throttled_total',
    help: 'Requests, events, frames or connections refused by a rate or connection limit, by surface',
    labelNames: ['surface'],
    registers: [this.registry],
  })
  readonly blocked = new Counter({
    name: 'echonet_ratelimit_blocked_total',
    help: 'Requests, events or connections refused by the blocklist, by surface',
    labelNames: ['surface'],
    registers: [this.registry],
  })
  readonly blocklistEntries = new Gauge({
    name: 'echonet_ratelimit_blocklist_entries',
    help: 'Blocklist entries in force, by kind (peer, ip, did)',
    labelNames: ['kind'],
    registers: [this.registry],
  })
  readonly limit = new Gauge({
    name: 'echonet_ratelimit_limit',
    help: 'Limits in force: token-bucket rate (per second) and burst, or a count',
    labelNames: ['limit', 'param'],
    registers: [this.registry],
  })
  constructor() {
    collectDefaultMetrics({ register: this.registry })
  }
}
