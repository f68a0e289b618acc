import { getNetConfig } from '@libp2p/utils'
import type { ConnectionGater, MultiaddrConnection } from '@libp2p/interface'

/**
 * Pending (not yet upgraded) inbound connections allowed per remote IP. libp2p's own limit,
 * `maxIncomingPendingConnections`, is global: 256 idle TCP sockets from one address used to fill
 * every slot for the whole upgrade timeout, and no other peer could connect meanwhile (issue #15).
 * Honest peers hold a slot only for a handshake (milliseconds); on a loopback testnet every node
 * dials from 127.0.0.1, so the cap leaves room for a dozen nodes connecting at once.
 */
export const MAX_PENDING_INBOUND_PER_IP = 32

/**
 * Counts pending inbound connections per remote IP for the connection gater: a connection takes
 * a slot in `denyInboundConnection` and gives it back when it is upgraded, closes, or at the
 * latest after `holdMs` (libp2p aborts the upgrade by then anyway).
 */
export class PendingInboundLimiter {
  readonly #perIp: number
  readonly #holdMs: number
  readonly #count = new Map<string, number>()
  readonly #release = new WeakMap<MultiaddrConnection, () => void>()

  constructor(perIp: number, holdMs: number) {
    this.#perIp = perIp
    this.#holdMs = holdMs
  }

  /** Pending inbound connections from `ip` now. */
  pending(ip: string): number {
    return this.#count.get(ip) ?? 0
  }

  /** `denyInboundConnection`: true refuses the connection (its IP holds all its slots). */
  deny(maConn: MultiaddrConnection): boolean {
    const ip = ipOf(maConn)
    if (ip === undefined) return false
    const n = this.pending(ip)
    if (n >= this.#perIp) return true
    this.#count.set(ip, n + 1)
    let held = true
    const release = (): void => {
      if (!held) return
      held = false
      clearTimeout(timer)
      maConn.removeEventListener('close', release)
      const left = this.pending(ip) - 1
      if (left > 0) this.#count.set(ip, left)
      else this.#count.delete(ip)
    }
    const timer = setTimeout(release, this.#holdMs)
    timer.unref()
    maConn.addEventListener('close', release)
    this.#release.set(maConn, release)
    return false
  }

  /** `denyInboundUpgradedConnection`: the handshake is over, the slot is free again. */
  upgraded(maConn: MultiaddrConnection): void {
    this.#release.get(maConn)?.()
  }

  /** The gater hooks, plus dialing private and loopback addresses (LAN and loopback networks). */
  gater(): ConnectionGater {
    return {
      denyDialMultiaddr: () => false,
      denyInboundConnection: (maConn) => this.deny(maConn),
      denyInboundUpgradedConnection: (_peer, maConn) => {
        this.upgraded(maConn)
        return false
      },
    }
  }
}

function ipOf(maConn: MultiaddrConnection): string | undefined {
  try {
    return getNetConfig(maConn.remoteAddr).host
  } catch {
    return undefined
  }
}
