// The checks past the schema: references to sets that exist, effects that make sense, no
// dead key or transformation rule. Each refusal names the place it is about.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkPolicy, parsePolicy, type Policy } from '../../policies/index.js';
import { basePolicy, expectProblems, KEY_A, KEY_B, refusal } from './support.js';

function broken(mutate: (p: Policy) => void): Policy {
  const policy = basePolicy();
  mutate(policy);
  return policy;
}

test('a rule naming an undefined set of each kind is refused at that reference', () => {
  expectProblems(
    broken((p) => {
      p.securityRules[0].resourceSet = 'payroll';
      p.securityRules[0].userSet = 'hr';
      p.securityRules[1].processSet = 'db';
    }),
    [
      ['/securityRules/0/resourceSet', 'there is no resource set named "payroll" (defined: data, logs)'],
      ['/securityRules/0/userSet', 'there is no user set named "hr" (defined: staff)'],
      ['/securityRules/1/processSet', 'there is no process set named "db" (defined: app)'],
    ],
  );
});

test('a set of another kind does not count: names are per kind', () => {
  expectProblems(
    broken((p) => (p.securityRules[1].userSet = 'data')),
    [['/securityRules/1/userSet', 'there is no user set named "data"']],
  );
});

test('a process set naming an undefined signature set is refused', () => {
  expectProblems(
    broken((p) => {
      p.processSets!.app.signatureSet = 'pg';
      delete p.signatureSets;
    }),
    [['/processSets/app/signatureSet', 'there is no signature set named "pg" (no signature set is defined)']],
  );
});

test('key and transformation rules naming an undefined resource set are refused', () => {
  expectProblems(
    broken((p) => {
      p.keyRules[0].resourceSet = 'archive';
      p.dataTransformationRules = [{ resourceSet: 'old', currentKey: KEY_A, transformationKey: KEY_B }];
    }),
    [
      ['/keyRules/0/resourceSet', 'there is no resource set named "archive"'],
      ['/dataTransformationRules/0/resourceSet', 'there is no resource set named "old"'],
    ],
  );
});

test('apply_key with deny is refused: a denied caller reaches no data', () => {
  expectProblems(
    broken((p) => (p.securityRules[1].effect = ['deny', 'apply_key', 'audit'])),
    [['/securityRules/1/effect', 'apply_key cannot go with deny']],
  );
});

test('not may only negate a set the rule names', () => {
  expectProblems(
    broken((p) => (p.securityRules[1].not = ['resourceSet', 'userSet'])),
    [['/securityRules/1/not/1', 'negates userSet, which this rule leaves out']],
  );
  parsePolicy(JSON.stringify(broken((p) => (p.securityRules[0].not = ['processSet', 'userSet']))), 'ok.json');
});

test('a user set must name somebody', () => {
  expectProblems(
    broken((p) => (p.userSets = { staff: { uids: [1] }, nobody: {}, empty: { users: [], gids: [] } })),
    [
      ['/userSets/nobody', 'names nobody'],
      ['/userSets/empty', 'names nobody'],
    ],
  );
});

test('a key rule after one for the same resource set, or after one for every file, is refused', () => {
  expectProblems(
    broken(
      (p) =>
        (p.keyRules = [
          { resourceSet: 'logs', key: KEY_A },
          { resourceSet: 'logs', key: 'clear_key' },
        ]),
    ),
    [['/keyRules/1', 'never applies: key rule /keyRules/0 comes first and is for the same resource set']],
  );
  expectProblems(
    broken((p) => (p.keyRules = [{ key: KEY_A }, { resourceSet: 'data', key: KEY_B }, { key: 'clear_key' }])),
    [
      ['/keyRules/1', 'never applies: key rule /keyRules/0 comes first and covers every file'],
      ['/keyRules/2', 'covers every file'],
    ],
  );
});

test('data transformation rules: a rule to the same key, or a dead one, is refused', () => {
  expectProblems(
    broken(
      (p) =>
        (p.dataTransformationRules = [
          { resourceSet: 'data', currentKey: KEY_A, transformationKey: { ...KEY_A } },
          { resourceSet: 'data', currentKey: KEY_A, transformationKey: KEY_B },
          { currentKey: 'clear_key', transformationKey: 'clear_key' },
        ]),
    ),
    [
      ['/dataTransformationRules/0/transformationKey', 'is the current key: there is nothing to transform'],
      ['/dataTransformationRules/1', 'data transformation rule /dataTransformationRules/0 comes first'],
      ['/dataTransformationRules/2/transformationKey', 'is the current key'],
    ],
  );
  parsePolicy(
    JSON.stringify(
      broken((p) => (p.dataTransformationRules = [{ currentKey: 'clear_key', transformationKey: KEY_B }])),
    ),
    'initial-encryption.json',
  );
});

test('semantic checks run only on a document the schema accepted', () => {
  // The undefined set is not reported while the schema still refuses something.
  expectProblems(
    broken((p) => {
      p.securityRules[0].userSet = 'nobody-defined';
      p.securityRules[1].effect = [];
    }),
    [['/securityRules/1/effect', 'must contain exactly one of permit, deny']],
  );
});

test('checkPolicy validates a parsed value the same way, without lines', () => {
  const error = refusal(() =>
    checkPolicy(
      broken((p) => (p.securityRules[0].userSet = 'x')),
      'store',
    ),
  );
  assert.deepEqual(error.issues, [
    { pointer: '/securityRules/0/userSet', message: 'there is no user set named "x" (defined: staff)' },
  ]);
  assert.match(
    error.message,
    /^store: the policy is invalid: \/securityRules\/0\/userSet: there is no user set/,
  );
  assert.deepEqual(checkPolicy(basePolicy(), 'store'), basePolicy());
});
