// Line-oriented logger: `<time> <LEVEL> <message> key=value ...` on stderr.

export type Fields = Record<string, unknown>

export interface Logger {
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
  child(fields: Fields): Logger
}

const levels = { debug: 10, info: 20, warn: 30, error: 40 } as const
export type Level = keyof typeof levels

function formatValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message)
  if (typeof v === 'string') return /^[\w./:@-]*$/.test(v) && v !== '' ? v : JSON.stringify(v)
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v)
  return JSON.stringify(v)
}

export function formatLine(time: Date, level: Level, msg: string, fields: Fields): string {
  const parts = [time.toISOString(), level.toUpperCase().padEnd(5), msg]
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) parts.push(`${k}=${formatValue(v)}`)
  return parts.join(' ')
}

export function createLogger(
  minLevel: Level = 'info',
  base: Fields = {},
  write: (line: string) => void = (l) => process.stderr.write(l + '\n'),
): Logger {
  const emit = (level: Level, msg: string, fields: Fields = {}): void => {
    if (levels[level] < levels[minLevel]) return
    write(formatLine(new Date(), level, msg, { ...base, ...fields }))
  }
  return {
    debug: (m, f) => {
      emit('debug', m, f)
    },
    info: (m, f) => {
      emit('info', m, f)
    },
    warn: (m, f) => {
      emit('warn', m, f)
    },
    error: (m, f) => {
      emit('error', m, f)
    },
    child: (fields) => createLogger(minLevel, { ...base, ...fields }, write),
  }
}
