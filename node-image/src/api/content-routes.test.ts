import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError } from './http-util.ts'
import { requestBody } from './content-routes.ts'

/** The upload stream fails with TRUNCATED_UPLOAD when a client stops early (what publish relies on). */

let server: Server
let port = 0
const outcomes: { code: string | undefined; bytes: number }[] = []
let notify: (() => void) | undefined

beforeAll(async () => {
  server = createServer((req, res) => {
    void (async () => {
      let bytes = 0
      let code: string | undefined
      try {
        for await (const c of requestBody(req, 1 << 20)) bytes += c.length
      } catch (err) {
        code = err instanceof ApiError ? err.code : 'OTHER'
      }
      outcomes.push({ code, bytes })
      notify?.()
      res.end()
    })()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  port = (server.address() as AddressInfo).port
})

afterAll(() => {
  server.close()
})

async function send(head: string, body: string, hangUp: boolean): Promise<{ code: string | undefined; bytes: number }> {
  const done = new Promise<void>((r) => (notify = r))
  const sock = connect(port, '127.0.0.1')
  await new Promise((r) => sock.once('connect', r))
  sock.write(head + body)
  if (hangUp) setTimeout(() => sock.destroy(), 50)
  await done
  sock.destroy()
  return outcomes.at(-1)!
}

describe('requestBody', () => {
  it('passes a complete body through', async () => {
    const r = await send('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n', 'hello', false)
    expect(r).toEqual({ code: undefined, bytes: 5 })
  })

  it('fails with TRUNCATED_UPLOAD when the client hangs up before content-length bytes', async () => {
    const r = await send('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n', 'x'.repeat(300), true)
    expect(r.code).toBe('TRUNCATED_UPLOAD')
  })

  it('fails with TRUNCATED_UPLOAD when a chunked upload breaks off', async () => {
    const r = await send('POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n', '5\r\nhello\r\n', true)
    expect(r.code).toBe('TRUNCATED_UPLOAD')
  })

  it('refuses a declared body over the limit', async () => {
    const r = await send('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2000000\r\n\r\n', '', true)
    expect(r.code).toBe('PAYLOAD_TOO_LARGE')
  })
})
