// The schema: a catalogue of policies each broken in one place, each refused with the
// JSON pointer of that place and a sentence that says what is wrong there.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Ajv2020 } from 'ajv/dist/2020.js';

import { POLICY_SCHEMA, parsePolicy, type Effect, type Policy } from '../../policies/index.js';
import { basePolicy, DELETE, edit, expectProblems, KEY_A, KEY_B } from './support.js';

type Case = [name: string, edits: Record<string, unknown>, problems: [string, string][]];

const GLOB = 'must be a relative path pattern';
const EXE = 'must be an absolute path';
const glob = (pattern: string, at = '/resourceSets/data/include'): Record<string, unknown> => ({
  [at]: [pattern],
});

const CASES: Case[] = [
  ['no name', { '/name': DELETE }, [['', 'must have the property "name"']]],
  ['no security rules', { '/securityRules': DELETE }, [['', 'must have the property "securityRules"']]],
  ['no key rules', { '/keyRules': DELETE }, [['', 'must have the property "keyRules"']]],
  [
    'an unknown top-level property',
    { '/version': 2 },
    [['/version', 'unknown property (allowed here: $schema, name']],
  ],
  ['a name with a space', { '/name': 'hr payroll' }, [['/name', 'must be a name: a letter']]],
  ['learnMode as a string', { '/learnMode': 'yes' }, [['/learnMode', 'must be a boolean']]],
  [
    'a description of 1025 characters',
    { '/description': 'x'.repeat(1025) },
    [['/description', 'at most 1024 characters']],
  ],
  [
    'a set name starting with a digit',
    { '/resourceSets/9lives': { include: ['a'] } },
    [['/resourceSets/9lives', '"9lives" is not a valid name']],
  ],
  [
    'a set name of 65 characters',
    { [`/userSets/u${'x'.repeat(64)}`]: { uids: [1] } },
    [[`/userSets/u${'x'.repeat(64)}`, 'is not a valid name']],
  ],
  [
    'a misspelt member of a resource set',
    { '/resourceSets/data': { includes: ['data/**'] } },
    [
      ['/resourceSets/data', 'must have the property "include"'],
      ['/resourceSets/data/includes', 'unknown property (allowed here: description, include, exclude)'],
    ],
  ],
  [
    'an empty include list',
    { '/resourceSets/data/include': [] },
    [['/resourceSets/data/include', 'must not be empty']],
  ],
  ['a glob with a leading /', glob('/data/**'), [['/resourceSets/data/include/0', GLOB]]],
  ['a glob with ..', glob('data/../etc'), [['/resourceSets/data/include/0', GLOB]]],
  ['a glob that is ..', glob('..'), [['/resourceSets/data/include/0', GLOB]]],
  [
    'a glob with a . segment',
    { '/resourceSets/data/include': ['a', './data'] },
    [['/resourceSets/data/include/1', GLOB]],
  ],
  ['a glob that is .', glob('.'), [['/resourceSets/data/include/0', GLOB]]],
  ['a glob with an empty segment', glob('data//x'), [['/resourceSets/data/include/0', GLOB]]],
  ['a glob with a trailing /', glob('data/'), [['/resourceSets/data/include/0', GLOB]]],
  ['a glob with ** inside a segment', glob('data**'), [['/resourceSets/data/include/0', GLOB]]],
  ['a glob with ** before a name', glob('**.txt'), [['/resourceSets/data/include/0', GLOB]]],
  ['a glob with ***', glob('a/***'), [['/resourceSets/data/include/0', GLOB]]],
  [
    'a glob with NUL',
    glob('a\u0000b', '/resourceSets/data/exclude'),
    [['/resourceSets/data/exclude/0', GLOB]],
  ],
  [
    'a glob with a newline',
    glob('a\nb', '/resourceSets/data/exclude'),
    [['/resourceSets/data/exclude/0', GLOB]],
  ],
  ['an empty glob', glob(''), [['/resourceSets/data/include/0', 'must not be empty']]],
  [
    'a glob given twice',
    { '/resourceSets/data/exclude': ['a', 'b', 'a'] },
    [['/resourceSets/data/exclude/2', 'repeats item 0']],
  ],
  [
    'a negative uid',
    { '/userSets/staff/uids': [-1] },
    [['/userSets/staff/uids/0', 'must be at least 0, not -1']],
  ],
  [
    'uid 4294967295',
    { '/userSets/staff/uids': [4294967295] },
    [['/userSets/staff/uids/0', 'must be at most 4294967294']],
  ],
  ['a fractional gid', { '/userSets/staff/gids': [1.5] }, [['/userSets/staff/gids/0', 'must be an integer']]],
  [
    'a uid as a string',
    { '/userSets/staff/uids': ['0'] },
    [['/userSets/staff/uids/0', 'must be an integer']],
  ],
  [
    'a user name with a colon',
    { '/userSets/staff/users': ['a:b'] },
    [['/userSets/staff/users/0', 'must be a user or group name']],
  ],
  [
    'a group name with a space',
    { '/userSets/staff/groups': ['domain users'] },
    [['/userSets/staff/groups/0', 'must be a user or group name']],
  ],
  [
    'an unknown member of a user set',
    { '/userSets/staff/uid': [1] },
    [['/userSets/staff/uid', 'unknown property (allowed here: description, users, uids, groups, gids)']],
  ],
  [
    'an upper-case SHA-256',
    { '/signatureSets/tools/sha256': ['A'.repeat(64)] },
    [['/signatureSets/tools/sha256/0', 'must be a SHA-256 in 64 lower-case']],
  ],
  [
    'a short SHA-256',
    { '/signatureSets/tools/sha256': ['ab'] },
    [['/signatureSets/tools/sha256/0', 'must be a SHA-256']],
  ],
  [
    'an empty signature set',
    { '/signatureSets/tools/sha256': [] },
    [['/signatureSets/tools/sha256', 'must not be empty']],
  ],
  [
    'a relative executable',
    { '/processSets/app/executables': ['bin/app'] },
    [['/processSets/app/executables/0', EXE]],
  ],
  [
    'an executable with ..',
    { '/processSets/app/executables': ['/usr/bin/../sbin/app'] },
    [['/processSets/app/executables/0', EXE]],
  ],
  [
    'an executable with a trailing /',
    { '/processSets/app/executables': ['/usr/bin/'] },
    [['/processSets/app/executables/0', EXE]],
  ],
  [
    'a process set without executables',
    { '/processSets/app/executables': DELETE },
    [['/processSets/app', 'must have the property "executables"']],
  ],
  [
    'a rule without actions',
    { '/securityRules/1/actions': DELETE },
    [['/securityRules/1', 'must have the property "actions"']],
  ],
  [
    'a rule without effect',
    { '/securityRules/0/effect': DELETE },
    [['/securityRules/0', 'must have the property "effect"']],
  ],
  [
    'an unknown action',
    { '/securityRules/1/actions': ['read', 'f_read'] },
    [['/securityRules/1/actions/1', 'must be one of read, write, all_ops']],
  ],
  [
    'an action given twice',
    { '/securityRules/1/actions': ['read', 'read'] },
    [['/securityRules/1/actions/1', 'repeats item 0']],
  ],
  ['no action', { '/securityRules/1/actions': [] }, [['/securityRules/1/actions', 'must not be empty']]],
  [
    'an effect of audit only',
    { '/securityRules/1/effect': ['audit'] },
    [['/securityRules/1/effect', 'must contain exactly one of permit, deny']],
  ],
  [
    'an empty effect',
    { '/securityRules/1/effect': [] },
    [['/securityRules/1/effect', 'must contain exactly one of permit, deny']],
  ],
  [
    'an effect of permit and deny',
    { '/securityRules/1/effect': ['permit', 'deny'] },
    [['/securityRules/1/effect', 'must contain exactly one of permit, deny']],
  ],
  [
    'an unknown effect',
    { '/securityRules/1/effect': ['permit', 'allow'] },
    [['/securityRules/1/effect/1', 'must be one of permit, deny, apply_key, audit, not "allow"']],
  ],
  [
    'effect as a string',
    { '/securityRules/1/effect': 'permit' },
    [['/securityRules/1/effect', 'must be an array']],
  ],
  [
    'not with an unknown set kind',
    { '/securityRules/0/not': ['user'] },
    [['/securityRules/0/not/0', 'must be one of resourceSet, userSet, processSet']],
  ],
  [
    'a set reference that is not a name',
    { '/securityRules/0/userSet': 5 },
    [['/securityRules/0/userSet', 'must be a string']],
  ],
  [
    'an unknown member of a rule',
    { '/securityRules/0/action': ['read'] },
    [
      [
        '/securityRules/0/action',
        'unknown property (allowed here: description, resourceSet, userSet, processSet, not, actions, effect)',
      ],
    ],
  ],
  ['no security rule', { '/securityRules': [] }, [['/securityRules', 'must not be empty']]],
  [
    'a key misspelt',
    { '/keyRules/0/key': 'clearkey' },
    [['/keyRules/0/key', 'must be "clear_key", not "clearkey"']],
  ],
  [
    'a key id in upper case',
    { '/keyRules/1/key/keyId': KEY_A.keyId.toUpperCase() },
    [['/keyRules/1/key/keyId', 'must be a lower-case UUID']],
  ],
  [
    'key version 0',
    { '/keyRules/1/key/version': 0 },
    [['/keyRules/1/key/version', 'must be at least 1, not 0']],
  ],
  [
    'key version 2^32',
    { '/keyRules/1/key/version': 2 ** 32 },
    [['/keyRules/1/key/version', 'must be at most 4294967295']],
  ],
  [
    'a key without an id',
    { '/keyRules/1/key/keyId': DELETE },
    [['/keyRules/1/key', 'must have the property "keyId"']],
  ],
  [
    'a current key without a version (transformations name exact versions)',
    { '/dataTransformationRules': [{ currentKey: { keyId: KEY_A.keyId }, transformationKey: KEY_B }] },
    [['/dataTransformationRules/0/currentKey', 'must have the property "version"']],
  ],
  [
    'a transformation key without a version',
    { '/dataTransformationRules': [{ currentKey: KEY_A, transformationKey: { keyId: KEY_B.keyId } }] },
    [['/dataTransformationRules/0/transformationKey', 'must have the property "version"']],
  ],
  [
    'a key without a version, with an unknown member',
    { '/keyRules/1/key': { keyId: KEY_A.keyId, latest: true } },
    [['/keyRules/1/key/latest', 'unknown property (allowed here: keyId, version)']],
  ],
  [
    'a key with a state',
    { '/keyRules/1/key/state': 'active' },
    [['/keyRules/1/key/state', 'unknown property (allowed here: keyId, version)']],
  ],
  ['a key as a number', { '/keyRules/1/key': 7 }, [['/keyRules/1/key', 'must be an object']]],
  ['no key rule', { '/keyRules': [] }, [['/keyRules', 'must not be empty']]],
  [
    'a transformation without its target',
    { '/dataTransformationRules': [{ currentKey: KEY_A }] },
    [['/dataTransformationRules/0', 'must have the property "transformationKey"']],
  ],
];

function edited(edits: Record<string, unknown>): Policy {
  const policy = basePolicy();
  for (const [pointer, value] of Object.entries(edits)) edit(policy, pointer, value);
  return policy;
}

for (const [name, edits, problems] of CASES) {
  test(`schema refuses ${name}`, () => {
    expectProblems(edited(edits), problems);
  });
}

test('schema refuses a document that is not an object', () => {
  for (const text of ['[]', '"policy"', '42', 'null', 'true'])
    expectProblems(text, [['', 'must be an object']]);
});

test('several problems are reported at once, in the order of the text', () => {
  const policy = edited({
    '/securityRules/1/effect': ['deny', 'permit'],
    '/name': '-',
    '/keyRules/1/key/version': -3,
  });
  expectProblems(policy, [
    ['/name', 'must be a name'],
    ['/securityRules/1/effect', 'must contain exactly one of permit, deny'],
    ['/keyRules/1/key/version', 'must be at least 1'],
  ]);
});

test('the schema accepts the base policy, every action and every effect combination', () => {
  parsePolicy(JSON.stringify(basePolicy()), 'base.json');
  for (const effect of [
    ['permit'],
    ['deny'],
    ['permit', 'apply_key'],
    ['audit', 'deny'],
    ['apply_key', 'audit', 'permit'],
  ]) {
    const policy = basePolicy();
    policy.securityRules[1].effect = effect as Effect[];
    parsePolicy(JSON.stringify(policy), 'effect.json');
  }
  const policy = basePolicy();
  policy.securityRules[1].actions = ['read', 'write', 'all_ops', 'key_op', 'exec', 'f_wr_app', 'd_rd_sec'];
  policy.$schema = '../schema/policy.schema.json';
  parsePolicy(JSON.stringify(policy), 'actions.json');
});

test('a key rule may name a key without a version; the parsed rule keeps it so', () => {
  const policy = basePolicy();
  policy.keyRules[1] = { key: { keyId: KEY_A.keyId } };
  const parsed = parsePolicy(JSON.stringify(policy), 'following.json');
  assert.deepEqual(parsed.keyRules[1].key, { keyId: KEY_A.keyId });
  policy.keyRules[0] = { resourceSet: 'logs', key: KEY_B };
  parsePolicy(JSON.stringify(policy), 'both.json');
});

test('the schema is valid draft 2020-12 in strict mode, and every property has a description', () => {
  new Ajv2020({ strict: true }).compile(POLICY_SCHEMA);
  assert.equal(POLICY_SCHEMA.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(typeof POLICY_SCHEMA.$id, 'string');
  const missing: string[] = [];
  const walk = (node: unknown, at: string): void => {
    if (node === null || typeof node !== 'object') return;
    const schema = node as Record<string, unknown>;
    if (
      schema.type === 'object' &&
      schema.additionalProperties !== false &&
      schema.propertyNames === undefined
    ) {
      missing.push(`${at}: an object that is not closed`);
    }
    for (const [name, property] of Object.entries(
      (schema.properties ?? {}) as Record<string, Record<string, unknown>>,
    )) {
      if (typeof property.description !== 'string') missing.push(`${at}/properties/${name}`);
    }
    for (const [key, child] of Object.entries(schema)) walk(child, `${at}/${key}`);
  };
  walk(POLICY_SCHEMA, '#');
  assert.deepEqual(missing, []);
});
