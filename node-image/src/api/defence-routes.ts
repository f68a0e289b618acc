import type { IncomingMessage, ServerResponse } from 'node:http'
import { adminPaths } from './admin-contract.ts'
import { ApiError, readBody, sendJson } from './http-util.ts'
import type { Defences } from '../defence/defences.ts'
import { DefenceError } from '../defence/errors.ts'
import { parseLimits } from '../defence/limits.ts'
import { BLOCKLIST_KINDS, MAX_BLOCKLIST_ENTRIES } from '../defence/blocklist.ts'
import { parseExpiry } from '../defence/expiry.ts'
import type { BlocklistKind } from '../defence/blocklist.ts'
import { isObj } from '../util/guards.ts'

/**
 * Admin routes of the defences (DESIGN §4 "Attack defenses"): what is in force, the blocklist,
 * and a time-boxed limits override. Changes are persisted before they are acknowledged.
 */

const MAX_BODY = 1024 * 1024

async function json(req: IncomingMessage, bodyMs: number): Promise<unknown> {
  const body = await readBody(req, MAX_BODY, bodyMs)
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    throw new ApiError(400, 'MALFORMED_JSON', 'body is not JSON')
  }
}

function entryList(v: unknown, code: 'INVALID_BLOCKLIST_ENTRY'): unknown[] {
  const entries = isObj(v) ? v.entries : undefined
  if (!Array.isArray(entries) || entries.length === 0 || entries.length > MAX_BLOCKLIST_ENTRIES)
    throw new DefenceError(code, `body must be {"entries": [...]} with 1..${MAX_BLOCKLIST_ENTRIES} entries`)
  return entries
}

function removalKeys(v: unknown): { kind: BlocklistKind; value: string }[] {
  return entryList(v, 'INVALID_BLOCKLIST_ENTRY').map((e) => {
    if (
      !isObj(e) ||
      typeof e.kind !== 'string' ||
      !(BLOCKLIST_KINDS as readonly string[]).includes(e.kind) ||
      typeof e.value !== 'string' ||
      e.value.length === 0 ||
      e.value.length > 128
    )
      throw new DefenceError('INVALID_BLOCKLIST_ENTRY', 'each entry to remove must be {kind, value}')
    return { kind: e.kind as BlocklistKind, value: e.value }
  })
}

/** `{limits, expiresAtMs | ttlSeconds, reason?}` → an override; refused with INVALID_LIMITS. */
export function parseOverride(
  v: unknown,
  nowMs: number,
): { limits: ReturnType<typeof parseLimits>; expiresAtMs: number; reason?: string } {
  if (!isObj(v)) throw new DefenceError('INVALID_LIMITS', 'body must be {limits, expiresAtMs | ttlSeconds, reason?}')
  const limits = parseLimits(v.limits)
  if (Object.keys(limits).length === 0) throw new DefenceError('INVALID_LIMITS', 'limits must set at least one limit')
  const expiresAtMs = parseExpiry(v, nowMs, 'INVALID_LIMITS')
  if (v.reason !== undefined && (typeof v.reason !== 'string' || v.reason.length > 200))
    throw new DefenceError('INVALID_LIMITS', 'reason must be a string of at most 200 characters')
  return { limits, expiresAtMs, ...(typeof v.reason === 'string' ? { reason: v.reason } : {}) }
}

/** Handles a defence route; false if the path is not one. */
export async function defenceRoute(
  d: Defences,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  bodyMs: number,
): Promise<boolean> {
  const path = url.pathname
  const m = req.method
  if (m === 'GET' && path === adminPaths.defences) {
    sendJson(res, 200, d.view())
    return true
  }
  if (m === 'POST' && path === adminPaths.blocklist) {
    const added = await d.block(entryList(await json(req, bodyMs), 'INVALID_BLOCKLIST_ENTRY'))
    sendJson(res, 200, { added, blocklist: d.view().blocklist })
    return true
  }
  if (m === 'POST' && path === adminPaths.blocklistRemove) {
    const removed = await d.unblock(removalKeys(await json(req, bodyMs)))
    sendJson(res, 200, { removed, blocklist: d.view().blocklist })
    return true
  }
  if (m === 'PUT' && path === adminPaths.limits) {
    await d.setOverride(parseOverride(await json(req, bodyMs), Date.now()))
    sendJson(res, 200, d.view())
    return true
  }
  if (m === 'DELETE' && path === adminPaths.limits) {
    await readBody(req, MAX_BODY, bodyMs)
    await d.setOverride(undefined)
    sendJson(res, 200, d.view())
    return true
  }
  return false
}
