// The documentation of policies holds: docs/errors.md lists exactly the codes policies/
// declares and raises; docs/policy.md's example is valid and decides as the page says, and
// the compiled table it shows has every field compilePolicy produces.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import {
  compilePolicy,
  decide,
  parsePolicy,
  POLICY_ERROR_CODES,
  type KeyRef,
  type Request,
} from '../../policies/index.js';
import { documentedCodes, filesUnder, ROOT } from '../support/error_docs.js';

const root = ROOT;

const typescriptUnder = (dir: string): string[] => filesUnder(dir, /\.ts$/);

test('every policy code raised (in policies/ or by its users in agent/) is declared, and every declared one raised', () => {
  const raised = new Set<string>();
  // errors.ts declares the codes; counting it would make every declared code "raised".
  const files = [...typescriptUnder('policies'), ...typescriptUnder('agent')].filter(
    (file) => file !== join(root, 'policies/errors.ts'),
  );
  for (const file of files) {
    for (const code of readFileSync(file, 'utf8').match(/VEIL_POLICY_[A-Z_]+/g) ?? []) raised.add(code);
  }
  assert.deepEqual([...raised].sort(), [...POLICY_ERROR_CODES].sort());
});

test('docs/errors.md documents exactly the declared policy codes', () => {
  assert.deepEqual([...documentedCodes('Policies').keys()].sort(), [...POLICY_ERROR_CODES].sort());
});

test('docs/policy.md: its example is valid and decides as the page says; the table shown has every field', () => {
  const doc = readFileSync(join(root, 'docs/policy.md'), 'utf8');
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 4);
  for (const block of blocks) JSON.parse(block); // every json block is JSON
  const full = blocks.filter((b) => b.includes('"securityRules"'));
  assert.equal(full.length, 1);
  const policy = parsePolicy(full[0], 'docs/policy.md');
  const keys = policy.keyRules.flatMap((r) => (r.key === 'clear_key' ? [] : [r.key]));
  const table = compilePolicy(policy, {
    knownKeys: [...keys, { ...keys[0], version: 4 }] as KeyRef[],
    resolveUser: (name) => ({ alice: 1001, backup: 34 })[name],
    resolveGroup: (name) => ({ hr: 50 })[name],
  });
  const app = '/opt/payroll/bin/payroll';
  const signed = policy.signatureSets!['payroll-app'].sha256[0];
  const alice = { uid: 1001, gids: [1001], exe: app, exeSha256: signed };
  const decided = (request: Partial<Request>) => {
    const d = decide(table, { ...alice, path: 'payroll/march.csv', action: 'f_rd', ...request });
    return [d.permit, d.applyKey, d.rule];
  };
  assert.deepEqual(decided({ exe: '/usr/bin/cat', exeSha256: null }), [false, false, 0]);
  assert.deepEqual(decided({ uid: 2000, gids: [2000, 50], exe: '/usr/bin/cat', exeSha256: null }), [
    false,
    false,
    0,
  ]);
  assert.deepEqual(decided({}), [true, true, 1]);
  assert.deepEqual(decided({ exe: '/tmp/payroll' }), [false, false, 0]);
  assert.deepEqual(decided({ exeSha256: 'e'.repeat(64) }), [false, false, 0]);
  assert.deepEqual(decided({ uid: 34, gids: [34], exe: '/usr/bin/tar', exeSha256: null }), [true, false, 2]);
  assert.deepEqual(decided({ uid: 34, gids: [34], exe: '/usr/bin/tar', exeSha256: null, action: 'f_cre' }), [
    true,
    false,
    2,
  ]);
  assert.deepEqual(decided({ uid: 7, gids: [7], exe: '/usr/bin/cat', exeSha256: null, path: 'public/a' }), [
    true,
    false,
    3,
  ]);
  assert.deepEqual(decided({ uid: 7, gids: [7], exe: '/usr/bin/cat', exeSha256: null }), [
    false,
    false,
    null,
  ]);
  const shown = doc.slice(doc.indexOf('interface DecisionTable'));
  const fields = new Set([...shown.matchAll(/(?:^\s+|[{;]\s*)(\w+): /gm)].map((m) => m[1]));
  const parts = [table, table.rules[0], table.keyRules[0], table.transformations[0], table.users[0]];
  for (const name of parts.flatMap((part) => Object.keys(part))) {
    assert.ok(fields.has(name), `docs/policy.md does not show the field ${name}`);
  }
});
