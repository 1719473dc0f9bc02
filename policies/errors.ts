// Errors of the policy language. Every refusal names each problem and its place: a JSON
// pointer into the policy (RFC 6901) and, when the policy came as text, its line and column,
// so a person can find it in an editor and a program can find it in the parsed document.
import { VeilError } from '../common/errors.js';

/** Every code the policy modules raise, documented in docs/errors.md. */
export const POLICY_ERROR_CODES = [
  'VEIL_POLICY_INVALID',
  'VEIL_POLICY_UNREADABLE',
  'VEIL_POLICY_UNRESOLVED',
] as const;

export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[number];

export interface PolicyIssue {
  /** Where in the document, as a JSON pointer ("" is the whole document); null when the problem is not in it. */
  pointer: string | null;
  message: string;
  /** 1-based, in characters; present when the policy was parsed from text. */
  line?: number;
  column?: number;
}

/** More would bury the first problems (and fill logs); the rest are counted. */
export const MAX_REPORTED_ISSUES = 50;

const HEADLINES: Record<PolicyErrorCode, string> = {
  VEIL_POLICY_INVALID: 'the policy is invalid',
  VEIL_POLICY_UNREADABLE: 'the policy cannot be read',
  VEIL_POLICY_UNRESOLVED: 'the policy names what this host does not have',
};

function place(issue: PolicyIssue): string {
  if (issue.pointer === null) return '';
  const where = issue.pointer === '' ? '(top level)' : issue.pointer;
  const at = issue.line === undefined ? '' : ` (line ${issue.line}, column ${issue.column ?? 1})`;
  return `${where}${at}: `;
}

/** A policy refused, with every problem found (the message lists them, one a line). */
export class PolicyError extends VeilError<PolicyErrorCode> {
  readonly source: string;
  readonly issues: readonly PolicyIssue[];

  constructor(
    code: PolicyErrorCode,
    source: string,
    all: readonly PolicyIssue[],
    options?: { cause?: unknown },
  ) {
    const issues = all.slice(0, MAX_REPORTED_ISSUES);
    if (all.length > issues.length) {
      issues.push({ pointer: null, message: `and ${all.length - issues.length} more problems` });
    }
    const lines = issues.map((issue) => `  ${place(issue)}${issue.message}`);
    const message =
      all.length === 1
        ? `${source}: ${HEADLINES[code]}: ${lines[0].trimStart()}`
        : `${source}: ${HEADLINES[code]} (${all.length} problems):\n${lines.join('\n')}`;
    super(code, message, options);
    this.name = 'PolicyError';
    this.source = source;
    this.issues = Object.freeze(issues);
  }
}

/** The pointer of a member or element below `pointer`, escaped as RFC 6901 says. */
export function childPointer(pointer: string, key: string | number): string {
  return `${pointer}/${String(key).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}
