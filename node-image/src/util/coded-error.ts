/**
 * Errors that leave a module carry a stable machine-readable `code` (what APIs and logs report);
 * the message is for people.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C
  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}
