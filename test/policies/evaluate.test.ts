// The reference evaluator: first match wins, negation, no match denies, learn mode, the
// raw view of a permit without apply_key, action groups, and signature sets.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { compilePolicy, decide, selectKey, type Policy, type Request } from '../../policies/index.js';
import { basePolicy, HASH_A, HASH_B, KEY_A, KEY_B } from './support.js';

function table(policy: Policy) {
  return compilePolicy(policy, { knownKeys: [KEY_A, KEY_B], resolveUser: () => 1, resolveGroup: () => 1 });
}

/** The base policy's app, run by staff on a data file. */
function request(overrides: Partial<Request> = {}): Request {
  return {
    path: 'data/a.csv',
    uid: 1000,
    gids: [1000],
    exe: '/usr/bin/app',
    exeSha256: HASH_A,
    action: 'f_rd',
    ...overrides,
  };
}

const PLAINTEXT = { permit: true, applyKey: true, audit: false, learned: false };
const RAW = { permit: true, applyKey: false, audit: false, learned: false };
const DENIED = { permit: false, applyKey: false, audit: true, rule: null, learned: false };

test('the base policy: the signed app of staff reads plaintext, logs are raw to anyone, the rest is denied', () => {
  const t = table(basePolicy());
  assert.deepEqual(decide(t, request()), { ...PLAINTEXT, rule: 0 });
  assert.deepEqual(decide(t, request({ path: 'logs/x', uid: 5, exe: null })), { ...RAW, rule: 1 });
  assert.deepEqual(decide(t, request({ path: 'logs/x', action: 'f_wr' })), DENIED);
  assert.deepEqual(decide(t, request({ path: 'data/tmp/x' })), DENIED); // excluded from data
  assert.deepEqual(decide(t, request({ uid: 0 })), DENIED);
  assert.deepEqual(decide(t, request({ uid: 0, gids: [0, 100] })), { ...PLAINTEXT, rule: 0 }); // by gid
});

test('first match wins', () => {
  const policy = basePolicy();
  policy.securityRules = [
    { resourceSet: 'data', actions: ['f_rd'], effect: ['deny'] },
    { resourceSet: 'data', actions: ['all_ops'], effect: ['permit', 'apply_key'] },
  ];
  assert.deepEqual(decide(table(policy), request()), {
    permit: false,
    applyKey: false,
    audit: true,
    rule: 0,
    learned: false,
  });
  assert.deepEqual(decide(table(policy), request({ action: 'f_wr' })), { ...PLAINTEXT, rule: 1 });
  policy.securityRules.reverse();
  assert.deepEqual(decide(table(policy), request()), { ...PLAINTEXT, rule: 0 });
});

test('a rule that leaves out every set matches every request for its actions', () => {
  const policy = basePolicy();
  policy.securityRules = [{ actions: ['d_rd'], effect: ['permit', 'audit'] }];
  const t = table(policy);
  for (const r of [
    request({ action: 'd_rd', path: '' }),
    request({ action: 'd_rd', uid: 0, exe: null, exeSha256: null }),
  ]) {
    assert.deepEqual(decide(t, r), { ...RAW, audit: true, rule: 0 });
  }
  assert.deepEqual(decide(t, request({ action: 'f_rd' })), DENIED);
});

test('negation of each set: the request must be outside it', () => {
  const cases: [Policy['securityRules'][number], Partial<Request>, Partial<Request>][] = [
    // [rule, a request it matches, a request it does not]
    [
      { resourceSet: 'data', not: ['resourceSet'], actions: ['read'], effect: ['permit'] },
      { path: 'other/x' },
      { path: 'data/x' },
    ],
    [
      { resourceSet: 'data', not: ['resourceSet'], actions: ['read'], effect: ['permit'] },
      { path: 'data/tmp/x' },
      {},
    ],
    [
      { userSet: 'staff', not: ['userSet'], actions: ['read'], effect: ['permit'] },
      { uid: 0, gids: [0] },
      {},
    ],
    [
      { processSet: 'app', not: ['processSet'], actions: ['read'], effect: ['permit'] },
      { exe: '/bin/cat' },
      {},
    ],
    [
      { processSet: 'app', not: ['processSet'], actions: ['read'], effect: ['permit'] },
      { exeSha256: HASH_B },
      {},
    ],
    [
      { processSet: 'app', not: ['processSet'], actions: ['read'], effect: ['permit'] },
      { exe: null, exeSha256: null },
      {},
    ],
    [
      { resourceSet: 'data', userSet: 'staff', not: ['userSet'], actions: ['read'], effect: ['permit'] },
      { uid: 7, gids: [7] },
      { uid: 7, gids: [7], path: 'logs/x' },
    ],
  ];
  for (const [rule, inside, outside] of cases) {
    const policy = basePolicy();
    policy.securityRules = [rule];
    const t = table(policy);
    assert.equal(
      decide(t, request(inside)).rule,
      0,
      `${JSON.stringify(rule)} should match ${JSON.stringify(inside)}`,
    );
    assert.equal(
      decide(t, request(outside)).rule,
      null,
      `${JSON.stringify(rule)} should not match ${JSON.stringify(outside)}`,
    );
  }
});

test('no match denies, and the denial is audited', () => {
  const policy = basePolicy();
  policy.securityRules = [{ userSet: 'staff', actions: ['exec'], effect: ['permit', 'apply_key'] }];
  assert.deepEqual(decide(table(policy), request()), DENIED);
  assert.deepEqual(decide(table(policy), request({ action: 'exec' })), { ...PLAINTEXT, rule: 0 });
});

test('apply_key gives plaintext; a permit without it gives the stored bytes; audit is kept', () => {
  const policy = basePolicy();
  policy.securityRules = [
    { userSet: 'staff', actions: ['read'], effect: ['permit', 'apply_key', 'audit'] },
    { actions: ['read', 'write'], effect: ['audit', 'permit'] },
  ];
  const t = table(policy);
  assert.deepEqual(decide(t, request()), { ...PLAINTEXT, audit: true, rule: 0 });
  assert.deepEqual(decide(t, request({ uid: 34, gids: [34] })), { ...RAW, audit: true, rule: 1 });
  assert.deepEqual(decide(t, request({ uid: 34, gids: [34], action: 'f_wr' })), {
    ...RAW,
    audit: true,
    rule: 1,
  });
});

test('every deny is audited, with or without audit in its effect', () => {
  const policy = basePolicy();
  policy.securityRules = [{ actions: ['all_ops'], effect: ['deny'] }];
  assert.deepEqual(decide(table(policy), request()), {
    permit: false,
    applyKey: false,
    audit: true,
    rule: 0,
    learned: false,
  });
});

test('learn mode: a deny by a rule or by no match becomes an audited permit with the key', () => {
  const policy = basePolicy();
  policy.learnMode = true;
  policy.securityRules.push({ resourceSet: 'logs', actions: ['write'], effect: ['deny'] });
  const t = table(policy);
  const learned = { permit: true, applyKey: true, audit: true, learned: true };
  assert.deepEqual(decide(t, request({ path: 'logs/x', action: 'f_wr' })), { ...learned, rule: 2 });
  assert.deepEqual(decide(t, request({ uid: 0, gids: [0] })), { ...learned, rule: null });
  // A permit stays what it is: the raw view stays raw, nothing is marked learned.
  assert.deepEqual(decide(t, request()), { ...PLAINTEXT, rule: 0 });
  assert.deepEqual(decide(t, request({ path: 'logs/x' })), { ...RAW, rule: 1 });
});

test('action groups: read covers f_rd and d_rd, write covers f_wr_app, neither covers exec or key_op', () => {
  const policy = basePolicy();
  policy.securityRules = [
    { resourceSet: 'data', actions: ['read'], effect: ['permit'] },
    { resourceSet: 'logs', actions: ['write'], effect: ['permit'] },
  ];
  const t = table(policy);
  const on = (path: string, action: Request['action']) => decide(t, request({ path, action })).permit;
  for (const action of ['f_rd', 'f_rd_att', 'f_rd_sec', 'd_rd', 'd_rd_att', 'd_rd_sec'] as const)
    assert.ok(on('data/x', action), action);
  for (const action of ['f_wr', 'f_wr_app', 'f_cre', 'f_rm', 'f_ren', 'd_mkdir', 'exec', 'key_op'] as const) {
    assert.ok(!on('data/x', action), action);
  }
  for (const action of [
    'f_wr',
    'f_wr_app',
    'f_cre',
    'f_ren',
    'f_rm',
    'f_chg_att',
    'f_chg_sec',
    'd_mkdir',
    'd_rmdir',
    'd_chg_att',
  ] as const) {
    assert.ok(on('logs/x', action), action);
  }
  for (const action of ['f_rd', 'd_rd', 'exec', 'key_op'] as const) assert.ok(!on('logs/x', action), action);

  policy.securityRules = [
    { actions: ['f_wr_app'], effect: ['permit'] },
    { actions: ['all_ops'], effect: ['permit', 'apply_key'] },
  ];
  const appendOnly = table(policy);
  assert.equal(decide(appendOnly, request({ action: 'f_wr_app' })).rule, 0);
  assert.equal(decide(appendOnly, request({ action: 'f_wr' })).rule, 1);
  assert.equal(decide(appendOnly, request({ action: 'key_op' })).rule, 1);
  assert.equal(decide(appendOnly, request({ action: 'exec' })).rule, 1);
});

test('a signature set: the right hash matches; a wrong or unknown hash, or another path, does not', () => {
  const policy = basePolicy();
  policy.signatureSets!.tools.sha256 = [HASH_B, HASH_A];
  const t = table(policy);
  assert.equal(decide(t, request()).rule, 0);
  assert.equal(decide(t, request({ exeSha256: HASH_B })).rule, 0);
  assert.equal(decide(t, request({ exeSha256: 'c'.repeat(64) })).rule, null);
  assert.equal(decide(t, request({ exeSha256: HASH_A.toUpperCase() })).rule, null);
  assert.equal(decide(t, request({ exeSha256: null })).rule, null);
  assert.equal(decide(t, request({ exe: '/tmp/app' })).rule, null); // the same binary copied elsewhere
  assert.equal(decide(t, request({ exe: null })).rule, null);
  delete policy.processSets!.app.signatureSet;
  assert.equal(decide(table(policy), request({ exeSha256: null })).rule, 0); // no signature bound
});

test('a request for an action that is not fine-grained is a programming error', () => {
  assert.throws(
    () => decide(table(basePolicy()), request({ action: 'read' as Request['action'] })),
    TypeError,
  );
});

test('selectKey: the first key rule whose set holds the file; clear_key; none', () => {
  const policy = basePolicy();
  const t = table(policy);
  assert.deepEqual(selectKey(t, 'logs/a'), { rule: 0, key: 'clear_key' });
  assert.deepEqual(selectKey(t, 'data/a'), { rule: 1, key: KEY_A });
  assert.deepEqual(selectKey(t, ''), { rule: 1, key: KEY_A });
  policy.keyRules = [{ resourceSet: 'data', key: KEY_B }];
  assert.deepEqual(selectKey(table(policy), 'data/a'), { rule: 0, key: KEY_B });
  assert.equal(selectKey(table(policy), 'logs/a'), null);
});
