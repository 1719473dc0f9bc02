// Reading a policy: text → JSON (strict, with places) → the schema → the semantic checks.
// Each stage reports every problem it finds at once; a later stage runs only on what the
// earlier one accepted, so it can trust the types. Whatever the input, the outcome is a
// Policy or a PolicyError, never another exception.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

import { MAX_REPORTED_ISSUES, PolicyError, type PolicyIssue } from './errors.js';
import { parseJson, positions, type TextIssue } from './json.js';
import { schemaIssues } from './schema.js';
import { semanticIssues } from './semantic.js';
import type { Policy } from './types.js';

/** Far above any real policy; a bound on what one request can make the parser do. */
export const MAX_POLICY_BYTES = 1 << 20;

interface Text {
  content: string;
  offsetOf: (pointer: string) => number;
}

function refuse(source: string, issues: TextIssue[], text?: Text): never {
  let ordered: PolicyIssue[] = issues;
  if (text) {
    const position = positions(text.content);
    // In the order of the text; only the issues the error keeps are placed (each costs a scan).
    ordered = issues
      .map(({ offset, ...issue }) => ({
        issue,
        at: offset ?? (issue.pointer === null ? 0 : text.offsetOf(issue.pointer)),
      }))
      .sort((a, b) => a.at - b.at)
      .map(({ issue, at }, i) =>
        issue.pointer === null || i >= MAX_REPORTED_ISSUES ? issue : { ...issue, ...position(at) },
      );
  }
  throw new PolicyError('VEIL_POLICY_INVALID', source, ordered);
}

function check(value: unknown, source: string, text?: Text): Policy {
  const shape = schemaIssues(value);
  if (shape.length > 0) refuse(source, shape, text);
  const policy = value as Policy;
  const meaning = semanticIssues(policy);
  if (meaning.length > 0) refuse(source, meaning, text);
  return policy;
}

/** Validates a policy already parsed (from the manager's store, or built in code). */
export function checkPolicy(value: unknown, source: string): Policy {
  return check(value, source);
}

/** Parses and validates policy text; `source` names it in messages (a file, a guard point). */
export function parsePolicy(text: string, source: string): Policy {
  if (typeof text !== 'string') {
    throw new PolicyError('VEIL_POLICY_INVALID', source, [
      { pointer: null, message: 'the policy must be text' },
    ]);
  }
  if (text.length > MAX_POLICY_BYTES) {
    throw new PolicyError('VEIL_POLICY_INVALID', source, [
      { pointer: null, message: `the policy is longer than ${MAX_POLICY_BYTES} characters` },
    ]);
  }
  const json = parseJson(text);
  if (!json.ok) refuse(source, json.issues, { content: text, offsetOf: () => 0 });
  return check(json.value, source, { content: text, offsetOf: json.offsetOf });
}

function unreadable(path: string, reason: string, cause?: unknown): PolicyError {
  return new PolicyError('VEIL_POLICY_UNREADABLE', path, [{ pointer: null, message: reason }], { cause });
}

/** Reads a policy file (UTF-8, a regular file of at most MAX_POLICY_BYTES) and parses it. */
export function loadPolicyFile(path: string): Policy {
  let bytes: Buffer;
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer; it is refused below.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw unreadable(path, `cannot open it (${code}): ${(error as Error).message}`, error);
  }
  try {
    // Checked on the open descriptor, not the path: a FIFO or a device would never end.
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw unreadable(path, 'it is not a regular file');
    if (stat.size > MAX_POLICY_BYTES) throw unreadable(path, `it is larger than ${MAX_POLICY_BYTES} bytes`);
    bytes = Buffer.alloc(MAX_POLICY_BYTES + 1);
    let length = 0;
    for (let n; (n = readSync(fd, bytes, length, bytes.length - length, null)) > 0;) length += n;
    if (length > MAX_POLICY_BYTES) throw unreadable(path, `it is larger than ${MAX_POLICY_BYTES} bytes`);
    bytes = bytes.subarray(0, length);
  } catch (error) {
    if (error instanceof PolicyError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw unreadable(path, `cannot read it (${code}): ${(error as Error).message}`, error);
  } finally {
    closeSync(fd);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new PolicyError(
      'VEIL_POLICY_INVALID',
      path,
      [{ pointer: null, message: 'the file is not UTF-8 text' }],
      {
        cause: error,
      },
    );
  }
  return parsePolicy(text, path);
}
