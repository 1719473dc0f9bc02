// Policy files: what cannot be read is VEIL_POLICY_UNREADABLE, naming the file and why;
// what is read but is not a policy is VEIL_POLICY_INVALID.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { loadPolicyFile, MAX_POLICY_BYTES } from '../../policies/index.js';
import { basePolicy, refusal } from './support.js';

const scratch = mkdtempSync(join(tmpdir(), 'veil-policy-load-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const path = join(scratch, name);
  writeFileSync(path, content);
  return path;
}

test('a valid file loads', () => {
  const path = file('ok.json', JSON.stringify(basePolicy(), null, 2));
  assert.deepEqual(loadPolicyFile(path), basePolicy());
});

test('a missing file, a directory and a FIFO are unreadable, each said so', () => {
  const missing = join(scratch, 'missing.json');
  let error = refusal(() => loadPolicyFile(missing), 'VEIL_POLICY_UNREADABLE');
  assert.match(
    error.message,
    new RegExp(`^${missing}: the policy cannot be read: cannot open it \\(ENOENT\\)`),
  );
  assert.equal(error.issues[0].pointer, null);

  const dir = join(scratch, 'dir.json');
  mkdirSync(dir);
  error = refusal(() => loadPolicyFile(dir), 'VEIL_POLICY_UNREADABLE');
  assert.match(error.message, /it is not a regular file|EISDIR/);

  const fifo = join(scratch, 'fifo.json');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  // With no writer: opening it must not wait for one.
  error = refusal(() => loadPolicyFile(fifo), 'VEIL_POLICY_UNREADABLE');
  assert.match(error.message, /it is not a regular file/);
});

test('a file over the size limit is unreadable; one not in UTF-8 or not JSON is invalid', () => {
  const big = file('big.json', Buffer.alloc(MAX_POLICY_BYTES + 1, 0x20));
  assert.match(
    refusal(() => loadPolicyFile(big), 'VEIL_POLICY_UNREADABLE').message,
    /larger than 1048576 bytes/,
  );
  const latin1 = file('latin1.json', Buffer.from('{"name": "caf\xe9"}', 'latin1'));
  assert.match(
    refusal(() => loadPolicyFile(latin1)).message,
    /latin1\.json: the policy is invalid: the file is not UTF-8 text/,
  );
  const broken = file('broken.json', '{\n  "name": "x",\n  oops\n}');
  const error = refusal(() => loadPolicyFile(broken));
  assert.deepEqual([error.issues[0].line, error.issues[0].column], [3, 3]);
  assert.ok(
    error.message.startsWith(`${broken}: the policy is invalid: (top level) (line 3, column 3): `),
    error.message,
  );
});
