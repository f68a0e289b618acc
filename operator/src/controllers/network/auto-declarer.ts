/**
 * recovery.autoDeclare, the I/O shell: asks the pure decisions (auto-declare.ts for WitnessLoss,
 * auto-declare-storage.ts for DataUnavailability) and creates what they decide, with a Warning
 * Event on the network. A twin from another leader or reconcile is an AlreadyExists, ignored.
 */
import type { Logger } from 'pino'
import type { DisasterDeclaration, DisasterDeclarationInput, EchoNetNetwork } from '../../api/v1alpha1/types.ts'
import type { EventRecorder, K8sClient } from '../../k8s/index.ts'
import { isAlreadyExists } from '../../k8s/index.ts'
import type { AgentKeys } from '../shared/agent-key.ts'
import { committeeView } from '../shared/committee.ts'
import { stalledMs } from '../shared/node-poller.ts'
import type { NodePoller } from '../shared/node-poller.ts'
import { autoDeclaration, autoDeclareDecision } from './auto-declare.ts'
import { storageAutoDeclaration, storageAutoDeclareDecision } from './auto-declare-storage.ts'

export interface AutoDeclarerDeps {
  readonly client: K8sClient
  readonly recorder: EventRecorder
  readonly poller: NodePoller
  readonly agentKeys: AgentKeys
  readonly now: () => number
}

export class AutoDeclarer {
  readonly #d: AutoDeclarerDeps
  /** Networks (uid) seen with StorageDegraded and DHTDegraded both False since this process started. */
  readonly #healthy = new Set<string>()

  constructor(d: AutoDeclarerDeps) {
    this.#d = d
  }

  /** `active`: the network's declarations that are not Resolved. */
  async run(net: EchoNetNetwork, key: string, active: readonly DisasterDeclaration[], log: Logger): Promise<void> {
    if (!net.spec.recovery.autoDeclare) return
    const now = this.#d.now()
    const committee = committeeView(this.#d.poller.observations(key))
    const quorum = autoDeclareDecision({
      network: net,
      committee,
      stalledMs: stalledMs(this.#d.poller.progress(key), now),
      active,
    })
    if (quorum.declare && committee !== undefined) {
      const agent = net.spec.recovery.standingPolicy === undefined ? undefined : (await this.#d.agentKeys.get(net)).id
      const decl = autoDeclaration(net, committee, quorum.reason, now, agent)
      const how =
        decl.spec.standingPolicy !== undefined
          ? 'signed by the recovery agent under the standing policy: it runs at once'
          : 'unsigned: it waits for council signatures'
      await this.#declare(
        net,
        decl,
        `declared a WitnessLoss disaster (${decl.metadata.name ?? ''}): ${quorum.reason}; ${how}`,
        log,
      )
    }
    const uid = net.metadata.uid ?? ''
    const conds = net.status?.conditions ?? []
    const ok = (type: string) => conds.some((c) => c.type === type && c.status === 'False')
    if (ok('StorageDegraded') && ok('DHTDegraded')) this.#healthy.add(uid)
    const storage = storageAutoDeclareDecision({
      network: net,
      nowMs: now,
      active,
      seenHealthy: this.#healthy.has(uid),
    })
    if (storage.declare) {
      const decl = storageAutoDeclaration(net, storage, now)
      const note = `declared a DataUnavailability disaster (${decl.metadata.name ?? ''}): ${storage.reason}; unsigned: it waits for council signatures`
      await this.#declare(net, decl, note, log)
    }
  }

  async #declare(net: EchoNetNetwork, decl: DisasterDeclarationInput, note: string, log: Logger): Promise<void> {
    try {
      await this.#d.client.create(decl)
    } catch (e) {
      if (isAlreadyExists(e)) return
      throw e
    }
    log.warn({ declaration: decl.metadata.name }, note)
    void this.#d.recorder.record({
      regarding: net,
      type: 'Warning',
      reason: 'DisasterDeclared',
      action: 'Declare',
      note,
    })
  }
}
