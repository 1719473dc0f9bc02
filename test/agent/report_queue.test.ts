// The agent's report queue against the real manager: reports survive a restart (the file),
// go in batches of at most 500, are stored once, and a report the manager refuses as
// malformed is dropped without holding back the others.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ReportQueue } from '../../agent/link/report_queue.js';
import { ManagerClient } from '../../manager-client/client.js';
import type { HostReport } from '../../manager-client/types.js';
import {
  hostClient,
  registerHostByHand,
  startManagerProcess,
  type ManagerProcess,
} from '../manager/support.js';

const work = mkdtempSync('/var/tmp/veil-report-queue-');
let manager: ManagerProcess;
let host: ManagerClient;
let hostId: string;

before(async () => {
  manager = await startManagerProcess(path.join(work, 'manager'));
  const transportPublicKey = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const registered = await registerHostByHand(
    manager,
    path.join(work, 'host.key'),
    'reporter',
    transportPublicKey,
  );
  hostId = registered.id;
  host = hostClient(manager, registered);
});

after(async () => {
  await manager?.stop();
  rmSync(work, { recursive: true, force: true });
});

const denial = (i: number): Parameters<ReportQueue['add']>[0] => ({
  type: 'tamper',
  guardPoint: '/srv/data',
  path: `file-${i}`,
  code: 'VEIL_CRYPTO_AUTH_FAILED',
  message: `block ${i} failed authentication`,
});

test('queued reports survive a restart and reach the manager once, in batches of at most 500', async () => {
  const file = path.join(work, 'reports-1.jsonl');
  const before = new ReportQueue(file);
  for (let i = 0; i < 1200; i++) before.add(denial(i));
  assert.equal(statSync(file).mode & 0o777, 0o600);

  const after = new ReportQueue(file); // as veild after a restart
  assert.equal(after.length, 1200);
  const batches: number[] = [];
  await after.flush(async (batch: HostReport[]) => {
    batches.push(batch.length);
    return host.reportEvents(batch);
  });
  assert.deepEqual(batches, [500, 500, 200]);
  assert.equal(after.length, 0);
  assert.equal(new ReportQueue(file).length, 0, 'the file is emptied too');
  const stored = await manager.admin().hostEvents(hostId, { limit: 1000, type: 'tamper' });
  assert.equal(stored.length, 1000);
  assert.equal(new Set(stored.map((r) => r.eventId)).size, 1000);
});

test('a report the manager refuses as malformed is dropped; the others are delivered', async () => {
  const queue = new ReportQueue(path.join(work, 'reports-2.jsonl'));
  queue.add(denial(1));
  queue.add({ ...denial(2), code: 'not a code' });
  queue.add({ ...denial(3), message: 'x'.repeat(5000) }); // cut to the 1,024 characters allowed
  await queue.flush((batch) => host.reportEvents(batch));
  assert.equal(queue.length, 0);
  assert.equal(queue.dropped, 1);
  const stored = await manager.admin().hostEvents(hostId, { limit: 1000, type: 'tamper' });
  const paths = stored.map((r) => r.path);
  assert.ok(paths.includes('file-1') && paths.includes('file-3'));
  assert.equal(stored.find((r) => r.path === 'file-3')?.message.length, 1024);
});

test('an unreachable manager keeps every report for the next flush', async () => {
  const queue = new ReportQueue(path.join(work, 'reports-3.jsonl'));
  queue.add(denial(7));
  const away = new ManagerClient({ url: 'https://127.0.0.1:1', caPem: manager.caPem() });
  await assert.rejects(
    queue.flush((batch) => away.reportEvents(batch)),
    { code: 'VEIL_MANAGER_UNREACHABLE' },
  );
  assert.equal(queue.length, 1);
  await queue.flush((batch) => host.reportEvents(batch));
  assert.equal(queue.length, 0);
});
