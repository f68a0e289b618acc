/**
 * `kubectl-echonet`: the kubectl plugin (krew naming; `kubectl echonet ...` once on PATH) through
 * which people take part in recovery (DESIGN §6):
 *
 *   status [network]                 a network's health at a glance (-n, -A, -o json|yaml)
 *   declare <scenario> --network N   scaffold a DisasterDeclaration (nonce, expiry, network id)
 *   council keygen --out FILE        a council member's key (the file never leaves its owner)
 *   council sign <declaration> --key FILE   sign the declaration, or the manifest it waits on
 *   council verify <declaration>     who signed what, checked here
 *   report <declaration>             timeline, RTO, events lost, steps, post-mortem
 *   hardfork plan --network N --edits FILE   a RestartManifest with state edits, for the council
 *   council sign --plan FILE --key KEY       add your signature to a hard-fork plan file
 *   hardfork apply FILE --network N          hand the signed plan to every witness and standby
 *   council action <kind> <network> --out FILE   an unsigned council action (halt, resume, stop-at, …)
 *   council sign --action FILE --key KEY     add your signature to a council action file
 *   council submit <network> --action FILE --key PAYER   check it against the council, put it on the ledger
 *
 * Talks to the API server (kubeconfig, like kubectl) and, for `hardfork plan`, to one node's
 * admin API as the operator does (pod IP, the network's admin token); prints no Secret data.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import yaml from 'js-yaml'
import { NodeIdentity, readKeyFile, writeKeyFile } from '@echonet/node/identity'
import { API_VERSION, SCENARIOS } from '../api/v1alpha1/schema.ts'
import type {
  DisasterDeclaration,
  DisasterDeclarationInput,
  EchoNetNetwork,
  WitnessPool,
} from '../api/v1alpha1/types.ts'
import { validateDisasterDeclaration } from '../api/v1alpha1/validate.ts'
import type { K8sClient } from '../k8s/index.ts'
import { client, duration, out, outputFormat } from './common.ts'
import { addCouncilActionCommands, signActionFile } from './council-action-commands.ts'
import type { Globals } from './common.ts'
import { sign, signManifest, signTarget, verify, withSignature } from './council.ts'
import type { SignTarget } from './council.ts'
import { format, report, reportText, statusText, summarize } from './render.ts'
import {
  applyText,
  hardForkManifest,
  hardForkPlan,
  hardForkPlanText,
  parseEdits,
  planManifest,
  planRecord,
} from './hardfork.ts'
import type { ApplyAnswer } from './hardfork.ts'
import { adminTokenOf, pickNode, voterTargets } from './node-reach.ts'
import type { NodeTarget } from './node-reach.ts'
import { AdminClient } from '@echonet/node/admin'
import type { AdminStatus } from '@echonet/node/admin'

/** k8s/apply.ts's constant, not imported: that module loads the Kubernetes client (see common.ts). */
const MERGE_PATCH = 'application/merge-patch+json'

async function list<T>(c: K8sClient, kind: string, ns: string | undefined): Promise<T[]> {
  return (await c.list<T & { metadata?: object }>(API_VERSION, kind, ns)).items
}

const program = new Command('kubectl-echonet')
  .description('EchoNet networks and their disaster recovery, from kubectl')
  .addOption(new Option('-n, --namespace <ns>', 'namespace (default: the context’s)'))
  .addOption(new Option('-A, --all-namespaces', 'every namespace (status)'))
  .addOption(new Option('-o, --output <format>', 'json | yaml | text').argParser(outputFormat).default('text'))
  .option('--kubeconfig <file>', 'kubeconfig file (default $KUBECONFIG, ~/.kube/config)')
  .option('--context <name>', 'kubeconfig context')
  .showHelpAfterError()

program
  .command('status')
  .description("a network's health: committee power, heights, halted or not, SSNs, pools, active declarations")
  .argument('[network]', 'EchoNetNetwork name (default: all in the namespace)')
  .action(async (name: string | undefined) => {
    const g = program.opts<Globals>()
    const { c, namespace } = await client(g)
    const ns = g.allNamespaces === true ? undefined : namespace
    const nets = (await list<EchoNetNetwork>(c, 'EchoNetNetwork', ns)).filter(
      (n) => name === undefined || n.metadata.name === name,
    )
    if (nets.length === 0)
      throw new Error(`no EchoNetNetwork${name !== undefined ? ` ${name}` : ''} in ${ns ?? 'any namespace'}`)
    const pools = await list<WitnessPool>(c, 'WitnessPool', ns)
    const decls = await list<DisasterDeclaration>(c, 'DisasterDeclaration', ns)
    const sums = nets.map((n) =>
      summarize(
        n,
        pools.filter((p) => p.metadata.namespace === n.metadata.namespace),
        decls.filter((d) => d.metadata.namespace === n.metadata.namespace),
      ),
    )
    out(format(sums.length === 1 ? sums[0] : sums, g.output, () => sums.map(statusText).join('\n')))
  })

program
  .command('declare')
  .description('print (or --apply) a DisasterDeclaration to be signed by the council')
  .argument('<scenario>', SCENARIOS.join(' | '))
  .requiredOption('--network <name>', 'the EchoNetNetwork')
  .option('--name <name>', 'declaration name (default <network>-<scenario>-<nonce>)')
  .option('--nonce <n>', 'nonce (default: the current time in ms)', (v) => Number(v))
  .option('--expires <duration>', 'how long the signatures stay valid', duration, 3_600_000)
  .option('--summary <text>', 'what happened, for people')
  .option('--promote <count>', 'WitnessLoss: standbys to promote (default: all the policy or pools allow)', (v) =>
    Number(v),
  )
  .option('--dry-run', 'plan only: change nothing')
  .option('--apply', 'create it in the cluster instead of printing it')
  .action(
    async (
      scenario: string,
      o: {
        network: string
        name?: string
        nonce?: number
        expires: number
        summary?: string
        promote?: number
        dryRun?: boolean
        apply?: boolean
      },
    ) => {
      if (!(SCENARIOS as readonly string[]).includes(scenario))
        throw new InvalidArgumentError(`scenario must be one of ${SCENARIOS.join(', ')}`)
      const g = program.opts<Globals>()
      const { c, namespace } = await client(g)
      const net = await c.get<EchoNetNetwork>(API_VERSION, 'EchoNetNetwork', o.network, namespace)
      const nonce = o.nonce ?? Date.now()
      const actions: DisasterDeclarationInput['spec']['actions'] =
        scenario === 'WitnessLoss'
          ? [
              {
                type: 'PromoteStandbys',
                ...(o.promote !== undefined ? { promoteStandbys: { count: o.promote } } : {}),
              },
              { type: 'CoordinatedRestart' },
            ]
          : scenario === 'DataUnavailability'
            ? [{ type: 'PausePoSRSlashing' }, { type: 'RebootstrapDHT' }, { type: 'ReplaceFailedSSNs' }]
            : scenario === 'CriticalFlaw'
              ? [{ type: 'PauseModules', pauseModules: { modules: ['payouts'], durationSeconds: 3600 } }]
              : [{ type: 'RateLimits', rateLimits: { perIp: { ratePerSecond: 10, burst: 20 } } }]
      const decl: DisasterDeclarationInput = {
        apiVersion: API_VERSION,
        kind: 'DisasterDeclaration',
        metadata: { name: o.name ?? `${o.network}-${scenario.toLowerCase()}-${nonce}`, namespace },
        spec: {
          networkRef: { name: o.network },
          scenario: scenario as DisasterDeclarationInput['spec']['scenario'],
          networkId: net.spec.networkId,
          ...(o.summary !== undefined ? { summary: o.summary } : {}),
          actions,
          ...(o.dryRun === true ? { dryRun: true } : {}),
          nonce,
          expiresAt: new Date(Date.now() + o.expires).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        },
      }
      const v = validateDisasterDeclaration(decl)
      if (!v.ok) throw new Error(v.errors.map((e) => `${e.path}: ${e.message}`).join('; '))
      if (o.apply === true) {
        await c.create(decl)
        process.stderr.write(
          `created ${namespace}/${decl.metadata.name}; council members sign it with: kubectl echonet council sign ${decl.metadata.name} --key <file>\n`,
        )
        return
      }
      if (scenario !== 'WitnessLoss')
        process.stderr.write(
          `note: this operator version automates WitnessLoss only; a ${scenario} declaration is refused with UnsupportedScenario\n`,
        )
      out(g.output === 'json' ? JSON.stringify(decl, null, 2) + '\n' : yaml.dump(decl))
    },
  )

const council = program.command('council').description('council members: keys, signatures')

council
  .command('keygen')
  .description('a new Ed25519 council key in FILE (mode 0600); prints its DID')
  .requiredOption('--out <file>', 'key file to write')
  .action(async (o: { out: string }) => {
    const id = NodeIdentity.generate()
    await writeKeyFile(o.out, id)
    out(`${id.did}\n`)
  })

async function declarationFrom(
  g: Globals,
  name: string | undefined,
  file: string | undefined,
): Promise<{ decl: DisasterDeclaration; c?: K8sClient; namespace: string }> {
  if (file !== undefined) {
    const v = validateDisasterDeclaration(yaml.load(readFileSync(file, 'utf8')))
    if (!v.ok) throw new Error(`${file}: ${v.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`)
    return { decl: v.value, namespace: v.value.metadata.namespace ?? g.namespace ?? 'default' }
  }
  if (name === undefined) throw new InvalidArgumentError('name a declaration, or give --file')
  const { c, namespace } = await client(g)
  return { decl: await c.get<DisasterDeclaration>(API_VERSION, 'DisasterDeclaration', name, namespace), c, namespace }
}

async function networkIdOf(
  c: K8sClient | undefined,
  decl: DisasterDeclaration,
  namespace: string,
  given?: string,
): Promise<string> {
  if (given !== undefined) return given
  if (decl.spec.networkId !== undefined) return decl.spec.networkId
  if (c === undefined) throw new InvalidArgumentError('--network-id is needed offline when the declaration names none')
  return (await c.get<EchoNetNetwork>(API_VERSION, 'EchoNetNetwork', decl.spec.networkRef.name, namespace)).spec
    .networkId
}

council
  .command('sign')
  .description('sign a declaration (while Pending) or the restart manifest it waits on, with your key file')
  .argument('[declaration]', 'DisasterDeclaration name')
  .requiredOption('--key <file>', 'your council key file')
  .option('--file <yaml>', 'sign a declaration from a file, offline: prints the signature entry')
  .option('--network-id <id>', 'offline: the network id the declaration is for')
  .option(
    '--plan <file>',
    'sign the manifest of a hard-fork plan file (hardfork plan -o yaml); adds your signature to it',
  )
  .option('--action <file>', 'sign a council action file (council action … --out); adds your signature to it')
  .addOption(
    new Option('--what <target>', 'declaration | manifest (default: what it waits for)').choices([
      'declaration',
      'manifest',
    ]),
  )
  .action(
    async (
      name: string | undefined,
      o: { key: string; file?: string; networkId?: string; plan?: string; action?: string; what?: SignTarget },
    ) => {
      if (o.action !== undefined) return signActionFile(o.action, o.key)
      if (o.plan !== undefined) {
        const doc = yaml.load(readFileSync(o.plan, 'utf8'))
        const { plan, manifest } = planManifest(doc, o.plan)
        const key = await readKeyFile(o.key)
        process.stderr.write(
          `signing hard fork ${plan.manifestHash} as ${key.did}: epoch ${manifest.epoch} from block ${manifest.height}, ${manifest.stateEdits?.length ?? 0} state edit(s), resulting root ${manifest.resultingStateRoot ?? '-'}\n`,
        )
        const signatures = withSignature(plan.signatures, signManifest(manifest, key))
        writeFileSync(o.plan, yaml.dump({ ...(doc as object), signatures }, { noRefs: true, lineWidth: 120 }))
        out(`${o.plan}: ${signatures.length} signature(s)\n`)
        return
      }
      const g = program.opts<Globals>()
      const { decl, c, namespace } = await declarationFrom(g, name, o.file)
      const key = await readKeyFile(o.key)
      const target = o.what ?? signTarget(decl)
      const s = sign(decl, await networkIdOf(c, decl, namespace, o.networkId), key, target)
      process.stderr.write(`signing the ${s.what} as ${key.did}\n`)
      if (c === undefined) {
        out(yaml.dump({ [s.field]: [s.entry] }))
        return
      }
      const next = withSignature(decl.spec[s.field], s.entry)
      await c.request('PATCH', await c.path(API_VERSION, 'DisasterDeclaration', namespace, decl.metadata.name), {
        body: { metadata: { resourceVersion: decl.metadata.resourceVersion }, spec: { [s.field]: next } },
        contentType: MERGE_PATCH,
      })
      out(`${namespace}/${decl.metadata.name ?? ''}: ${s.field} now has ${next.length} signature(s)\n`)
    },
  )

addCouncilActionCommands(council, () => program.opts<Globals>())

council
  .command('verify')
  .description('who signed the declaration and its manifest; each signature checked here')
  .argument('[declaration]', 'DisasterDeclaration name')
  .option('--file <yaml>', 'a declaration from a file')
  .option('--network-id <id>', 'offline: the network id')
  .option('--council <dids>', 'council DIDs, comma-separated (default: the network genesis council)')
  .option('--threshold <m>', 'council threshold (with --council)', (v) => Number(v))
  .action(
    async (
      name: string | undefined,
      o: { file?: string; networkId?: string; council?: string; threshold?: number },
    ) => {
      const g = program.opts<Globals>()
      const { decl, c, namespace } = await declarationFrom(g, name, o.file)
      let council: { members: string[]; threshold: number }
      if (o.council !== undefined) council = { members: o.council.split(','), threshold: o.threshold ?? 1 }
      else {
        if (c === undefined) throw new InvalidArgumentError('--council is needed offline')
        const net = await c.get<EchoNetNetwork>(API_VERSION, 'EchoNetNetwork', decl.spec.networkRef.name, namespace)
        const gc = net.spec.genesis?.council
        if (gc === undefined)
          throw new InvalidArgumentError('the network has no inline genesis council: pass --council and --threshold')
        council = { members: gc.members, threshold: gc.threshold }
      }
      const r = verify(decl, await networkIdOf(c, decl, namespace, o.networkId), council)
      out(
        format(r, g.output, () => {
          const line = (s: { did: string; member: boolean; valid: boolean }) =>
            `    ${s.did}  ${s.member ? 'council member' : 'NOT a member'}  ${s.valid ? 'valid' : 'INVALID'}`
          return (
            [
              `Council: ${council.threshold} of ${council.members.length} (as the network's genesis names it; the operator checks against the ledger's)`,
              `Declaration ${decl.metadata.name ?? ''}: ${r.declaration.enough ? 'enough valid signatures' : 'NOT enough valid signatures'}${r.declaration.problem !== undefined ? ` (${r.declaration.problem})` : ''}`,
              ...r.declaration.signatures.map(line),
              ...(r.manifest === undefined
                ? []
                : [
                    `Restart manifest ${r.manifest.hash}: ${r.manifest.enough ? 'enough valid signatures' : 'NOT enough valid signatures'}`,
                    ...r.manifest.signatures.map(line),
                  ]),
            ].join('\n') + '\n'
          )
        }),
      )
    },
  )

program
  .command('report')
  .description('what a declaration did: timeline, RTO, finalized events lost, steps, post-mortem')
  .argument('<declaration>', 'DisasterDeclaration name')
  .action(async (name: string) => {
    const g = program.opts<Globals>()
    const { c, namespace } = await client(g)
    const d = await c.get<DisasterDeclaration>(API_VERSION, 'DisasterDeclaration', name, namespace)
    const r = report(d)
    out(format(r, g.output, () => reportText(r)))
  })

const hardfork = program
  .command('hardfork')
  .description('a hard fork (a coordinated restart with state edits): last resort, the full council signs it')

hardfork
  .command('plan')
  .description(
    "preview state edits on a node's finalized state and print the RestartManifest (resulting state root included) for the council to sign",
  )
  .requiredOption('--network <name>', 'the EchoNetNetwork')
  .requiredOption('--edits <file>', 'YAML or JSON: a list of {op: put|delete, key, value | valueCbor}')
  .option('--epoch <n>', "the epoch the fork starts (default: the node's epoch + 1; anything else is refused)", (v) =>
    Number(v),
  )
  .option(
    '--expires <duration>',
    'how long the council has to sign and hand it out (30m, 2h, 1d; default 1d)',
    duration,
  )
  .option('--node <name>', 'the node to plan on (default: the witness or standby with the highest finalized block)')
  .option('--admin-url <url>', "a node's admin API, when pod IPs are not reachable from here (kubectl port-forward)")
  .action(
    async (o: {
      network: string
      edits: string
      epoch?: number
      expires?: number
      node?: string
      adminUrl?: string
    }) => {
      const g = program.opts<Globals>()
      const { c, namespace } = await client(g)
      const edits = parseEdits(readFileSync(o.edits, 'utf8'), o.edits)
      const net = await c.get<EchoNetNetwork>(API_VERSION, 'EchoNetNetwork', o.network, namespace)
      const token = await adminTokenOf(c, net, namespace)
      const targets: NodeTarget[] =
        o.adminUrl !== undefined ? [{ node: o.adminUrl, adminUrl: o.adminUrl }] : await voterTargets(c, net, namespace)
      const surveyed = await Promise.all(
        targets.map(async (t) => {
          const status = await new AdminClient(t.adminUrl, token).status().catch(() => undefined)
          return status === undefined ? t : { ...t, status }
        }),
      )
      const at: NodeTarget & { status?: AdminStatus } = pickNode(surveyed, o.adminUrl ?? o.node)
      const preview = await new AdminClient(at.adminUrl, token, { timeoutMs: 30_000 }).restartPreview(edits)
      if (preview.chainId !== net.spec.networkId)
        throw new Error(`${at.node} is on network ${preview.chainId}, ${o.network} is ${net.spec.networkId}`)
      const manifest = hardForkManifest(preview, {
        expiresAtMs: Date.now() + (o.expires ?? 86_400_000),
        ...(o.epoch !== undefined ? { epoch: o.epoch } : {}),
      })
      const plan = hardForkPlan({ network: o.network, node: at.node }, preview, manifest)
      out(format(plan, g.output, () => hardForkPlanText(plan)))
    },
  )

hardfork
  .command('apply')
  .description('hand a council-signed hard-fork plan to every ready witness and standby; each verifies it itself')
  .argument('<plan>', 'the plan file (hardfork plan -o yaml, signed with council sign --plan)')
  .requiredOption('--network <name>', 'the EchoNetNetwork')
  .option('--admin-url <urls...>', 'admin APIs to hand it to, when pod IPs are not reachable from here')
  .action(async (file: string, o: { network: string; adminUrl?: string[] }) => {
    const g = program.opts<Globals>()
    const { c, namespace } = await client(g)
    const { plan, manifest } = planManifest(yaml.load(readFileSync(file, 'utf8')), file)
    const net = await c.get<EchoNetNetwork>(API_VERSION, 'EchoNetNetwork', o.network, namespace)
    if (net.spec.networkId !== manifest.chainId)
      throw new Error(`${file} is for network ${manifest.chainId}, ${o.network} is ${net.spec.networkId}`)
    const token = await adminTokenOf(c, net, namespace)
    const targets: NodeTarget[] =
      o.adminUrl !== undefined
        ? o.adminUrl.map((u) => ({ node: u, adminUrl: u }))
        : await voterTargets(c, net, namespace)
    const record = planRecord(plan, manifest)
    const answers: ApplyAnswer[] = await Promise.all(
      targets.map((t) =>
        new AdminClient(t.adminUrl, token, { timeoutMs: 30_000 }).restart(record).then(
          (a) => ({
            node: t.node,
            epoch: a.epoch,
            adopted: a.adopted,
            ...(a.stateRoot !== undefined ? { stateRoot: a.stateRoot } : {}),
            ...(a.resultingStateRoot !== undefined ? { resultingStateRoot: a.resultingStateRoot } : {}),
          }),
          (err: unknown) => ({
            node: t.node,
            code: (err as { code?: string }).code ?? 'ERROR',
            message: (err as Error).message,
          }),
        ),
      ),
    )
    out(format(answers, g.output, () => applyText(plan.manifestHash, answers)))
    if (answers.length === 0 || answers.some((a) => 'code' in a)) process.exitCode = 1
  })

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as { code?: string; message?: string }
  process.stderr.write(`error${e.code !== undefined ? ` ${e.code}` : ''}: ${e.message ?? String(err)}\n`)
  process.exit(1)
})
