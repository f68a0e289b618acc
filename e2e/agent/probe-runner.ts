// Executes one probe attempt: httpGet (2xx/3xx = success), tcpSocket (connect), exec (exit 0).
import { spawn } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { Container, Probe } from './kube/types.ts'

export interface ProbeContext {
  podIP: string
  container: Container
  /** Environment and cwd for exec probes (already path-rewritten argv via `argv`). */
  env: Record<string, string>
  cwd: string
  /** Maps an exec probe's command to host paths. */
  argv: (command: string[]) => string[]
}

export interface ProbeOutcome {
  ok: boolean
  message?: string
}

export function resolvePort(port: number | string, container: Container): number | undefined {
  if (typeof port === 'number') return port
  if (/^\d+$/.test(port)) return Number(port)
  return container.ports?.find((p) => p.name === port)?.containerPort
}

function httpProbe(p: NonNullable<Probe['httpGet']>, ctx: ProbeContext, timeoutMs: number): Promise<ProbeOutcome> {
  const port = resolvePort(p.port, ctx.container)
  if (port === undefined) return Promise.resolve({ ok: false, message: `unknown port ${String(p.port)}` })
  const secure = p.scheme === 'HTTPS'
  const headers: Record<string, string> = { 'user-agent': 'kube-probe/1.33', accept: '*/*' }
  for (const h of p.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value
  return new Promise((resolve) => {
    const req = (secure ? https : http).request(
      {
        host: p.host ?? ctx.podIP,
        port,
        path: p.path ?? '/',
        method: 'GET',
        headers,
        timeout: timeoutMs,
        agent: false,
        ...(secure ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        res.resume()
        const code = res.statusCode ?? 0
        resolve(
          code >= 200 && code < 400
            ? { ok: true }
            : { ok: false, message: `HTTP probe failed with statuscode: ${code}` },
        )
      },
    )
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)))
    req.on('error', (err) => {
      resolve({ ok: false, message: `Get "http://${p.host ?? ctx.podIP}:${port}${p.path ?? '/'}": ${err.message}` })
    })
    req.end()
  })
}

function tcpProbe(p: NonNullable<Probe['tcpSocket']>, ctx: ProbeContext, timeoutMs: number): Promise<ProbeOutcome> {
  const port = resolvePort(p.port, ctx.container)
  if (port === undefined) return Promise.resolve({ ok: false, message: `unknown port ${String(p.port)}` })
  return new Promise((resolve) => {
    const sock = net.connect({ host: p.host ?? ctx.podIP, port, timeout: timeoutMs })
    sock.on('connect', () => {
      sock.destroy()
      resolve({ ok: true })
    })
    sock.on('timeout', () => {
      sock.destroy()
      resolve({ ok: false, message: 'timeout' })
    })
    sock.on('error', (err) => {
      resolve({ ok: false, message: err.message })
    })
  })
}

function execProbe(command: string[], ctx: ProbeContext, timeoutMs: number): Promise<ProbeOutcome> {
  const [cmd, ...args] = ctx.argv(command)
  if (cmd === undefined) return Promise.resolve({ ok: false, message: 'empty exec probe command' })
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      env: ctx.env,
      cwd: ctx.cwd,
      stdio: 'ignore',
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    })
    child.on('error', (err) => {
      resolve({ ok: false, message: err.message })
    })
    child.on('exit', (code, signal) => {
      resolve(
        code === 0
          ? { ok: true }
          : { ok: false, message: signal === null ? `exit code ${code ?? '?'}` : `killed (${signal})` },
      )
    })
  })
}

export function runProbe(probe: Probe, ctx: ProbeContext): Promise<ProbeOutcome> {
  const timeoutMs = Math.max(1, probe.timeoutSeconds ?? 1) * 1000
  if (probe.httpGet !== undefined) return httpProbe(probe.httpGet, ctx, timeoutMs)
  if (probe.tcpSocket !== undefined) return tcpProbe(probe.tcpSocket, ctx, timeoutMs)
  if (probe.exec?.command !== undefined) return execProbe(probe.exec.command, ctx, timeoutMs)
  return Promise.resolve({
    ok: false,
    message: 'unsupported probe type (the local agent supports httpGet, tcpSocket and exec probes, not grpc)',
  })
}
