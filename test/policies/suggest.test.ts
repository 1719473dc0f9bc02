// Learn mode's suggestions: access lines as veil-mount writes them (describeEvent) are read
// back, grouped into rules, and the suggested rules make a valid policy; the CLI does the
// same from a log file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { describeEvent } from '../../agent/cli/describe_event.js';
import type { GuardPointEvent } from '../../native/core.js';
import { parsePolicy } from '../../policies/index.js';
import { parseAccessLine, suggestRules } from '../../policies/suggest.js';

const GP = '/srv/data files';
const CLI = path.resolve(import.meta.dirname, '../../bin/veil-policy.js');
const work = mkdtempSync('/tmp/veil-suggest-');
after(() => rmSync(work, { recursive: true, force: true }));

function event(uid: number, exe: string, action: string, file: string, learned: boolean): GuardPointEvent {
  return {
    type: 'access',
    path: file,
    message: learned ? 'learn mode: would have been denied' : 'rule 0',
    uid,
    pid: 4242,
    access: {
      time: Date.UTC(2026, 10, 26, 12),
      policy: 'learning',
      digest: 'ab'.repeat(32),
      rule: learned ? null : 0,
      action,
      effect: 'permit',
      applyKey: true,
      learned,
      gid: 100,
      executable: exe,
    },
  };
}

const LINES = [
  event(0, '/usr/bin/cat', 'f_rd', 'reports/2026/q1.csv', true),
  event(0, '/usr/bin/cat', 'f_rd', 'reports/2026/q2.csv', true),
  event(0, '/usr/bin/cat', 'f_rd_att', 'reports/2026/q2.csv', true),
  event(0, '/usr/bin/ls', 'd_rd', 'reports', true),
  event(0, '/usr/bin/cat', 'f_rd', 'public/readme', false), // permitted by a rule: not learned
  event(65534, '/usr/bin/python3.11', 'f_wr_app', 'logs/app log.txt', true),
].map((e) => `veil-mount: ${describeEvent(e, GP)}`);

test('the lines veil-mount writes parse back into their records', () => {
  const record = parseAccessLine(LINES[5] ?? '');
  assert.deepEqual(record, {
    user: 'nobody',
    uid: 65534,
    process: '/usr/bin/python3.11',
    action: 'f_wr_app',
    resource: '/srv/data files/logs/app log.txt',
    guardPoint: GP,
    learned: true,
  });
  assert.equal(parseAccessLine('veil-mount: tamper: x: authentication failed'), undefined);
  assert.equal(parseAccessLine('access: action=f_rd'), undefined, 'a record without its fields');
});

test('learned records become one permit rule per user and process, over the directories used', () => {
  const suggestion = suggestRules(LINES.map((l) => parseAccessLine(l)!));
  assert.equal(suggestion.records, 5);
  assert.deepEqual(
    suggestion.securityRules.map((r) => [
      r.userSet,
      r.processSet,
      r.actions,
      suggestion.resourceSets[r.resourceSet],
    ]),
    [
      ['user-root', 'process-cat', ['f_rd', 'f_rd_att'], { include: ['reports/2026/**'] }],
      ['user-root-2', 'process-ls', ['d_rd'], { include: ['reports/**'] }],
      ['user-nobody', 'process-python3.11', ['f_wr_app'], { include: ['logs/**'] }],
    ].map(([user, proc, actions, set]) => [user === 'user-root-2' ? 'user-root' : user, proc, actions, set]),
  );
  assert.deepEqual(suggestion.userSets['user-root'], { users: ['root'] });
  assert.deepEqual(suggestion.processSets['process-cat'], { executables: ['/usr/bin/cat'] });
  // The suggestion is valid policy material.
  const policy = parsePolicy(
    JSON.stringify({
      name: 'suggested',
      ...suggestion,
      records: undefined,
      keyRules: [{ key: 'clear_key' }],
    }),
    'suggestion',
  );
  assert.equal(policy.securityRules.length, 3);
});

test('veil-policy suggest reads a log file; check validates a policy and refuses a bad one', () => {
  const log = path.join(work, 'veil.log');
  writeFileSync(log, `${LINES.join('\n')}\nnoise\n`);
  const suggest = spawnSync(process.execPath, [CLI, 'suggest', log], { encoding: 'utf8' });
  assert.equal(suggest.status, 0, suggest.stderr);
  assert.equal((JSON.parse(suggest.stdout) as { records: number }).records, 5);
  const example = path.resolve(import.meta.dirname, '../../policies/examples/privileged-user.json');
  const check = spawnSync(process.execPath, [CLI, 'check', example], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /valid: \d+ security rules, sha256 [0-9a-f]{64}/);
  const host = spawnSync(process.execPath, [CLI, 'check', '--host', example], { encoding: 'utf8' });
  assert.equal(host.status, 1, 'the example names a group this host does not have');
  assert.match(host.stderr, /\/userSets\/finance\/groups\/0: there is no group "finance"/);
  const bad = path.join(work, 'bad.json');
  writeFileSync(
    bad,
    '{"name": "x", "securityRules": [{"actions": ["fly"], "effect": ["permit"]}], "keyRules": []}',
  );
  const refused = spawnSync(process.execPath, [CLI, 'check', bad], { encoding: 'utf8' });
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /\/securityRules\/0\/actions\/0/);
  assert.match(spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' }).stdout, /suggest/);
});
