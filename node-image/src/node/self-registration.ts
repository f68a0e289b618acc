/**
 * A node whose key is not on the ledger registers itself: once its account holds the stake plus
 * a fee (someone funded it — the operator's recovery agent, for nodes it adds after genesis), it
 * bonds the stake in its role. Witnesses then compete for the committee by stake; standbys join
 * the pre-vetted standby list a restart manifest may promote from. Idempotent: a node that is
 * registered (in any role) does nothing, and a bond is sent at most once per ledger height.
 */
import type { EventSender } from './event-sender.ts'

export type BondRole = 'witness' | 'standby' | 'ssn'

export interface BondConfig {
  readonly role: BondRole
  /** Stake to bond; must reach the ledger's minimum for the role. */
  readonly stake: number
}

export interface SelfRegistrationDeps {
  readonly bond: BondConfig
  readonly sender: EventSender
  /** The node's registration as its ledger holds it now. */
  registration(): { role?: BondRole; balance: number }
  height(): number
  /** The fee of one event now. */
  fee(): number
  /** Not while halted or syncing: the bond would wait in the mempool or be judged on stale state. */
  canSend(): boolean
  log(level: 'info' | 'warn', msg: string, data?: Record<string, unknown>): void
}

export class SelfRegistration {
  readonly #d: SelfRegistrationDeps
  #sentAt = -1
  #timer: NodeJS.Timeout | undefined

  constructor(deps: SelfRegistrationDeps) {
    this.#d = deps
  }

  start(everyMs = 2_000): void {
    this.#timer = setInterval(() => this.tick(), everyMs)
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
  }

  /** One check (exposed for tests): sends the bond when funded and not yet registered. */
  tick(): 'registered' | 'unfunded' | 'waiting' | 'sent' | 'refused' {
    const reg = this.#d.registration()
    if (reg.role !== undefined) return 'registered'
    if (reg.balance < this.#d.bond.stake + this.#d.fee()) return 'unfunded'
    const h = this.#d.height()
    if (!this.#d.canSend() || this.#sentAt >= h) return 'waiting'
    this.#sentAt = h
    try {
      const id = this.#d.sender.send('staking.bond', { role: this.#d.bond.role, amount: this.#d.bond.stake })
      this.#d.log('info', 'bonding own stake', { role: this.#d.bond.role, stake: this.#d.bond.stake, event: id })
      return 'sent'
    } catch (err) {
      this.#d.log('warn', 'bond refused', { code: (err as { code?: string }).code, err: (err as Error).message })
      return 'refused'
    }
  }
}
