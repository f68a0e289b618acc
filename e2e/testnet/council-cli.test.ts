import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import yaml from 'js-yaml'
import {
  downTestnet,
  launchTestnet,
  nodeNamed,
  testnetAccount,
  waitFor,
  LOOPBACK_TIMEOUTS,
} from '../../node-image/src/cli/testnet.ts'
import type { TestnetState } from '../../node-image/src/cli/testnet.ts'
import { writeKeyFile } from '../../node-image/src/crypto/identity.ts'
import { signedTransfer } from '../../node-image/src/ledger/client-events.ts'
import type { EmergencyView } from '../../node-image/src/api/admin-contract.ts'
import { actionHash } from '../../operator/src/cli/council-action.ts'
import type { CouncilActionDocument } from '../../operator/src/cli/council-action.ts'

/**
 * Issue 9: council actions the way council members take them, with the real plugin binary
 * (`kubectl-echonet`, offline, `--url` to a node's public API) on a 4-witness testnet whose
 * council is w0..w2 (2 of 3): `council action halt` builds the document, two members `council
 * sign --action` it with their own key files, a funded account `council submit`s it. What the
 * nodes did is read from each node's public API (status, emergency state, balances). Refusals:
 * one signature, an edited file, an expired action — each refused by the CLI before sending, and
 * (one signature, an edited file) by the node when forced through. Each CLI run is a fresh Node
 * process (seconds each on a loaded machine): the per-test budgets allow for that.
 */

const PREFIX = '127.0.87.'
const NET = 'cli-net'
const KUBECTL_ECHONET = fileURLToPath(new URL('../../operator/bin/kubectl-echonet.js', import.meta.url))
const ALL = ['w0', 'w1', 'w2', 'w3']
let s: TestnetState
let dir: string | undefined
let payerKey: string
const payer = testnetAccount(3)
const sender = testnetAccount(4)
let senderNonce = 0

beforeAll(async () => {
  s = await launchTestnet(
    { witnesses: 4, standbys: 0, accounts: 6, ipPrefix: PREFIX, timeouts: LOOPBACK_TIMEOUTS },
    { tmpPrefix: 'echonet-council-cli-', height: 1, timeoutMs: 60_000 },
  )
  dir = s.dir
  payerKey = join(s.dir, 'payer.key')
  await writeKeyFile(payerKey, payer)
}, 90_000)

afterAll(async () => {
  if (dir !== undefined) await downTestnet(dir, true)
})

const memberKey = (n: string): string => join(nodeNamed(s, n).dir, 'node.key')
const url = (n: string): string => nodeNamed(s, n).api

/** `kubectl echonet …` as a user runs it (the plugin's entry point, the project's Node). */
function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [KUBECTL_ECHONET, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('error', reject)
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}

async function get<T>(node: string, path: string): Promise<T> {
  const r = await fetch(`${url(node)}${path}`, { signal: AbortSignal.timeout(5_000) })
  return (await r.json()) as T
}
type PublicStatus = { mode: string; haltCode?: string; haltReason?: string; finalizedHeight: number }
const publicStatus = (n: string) => get<PublicStatus>(n, '/v1/status')
const emergency = (n: string) => get<EmergencyView>(n, '/v1/emergency')
const account = (n: string, did: string) => get<{ balance?: number; nonce?: number }>(n, `/v1/accounts/${did}`)

async function transfer(node: string, to: string, amount: number): Promise<{ ok: boolean; code?: string }> {
  const ev = signedTransfer(sender.signer, sender.did, {
    chainId: s.chainId,
    nonce: senderNonce + 1,
    fee: 1,
    to,
    amount,
  })
  const r = await fetch(`${url(node)}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events: [Buffer.from(ev.bytes).toString('base64')] }),
    signal: AbortSignal.timeout(5_000),
  })
  const v = ((await r.json()) as { results: { ok: boolean; code?: string }[] }).results[0]!
  if (v.ok) senderNonce++
  return v
}

/** `council action <kind>` into a file, then `council sign --action` by each of `signers`. */
async function signedAction(kind: string, extra: string[], signers: string[], file: string): Promise<void> {
  const built = await cli(['council', 'action', kind, NET, '--network-id', s.chainId, ...extra, '--out', file])
  expect(built.code, built.stderr).toBe(0)
  for (const m of signers) {
    const r = await cli(['council', 'sign', '--action', file, '--key', memberKey(m)])
    expect(r.code, r.stderr).toBe(0)
  }
}

const submit = (file: string, node: string, ...more: string[]) =>
  cli(['council', 'submit', NET, '--action', file, '--key', payerKey, '--url', url(node), ...more])

describe('kubectl echonet council action / sign --action / submit', () => {
  it('halt: built, signed by 2 of 3 members, submitted through w1 — every node reports COUNCIL_HALT with the reason and refuses a transfer; resume through w3 brings transfers back', async () => {
    const file = join(s.dir, 'halt.yaml')
    await signedAction('halt', ['--reason', 'flaw found in payouts (cli test)'], ['w0', 'w2'], file)
    const doc = yaml.load(await readFile(file, 'utf8')) as CouncilActionDocument
    expect(doc.signatures).toHaveLength(2)
    expect(doc.actionHash).toBe(actionHash(doc.action))
    const r = await submit(file, 'w1')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain('authorized')
    expect(r.stdout).toContain('executed by the ledger')
    for (const n of ALL) {
      const st = await waitFor(`${n} to report the council halt`, async () => {
        const x = await publicStatus(n)
        return x.haltCode === 'COUNCIL_HALT' ? x : undefined
      })
      expect(st.mode).toBe('halted')
      expect(st.haltReason).toContain('flaw found in payouts (cli test)')
    }
    // The public emergency state names the action and serves the two members' signatures.
    const view = await emergency('w3')
    expect(view.halted?.authorizedBy).toBe(`c${doc.action.nonce}`)
    expect(view.authorizations[`c${doc.action.nonce}`]?.signatures.map((x) => x.did).sort()).toEqual(
      doc.signatures!.map((x) => x.did).sort(),
    )
    const to = testnetAccount(5).did
    expect(await transfer('w0', to, 1)).toMatchObject({ ok: false, code: 'LEDGER_HALTED' })

    const resume = join(s.dir, 'resume.yaml')
    await signedAction('resume', ['--reason', 'fixed'], ['w1', 'w2'], resume)
    const rr = await submit(resume, 'w3')
    expect(rr.code, rr.stderr).toBe(0)
    for (const n of ALL) await waitFor(`${n} to run again`, async () => (await publicStatus(n)).mode === 'running')
    const before = (await account('w0', to)).balance ?? 0
    expect(await transfer('w0', to, 7)).toEqual({ ok: true, id: expect.any(String) as string })
    for (const n of ALL) {
      await waitFor(`${n} to hold the transfer`, async () => ((await account(n, to)).balance ?? 0) - before === 7)
    }
  }, 120_000)

  it('refused before sending and, forced through, by the node: one signature of two (COUNCIL_THRESHOLD_NOT_MET), an edited file (HASH_MISMATCH; with its hash recomputed, BAD_SIGNATURE), an expired action (EXPIRED, locally); nothing changes', async () => {
    const payerNonce = async () => (await account('w0', payer.did)).nonce ?? 0
    const nonceBefore = await payerNonce()

    // Tried: a halt signed by w0 only.
    const one = join(s.dir, 'one.yaml')
    await signedAction('halt', ['--reason', 'one signature'], ['w0'], one)
    const local = await submit(one, 'w0')
    expect(local.code).toBe(1)
    expect(local.stderr).toContain('error COUNCIL_THRESHOLD_NOT_MET')
    const forced = await submit(one, 'w0', '--force')
    expect(forced.code).toBe(1)
    expect(forced.stdout).toContain('REFUSED COUNCIL_THRESHOLD_NOT_MET')

    // Tried: a properly signed halt whose reason was edited afterwards, then the same edit with
    // the document's hash recomputed (the signatures no longer cover the bytes).
    const edited = join(s.dir, 'edited.yaml')
    await signedAction('halt', ['--reason', 'as reviewed'], ['w0', 'w1'], edited)
    const doc = yaml.load(await readFile(edited, 'utf8')) as CouncilActionDocument
    const changed = { ...doc, action: { ...doc.action, action: { kind: 'halt' as const, reason: 'not as reviewed' } } }
    await writeFile(edited, yaml.dump(changed))
    const tampered = await submit(edited, 'w0', '--force')
    expect(tampered.code).toBe(1)
    expect(tampered.stderr).toContain('error HASH_MISMATCH')
    await writeFile(edited, yaml.dump({ ...changed, actionHash: actionHash(changed.action) }))
    const rehashed = await submit(edited, 'w2')
    expect(rehashed.code).toBe(1)
    expect(rehashed.stderr).toContain('error BAD_SIGNATURE')
    const rehashedForced = await submit(edited, 'w2', '--force')
    expect(rehashedForced.stdout).toContain('REFUSED BAD_SIGNATURE')

    // Tried: a halt whose signatures were valid for one second.
    const expired = join(s.dir, 'expired.yaml')
    await signedAction('halt', ['--reason', 'too late', '--expires', '1s'], ['w0', 'w1'], expired)
    await new Promise((r) => setTimeout(r, 1_500))
    const late = await submit(expired, 'w3')
    expect(late.stderr).toContain('error EXPIRED')

    // Nothing reached the ledger: no halt anywhere, the payer paid for nothing.
    const h = (await publicStatus('w0')).finalizedHeight
    for (const n of ALL) {
      await waitFor(`${n} to pass ${h + 2}`, async () => (await publicStatus(n)).finalizedHeight > h + 2)
      expect((await publicStatus(n)).mode).toBe('running')
      expect((await emergency(n)).halted).toBeUndefined()
    }
    expect(await payerNonce()).toBe(nonceBefore)
  }, 120_000)
})
