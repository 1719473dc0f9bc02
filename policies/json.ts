// A strict JSON parser (RFC 8259) for policy text. JSON.parse would do the parsing, but it
// cannot say on which line an error is, and it keeps the last of two members with the same
// name without a word, where another parser may keep the first: the manager and an agent
// would then read two different policies from one text. This one refuses duplicates, says
// where every syntax error is, and remembers where each member starts so that later
// errors, found on the parsed value, can name a line too.
import { childPointer, type PolicyIssue } from './errors.js';

/** Deeper than any valid policy (which nests five levels), shallow enough for the stack. */
export const MAX_DEPTH = 32;

class SyntaxProblem extends Error {
  constructor(
    readonly pointer: string,
    readonly offset: number,
    message: string,
  ) {
    super(message);
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX4 = /^[0-9a-fA-F]{4}$/;
const TRAILING_COMMA = 'a comma with no value after it (JSON allows no trailing comma)';

function show(char: string | undefined): string {
  if (char === undefined) return 'end of text';
  return /^[\x21-\x7e]$/.test(char)
    ? `"${char}"`
    : `character U+${char.codePointAt(0)!.toString(16).padStart(4, '0')}`;
}

class Parser {
  pos = 0;
  /** Pointer → offset where the member's name (or the element) starts. */
  readonly starts = new Map<string, number>([['', 0]]);
  readonly duplicates: SyntaxProblem[] = [];

  constructor(readonly text: string) {
    if (text.startsWith('\ufeff')) this.pos = 1; // a byte order mark, as some editors write
  }

  fail(pointer: string, message: string, offset = this.pos): SyntaxProblem {
    return new SyntaxProblem(pointer, offset, message);
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') return;
      this.pos++;
    }
  }

  document(): unknown {
    this.skipSpace();
    const value = this.value('', 0);
    this.skipSpace();
    if (this.pos < this.text.length) {
      throw this.fail('', `unexpected ${show(this.text[this.pos])} after the end of the document`);
    }
    return value;
  }

  value(pointer: string, depth: number): unknown {
    if (depth > MAX_DEPTH) throw this.fail(pointer, `nested deeper than ${MAX_DEPTH} levels`);
    const c = this.text[this.pos];
    if (c === '{') return this.object(pointer, depth);
    if (c === '[') return this.array(pointer, depth);
    if (c === '"') return this.string(pointer);
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number(pointer);
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    if (c === '/') throw this.fail(pointer, 'unexpected "/": JSON has no comments');
    throw this.fail(pointer, `unexpected ${show(c)}: expected a value`);
  }

  object(pointer: string, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === '}') throw this.fail(pointer, TRAILING_COMMA);
      if (c !== '"') {
        throw this.fail(pointer, `unexpected ${show(c)}: expected a property name in double quotes`);
      }
      const nameAt = this.pos;
      const name = this.string(pointer);
      const child = childPointer(pointer, name);
      if (seen.has(name)) {
        this.duplicates.push(this.fail(child, `"${name}" appears twice in one object`, nameAt));
      }
      seen.add(name);
      this.starts.set(child, nameAt);
      this.skipSpace();
      if (this.text[this.pos] !== ':') {
        throw this.fail(child, `unexpected ${show(this.text[this.pos])}: expected ":" after a property name`);
      }
      this.pos++;
      this.skipSpace();
      // defineProperty, not assignment: a member named "__proto__" must stay a member.
      Object.defineProperty(out, name, {
        value: this.value(child, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      this.skipSpace();
      const next = this.text[this.pos];
      if (next === '}') {
        this.pos++;
        return out;
      }
      if (next !== ',') {
        throw this.fail(pointer, `unexpected ${show(next)}: expected "," or "}" after a value`);
      }
      this.pos++;
    }
  }

  array(pointer: string, depth: number): unknown[] {
    const out: unknown[] = [];
    this.pos++;
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.pos] === ']') throw this.fail(pointer, TRAILING_COMMA);
      const child = childPointer(pointer, out.length);
      this.starts.set(child, this.pos);
      out.push(this.value(child, depth + 1));
      this.skipSpace();
      const next = this.text[this.pos];
      if (next === ']') {
        this.pos++;
        return out;
      }
      if (next !== ',') {
        throw this.fail(pointer, `unexpected ${show(next)}: expected "," or "]" after a value`);
      }
      this.pos++;
    }
  }

  string(pointer: string): string {
    const start = this.pos++;
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) throw this.fail(pointer, 'unexpected end of text inside a string', start);
      if (c === '"') break;
      if (c < ' ') throw this.fail(pointer, `${show(c)} inside a string must be written as an escape`);
      if (c === '\\') {
        const e = this.text[this.pos + 1];
        if (e === 'u') {
          if (!HEX4.test(this.text.slice(this.pos + 2, this.pos + 6))) {
            throw this.fail(pointer, '\\u must be followed by four hexadecimal digits');
          }
          this.pos += 6;
          continue;
        }
        if (e === undefined || !ESCAPES.has(e))
          throw this.fail(pointer, `invalid escape \\${e ?? ''} in a string`);
        this.pos += 2;
        continue;
      }
      this.pos++;
    }
    this.pos++;
    // The grammar is checked above; JSON.parse only decodes the escapes.
    return JSON.parse(this.text.slice(start, this.pos)) as string;
  }

  number(pointer: string): number {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (match === null) throw this.fail(pointer, `invalid number`);
    this.pos += match[0].length;
    return Number(match[0]);
  }
}

const isHighSurrogate = (unit: number): boolean => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit: number): boolean => unit >= 0xdc00 && unit <= 0xdfff;

/** Line and column (1-based, columns in characters) of offsets in one text. */
export function positions(text: string): (offset: number) => { line: number; column: number } {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  return (offset) => {
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (lineStarts[mid] <= offset) low = mid;
      else high = mid - 1;
    }
    // Characters, not UTF-16 units: the second half of a surrogate pair does not count.
    const start = lineStarts[low];
    let column = 1;
    for (let i = start; i < offset; i++) {
      const secondHalf =
        i > start && isLowSurrogate(text.charCodeAt(i)) && isHighSurrogate(text.charCodeAt(i - 1));
      if (!secondHalf) column++;
    }
    return { line: low + 1, column };
  };
}

/** A problem found in the text: `offset` is where, when it is not where `pointer` starts. */
export interface TextIssue extends PolicyIssue {
  offset?: number;
}

export type JsonResult =
  { ok: true; value: unknown; offsetOf: (pointer: string) => number } | { ok: false; issues: TextIssue[] };

export function parseJson(text: string): JsonResult {
  const parser = new Parser(text);
  let value: unknown;
  const toIssue = (p: SyntaxProblem): TextIssue => ({
    pointer: p.pointer,
    message: p.message,
    offset: p.offset,
  });
  try {
    value = parser.document();
  } catch (error) {
    if (!(error instanceof SyntaxProblem)) throw error;
    return { ok: false, issues: [...parser.duplicates, error].map(toIssue) };
  }
  if (parser.duplicates.length > 0) return { ok: false, issues: parser.duplicates.map(toIssue) };
  const offsetOf = (pointer: string): number => {
    // The nearest member that exists: a missing property is reported on its object.
    for (let p = pointer; ; p = p.slice(0, p.lastIndexOf('/'))) {
      const offset = parser.starts.get(p);
      if (offset !== undefined) return offset;
    }
  };
  return { ok: true, value, offsetOf };
}
