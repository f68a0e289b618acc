#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander'
import { readFile } from 'node:fs/promises'
import { pino } from 'pino'
import { NodeIdentity, writeKeyFile } from '../crypto/identity.ts'
import { writeFileAtomic } from '../util/fs.ts'
import { limitsFromEnv } from '../defence/limits.ts'
import { EchoNode } from '../node/node.ts'
import { buildInfo } from '../node/build-info.ts'
import type { NodeConfig } from '../node/node.ts'
import type { NodeRole } from '../api/admin-contract.ts'
import { buildGenesis } from '../node/ledger-adapter.ts'
import { createTestnet, downTestnet, loadState, nodeStatus, startAll, waitForHeight } from './testnet.ts'
import { runDrill } from './drill.ts'
import { runLoad } from './loadgen.ts'
import type { BondRole } from '../node/self-registration.ts'
import { FATAL_FILE, ProcessGuard, takePreviousFatal } from './process-guard.ts'

const BOND_ROLES: readonly string[] = ['witness', 'standby', 'ssn']

const int = (v: string): number => {
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer')
  return n
}

/** A positive integer from the environment, or the default; garbage is refused (never NaN timers). */
function envInt(name: string, fallback: number, min: number): number {
  const v = process.env[name]
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < min) {
    console.error(`error INVALID_ENV: ${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`)
    process.exit(2)
  }
  return n
}

const positive =
  (min: number) =>
  (v: string): number => {
    const n = int(v)
    if (n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`)
    return n
  }

const program = new Command('echonet-node').description('EchoNet protocol node').version(buildInfo().version)

program
  .command('build-info')
  .description("this build's version and program digest (what an upgrade plan names), as JSON")
  .action(() => {
    console.log(JSON.stringify(buildInfo()))
  })

program
  .command('keygen')
  .description('generate a node key (Ed25519); prints its DID and libp2p PeerId')
  .requiredOption('--out <file>', 'key file to write (mode 0600)')
  .action(async (o: { out: string }) => {
    const id = NodeIdentity.generate()
    await writeKeyFile(o.out, id)
    console.log(JSON.stringify({ did: id.did, peerId: id.peerId().toString(), keyFile: o.out }))
  })

const stakeList = (v: string, prev: { did: string; stake: number }[]): { did: string; stake: number }[] => {
  const [did, stake] = v.split('=')
  if (!did || !stake) throw new InvalidArgumentError('expected DID=STAKE')
  return [...prev, { did, stake: int(stake) }]
}

program
  .command('genesis')
  .description("write a network's genesis file")
  .requiredOption('--chain-id <id>', 'network id (lowercase DNS label)')
  .requiredOption('--council <dids>', 'comma-separated council DIDs')
  .requiredOption('--threshold <m>', 'council threshold M of N', int)
  .option('--witness <did=stake>', 'an active witness (repeatable)', stakeList, [])
  .option('--standby <did=stake>', 'a standby witness (repeatable)', stakeList, [])
  .option('--account <did=balance>', 'a funded account (repeatable)', stakeList, [])
  .option('--treasury <amount>', 'treasury balance', int, 0)
  .option('--checkpoint-interval <n>', 'blocks between snapshots', int, 100)
  .requiredOption('--out <file>', 'genesis file to write')
  .action(
    async (o: {
      chainId: string
      council: string
      threshold: number
      witness: { did: string; stake: number }[]
      standby: { did: string; stake: number }[]
      account: { did: string; stake: number }[]
      treasury: number
      checkpointInterval: number
      out: string
    }) => {
      const g = buildGenesis({
        chainId: o.chainId,
        genesisTimeMs: Date.now(),
        council: { members: o.council.split(',').filter(Boolean), threshold: o.threshold },
        witnesses: o.witness,
        standbys: o.standby,
        accounts: o.account.map((a) => ({ did: a.did, balance: a.stake })),
        treasury: o.treasury,
        params: { checkpointInterval: o.checkpointInterval },
      })
      await writeFileAtomic(o.out, JSON.stringify(g, null, 2))
      console.log(`wrote ${o.out}`)
    },
  )

program
  .command('run')
  .description('run a node')
  .requiredOption('--role <role>', 'witness | standby | ssn | seed')
  .requiredOption('--data-dir <dir>', 'data directory')
  .requiredOption('--key <file>', 'key file')
  .requiredOption('--genesis <file>', 'genesis file')
  .option('--peers <file>', 'peer list (JSON; re-read when it changes)')
  .option('--p2p <multiaddr>', 'libp2p listen address', '/ip4/0.0.0.0/tcp/7000')
  .option('--api-host <host>', 'HTTP listen host', '0.0.0.0')
  .option('--api-port <port>', 'public API port', int, 8080)
  .option('--admin-port <port>', 'admin API port', int, 9090)
  .option('--admin-token-file <file>', 'file holding the admin bearer token (env ECHONET_ADMIN_TOKEN otherwise)')
  .option('--timeout-propose-ms <ms>', 'propose timeout', int)
  .option('--timeout-prevote-ms <ms>', 'prevote timeout', int)
  .option('--timeout-precommit-ms <ms>', 'precommit timeout', int)
  .option('--vote-log <file>', 'append every vote seen to this file (JSON lines)')
  .option(
    '--bond-role <role>',
    'register this key on the ledger in this role (witness, standby, ssn) once its account is funded (env ECHONET_BOND_ROLE)',
    process.env.ECHONET_BOND_ROLE,
  )
  .option(
    '--bond-stake <amount>',
    'stake to bond with --bond-role (env ECHONET_BOND_STAKE)',
    int,
    process.env.ECHONET_BOND_STAKE === undefined ? undefined : Number(process.env.ECHONET_BOND_STAKE),
  )
  .option(
    '--repair-interval-ms <ms>',
    'SSN repair scan interval (env ECHONET_REPAIR_INTERVAL_MS)',
    positive(100),
    envInt('ECHONET_REPAIR_INTERVAL_MS', 30_000, 100),
  )
  .option(
    '--repair-rate <bytes>',
    'SSN repair throttle in bytes/s (env ECHONET_REPAIR_RATE)',
    positive(1024),
    envInt('ECHONET_REPAIR_RATE', 64 * 1024 * 1024, 1024),
  )
  .option(
    '--dht-canary-interval-ms <ms>',
    'DHT health check interval: seeds reachable, canary lookup (env ECHONET_DHT_CANARY_MS)',
    positive(100),
    envInt('ECHONET_DHT_CANARY_MS', 30_000, 100),
  )
  .action(
    async (o: {
      role: string
      dataDir: string
      key: string
      genesis: string
      peers?: string
      p2p: string
      apiHost: string
      apiPort: number
      adminPort: number
      adminTokenFile?: string
      timeoutProposeMs?: number
      timeoutPrevoteMs?: number
      timeoutPrecommitMs?: number
      voteLog?: string
      repairIntervalMs: number
      repairRate: number
      dhtCanaryIntervalMs: number
      bondRole?: string
      bondStake?: number
    }) => {
      const roles: NodeRole[] = ['witness', 'standby', 'ssn', 'seed']
      if (!roles.includes(o.role as NodeRole))
        throw new InvalidArgumentError(`--role must be one of ${roles.join(', ')}`)
      const token = o.adminTokenFile
        ? (await readFile(o.adminTokenFile, 'utf8')).trim()
        : process.env.ECHONET_ADMIN_TOKEN
      if (!token || token.length < 16) {
        console.error(
          'error ADMIN_TOKEN_MISSING: the admin API needs a token of ≥ 16 characters (--admin-token-file or ECHONET_ADMIN_TOKEN)',
        )
        process.exit(2)
      }
      const log = pino({ level: process.env.ECHONET_LOG_LEVEL ?? 'info', base: { svc: 'echonet-node' } })
      // Errors that escape every handler are logged and survived; only an unrecoverable one ends
      // the process, and its reason is left in the data dir for the next start to report.
      new ProcessGuard({ dataDir: o.dataDir, log, exit: (code) => process.exit(code) }).install(process)
      try {
        const previous = takePreviousFatal(o.dataDir)
        if (previous) log.warn({ previous }, 'the previous run exited on an unrecoverable error')
      } catch (err) {
        log.warn({ err: (err as Error).message }, `could not read ${FATAL_FILE}`)
      }
      const timeouts: NonNullable<NodeConfig['timeouts']> = {}
      if (o.timeoutProposeMs !== undefined) timeouts.proposeMs = o.timeoutProposeMs
      if (o.timeoutPrevoteMs !== undefined) timeouts.prevoteMs = o.timeoutPrevoteMs
      if (o.timeoutPrecommitMs !== undefined) timeouts.precommitMs = o.timeoutPrecommitMs
      const config: NodeConfig = {
        role: o.role as NodeRole,
        dataDir: o.dataDir,
        keyFile: o.key,
        genesisFile: o.genesis,
        p2pListen: o.p2p,
        apiHost: o.apiHost,
        apiPort: o.apiPort,
        adminPort: o.adminPort,
        adminToken: token,
        timeouts,
        repairIntervalMs: o.repairIntervalMs,
        repairBytesPerSecond: o.repairRate,
        dhtCanaryIntervalMs: o.dhtCanaryIntervalMs,
        ...(o.peers ? { peersFile: o.peers } : {}),
        ...(o.voteLog ? { voteLog: o.voteLog } : {}),
        ...(o.bondRole !== undefined && o.bondStake !== undefined
          ? { bond: { role: o.bondRole as BondRole, stake: o.bondStake } }
          : {}),
      }
      if (o.bondRole !== undefined && (!BOND_ROLES.includes(o.bondRole) || o.bondStake === undefined))
        throw new InvalidArgumentError(`--bond-role must be one of ${BOND_ROLES.join(', ')}, with --bond-stake`)
      let node: EchoNode
      try {
        node = await EchoNode.start({ ...config, limits: limitsFromEnv(process.env) }, log)
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'START_FAILED'
        log.fatal({ code, err: (err as Error).message }, 'node failed to start')
        process.exit(1)
      }
      const shutdown = (sig: string): void => {
        log.info({ sig }, 'shutting down')
        void node.stop().finally(() => process.exit(0))
      }
      process.once('SIGTERM', () => shutdown('SIGTERM'))
      process.once('SIGINT', () => shutdown('SIGINT'))
    },
  )

const testnet = program.command('testnet').description('a testnet of node processes on loopback addresses')

testnet
  .command('up')
  .option('--witnesses <n>', 'active witnesses', int, 4)
  .option('--standbys <n>', 'standby witnesses', int, 1)
  .option('--dir <dir>', 'state directory', '.testnet')
  .action(async (o: { witnesses: number; standbys: number; dir: string }) => {
    const s = await createTestnet({ dir: o.dir, witnesses: o.witnesses, standbys: o.standbys })
    await startAll(s)
    await waitForHeight(
      s,
      s.nodes.map((n) => n.name),
      1,
      60_000,
    )
    console.log(`testnet ${s.chainId} up in ${s.dir}: ${s.nodes.map((n) => `${n.name}=${n.api}`).join(' ')}`)
  })

testnet
  .command('down')
  .option('--dir <dir>', 'state directory', '.testnet')
  .option('--keep', 'keep the data directory')
  .action(async (o: { dir: string; keep?: boolean }) => {
    await downTestnet(o.dir, !o.keep)
    console.log('testnet down')
  })

testnet
  .command('status')
  .option('--dir <dir>', 'state directory', '.testnet')
  .action(async (o: { dir: string }) => {
    const s = await loadState(o.dir)
    for (const n of s.nodes) {
      const st = await nodeStatus(s, n)
      console.log(
        st
          ? `${n.name.padEnd(4)} ${n.role.padEnd(8)} ${n.ip.padEnd(12)} height=${st.finalizedHeight} round=${st.consensus.round} power=${st.committee.powerOnline}/${st.committee.powerNeeded} peers=${st.peers.connected} mempool=${st.mempool.size}`
          : `${n.name.padEnd(4)} ${n.role.padEnd(8)} ${n.ip.padEnd(12)} DOWN`,
      )
    }
  })

testnet
  .command('drill')
  .description('kill witnesses under load and check finality, no forks and no lost events; writes a report')
  .option('--dir <dir>', 'state directory', '.testnet')
  .action(async (o: { dir: string }) => {
    const s = await loadState(o.dir)
    const report = await runDrill(s)
    console.log(report.markdown)
    if (!report.passed) process.exit(1)
  })

program
  .command('loadgen')
  .description('submit signed transfers from the testnet accounts and measure finality')
  .option('--dir <dir>', 'testnet state directory', '.testnet')
  .option('--rate <n>', 'events per second', int, 500)
  .option('--seconds <n>', 'duration', int, 10)
  .option('--senders <n>', 'distinct sender accounts', int, 32)
  .action(async (o: { dir: string; rate: number; seconds: number; senders: number }) => {
    const s = await loadState(o.dir)
    const r = await runLoad(s, { rate: o.rate, seconds: o.seconds, senders: o.senders })
    const { finalizedAt: _f, acceptedIds: _a, ...summary } = r
    console.log(JSON.stringify(summary, null, 2))
  })

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`error ${(err as { code?: string }).code ?? 'FAILED'}: ${(err as Error).message}`)
  process.exit(1)
})
