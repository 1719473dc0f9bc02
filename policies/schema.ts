// The policy schema (policies/schema/policy.schema.json, JSON Schema draft 2020-12) and
// its validator, Ajv. Ajv's own messages name schema keywords and regular expressions;
// these are turned into sentences about the policy, each at the JSON pointer it is about.
import { readFileSync } from 'node:fs';

import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';

import { childPointer, type PolicyIssue } from './errors.js';

export const POLICY_SCHEMA = JSON.parse(
  readFileSync(new URL('./schema/policy.schema.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

// strict: the schema itself may hold no unknown keyword or loose type; verbose: errors
// carry the schema they failed, whose title says in words what a pattern means.
const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true });
const validate = ajv.compile(POLICY_SCHEMA);

type SchemaNode = Record<string, unknown>;

function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function items(n: number): string {
  return n === 1 ? '1 item' : `${n} items`;
}

/** One Ajv error as an issue, or null when another error of the same failure says it better. */
function explain(error: ErrorObject): PolicyIssue | null {
  const params = error.params as Record<string, unknown>;
  const parent = (error.parentSchema ?? {}) as SchemaNode;
  const at = error.instancePath;
  // `if` only repeats that its branch failed; the items tested by `contains` are not errors
  // of their own; `propertyNames` repeats the error of the name it wraps.
  if (
    error.keyword === 'if' ||
    error.keyword === 'propertyNames' ||
    error.schemaPath.includes('/contains/')
  ) {
    return null;
  }
  const propertyName = (error as { propertyName?: string }).propertyName;
  if (propertyName !== undefined) {
    return {
      pointer: childPointer(at, propertyName),
      message: `${quote(propertyName)} is not a valid name: must be ${String(parent.title)}`,
    };
  }
  switch (error.keyword) {
    case 'required':
      return { pointer: at, message: `must have the property "${String(params.missingProperty)}"` };
    case 'additionalProperties': {
      const allowed = Object.keys(parent.properties ?? {}).join(', ');
      return {
        pointer: childPointer(at, String(params.additionalProperty)),
        message: `unknown property (allowed here: ${allowed})`,
      };
    }
    case 'type':
      return { pointer: at, message: `must be ${article(String(params.type))}` };
    case 'pattern':
      if (error.data === '') return { pointer: at, message: 'must not be empty' };
      return { pointer: at, message: `must be ${String(parent.title)}, not ${quote(error.data)}` };
    case 'enum':
      return {
        pointer: at,
        message: `must be one of ${(params.allowedValues as unknown[]).join(', ')}, not ${quote(error.data)}`,
      };
    case 'const':
      return { pointer: at, message: `must be ${quote(params.allowedValue)}, not ${quote(error.data)}` };
    case 'contains': {
      const wanted = ((parent.contains as SchemaNode | undefined)?.enum ?? []) as unknown[];
      const exactly = params.minContains === 1 && params.maxContains === 1;
      return exactly
        ? { pointer: at, message: `must contain exactly one of ${wanted.join(', ')}` }
        : { pointer: at, message: error.message ?? 'does not contain what it must' };
    }
    case 'uniqueItems':
      return { pointer: childPointer(at, Number(params.i)), message: `repeats item ${String(params.j)}` };
    case 'minItems':
      return {
        pointer: at,
        message:
          params.limit === 1 ? 'must not be empty' : `must have at least ${items(Number(params.limit))}`,
      };
    case 'maxItems':
      return { pointer: at, message: `must have at most ${items(Number(params.limit))}` };
    case 'maxProperties':
      return { pointer: at, message: `must have at most ${String(params.limit)} members` };
    case 'minLength':
      return { pointer: at, message: 'must not be empty' };
    case 'maxLength':
      return { pointer: at, message: `must be at most ${String(params.limit)} characters long` };
    case 'minimum':
      return { pointer: at, message: `must be at least ${String(params.limit)}, not ${quote(error.data)}` };
    case 'maximum':
      return { pointer: at, message: `must be at most ${String(params.limit)}, not ${quote(error.data)}` };
    default:
      return { pointer: at, message: error.message ?? `fails the schema's ${error.keyword}` };
  }
}

/** Every way `value` breaks the schema, at most one issue per pointer and message. */
export function schemaIssues(value: unknown): PolicyIssue[] {
  if (validate(value)) return [];
  const seen = new Set<string>();
  const issues: PolicyIssue[] = [];
  for (const error of validate.errors ?? []) {
    const issue = explain(error);
    if (issue === null) continue;
    const key = `${issue.pointer ?? ''}\n${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  // Never report "valid" for a value the validator refused, whatever was filtered above.
  if (issues.length === 0) issues.push({ pointer: '', message: 'does not match the policy schema' });
  return issues;
}
