// Compiling a policy for a host: names become ids (from this host's /etc/passwd and
// /etc/group, or given resolvers), keys are checked against the host's, the table is
// plain JSON with a digest of the canonical policy.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import {
  canonicalPolicy,
  compilePolicy,
  localAccounts,
  parseAccountFile,
  policyDigest,
  type Policy,
} from '../../policies/index.js';
import { basePolicy, HASH_A, HASH_B, KEY_A, KEY_B, refusal } from './support.js';

const known = [KEY_A, KEY_B];
const scratch = mkdtempSync(join(tmpdir(), 'veil-policy-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

test('users and groups of this host resolve: root and nobody, root and nogroup (Debian)', () => {
  const policy = basePolicy();
  policy.userSets = {
    staff: { users: ['root', 'nobody'], uids: [0, 7], groups: ['root', 'nogroup'], gids: [9] },
  };
  const table = compilePolicy(policy, { knownKeys: known });
  assert.deepEqual(table.users, [{ uids: [0, 7, 65534], gids: [0, 9, 65534] }]);
});

test('an unknown user or group is refused at its pointer, every one at once', () => {
  const policy = basePolicy();
  policy.userSets = {
    staff: { users: ['root', 'no-such-user-veil'], groups: ['no-such-group-veil'] },
    other: { groups: ['nogroup', 'also-missing-veil'] },
  };
  const error = refusal(
    () => compilePolicy(policy, { knownKeys: known, source: 'p.json' }),
    'VEIL_POLICY_UNRESOLVED',
  );
  assert.deepEqual(
    error.issues.map((i) => [i.pointer, i.message]),
    [
      ['/userSets/staff/users/1', 'there is no user "no-such-user-veil" on this host'],
      ['/userSets/staff/groups/0', 'there is no group "no-such-group-veil" on this host'],
      ['/userSets/other/groups/1', 'there is no group "also-missing-veil" on this host'],
    ],
  );
  assert.match(
    error.message,
    /^p\.json: the policy names what this host does not have \(3 problems\):\n {2}\/userSets/,
  );
});

test('an unknown key version is refused at its pointer, saying which versions the host has', () => {
  const policy = basePolicy();
  policy.keyRules = [
    { resourceSet: 'data', key: { ...KEY_A, version: 9 } },
    { key: { ...KEY_B, keyId: '11111111-2222-4333-8444-555555555555' } },
  ];
  policy.dataTransformationRules = [{ currentKey: KEY_A, transformationKey: { ...KEY_B, version: 3 } }];
  const error = refusal(
    () => compilePolicy(policy, { knownKeys: [...known, { ...KEY_A, version: 4 }] }),
    'VEIL_POLICY_UNRESOLVED',
  );
  assert.deepEqual(
    error.issues.map((i) => [i.pointer, i.message]),
    [
      ['/keyRules/0/key', `key ${KEY_A.keyId} version 9 is not on this host (this host has versions 1, 4)`],
      [
        '/keyRules/1/key',
        'key 11111111-2222-4333-8444-555555555555 version 2 is not on this host (this host has no version of it)',
      ],
      [
        '/dataTransformationRules/0/transformationKey',
        `key ${KEY_B.keyId} version 3 is not on this host (this host has versions 2)`,
      ],
    ],
  );
});

test('known keys may carry more than an id and a version (keys.list() entries)', () => {
  const listed = known.map((ref) => ({ ...ref, state: 'active' as const, algorithm: 'aes-256' }));
  assert.deepEqual(compilePolicy(basePolicy(), { knownKeys: listed }).keys, [KEY_A]);
});

/** The base policy with its last key rule naming KEY_A without a version. */
function followingPolicy(): Policy {
  const policy = basePolicy();
  policy.keyRules[1] = { key: { keyId: KEY_A.keyId } };
  return policy;
}

test('a key named without a version compiles to its active version on this host', () => {
  const knownKeys = [
    { ...KEY_A, version: 1, state: 'deactivated' as const },
    { ...KEY_A, version: 2, state: 'active' as const },
    { ...KEY_A, version: 3, state: 'pre-activation' as const },
    { ...KEY_B, state: 'active' as const },
  ];
  const table = compilePolicy(followingPolicy(), { knownKeys });
  assert.deepEqual(table.keys, [{ keyId: KEY_A.keyId, version: 2 }]);
  assert.deepEqual(table.keyRules, [
    { resource: 1, key: -1 },
    { resource: -1, key: 0 },
  ]);
  // The digest is the policy's: the same policy after a rotation has the same digest.
  const rotated = knownKeys.map((ref) =>
    ref.keyId === KEY_A.keyId && ref.version === 3 ? { ...ref, state: 'active' as const } : ref,
  );
  const after = compilePolicy(followingPolicy(), { knownKeys: rotated });
  assert.deepEqual(after.keys, [{ keyId: KEY_A.keyId, version: 3 }], 'the highest active version');
  assert.equal(after.digest, table.digest);
});

test('a key named without a version shares its table entry with a rule naming that version', () => {
  const policy = followingPolicy();
  policy.keyRules[0] = { resourceSet: 'logs', key: { ...KEY_A, version: 2 } };
  const knownKeys = [
    { ...KEY_A, version: 1, state: 'suspended' as const },
    { ...KEY_A, version: 2, state: 'active' as const },
  ];
  const table = compilePolicy(policy, { knownKeys });
  assert.deepEqual(table.keys, [{ keyId: KEY_A.keyId, version: 2 }]);
  assert.deepEqual(
    table.keyRules.map((rule) => rule.key),
    [0, 0],
  );
});

test('a known key given without a state counts as active (veil-mount keys from files)', () => {
  const table = compilePolicy(followingPolicy(), {
    knownKeys: [KEY_A, { ...KEY_A, version: 2, state: 'deactivated' }],
  });
  assert.deepEqual(table.keys, [KEY_A]);
});

test('a key named without a version and no active version here is refused at its pointer', () => {
  const policy = followingPolicy();
  policy.keyRules.splice(1, 0, { resourceSet: 'data', key: { keyId: KEY_B.keyId } });
  const error = refusal(
    () =>
      compilePolicy(policy, {
        knownKeys: [
          { ...KEY_A, version: 2, state: 'compromised' },
          { ...KEY_A, version: 1, state: 'deactivated' },
        ],
        source: 'p.json',
      }),
    'VEIL_POLICY_UNRESOLVED',
  );
  assert.deepEqual(
    error.issues.map((i) => [i.pointer, i.message]),
    [
      [
        '/keyRules/1/key',
        `key ${KEY_B.keyId} has no active version on this host (this host has no version of it)`,
      ],
      [
        '/keyRules/2/key',
        `key ${KEY_A.keyId} has no active version on this host (this host has versions 1 deactivated, 2 compromised)`,
      ],
    ],
  );
});

test('an invalid policy is refused by compile too: it never trusts its caller', () => {
  const policy = basePolicy();
  policy.securityRules[0].userSet = 'typo';
  const error = refusal(() => compilePolicy(policy, { knownKeys: known }));
  assert.equal(error.issues[0].pointer, '/securityRules/0/userSet');
  refusal(() => compilePolicy(null as unknown as Policy, { knownKeys: known }));
});

test('the compiled table of the base policy, field by field', () => {
  const policy = basePolicy();
  policy.signatureSets!.tools.sha256 = [HASH_B, HASH_A];
  policy.securityRules.push({
    resourceSet: 'data',
    userSet: 'staff',
    not: ['userSet', 'resourceSet'],
    actions: ['f_wr', 'exec'],
    effect: ['deny'],
  });
  policy.dataTransformationRules = [{ resourceSet: 'data', currentKey: KEY_A, transformationKey: KEY_B }];
  const table = compilePolicy(policy, { knownKeys: known });
  assert.deepEqual(table, {
    format: 1,
    name: 'base',
    digest: policyDigest(policy),
    learnMode: false,
    resources: [
      { include: ['data/**'], exclude: ['data/tmp/**'] },
      { include: ['logs/**'], exclude: [] },
    ],
    users: [{ uids: [1000], gids: [100] }],
    processes: [{ executables: ['/usr/bin/app'], sha256: [HASH_A, HASH_B] }],
    rules: [
      {
        resource: 0,
        user: 0,
        process: 0,
        negate: 0,
        actions: 0x3ffff,
        permit: true,
        applyKey: true,
        audit: false,
        ruleIndex: 0,
      },
      {
        resource: 1,
        user: -1,
        process: -1,
        negate: 0,
        actions: 0xa541,
        permit: true,
        applyKey: false,
        audit: false,
        ruleIndex: 1,
      },
      {
        resource: 0,
        user: 0,
        process: -1,
        negate: 3,
        actions: 0x10006,
        permit: false,
        applyKey: false,
        audit: true,
        ruleIndex: 2,
      },
    ],
    keys: [KEY_A, KEY_B],
    keyRules: [
      { resource: 1, key: -1 },
      { resource: -1, key: 0 },
    ],
    transformations: [{ resource: 0, current: 0, target: 1 }],
  });
  assert.deepEqual(JSON.parse(JSON.stringify(table)), table);
});

test('the digest is SHA-256 of the canonical policy: member order and $schema do not change it', () => {
  const policy = basePolicy();
  const reordered = Object.fromEntries(Object.entries(policy).reverse()) as unknown as Policy;
  reordered.$schema = '../schema/policy.schema.json';
  assert.equal(policyDigest(reordered), policyDigest(policy));
  assert.equal(policyDigest(policy), createHash('sha256').update(canonicalPolicy(policy)).digest('hex'));
  assert.match(policyDigest(policy), /^[0-9a-f]{64}$/);
  const changed = basePolicy();
  changed.securityRules.reverse(); // rule order is meaning
  assert.notEqual(policyDigest(changed), policyDigest(policy));
  assert.equal(
    canonicalPolicy({
      name: 'n',
      keyRules: [{ key: 'clear_key' }],
      securityRules: [{ effect: ['deny'], actions: ['read'] }],
      description: 'é "q"',
    }),
    '{"description":"é \\"q\\"","keyRules":[{"key":"clear_key"}],"name":"n","securityRules":[{"actions":["read"],"effect":["deny"]}]}',
  );
});

test('account files: comments, NIS entries and bad ids are skipped, the first entry of a name wins', () => {
  const ids = parseAccountFile(
    [
      '# comment',
      'root:x:0:0:root:/root:/bin/bash',
      '',
      '+nis::::::',
      '-bad:x:1:1::/:/bin/sh',
      'neg:x:-1:1::/:/bin/sh',
      'big:x:4294967295:1::/:/bin/sh',
      'lead:x:01:1::/:/bin/sh',
      'short:x',
      'root:x:99:99::/:/bin/sh',
      'crlf:x:5:5::/:/bin/sh\r',
      'grp:x:7:alice,bob',
    ].join('\n'),
  );
  assert.deepEqual(
    [...ids],
    [
      ['root', 0],
      ['crlf', 5],
      ['grp', 7],
    ],
  );
});

test('account files given by path; an unreadable one is a refusal naming the file', () => {
  const passwd = join(scratch, 'passwd');
  writeFileSync(passwd, 'alice:x:1001:1001::/home/alice:/bin/sh\n');
  const accounts = localAccounts({ passwd, group: join(scratch, 'missing-group') });
  assert.equal(accounts.resolveUser('alice'), 1001);
  assert.equal(accounts.resolveUser('bob'), undefined);
  const policy = basePolicy();
  policy.userSets = { staff: { users: ['alice'], groups: ['staff'] } };
  const error = refusal(
    () => compilePolicy(policy, { knownKeys: known, ...accounts }),
    'VEIL_POLICY_UNRESOLVED',
  );
  assert.deepEqual(
    error.issues.map((i) => [i.pointer, i.message]),
    [
      [
        '/userSets/staff/groups/0',
        `cannot resolve group "staff": cannot read ${join(scratch, 'missing-group')} (ENOENT)`,
      ],
    ],
  );
});

test('given resolvers replace the host files; each name is asked once per reference', () => {
  const asked: string[] = [];
  const policy = basePolicy();
  policy.userSets = { staff: { users: ['x', 'y'], groups: ['g'] } };
  const table = compilePolicy(policy, {
    knownKeys: known,
    resolveUser: (name) => (asked.push(name), name === 'x' ? 5 : 3),
    resolveGroup: () => 42,
  });
  assert.deepEqual(table.users, [{ uids: [3, 5], gids: [42] }]);
  assert.deepEqual(asked, ['x', 'y']);
});
