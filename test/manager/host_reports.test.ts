// The reports hosts send, kept in the store: each once, and only the newest of each host
// past a retention (the audit trail keeps every one). Over the real store on disk, with the
// retention made small so that the test can go past it.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';

import { HostReports } from '../../manager/hosts/reports.js';
import { openSqliteStore } from '../../manager/store/sqlite_store.js';

const dir = mkdtempSync('/var/tmp/veil-host-reports-');
const store = openSqliteStore(path.join(dir, 'manager.db'));

after(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function addHost(name: string): string {
  const id = randomUUID();
  store.insertHost({
    id,
    name,
    hostGroup: null,
    certificatePem: 'not used here',
    certificateSerial: randomBytes(16).toString('hex'),
    certificateNotAfter: Date.now() + 86_400_000,
    transportPublicKeyPem: 'not used here',
    registeredAt: Date.now(),
    lastSeenAt: null,
    deregisteredAt: null,
    guardPointStatus: null,
    previousCertificateSerial: null,
    domain: 'root',
  });
  return id;
}

/** A batch of `count` tamper reports, one a second from `from` (seconds after a fixed date). */
const batch = (from: number, count: number) => ({
  events: Array.from({ length: count }, (_, i) => ({
    eventId: randomUUID(),
    time: new Date(Date.UTC(2026, 10, 27) + (from + i) * 1000).toISOString(),
    type: 'tamper',
    message: `report ${from + i}`,
  })),
});

test("past the retention a host keeps its newest reports; another host's are untouched", () => {
  const reports = new HostReports(store, Date.now, undefined, { keep: 5, every: 4 });
  const busy = addHost('busy-host');
  const quiet = addHost('quiet-host');
  const kept = (hostId: string): number[] =>
    reports.list(hostId, { limit: 1000 }).map((r) => Number(r.message.replace('report ', '')));
  reports.receive(quiet, batch(0, 3));
  const first = batch(0, 3);
  assert.equal(reports.receive(busy, first).accepted, 3);
  assert.deepEqual(kept(busy), [2, 1, 0], 'newest first; under the trim interval nothing goes');
  // Sent again, the batch adds nothing and does not count towards the next trim.
  assert.deepEqual(reports.receive(busy, first), { accepted: 0, duplicates: 3 });
  assert.deepEqual(kept(busy), [2, 1, 0]);
  // Four more: seven stored since the last trim, past four: trimmed to the newest five.
  assert.equal(reports.receive(busy, batch(10, 4)).accepted, 4);
  assert.deepEqual(kept(busy), [13, 12, 11, 10, 2]);
  assert.deepEqual(kept(quiet), [2, 1, 0]);
});
