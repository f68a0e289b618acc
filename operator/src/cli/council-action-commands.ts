/**
 * `kubectl echonet council action | sign --action | submit --action` (issue 9): the I/O around
 * council-action.ts. `action` builds the unsigned document (the network id from the network's
 * CR, or `--network-id` offline); `sign --action` adds a member's signature to the file, offline;
 * `submit` checks the signatures against the ledger's council as a node serves it, then sends the
 * `governance.council-action` event through that node with a payer's key (any funded account:
 * the authority is the council's signatures inside, which every node checks itself).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import yaml from 'js-yaml'
import { readKeyFile } from '@echonet/node/identity'
import { signedCouncilActionEvent } from '@echonet/node/events'
import type { EmergencyView } from '@echonet/node/admin'
import { API_VERSION } from '../api/v1alpha1/schema.ts'
import type { EchoNetNetwork } from '../api/v1alpha1/types.ts'
import { client, duration, out } from './common.ts'
import type { Globals } from './common.ts'
import {
  ACTION_KINDS,
  MODULES,
  SCENARIOS,
  CouncilActionError,
  actionBody,
  actionDocumentText,
  buildActionDocument,
  checkActionDocument,
  checkText,
  parseActionDocument,
  parseParam,
  signActionDocument,
  signatureBytes,
} from './council-action.ts'
import type { CouncilActionDocument } from './council-action.ts'
import { voterTargets } from './node-reach.ts'
import { format } from './render.ts'
import { CodedError } from '@echonet/node/errors'

const dump = (d: CouncilActionDocument, json: boolean): string =>
  json ? JSON.stringify(d, null, 2) + '\n' : yaml.dump(d, { noRefs: true, lineWidth: 120 })

function readDocument(file: string): CouncilActionDocument {
  let doc: unknown
  try {
    doc = yaml.load(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new CouncilActionError('INVALID_DOCUMENT', `${file}: ${(err as Error).message}`)
  }
  return parseActionDocument(doc, file)
}

/** `council sign --action FILE --key KEY`: adds the member's signature into the file. */
export async function signActionFile(file: string, keyFile: string): Promise<void> {
  const d = readDocument(file)
  const key = await readKeyFile(keyFile)
  process.stderr.write(`signing council action ${d.actionHash} as ${key.did}: ${d.summary}\n`)
  if (d.action.expiresAtMs <= Date.now()) process.stderr.write(`warning: the action expired at ${d.expiresAt}\n`)
  const signed = signActionDocument(d, key)
  writeFileSync(file, dump(signed, file.endsWith('.json')))
  out(`${file}: ${signed.signatures?.length ?? 0} signature(s)\n`)
}

class PublicApiError extends CodedError {}

/** One call to a node's public API: JSON in, JSON out, coded errors. */
async function publicCall<T>(base: string, path: string, init: RequestInit = {}): Promise<T> {
  let res: Response
  try {
    res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(10_000) })
  } catch (err) {
    throw new PublicApiError('UNREACHABLE', `${base}${path}: ${(err as Error).message}`)
  }
  const text = await res.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw new PublicApiError('BAD_RESPONSE', `${base}${path}: HTTP ${res.status}, not JSON (is this the public API?)`)
  }
  const e = (body as { error?: { code?: string; message?: string } }).error
  if (!res.ok && e !== undefined && !('results' in (body as object)))
    throw new PublicApiError(e.code ?? `HTTP_${res.status}`, `${base}${path}: ${e.message ?? ''}`)
  return body as T
}

/** The node to submit through: `--url`, or the first witness or standby whose public API answers. */
async function submitTarget(
  g: Globals,
  network: string,
  url: string | undefined,
): Promise<{ node: string; url: string; emergency: EmergencyView; networkId?: string }> {
  if (url !== undefined) {
    const base = url.replace(/\/+$/, '')
    return { node: base, url: base, emergency: await publicCall<EmergencyView>(base, '/v1/emergency') }
  }
  const { c, namespace } = await client(g)
  const net = await c.get<EchoNetNetwork>(API_VERSION, 'EchoNetNetwork', network, namespace)
  for (const t of await voterTargets(c, net, namespace)) {
    if (t.publicUrl === undefined) continue
    const emergency = await publicCall<EmergencyView>(t.publicUrl, '/v1/emergency').catch(() => undefined)
    if (emergency !== undefined) return { node: t.node, url: t.publicUrl, emergency, networkId: net.spec.networkId }
  }
  throw new PublicApiError('UNREACHABLE', `no witness or standby of ${network} answers on its public API (try --url)`)
}

export interface SubmitResult {
  readonly node: string
  readonly eventId: string
  readonly accepted: boolean
  readonly code?: string
  /** The payer's nonce reached the event's: the ledger executed it. */
  readonly executed?: boolean
}

export function addCouncilActionCommands(council: Command, globals: () => Globals): void {
  council
    .command('action')
    .description('build an unsigned council action (halt, resume, stop-at, …) for the council to sign')
    .argument('<kind>', ACTION_KINDS.join(' | '))
    .argument('<network>', 'the EchoNetNetwork')
    .option('--network-id <id>', 'offline: the network id (default: read from the EchoNetNetwork)')
    .option('--reason <text>', 'why, for people (shown in every node’s status)')
    .option('--height <n>', 'stop-at: the block no node executes', (v) => Number(v))
    .addOption(new Option('--module <name>', 'pause-module / unpause-module').choices(MODULES))
    .option('--for <duration>', 'pause-module: how long (30m, 2h)', duration)
    .option('--until-height <n>', 'pause-module: until this block', (v) => Number(v))
    .option('--param <name=value>', 'set-params (repeatable)', (v, prev?: Record<string, number>) =>
      parseParam(v, prev),
    )
    .option('--params-for <duration>', 'set-params: the override lapses after this long (default: permanent)', duration)
    .addOption(new Option('--scenario <s>', 'declare-emergency').choices(SCENARIOS))
    .option('--did <did>', 'set-reputation')
    .option('--score <bps>', 'set-reputation', (v) => Number(v))
    .addOption(new Option('--active <bool>', 'storage-incident').choices(['true', 'false']))
    .option('--name <plan>', 'cancel-upgrade')
    .option('--body <file>', 'the action body as YAML or JSON (any kind; compensate, council-change, …)')
    .option('--nonce <n>', 'council nonce (default: the current time in ms)', (v) => Number(v))
    .option('--expires <duration>', 'how long the signatures stay valid', duration, 3_600_000)
    .option('--out <file>', 'write the document here (members sign this file)')
    .action(
      async (
        kind: string,
        network: string,
        o: {
          networkId?: string
          reason?: string
          height?: number
          module?: string
          for?: number
          untilHeight?: number
          param?: Record<string, number>
          paramsFor?: number
          scenario?: string
          did?: string
          score?: number
          active?: string
          name?: string
          body?: string
          nonce?: number
          expires: number
          out?: string
        },
      ) => {
        const g = globals()
        const now = Date.now()
        const loaded: unknown = o.body === undefined ? undefined : yaml.load(readFileSync(o.body, 'utf8'))
        if (loaded !== undefined && (typeof loaded !== 'object' || loaded === null || Array.isArray(loaded)))
          throw new InvalidArgumentError(`${o.body ?? ''}: expected an object (the action body)`)
        const body = loaded as Record<string, unknown> | undefined
        const networkId =
          o.networkId ??
          (await (async () => {
            const { c, namespace } = await client(g)
            return (await c.get<EchoNetNetwork>(API_VERSION, 'EchoNetNetwork', network, namespace)).spec.networkId
          })())
        const doc = buildActionDocument(
          { network, networkId },
          actionBody(
            kind,
            {
              ...(o.reason !== undefined ? { reason: o.reason } : {}),
              ...(o.height !== undefined ? { height: o.height } : {}),
              ...(o.module !== undefined ? { module: o.module } : {}),
              ...(o.for !== undefined ? { forMs: o.for } : {}),
              ...(o.untilHeight !== undefined ? { untilHeight: o.untilHeight } : {}),
              ...(o.param !== undefined ? { params: o.param } : {}),
              ...(o.paramsFor !== undefined ? { paramsForMs: o.paramsFor } : {}),
              ...(o.scenario !== undefined ? { scenario: o.scenario } : {}),
              ...(o.did !== undefined ? { did: o.did } : {}),
              ...(o.score !== undefined ? { score: o.score } : {}),
              ...(o.active !== undefined ? { active: o.active === 'true' } : {}),
              ...(o.name !== undefined ? { name: o.name } : {}),
              ...(body !== undefined ? { body } : {}),
            },
            now,
          ),
          { nonce: o.nonce ?? now, expiresAtMs: now + o.expires },
        )
        if (o.out !== undefined) {
          writeFileSync(o.out, dump(doc, g.output === 'json'))
          out(actionDocumentText(doc))
          process.stderr.write(
            `council members sign it with: kubectl echonet council sign --action ${o.out} --key <file>\n`,
          )
          return
        }
        process.stderr.write(actionDocumentText(doc))
        out(dump(doc, g.output === 'json'))
      },
    )

  council
    .command('submit')
    .description(
      'check a signed council action against the ledger’s council, then put it on the ledger through a node (a payer key pays the fee)',
    )
    .argument('<network>', 'the EchoNetNetwork')
    .requiredOption('--action <file>', 'the signed council action document')
    .requiredOption('--key <file>', 'key file of a funded account that pays the fee (any account)')
    .option('--url <url>', "a node's public API (http://<ip>:8080), when pod IPs are not reachable from here")
    .option('--fee <n>', 'event fee (the network’s minimum fee)', (v) => Number(v), 1)
    .option('--force', 'send even when the local check fails (the node will refuse it too)')
    .option('--no-wait', 'return once the node has admitted the event, without waiting for execution')
    .option('--timeout <duration>', 'how long to wait for execution', duration, 60_000)
    .action(
      async (
        network: string,
        o: { action: string; key: string; url?: string; fee: number; force?: boolean; wait: boolean; timeout: number },
      ) => {
        const g = globals()
        const doc = readDocument(o.action)
        const t = await submitTarget(g, network, o.url)
        if (t.networkId !== undefined && t.networkId !== doc.networkId)
          throw new CouncilActionError(
            'WRONG_NETWORK',
            `${o.action} is for ${doc.networkId}, ${network} is ${t.networkId}`,
          )
        const check = checkActionDocument(doc, t.emergency.council, t.emergency.chainId, Date.now())
        process.stderr.write(checkText(check, t.emergency.council))
        if (!check.ok && o.force !== true) throw new CouncilActionError(check.code ?? 'UNAUTHORIZED', check.message)
        const payer = await readKeyFile(o.key)
        const acct = await publicCall<{ nonce: number }>(t.url, `/v1/accounts/${payer.did}`).catch((err: unknown) => {
          if ((err as { code?: string }).code === 'NOT_FOUND')
            throw new PublicApiError('PAYER_UNFUNDED', `${payer.did} has no account on ${network}: fund it first`)
          throw err
        })
        const nonce = acct.nonce + 1
        const ev = signedCouncilActionEvent(payer.signer, payer.did, {
          chainId: doc.action.chainId,
          nonce,
          fee: o.fee,
          action: doc.action,
          signatures: signatureBytes(doc),
        })
        const answer = await publicCall<{ results: { ok: boolean; code?: string }[] }>(t.url, '/v1/events', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ events: [Buffer.from(ev.bytes).toString('base64')] }),
        })
        const verdict = answer.results[0]
        let result: SubmitResult = {
          node: t.node,
          eventId: ev.id,
          accepted: verdict?.ok === true,
          ...(verdict?.ok === true ? {} : { code: verdict?.code ?? 'NO_VERDICT' }),
        }
        if (result.accepted && o.wait) {
          const deadline = Date.now() + o.timeout
          let executed = false
          while (!executed && Date.now() < deadline) {
            const a = await publicCall<{ nonce: number }>(t.url, `/v1/accounts/${payer.did}`).catch(() => undefined)
            executed = (a?.nonce ?? 0) >= nonce
            if (!executed) await new Promise((r) => setTimeout(r, 250))
          }
          result = { ...result, executed, ...(executed ? {} : { code: 'NOT_EXECUTED' }) }
        }
        out(
          format(result, g.output, () =>
            result.accepted
              ? `${result.node}: event ${result.eventId} admitted${result.executed === true ? '; executed by the ledger' : result.executed === false ? `; NOT_EXECUTED within ${o.timeout / 1000} s (refused at execution, or still queued)` : ''}: ${doc.summary}\n`
              : `${result.node}: REFUSED ${result.code ?? ''}\n`,
          ),
        )
        if (!result.accepted || result.executed === false) {
          process.stderr.write(`error ${result.code ?? ''}: the council action was not put on the ledger\n`)
          process.exitCode = 1
        }
      },
    )
}
