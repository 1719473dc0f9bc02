// The one error base class of Veil: a stable code a program can switch on and a sentence
// a person can act on. Each boundary (native core, wire, CLI) keeps its own registry of
// codes as a string-literal union; codes are never reused.

export class VeilError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VeilError';
    this.code = code;
  }
}
