// Shared pieces of the policy tests: a small valid policy to break in one place at a time,
// and assertions on refusals that check each problem's code, pointer and wording.
import assert from 'node:assert/strict';

import {
  PolicyError,
  parsePolicy,
  type KnownKey,
  type Policy,
  type PolicyErrorCode,
} from '../../policies/index.js';

export const KEY_A = { keyId: '0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b', version: 1 };
export const KEY_B = { keyId: '9d3c6a1e-2f4b-4c8d-9e0f-1a2b3c4d5e6f', version: 2 };
export const HASH_A = 'a'.repeat(64);
export const HASH_B = 'b'.repeat(64);

/** A fresh copy each call: every set kind, two rules, two key rules. */
export function basePolicy(): Policy {
  return structuredClone<Policy>({
    name: 'base',
    resourceSets: {
      data: { include: ['data/**'], exclude: ['data/tmp/**'] },
      logs: { include: ['logs/**'] },
    },
    userSets: { staff: { uids: [1000], gids: [100] } },
    signatureSets: { tools: { sha256: [HASH_A] } },
    processSets: { app: { executables: ['/usr/bin/app'], signatureSet: 'tools' } },
    securityRules: [
      {
        resourceSet: 'data',
        userSet: 'staff',
        processSet: 'app',
        actions: ['all_ops'],
        effect: ['permit', 'apply_key'],
      },
      { resourceSet: 'logs', actions: ['read'], effect: ['permit'] },
    ],
    keyRules: [{ resourceSet: 'logs', key: 'clear_key' }, { key: KEY_A }],
  });
}

/**
 * Keys for compiling `policy` on a made-up host: every version it names, with no state
 * (active); a key named without a version as rotated once: version 1 deactivated, 2 active.
 */
export function knownKeysOf(policy: Policy): KnownKey[] {
  return [
    ...policy.keyRules.map((rule) => rule.key),
    ...(policy.dataTransformationRules ?? []).flatMap((rule) => [rule.currentKey, rule.transformationKey]),
  ].flatMap((spec): KnownKey[] => {
    if (spec === 'clear_key') return [];
    if (spec.version !== undefined) return [{ keyId: spec.keyId, version: spec.version }];
    return [
      { keyId: spec.keyId, version: 1, state: 'deactivated' },
      { keyId: spec.keyId, version: 2, state: 'active' },
    ];
  });
}

/** The member names of a JSON pointer, unescaped (RFC 6901). */
export function pointerKeys(pointer: string): string[] {
  return pointer
    .split('/')
    .slice(1)
    .map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Marks a member to remove, for edit(). */
export const DELETE = Symbol('delete');

/** Sets the value at `pointer` in a parsed document, or removes it with DELETE. */
export function edit(document: unknown, pointer: string, value: unknown): void {
  const keys = pointerKeys(pointer);
  const last = keys.pop() ?? '';
  let node = document as Record<string, unknown>;
  for (const key of keys) node = node[key] as Record<string, unknown>;
  if (value === DELETE) delete node[last];
  else node[last] = value;
}

/** Runs `fn`, which must refuse with `code`; returns the error. */
export function refusal(fn: () => unknown, code: PolicyErrorCode = 'VEIL_POLICY_INVALID'): PolicyError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PolicyError, `expected a PolicyError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail('expected a refusal, but the policy was accepted');
}

/** Parses `policy` (as JSON text) and expects exactly these problems: [pointer, words in the message]. */
export function expectProblems(
  policy: unknown,
  expected: [pointer: string | null, words: string | RegExp][],
): PolicyError {
  const text = typeof policy === 'string' ? policy : JSON.stringify(policy, null, 2);
  const error = refusal(() => parsePolicy(text, 'case.json'));
  assert.deepEqual(
    error.issues.map((issue) => issue.pointer),
    expected.map(([pointer]) => pointer),
    error.message,
  );
  expected.forEach(([pointer, words], i) => {
    const message = error.issues[i].message;
    if (typeof words === 'string') assert.ok(message.includes(words), `${message} should say "${words}"`);
    else assert.match(message, words);
    if (pointer !== null && pointer !== '')
      assert.ok(error.message.includes(`${pointer} (line `), error.message);
  });
  return error;
}
