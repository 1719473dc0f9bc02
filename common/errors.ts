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

/** What a command or the control socket says of a failure: its code, or VEIL_INTERNAL for one not foreseen. */
export function errorReport(error: unknown): { code: string; message: string } {
  if (error instanceof VeilError) return { code: String(error.code), message: error.message };
  return { code: 'VEIL_INTERNAL', message: error instanceof Error ? error.message : String(error) };
}
