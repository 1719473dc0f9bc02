// The example policies (policies/examples/): each one is valid, compiles, and decides the
// requests its description promises.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';

import {
  compilePolicy,
  decide,
  loadPolicyFile,
  selectKey,
  type DecisionTable,
  type Policy,
  type Request,
} from '../../policies/index.js';
import { knownKeysOf } from './support.js';

const dir = new URL('../../policies/examples/', import.meta.url).pathname;
const USERS: Record<string, number> = { postgres: 101, backup: 34, alice: 1001, bob: 1002, billing: 1100 };
const GROUPS: Record<string, number> = { billing: 1100, sudo: 27, finance: 1200 };

function load(name: string): { policy: Policy; table: DecisionTable } {
  const policy = loadPolicyFile(`${dir}${name}`);
  const table = compilePolicy(policy, {
    knownKeys: knownKeysOf(policy),
    resolveUser: (user) => USERS[user],
    resolveGroup: (group) => GROUPS[group],
  });
  return { policy, table };
}

function asker(table: DecisionTable, base: Omit<Request, 'action' | 'path'>) {
  return (path: string, action: Request['action']) => {
    const d = decide(table, { ...base, path, action });
    return d.permit ? (d.applyKey ? 'plaintext' : 'raw') : 'denied';
  };
}

test('there are examples, and every one is valid and compiles', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.deepEqual(files.sort(), [
    'database.json',
    'home-directories.json',
    'learn-mode.json',
    'privileged-user.json',
  ]);
  for (const file of files) {
    const { policy, table } = load(file);
    assert.equal(table.rules.length, policy.securityRules.length);
    assert.equal(policy.$schema, '../schema/policy.schema.json');
  }
});

test('database.json: only the signed server sees plaintext; backup gets the raw bytes', () => {
  const { table, policy } = load('database.json');
  const server = { uid: 101, gids: [104], exe: '/usr/lib/postgresql/15/bin/postgres' };
  const signed = policy.signatureSets!['postgres-15'].sha256[0];
  const postgres = asker(table, { ...server, exeSha256: signed });
  assert.equal(postgres('base/16384/1259', 'f_rd'), 'plaintext');
  assert.equal(postgres('pg_wal/000000010000000000000001', 'f_wr_app'), 'plaintext');
  assert.equal(asker(table, { ...server, exeSha256: 'f'.repeat(64) })('base/1', 'f_rd'), 'denied'); // patched
  assert.equal(
    asker(table, { ...server, exe: '/usr/bin/psql', exeSha256: null })('base/1', 'f_rd'),
    'denied',
  );
  const backup = asker(table, { uid: 34, gids: [34], exe: '/usr/bin/tar', exeSha256: null });
  assert.equal(backup('base/16384/1259', 'f_rd'), 'raw');
  assert.equal(backup('base/16384/1259', 'f_cre'), 'raw');
  assert.equal(backup('base/16384/1259', 'exec'), 'denied');
  assert.equal(
    asker(table, { uid: 34, gids: [34], exe: '/bin/cat', exeSha256: null })('base/1', 'f_rd'),
    'denied',
  );
  const root = asker(table, { uid: 0, gids: [0], exe: '/bin/cat', exeSha256: null });
  assert.equal(root('base/16384/1259', 'f_rd'), 'denied');
  // The WAL key is named without a version: new segments go under its active version here.
  assert.deepEqual(policy.keyRules[0].key, { keyId: 'b68643c8-93c3-4f7b-b02b-6a3c943e8a99' });
  assert.deepEqual(selectKey(table, 'pg_wal/0001')?.key, {
    keyId: 'b68643c8-93c3-4f7b-b02b-6a3c943e8a99',
    version: 2,
  });
  assert.deepEqual(selectKey(table, 'base/1')?.key, policy.keyRules[1].key);
});

test('home-directories.json: each user in their own home; anyone lists /home; caches stay plaintext', () => {
  const { table, policy } = load('home-directories.json');
  const alice = asker(table, { uid: 1001, gids: [1001], exe: '/usr/bin/vim', exeSha256: null });
  const bob = asker(table, { uid: 1002, gids: [1002], exe: '/usr/bin/cat', exeSha256: null });
  assert.equal(alice('alice/notes.txt', 'f_wr'), 'plaintext');
  assert.equal(alice('alice', 'd_rd'), 'plaintext');
  assert.equal(bob('alice/notes.txt', 'f_rd'), 'denied');
  assert.equal(bob('alice', 'd_rd'), 'denied');
  assert.equal(bob('', 'd_rd'), 'raw');
  assert.equal(bob('bob/.bashrc', 'f_rd'), 'plaintext');
  const backup = asker(table, { uid: 34, gids: [34], exe: '/usr/bin/rsync', exeSha256: null });
  assert.equal(backup('alice/notes.txt', 'f_rd'), 'raw');
  assert.equal(selectKey(table, 'alice/.cache/thumbs/1.png')?.key, 'clear_key');
  assert.deepEqual(selectKey(table, 'alice/notes.txt')?.key, policy.keyRules[1].key);
  assert.equal(selectKey(table, ''), null);
});

test('learn-mode.json: nothing is blocked; what would be denied is marked learned', () => {
  const { table } = load('learn-mode.json');
  const server = { uid: 1100, gids: [1100], exe: '/opt/billing/bin/billing-server', exeSha256: null };
  assert.deepEqual(decide(table, { ...server, path: 'invoices/2024/7.pdf', action: 'f_wr' }), {
    permit: true,
    applyKey: true,
    audit: false,
    rule: 1,
    learned: false,
  });
  const editor = { ...server, exe: '/usr/bin/vim' };
  assert.deepEqual(decide(table, { ...editor, path: 'invoices/2024/7.pdf', action: 'f_wr' }), {
    permit: true,
    applyKey: true,
    audit: true,
    rule: 0,
    learned: true,
  });
  assert.equal(decide(table, { ...editor, path: 'invoices/2024/7.pdf', action: 'f_rd' }).learned, true);
  assert.equal(decide(table, { ...editor, path: 'exports/a.csv', action: 'f_rd' }).learned, false);
  assert.equal(decide(table, { ...editor, path: 'exports/a.csv.tmp', action: 'f_rd' }).learned, true);
});

test('privileged-user.json: root sees ciphertext even in the finance group; finance sees plaintext', () => {
  const { table } = load('privileged-user.json');
  const root = asker(table, { uid: 0, gids: [0, 1200], exe: '/bin/cp', exeSha256: null });
  assert.equal(root('q3/ledger.xlsx', 'f_rd'), 'raw');
  assert.equal(root('q3/ledger.xlsx', 'f_chg_att'), 'raw');
  assert.equal(root('q3/ledger.xlsx', 'exec'), 'denied');
  assert.equal(root('q3/ledger.xlsx', 'key_op'), 'denied');
  const admin = asker(table, { uid: 1500, gids: [1500, 27, 1200], exe: '/bin/cat', exeSha256: null });
  assert.equal(admin('q3/ledger.xlsx', 'f_rd'), 'raw');
  const clerk = asker(table, { uid: 1300, gids: [1300, 1200], exe: '/usr/bin/libreoffice', exeSha256: null });
  assert.equal(clerk('q3/ledger.xlsx', 'f_rd'), 'plaintext');
  assert.equal(clerk('q3/ledger.xlsx', 'f_wr'), 'plaintext');
  const other = asker(table, { uid: 1400, gids: [1400], exe: '/bin/cat', exeSha256: null });
  assert.equal(other('q3/ledger.xlsx', 'f_rd'), 'denied');
  assert.equal(table.transformations.length, 1);
});
