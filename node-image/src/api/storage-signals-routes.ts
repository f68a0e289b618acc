import type { IncomingMessage, ServerResponse } from 'node:http'
import { CodedError } from '../util/coded-error.ts'
import { ApiError, readBody, sendJson } from './http-util.ts'
import { parseShardIntakeOpen, ShardIntakeError } from './shard-intake.ts'
import type { ShardIntake } from './shard-intake.ts'
import { storageSignalsPaths } from './storage-signals-contract.ts'
import type { RepairPriorityEntry, RepairPriorityList, StorageSignalsErrorCode } from './storage-signals-contract.ts'
import { parseRepairPriorities, RepairPrioritiesError } from '../node/dds/repair-priorities.ts'

/**
 * Admin routes of the storage-incident signals (storage-signals-contract.ts), and the gate in front
 * of the public community-shard route. Bad input is answered with a stable code and changes nothing.
 */

export class StorageSignalsError extends CodedError<StorageSignalsErrorCode> {}

const STATUS: Record<StorageSignalsErrorCode, number> = {
  INVALID_REPAIR_PRIORITIES: 400,
  NOT_A_STORAGE_NODE: 409,
  INVALID_SHARD_INTAKE: 400,
  SHARD_INTAKE_CLOSED: 403,
  SHARD_INTAKE_RATE_LIMITED: 429,
}

export interface StorageSignalsPort {
  readonly shardIntake: ShardIntake
  repairPriorities(): RepairPriorityList
  setRepairPriorities(entries: readonly RepairPriorityEntry[]): Promise<RepairPriorityList>
}

/** A priority list of 10,000 entries is about 1 MB of JSON. */
export const MAX_REPAIR_PRIORITIES_BODY_BYTES = 2 * 1024 * 1024
const MAX_INTAKE_BODY_BYTES = 4 * 1024

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch {
    throw new ApiError(400, 'MALFORMED_JSON', 'body is not JSON')
  }
}

function asApiError(err: unknown): unknown {
  if (err instanceof StorageSignalsError) return new ApiError(STATUS[err.code], err.code, err.message)
  if (err instanceof RepairPrioritiesError || err instanceof ShardIntakeError)
    return new ApiError(400, err.code, err.message)
  return err
}

/** Handles one of these admin routes; false if the path is not one. */
export async function storageSignalsRoute(
  port: StorageSignalsPort,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  bodyMs: number,
): Promise<boolean> {
  const path = url.pathname
  try {
    if (path === storageSignalsPaths.repairPriorities) {
      if (req.method === 'GET') sendJson(res, 200, port.repairPriorities())
      else if (req.method === 'PUT') {
        const entries = parseRepairPriorities(parseJson(await readBody(req, MAX_REPAIR_PRIORITIES_BODY_BYTES, bodyMs)))
        sendJson(res, 200, await port.setRepairPriorities(entries))
      } else throw new ApiError(405, 'METHOD_NOT_ALLOWED', 'GET or PUT')
      return true
    }
    if (path === storageSignalsPaths.shardIntake) {
      if (req.method === 'GET') sendJson(res, 200, port.shardIntake.status())
      else if (req.method === 'PUT') {
        const w = parseShardIntakeOpen(parseJson(await readBody(req, MAX_INTAKE_BODY_BYTES, bodyMs)), Date.now())
        sendJson(res, 200, port.shardIntake.open(w))
      } else if (req.method === 'DELETE') sendJson(res, 200, port.shardIntake.close())
      else throw new ApiError(405, 'METHOD_NOT_ALLOWED', 'GET, PUT or DELETE')
      return true
    }
  } catch (err) {
    throw asApiError(err)
  }
  return false
}

/** `PUT /v1/content/<cid>/shards/<index>` (the content route's pattern). */
export const SHARD_SUBMIT_PATH = /^\/v1\/content\/[A-Za-z0-9]{1,100}\/shards\/\d{1,3}$/

/**
 * Runs a community-shard submission through the intake window: refused before its body is read
 * when closed (403) or over rate (429, Retry-After); otherwise counted as accepted or by the code
 * it was refused with (SHARD_MISMATCH for a shard that does not verify, ...).
 */
export async function throughShardIntake(
  intake: ShardIntake,
  req: IncomingMessage,
  submit: () => Promise<unknown>,
): Promise<void> {
  const v = intake.admit(req.socket.remoteAddress)
  if (!v.ok) {
    const retry =
      v.retryAfterMs === undefined
        ? undefined
        : { 'retry-after': String(Math.max(1, Math.ceil(v.retryAfterMs / 1000))) }
    throw new ApiError(STATUS[v.code], v.code, v.message, retry)
  }
  try {
    await submit()
  } catch (err) {
    const code = (err as { code?: unknown }).code
    intake.rejected(typeof code === 'string' ? code : 'INTERNAL')
    throw err
  }
  intake.accepted()
}
