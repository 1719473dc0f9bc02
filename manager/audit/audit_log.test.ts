// AuditLog on a real audit.db and master key in a temporary directory: the reading side
// (recordsAfter, lastSeq, onAppend) as SIEM forwarding uses it, batches that commit or
// leave nothing, checkpoints by count and by time, and keys that stay the trail's.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { openFileMasterKey } from '../keys/master_key.js';
import { AuditLog, verifyAuditFile } from './audit_log.js';
import type { AuditEntry, AuditRecord } from './audit_record.js';

const work = mkdtempSync(path.join(tmpdir(), 'veil-audit-log-'));
after(() => rmSync(work, { recursive: true, force: true }));

function fresh(name: string) {
  const dir = path.join(work, name);
  mkdirSync(dir, { mode: 0o700 });
  const master = openFileMasterKey(path.join(work, `${name}.key`), { create: true });
  return { dir, master };
}

const entry = (action: string, details: AuditEntry['details'] = {}): AuditEntry => ({
  time: Date.now(),
  actor: 'tester',
  role: 'admin',
  domain: 'root',
  action,
  object: '',
  outcome: 'success',
  reason: '',
  source: 'local',
  details,
});

test('records are numbered from 1, read in order, and announced once written', () => {
  const { dir, master } = fresh('order');
  const log = AuditLog.open(dir, master);
  try {
    const seen: AuditRecord[] = [];
    const stop = log.onAppend((record) => seen.push(record));
    const a = log.append(entry('a', { n: 1, ok: true, text: 'x' }));
    const b = log.append(entry('b'));
    assert.deepEqual([a.seq, b.seq, log.lastSeq()], [2, 3, 3], 'record 1 is the trail made');
    assert.deepEqual(
      log.recordsAfter(1, 10).map((r) => r.action),
      ['a', 'b'],
    );
    assert.deepEqual(log.recordsAfter(0, 1)[0]?.action, 'audit.trail.created');
    assert.deepEqual(log.recordsAfter(2, 10)[0], b);
    assert.deepEqual(seen, [a, b]);
    stop();
    log.append(entry('c'));
    assert.equal(seen.length, 2);
    assert.throws(() => log.append(entry('d', { password: 'x' })), /may not be called password/);
    assert.throws(() => log.append({ ...entry('d'), actor: 7 as never }), /actor is a string/);
    assert.equal(log.lastSeq(), 4, 'a refused entry takes no number');
  } finally {
    log.close();
  }
});

test('a batch commits its records together, announced after; a failed batch leaves none', () => {
  const { dir, master } = fresh('batch');
  const log = AuditLog.open(dir, master);
  try {
    const seen: number[] = [];
    log.onAppend((record) => seen.push(record.seq));
    log.batch(() => {
      log.append(entry('one'));
      log.append(entry('two'));
      assert.deepEqual(seen, [], 'nothing announced before the commit');
    });
    assert.deepEqual(seen, [2, 3]);
    assert.throws(() =>
      log.batch(() => {
        log.append(entry('lost'));
        throw new Error('the work failed');
      }),
    );
    assert.equal(log.lastSeq(), 3);
    assert.deepEqual(seen, [2, 3]);
    assert.equal(log.append(entry('next')).seq, 4, 'the chain goes on from what was committed');
    assert.equal(log.verify().ok, true);
  } finally {
    log.close();
  }
});

test('appendDurably: the entries of one turn commit together, a refused one alone is left out', async () => {
  const { dir, master } = fresh('durably');
  const log = AuditLog.open(dir, master);
  try {
    const seen: number[] = [];
    log.onAppend((record) => seen.push(record.seq));
    const asked = [
      log.appendDurably(entry('one')),
      log.appendDurably({ ...entry('bad'), outcome: 'maybe' as never }),
      log.appendDurably(entry('two')),
    ];
    assert.deepEqual(seen, [], 'nothing is written before the turn ends');
    const [one, bad, two] = await Promise.allSettled(asked);
    assert.equal(bad?.status, 'rejected');
    assert.equal(one?.status === 'fulfilled' && one.value.seq, 2);
    assert.equal(two?.status === 'fulfilled' && two.value.seq, 3);
    assert.deepEqual(seen, [2, 3], 'announced once committed');
    assert.deepEqual(
      log.recordsAfter(1, 10).map((r) => r.action),
      ['one', 'two'],
    );
    assert.equal(log.verify().ok, true);
    const pending = log.appendDurably(entry('at close'));
    log.close();
    assert.equal((await pending).seq, 4, 'close writes what was waiting');
  } finally {
    log.close();
  }
});

test('checkpoints every N records and every T seconds; the keys stay the trail’s across openings', async () => {
  const { dir, master } = fresh('checkpoints');
  let log = AuditLog.open(dir, master, { checkpointEvery: 5, checkpointSeconds: 0.2 });
  const fingerprint = log.verify().publicKeyFingerprint;
  try {
    for (let i = 0; i < 4; i++) log.append(entry(`r${i}`));
    assert.equal(log.verify().checkpoints, 1, 'at record 5');
    log.append(entry('late'));
    await sleep(500);
    assert.equal(log.verify().checkpoints, 2, 'by time, since a record came');
    await sleep(300);
    assert.equal(log.verify().checkpoints, 2, 'none without new records');
  } finally {
    log.close();
  }
  log = AuditLog.open(dir, master);
  try {
    assert.equal(log.verify().publicKeyFingerprint, fingerprint);
    assert.equal(log.checkpoint()?.seq, 6);
  } finally {
    log.close();
  }
  const offline = verifyAuditFile(dir, master);
  assert.deepEqual([offline.ok, offline.lastSeq], [true, 6]);
  // Another master key unwraps none of the trail's keys.
  assert.throws(
    () => verifyAuditFile(dir, openFileMasterKey(path.join(work, 'other.key'), { create: true })),
    /does not unwrap/,
  );
});
