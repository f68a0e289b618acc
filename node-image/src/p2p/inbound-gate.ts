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
 * Who may connect (the node's defences): the blocklist by IP and by peer id, and a cap on open
 * inbound connections per IP. Refusals are counted by the policy (metrics).
 */
export interface InboundPolicy {
  blocksIp(ip: string): boolean
  blocksPeer(peerId: string): boolean
  maxOpenPerIp(): number
  refused(reason: 'blocked' | 'limit'): void
}

/**
 * Counts pending inbound connections per remote IP for the connection gater: a connection takes
 * a slot in `denyInboundConnection` and gives it back when it is upgraded, closes, or at the
 * latest after `holdMs` (libp2p aborts the upgrade by then anyway). With a policy it also counts
 * open inbound connections per IP (until they close) and applies the blocklist.
 */
export class PendingInboundLimiter {
  readonly #perIp: number
  readonly #holdMs: number
  readonly #policy: InboundPolicy | undefined
  readonly #count = new Map<string, number>()
  readonly #open = new Map<string, number>()
  readonly #release = new WeakMap<MultiaddrConnection, () => void>()

  constructor(perIp: number, holdMs: number, policy?: InboundPolicy) {
    this.#perIp = perIp
    this.#holdMs = holdMs
    this.#policy = policy
  }

  /** Pending inbound connections from `ip` now. */
  pending(ip: string): number {
    return this.#count.get(ip) ?? 0
  }

  /** Inbound connections from `ip` not yet closed (pending or upgraded). */
  open(ip: string): number {
    return this.#open.get(ip) ?? 0
  }

  /** `denyInboundConnection`: true refuses the connection (blocked, or its IP holds all its slots). */
  deny(maConn: MultiaddrConnection): boolean {
    const ip = ipOf(maConn)
    if (ip === undefined) return false
    const p = this.#policy
    if (p?.blocksIp(ip) === true) {
      p.refused('blocked')
      return true
    }
    if (p !== undefined && this.open(ip) >= p.maxOpenPerIp()) {
      p.refused('limit')
      return true
    }
    const n = this.pending(ip)
    if (n >= this.#perIp) {
      p?.refused('limit')
      return true
    }
    this.#count.set(ip, n + 1)
    this.#open.set(ip, this.open(ip) + 1)
    let held = true
    const release = (): void => {
      if (!held) return
      held = false
      clearTimeout(timer)
      const left = this.pending(ip) - 1
      if (left > 0) this.#count.set(ip, left)
      else this.#count.delete(ip)
    }
    const closed = (): void => {
      release()
      maConn.removeEventListener('close', closed)
      const left = this.open(ip) - 1
      if (left > 0) this.#open.set(ip, left)
      else this.#open.delete(ip)
    }
    const timer = setTimeout(release, this.#holdMs)
    timer.unref()
    maConn.addEventListener('close', closed)
    this.#release.set(maConn, release)
    return false
  }

  /** `denyInboundUpgradedConnection`: the handshake is over, the pending slot is free again. */
  upgraded(maConn: MultiaddrConnection): void {
    this.#release.get(maConn)?.()
  }

  /** The gater hooks, plus dialing private and loopback addresses (LAN and loopback networks). */
  gater(): ConnectionGater {
    const p = this.#policy
    const blockedPeer = (peer: { toString(): string }): boolean => {
      if (p?.blocksPeer(peer.toString()) !== true) return false
      p.refused('blocked')
      return true
    }
    return {
      denyDialMultiaddr: (ma) => {
        const ip = hostOf(ma)
        return ip !== undefined && p?.blocksIp(ip) === true
      },
      denyDialPeer: (peer) => p?.blocksPeer(peer.toString()) === true,
      denyInboundConnection: (maConn) => this.deny(maConn),
      denyInboundEncryptedConnection: (peer) => blockedPeer(peer),
      denyInboundUpgradedConnection: (peer, maConn) => {
        this.upgraded(maConn)
        return blockedPeer(peer)
      },
    }
  }
}

function hostOf(ma: MultiaddrConnection['remoteAddr']): string | undefined {
  try {
    return getNetConfig(ma).host
  } catch {
    return undefined
  }
}

function ipOf(maConn: MultiaddrConnection): string | undefined {
  return hostOf(maConn.remoteAddr)
}
