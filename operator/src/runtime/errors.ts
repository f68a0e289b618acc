/**
 * Errors a reconcile can throw to steer the controller. A TerminalError is not retried (the same
 * input would fail the same way: a malformed object, a refused authorization); the controller
 * reports it and forgets the key until the object changes. Anything else is retried with backoff.
 */
export class TerminalError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TerminalError'
    this.code = code
  }
}

export function isTerminal(err: unknown): err is TerminalError {
  return err instanceof TerminalError
}
