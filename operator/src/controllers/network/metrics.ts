/**
 * `echonet_*` metrics of each network, set at every status poll from the nodes' admin APIs — the
 * live values (heights move every second) that status only summarizes (ADR 0005). Names match
 * the chart's Grafana dashboard.
 */
import { Gauge } from 'prom-client'
import type { Registry } from 'prom-client'
import type { EchoNetNetworkStatus } from '../../api/v1alpha1/types.ts'

const LABELS = ['namespace', 'network'] as const
const STATUSES = ['True', 'False', 'Unknown'] as const

export class NetworkMetrics {
  readonly #finalized: Gauge<'namespace' | 'network'>
  readonly #certified: Gauge<'namespace' | 'network'>
  readonly #powerOnline: Gauge<'namespace' | 'network'>
  readonly #powerNeeded: Gauge<'namespace' | 'network'>
  readonly #ssnsReady: Gauge<'namespace' | 'network'>
  readonly #seedsReady: Gauge<'namespace' | 'network'>
  readonly #underReplicated: Gauge<'namespace' | 'network'>
  readonly #condition: Gauge<'namespace' | 'network' | 'type' | 'status'>
  readonly #all: Gauge<'namespace' | 'network'>[]
  /** Condition types reported per network, to remove their series when the network goes. */
  readonly #types = new Map<string, Set<string>>()

  constructor(registry: Registry) {
    const g = (name: string, help: string): Gauge<'namespace' | 'network'> =>
      new Gauge({ name, help, labelNames: LABELS, registers: [registry] })
    this.#finalized = g('echonet_network_finalized_height', 'Highest finalized height reported by a witness.')
    this.#certified = g('echonet_network_certified_height', 'Highest block with a commit certificate on any node.')
    this.#powerOnline = g('echonet_network_power_online', 'Committee voting power seen online.')
    this.#powerNeeded = g('echonet_network_power_needed', 'Voting power needed for finality (> 2/3).')
    this.#ssnsReady = g('echonet_network_ssns_ready', 'Ready storage nodes.')
    this.#seedsReady = g('echonet_network_seeds_ready', 'Ready DHT seed nodes.')
    this.#underReplicated = g(
      'echonet_storage_under_replicated_content',
      'Content bodies with fewer than k+m healthy shards.',
    )
    this.#condition = new Gauge({
      name: 'echonet_network_condition',
      help: 'Network conditions (1 for the current status of each type), as kube-state-metrics reports conditions.',
      labelNames: ['namespace', 'network', 'type', 'status'],
      registers: [registry],
    })
    this.#all = [
      this.#finalized,
      this.#certified,
      this.#powerOnline,
      this.#powerNeeded,
      this.#ssnsReady,
      this.#seedsReady,
      this.#underReplicated,
    ]
  }

  observe(namespace: string, network: string, s: EchoNetNetworkStatus): void {
    const l = { namespace, network }
    const set = (gauge: Gauge<'namespace' | 'network'>, v: number | undefined): void => {
      if (v !== undefined) gauge.set(l, v)
    }
    set(this.#finalized, s.finalizedHeight)
    set(this.#certified, s.certifiedHeight)
    set(this.#powerOnline, s.powerOnline)
    set(this.#powerNeeded, s.powerNeeded)
    set(this.#ssnsReady, s.ssnsReady)
    set(this.#seedsReady, s.seedsReady)
    set(this.#underReplicated, s.underReplicatedContent)
    const types = this.#types.get(`${namespace}/${network}`) ?? new Set<string>()
    this.#types.set(`${namespace}/${network}`, types)
    for (const c of s.conditions ?? []) {
      types.add(c.type)
      for (const st of STATUSES) this.#condition.set({ ...l, type: c.type, status: st }, c.status === st ? 1 : 0)
    }
  }

  forget(namespace: string, network: string): void {
    for (const gauge of this.#all) gauge.remove({ namespace, network })
    for (const type of this.#types.get(`${namespace}/${network}`) ?? [])
      for (const status of STATUSES) this.#condition.remove({ namespace, network, type, status })
    this.#types.delete(`${namespace}/${network}`)
  }
}
