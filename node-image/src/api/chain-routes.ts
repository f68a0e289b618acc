import type { IncomingMessage, ServerResponse } from 'node:http'
import { encode } from '../crypto/encoding.ts'
import { ApiError } from './http-util.ts'
import type { ChainPage } from './chain-contract.ts'

/**
 * `GET /v1/chain?from=<h>&max=<n>`: certified headers with their commit certificates (every
 * precommit signature), the event ids of each block, the validator sets that changed, and the
 * restart records of epochs that begin in the range — as DAG-CBOR. Enough for anyone to verify
 * the chain from genesis without trusting the node that serves it (`@echonet/node/audit`).
 */

export interface ChainApiPort {
  chainPage(from: number, max: number): Promise<ChainPage>
}

export const MAX_CHAIN_PAGE = 256

export async function chainRoute(
  port: ChainApiPort,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<boolean> {
  if (req.method !== 'GET' || url.pathname !== '/v1/chain') return false
  const from = Number(url.searchParams.get('from') ?? '1')
  const max = Number(url.searchParams.get('max') ?? String(MAX_CHAIN_PAGE))
  if (!Number.isSafeInteger(from) || from < 1 || !Number.isSafeInteger(max) || max < 1 || max > MAX_CHAIN_PAGE) {
    throw new ApiError(400, 'MALFORMED_REQUEST', `from must be a height ≥ 1 and max between 1 and ${MAX_CHAIN_PAGE}`)
  }
  const body = encode(await port.chainPage(from, max))
  res.writeHead(200, { 'content-type': 'application/cbor', 'content-length': body.length })
  res.end(body)
  return true
}
