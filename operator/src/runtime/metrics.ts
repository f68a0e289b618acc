/**
 * Prometheus metrics with controller-runtime's names (so dashboards written for Go operators
 * work). Metric objects are created once per registry and shared by every queue/controller that
 * reports into it, distinguished by the `name` / `controller` label.
 */
import { Counter, Gauge, Histogram, Registry, exponentialBuckets } from 'prom-client'

/** The operator's registry (served on `/metrics` by the manager). */
export const defaultRegistry = new Registry()

/** Something whose gauges are computed at scrape time. */
export interface InFlightSource {
  readonly name: string
  /** Seconds of work in progress not yet observed by work_duration, and the oldest one's age. */
  inFlight(): { unfinishedSeconds: number; longestSeconds: number }
}

export interface WorkqueueMetrics {
  depth: Gauge<'name'>
  adds: Counter<'name'>
  queueDuration: Histogram<'name'>
  workDuration: Histogram<'name'>
  retries: Counter<'name'>
  sources: Set<InFlightSource>
}

const wqByRegistry = new WeakMap<Registry, WorkqueueMetrics>()

export function workqueueMetrics(registry: Registry): WorkqueueMetrics {
  const existing = wqByRegistry.get(registry)
  if (existing !== undefined) return existing
  const sources = new Set<InFlightSource>()
  const registers = [registry]
  const buckets = exponentialBuckets(10e-9, 10, 12)
  const m: WorkqueueMetrics = {
    depth: new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name'], registers }),
    adds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue',
      labelNames: ['name'],
      registers,
    }),
    queueDuration: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested',
      labelNames: ['name'],
      buckets,
      registers,
    }),
    workDuration: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes',
      labelNames: ['name'],
      buckets,
      registers,
    }),
    retries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue',
      labelNames: ['name'],
      registers,
    }),
    sources,
  }
  new Gauge({
    name: 'workqueue_unfinished_work_seconds',
    help: 'How many seconds of work has been done that is in progress and hasn\u2019t been observed by work_duration',
    labelNames: ['name'],
    registers,
    collect() {
      for (const s of sources) this.set({ name: s.name }, s.inFlight().unfinishedSeconds)
    },
  })
  new Gauge({
    name: 'workqueue_longest_running_processor_seconds',
    help: 'How many seconds has the longest running processor for workqueue been running',
    labelNames: ['name'],
    registers,
    collect() {
      for (const s of sources) this.set({ name: s.name }, s.inFlight().longestSeconds)
    },
  })
  wqByRegistry.set(registry, m)
  return m
}

export interface ControllerMetrics {
  reconcileTotal: Counter<'controller' | 'result'>
  reconcileErrors: Counter<'controller'>
  reconcileTime: Histogram<'controller'>
  maxConcurrent: Gauge<'controller'>
  activeWorkers: Gauge<'controller'>
}

const ctrlByRegistry = new WeakMap<Registry, ControllerMetrics>()

export function controllerMetrics(registry: Registry): ControllerMetrics {
  const existing = ctrlByRegistry.get(registry)
  if (existing !== undefined) return existing
  const registers = [registry]
  const m: ControllerMetrics = {
    reconcileTotal: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller',
      labelNames: ['controller'],
      registers,
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller',
      labelNames: ['controller'],
      // controller-runtime's buckets
      buckets: [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5,
        1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
      ],
      registers,
    }),
    maxConcurrent: new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller',
      labelNames: ['controller'],
      registers,
    }),
    activeWorkers: new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller',
      labelNames: ['controller'],
      registers,
    }),
  }
  ctrlByRegistry.set(registry, m)
  return m
}
