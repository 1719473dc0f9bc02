// Random damage to valid policies, in the text and in the parsed value: the outcome is
// always a policy (which then compiles and evaluates) or a PolicyError whose every pointer
// names a place that exists. The JSON parser agrees with JSON.parse on every text.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import {
  compilePolicy,
  decide,
  FINE_ACTIONS,
  parsePolicy,
  PolicyError,
  selectKey,
  type Policy,
} from '../../policies/index.js';
import { parseJson } from '../../policies/json.js';
import { basePolicy, knownKeysOf, pointerKeys } from './support.js';

const examples = new URL('../../policies/examples/', import.meta.url).pathname;
const SEEDS: string[] = [
  JSON.stringify(basePolicy(), null, 2),
  ...readdirSync(examples).map((f) => readFileSync(`${examples}${f}`, 'utf8')),
];

let state = 0x9e3779b9;
function random(n: number): number {
  // xorshift32: the same cases on every run, so a failure can be replayed.
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) % n;
}
function pick<T>(items: readonly T[]): T {
  return items[random(items.length)];
}

const TOKENS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  '-',
  '0',
  '1e9',
  'null',
  'true',
  ' ',
  '\n',
  '\u0000',
  'é',
  '\ud800',
  '"__proto__"',
  '/*',
  '**',
  '..',
];
const VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  -0,
  2 ** 53,
  1e308,
  4294967295,
  '',
  'x',
  'clear_key',
  '../x',
  '/abs',
  '**',
  'a'.repeat(5000),
  [],
  {},
  [[[]]],
  ['read'],
  ['permit', 'deny'],
  { include: ['**'] },
  { keyId: 'x', version: 1 },
  JSON.parse('{"__proto__": {"x": 1}}'),
];

function mutateText(text: string): string {
  const at = random(text.length + 1);
  switch (random(4)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1 + random(5));
    case 1:
      return text.slice(0, at) + pick(TOKENS) + text.slice(at);
    case 2:
      return text.slice(0, at) + pick(TOKENS) + text.slice(at + 1);
    default: {
      const from = random(text.length);
      return text.slice(0, at) + text.slice(from, from + random(40)) + text.slice(at);
    }
  }
}

type Node = Record<string, unknown> | unknown[];

function mutateValue(root: unknown): unknown {
  // Walk down a random path, then replace, delete or add at the place reached.
  let parent: Node | null = null;
  let key: string | number = '';
  let node: unknown = root;
  while (node !== null && typeof node === 'object' && random(3) !== 0) {
    const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    parent = node as Node;
    key = pick(keys);
    node = Array.isArray(parent) ? parent[Number(key)] : parent[String(key)];
  }
  if (parent === null) return pick(VALUES);
  const choice = random(3);
  if (Array.isArray(parent)) {
    if (choice === 0) parent.splice(Number(key), 1);
    else parent[Number(key)] = structuredClone(pick(VALUES));
  } else if (choice === 0) delete parent[key];
  else if (choice === 1) parent[`x${random(3)}`] = pick(VALUES);
  else parent[key] = structuredClone(pick(VALUES));
  return root;
}

function resolves(document: unknown, pointer: string): boolean {
  let node = document;
  for (const key of pointerKeys(pointer)) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

function exercise(text: string): 'accepted' | 'refused' {
  let policy: Policy;
  try {
    policy = parsePolicy(text, 'fuzz.json');
  } catch (error) {
    assert.ok(error instanceof PolicyError, `not a PolicyError: ${String(error)}\n${text}`);
    assert.equal(error.code, 'VEIL_POLICY_INVALID');
    assert.ok(error.issues.length > 0 && error.message.startsWith('fuzz.json: '));
    let document: unknown;
    try {
      document = JSON.parse(text.replace(/^\ufeff/, ''));
    } catch {
      return 'refused';
    }
    for (const issue of error.issues) {
      if (issue.pointer !== null)
        assert.ok(resolves(document, issue.pointer), `${issue.pointer}: ${issue.message}`);
    }
    return 'refused';
  }
  const table = compilePolicy(policy, {
    knownKeys: knownKeysOf(policy),
    resolveUser: () => 1,
    resolveGroup: () => 2,
  });
  for (const path of ['', 'a', 'data/x', 'payroll/tmp/y']) {
    selectKey(table, path);
    decide(table, {
      path,
      uid: 1,
      gids: [2],
      exe: '/usr/bin/app',
      exeSha256: null,
      action: pick(FINE_ACTIONS),
    });
  }
  return 'accepted';
}

test('random damage to policy text: a policy or a PolicyError, and JSON.parse agrees', () => {
  const outcomes = { accepted: 0, refused: 0 };
  for (let i = 0; i < 3000; i++) {
    let text = pick(SEEDS);
    for (let n = 1 + random(3); n > 0; n--) text = mutateText(text);
    outcomes[exercise(text)]++;
    const parsed = parseJson(text);
    let expected: unknown;
    let valid = true;
    try {
      expected = JSON.parse(text.replace(/^\ufeff/, ''));
    } catch {
      valid = false;
    }
    if (parsed.ok) {
      assert.ok(valid && isDeepStrictEqual(parsed.value, expected), text);
    } else if (valid) {
      // Only what JSON.parse lets through on purpose: a member name given twice.
      assert.ok(
        parsed.issues.every((issue) => issue.message.includes('appears twice')),
        text,
      );
    }
  }
  assert.ok(outcomes.accepted > 50 && outcomes.refused > 1000, JSON.stringify(outcomes));
});

test('random damage to parsed policies: a policy or a PolicyError whose pointers exist', () => {
  const outcomes = { accepted: 0, refused: 0 };
  for (let i = 0; i < 3000; i++) {
    let value: unknown = JSON.parse(pick(SEEDS));
    for (let n = 1 + random(3); n > 0; n--) value = mutateValue(value);
    outcomes[exercise(JSON.stringify(value))]++;
  }
  assert.ok(outcomes.accepted > 50 && outcomes.refused > 1000, JSON.stringify(outcomes));
});
