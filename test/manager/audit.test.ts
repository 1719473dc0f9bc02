// The audit trail on the real manager process and the real CLI: administrative calls and
// host events become records with the right actor, role, action, outcome and source, and
// never key material; the auditor alone reads them; verify passes on an honest trail. Then,
// with the manager stopped, audit.db is tampered with directly (a flipped byte, a deleted
// record, a forged one inserted, two swapped, the tail cut): `audit verify` catches each
// and names the first bad record, the cut tail through a checkpoint exported before.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  constants,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  randomUUID,
} from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import Database from 'better-sqlite3';

import { ManagerClient } from '../../manager-client/client.js';
import type {
  AuditCheckpoint,
  AuditRecordView,
  AuditVerification,
  HostEvent,
  HostReport,
} from '../../manager-client/types.js';
import { assertNoKeyBytes } from '../support/no_key_bytes.js';
import {
  MANAGER_CLI,
  failure,
  hostClient,
  registerHostByHand,
  startManagerProcess,
  type ManagerProcess,
} from './support.js';

const work = mkdtempSync('/var/tmp/veil-manager-audit-');
const dataDir = path.join(work, 'data');
const AUDITOR = { name: 'watcher', password: 'watcher password 1' };
const auditorPasswordFile = path.join(work, 'watcher-password');
const asAuditor = ['--admin', AUDITOR.name, '--password-file', auditorPasswordFile];
let manager: ManagerProcess;
/** Key material the test knows (an imported key's), which no record may carry. */
const material = randomBytes(32);
/** Secrets seen on the wire (a registration token, a session token, an exported blob). */
const secrets: string[] = [];
/** A checkpoint the auditor exported before the tampering, kept apart from the manager. */
const keptCheckpoint = path.join(work, 'kept-checkpoint.json');

function auditor(): ManagerClient {
  return new ManagerClient({ url: manager.url, caPem: manager.caPem(), admin: AUDITOR });
}

/** `veil-manager ARGS` as an operator types it (no --json unless given). */
function cli(...args: string[]): { status: number; out: string; err: string } {
  const result = spawnSync(process.execPath, [MANAGER_CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status ?? -1, out: result.stdout, err: result.stderr };
}

/** Every record, paged the way a reader does it. */
async function allRecords(): Promise<AuditRecordView[]> {
  const records: AuditRecordView[] = [];
  for (;;) {
    const page = await auditor().auditRecords({ after: records.at(-1)?.seq ?? 0, limit: 1000 });
    records.push(...page);
    if (page.length < 1000) return records;
  }
}

const one = (records: AuditRecordView[], match: (r: AuditRecordView) => boolean, what: string) => {
  const found = records.filter(match);
  assert.equal(found.length, 1, `${what}: ${JSON.stringify(found)}`);
  return found[0];
};

before(async () => {
  manager = await startManagerProcess(dataDir);
  await manager.admin().createUser({ ...AUDITOR, roles: ['auditor'] });
  writeFileSync(auditorPasswordFile, `${AUDITOR.password}\n`, { mode: 0o600 });
});

after(async () => {
  await manager?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('administrative calls become records: who, which roles, what, on what, how it ended, from where', async () => {
  const admin = manager.admin();
  const start = (await allRecords()).at(-1)?.seq ?? 0;
  const key = await admin.createKey({ name: 'audit-key' });
  await admin.rotateKey(key.keyId);
  await admin.setKeyState(key.keyId, 2, 'suspended');
  await admin.keys(); // a read: not recorded
  const denied = await failure(auditor().rotateKey(key.keyId));
  assert.equal(denied.code, 'VEIL_AUTH_ROLE_REQUIRED');
  const wrongPassword = new ManagerClient({
    url: manager.url,
    caPem: manager.caPem(),
    admin: { name: 'watcher', password: 'not the password at all' },
  });
  assert.equal((await failure(wrongPassword.keys())).code, 'VEIL_AUTH_ADMIN_REQUIRED');
  const session = await new ManagerClient({ url: manager.url, caPem: manager.caPem() }).login(
    AUDITOR.name,
    AUDITOR.password,
  );
  secrets.push(session.token);

  const records = (await allRecords()).filter((r) => r.seq > start);
  const source = /^(::ffff:)?127\.0\.0\.1$/;
  const created = one(records, (r) => r.action === 'POST /v1/keys', 'the key made');
  assert.deepEqual(
    { ...created, seq: 0, time: 0, mac: '' },
    {
      seq: 0,
      time: 0,
      mac: '',
      actor: 'admin',
      role: 'admin,key-admin,cte-admin',
      domain: 'root',
      action: 'POST /v1/keys',
      object: key.keyId,
      outcome: 'success',
      reason: '',
      source: created.source,
      details: { status: 201 },
    },
  );
  assert.match(created.source, source);
  assert.ok(Math.abs(created.time - Date.now()) < 60_000);
  assert.match(created.mac, /^[0-9a-f]{64}$/);
  const rotated = one(
    records,
    (r) => r.action === 'POST /v1/keys/{keyId}/rotate' && r.actor === 'admin',
    'rotation',
  );
  assert.equal(rotated.object, key.keyId);
  const state = one(records, (r) => r.action === 'POST /v1/keys/{keyId}/versions/{version}/state', 'state');
  assert.deepEqual([state.object, state.details], [key.keyId, { version: '2', status: 200 }]);
  const refused = one(records, (r) => r.actor === 'watcher' && r.outcome === 'failure', 'the refusal');
  assert.deepEqual(
    [refused.role, refused.action, refused.object, refused.reason, refused.details.status],
    ['auditor', 'POST /v1/keys/{keyId}/rotate', key.keyId, 'VEIL_AUTH_ROLE_REQUIRED', 403],
  );
  const anonymous = one(records, (r) => r.actor === 'anonymous' && r.action === 'GET /v1/keys', 'the 401');
  assert.deepEqual(
    [anonymous.outcome, anonymous.reason, anonymous.role],
    ['failure', 'VEIL_AUTH_ADMIN_REQUIRED', 'public'],
  );
  const login = one(records, (r) => r.action === 'POST /v1/login', 'the login');
  assert.deepEqual([login.actor, login.role, login.outcome], ['watcher', 'auditor', 'success']);
  assert.equal(
    records.some((r) => r.action === 'GET /v1/keys' && r.outcome === 'success'),
    false,
    'reads are not recorded',
  );
  assert.ok(records.every((r) => source.test(r.source)));
  // Numbered without gaps from 1, opened by the trail's own first record.
  const all = await allRecords();
  assert.deepEqual(
    all.map((r) => r.seq),
    all.map((_, i) => i + 1),
  );
  assert.deepEqual(
    all.slice(0, 2).map((r) => [r.action, r.actor]),
    [
      ['audit.trail.created', 'system'],
      ['manager.started', 'system'],
    ],
  );
  // Only the auditor reads the trail; filters are checked.
  assert.equal((await failure(admin.auditRecords())).code, 'VEIL_AUTH_ROLE_REQUIRED');
  assert.equal((await failure(admin.verifyAudit())).code, 'VEIL_AUTH_ROLE_REQUIRED');
  for (const query of [{ limit: 0 }, { limit: 1001 }, { since: 'yesterday' }, { outcome: 'maybe' }]) {
    assert.equal((await failure(auditor().auditRecords(query as never))).code, 'VEIL_AUDIT_BAD_REQUEST');
  }
  const failures = await auditor().auditRecords({
    outcome: 'failure',
    action: 'POST /v1/keys*',
    limit: 1000,
  });
  assert.ok(failures.length > 0);
  assert.ok(failures.every((r) => r.outcome === 'failure' && r.action.startsWith('POST /v1/keys')));
  const newest = await auditor().auditRecords({ newest: true, limit: 2 });
  assert.equal(newest.length, 2);
  assert.ok((newest[0]?.seq ?? 0) < (newest[1]?.seq ?? 0));
});

test('host events: registration, delivery, reports and de-registration; no key material anywhere', async () => {
  const admin = manager.admin();
  const { publicKey } = await admin.importKeyInfo();
  const wrapped = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    material,
  ).toString('base64');
  secrets.push(wrapped);
  const imported = await admin.importKey({ name: 'audit-imported', wrapped });
  // An export of the version: its blob is no record's business either.
  const wrapping = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const exported = await admin.exportKey(
    imported.keyId,
    1,
    wrapping.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  );
  secrets.push(exported.wrapped);
  const unwrapped = privateDecrypt(
    { key: wrapping.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    Buffer.from(exported.wrapped, 'base64'),
  );
  assert.ok(unwrapped.equals(material), 'the exported version is the known material');

  const transport = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const registered = await registerHostByHand(
    manager,
    path.join(work, 'host.key'),
    'audit-host',
    transport.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  );
  await admin.putPolicy({
    name: 'audited',
    resourceSets: { all: { include: ['**'] } },
    securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
    keyRules: [{ key: { keyId: imported.keyId, version: 1 } }],
  });
  await admin.addGuardPoint({ path: '/srv/audited', policy: 'audited', hostId: registered.id });
  const host = hostClient(manager, registered);
  const events: HostEvent[] = [];
  const stream = host.events((event) => events.push(event));
  let delivery: Extract<HostEvent, { type: 'delivery' }> | undefined;
  try {
    for (const deadline = Date.now() + 10_000; !delivery && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      delivery = events.find((e): e is Extract<HostEvent, { type: 'delivery' }> => e.type === 'delivery');
    }
  } finally {
    stream.close();
  }
  assert.ok(delivery, 'a delivery came');
  secrets.push(delivery.blob);
  const at = new Date().toISOString();
  const reports: HostReport[] = [
    {
      eventId: randomUUID(),
      time: at,
      type: 'access',
      guardPoint: '/srv/audited',
      path: 'payroll.txt',
      message: 'no rule matched',
      uid: 1001,
      pid: 4242,
      access: {
        policy: 'audited',
        digest: 'ab'.repeat(32),
        rule: null,
        action: 'read',
        effect: 'deny',
        applyKey: false,
        learned: false,
        gid: 1001,
        executable: '/usr/bin/cat',
      },
    },
    {
      eventId: randomUUID(),
      time: at,
      type: 'tamper',
      guardPoint: '/srv/audited',
      path: 'payroll.txt',
      code: 'VEIL_CRYPTO_AUTH_FAILED',
      message: 'block 3 does not authenticate',
    },
  ];
  assert.deepEqual(await host.reportEvents(reports), { accepted: 2, duplicates: 0 });
  assert.deepEqual(await host.reportEvents(reports), { accepted: 0, duplicates: 2 }, 'a batch sent again');
  await admin.deregisterHost(registered.id);

  const records = await allRecords();
  const hostActor = `host:${registered.id}`;
  const registration = one(records, (r) => r.action === 'POST /v1/registration', 'the registration');
  assert.deepEqual(
    [registration.actor, registration.role, registration.object, registration.outcome],
    ['anonymous', 'public', registered.id, 'success'],
  );
  const delivered = one(
    records,
    (r) => r.action === 'host.delivery' && r.details.sequence === Number(delivery.sequence),
    'the delivery',
  );
  assert.deepEqual(
    [delivered.actor, delivered.role, delivered.object, delivered.source, delivered.details.deliveryId],
    ['system', 'system', registered.id, 'local', delivery.deliveryId],
  );
  assert.match(String(delivered.details.versions), new RegExp(`${imported.keyId}/1:active`));
  const denial = one(records, (r) => r.action === 'host.report.access', 'the denial');
  assert.deepEqual(
    [denial.actor, denial.role, denial.object, denial.outcome, denial.reason],
    [hostActor, 'host', registered.id, 'failure', 'denied'],
  );
  assert.deepEqual(
    [denial.details.eventId, denial.details.effect, denial.details.executable, denial.details.uid],
    [reports[0]?.eventId, 'deny', '/usr/bin/cat', 1001],
  );
  assert.match(denial.source, /127\.0\.0\.1/);
  const tamper = one(records, (r) => r.action === 'host.report.tamper', 'the tamper event');
  assert.deepEqual([tamper.outcome, tamper.reason], ['failure', 'VEIL_CRYPTO_AUTH_FAILED']);
  assert.equal(records.filter((r) => r.action === 'POST /v1/hosts/self/events').length, 2);
  const removed = one(records, (r) => r.action === 'DELETE /v1/hosts/{hostId}', 'the de-registration');
  assert.deepEqual([removed.actor, removed.object, removed.outcome], ['admin', registered.id, 'success']);
  one(records, (r) => r.action === 'POST /v1/keys/{keyId}/versions/{version}/export', 'the export');

  // No material, and none of the secrets that crossed the wire, in the records or an export.
  const exportFile = path.join(work, 'material-check.jsonl');
  const exportRun = manager.cli('audit', 'export', '--out', exportFile, ...asAuditor);
  assert.equal(exportRun.status, 0, exportRun.err + exportRun.out);
  const exportText = readFileSync(exportFile, 'utf8');
  for (const text of [JSON.stringify(records), exportText]) {
    assertNoKeyBytes(text, [material], 'the audit trail');
    for (const secret of secrets) assert.equal(text.includes(secret), false, 'a secret in the trail');
  }
});

test('veil-manager audit: list as a table and JSON, export with its checkpoint, verify; 100 records make a checkpoint', async () => {
  // Enough records for the trail to sign a checkpoint of its own (a session: no scrypt each time).
  const admin = manager.admin();
  const { token } = await auditor().login(AUDITOR.name, AUDITOR.password);
  const session = new ManagerClient({ url: manager.url, caPem: manager.caPem(), bearer: token });
  for (let i = 0; i < 100; i++) await failure(session.createHostGroup(`nope-${i}`));
  await admin.createHostGroup('audit-group');

  const table = cli(
    'audit',
    'list',
    '--manager',
    manager.url,
    '--data-dir',
    dataDir,
    ...asAuditor,
    '--newest',
  );
  assert.equal(table.status, 0, table.err);
  const lines = table.out.trim().split('\n');
  assert.match(lines[0] ?? '', /^SEQ\s+TIME\s+ACTOR\s+ROLE\s+DOMAIN\s+ACTION\s+OBJECT\s+OUTCOME\s+SOURCE$/);
  assert.ok(
    lines.some((line) => /\badmin\b.*POST \/v1\/hostgroups\s+audit-group\s+success/.test(line)),
    table.out,
  );
  assert.ok(
    lines.some((line) =>
      /watcher\s+auditor\s+root\s+POST \/v1\/hostgroups.*failure VEIL_AUTH_ROLE_REQUIRED/.test(line),
    ),
  );

  const filtered = manager.cli(
    'audit',
    'list',
    '--actor',
    'watcher',
    '--outcome',
    'failure',
    '--limit',
    '1000',
    ...asAuditor,
  );
  assert.equal(filtered.status, 0, filtered.err);
  const failures = JSON.parse(filtered.out) as AuditRecordView[];
  assert.ok(failures.length >= 100);
  assert.ok(failures.every((r) => r.actor === 'watcher' && r.outcome === 'failure'));
  const since = manager.cli(
    'audit',
    'list',
    '--since',
    new Date(Date.now() + 3_600_000).toISOString(),
    ...asAuditor,
  );
  assert.deepEqual(JSON.parse(since.out), []);

  const exportFile = path.join(work, 'export.jsonl');
  const exported = manager.cli('audit', 'export', '--out', exportFile, ...asAuditor);
  assert.equal(exported.status, 0, exported.err + exported.out);
  const exportLines = readFileSync(exportFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as unknown);
  const { checkpoint } = exportLines.at(-1) as { checkpoint: AuditCheckpoint };
  const records = exportLines.slice(0, -1) as AuditRecordView[];
  assert.ok(records.length >= 100);
  assert.deepEqual(
    records.map((r) => r.seq),
    records.map((_, i) => i + 1),
  );
  assert.equal(checkpoint.seq, records.at(-1)?.seq);
  assert.equal(checkpoint.mac, records.at(-1)?.mac);
  assert.match(checkpoint.publicKey, /^-----BEGIN PUBLIC KEY-----/);

  const kept = manager.cli('audit', 'checkpoint', '--out', keptCheckpoint, ...asAuditor);
  assert.equal(kept.status, 0, kept.err + kept.out);
  const keptPoint = JSON.parse(readFileSync(keptCheckpoint, 'utf8')) as AuditCheckpoint;
  assert.ok(keptPoint.seq > checkpoint.seq);

  const verified = manager.cli('audit', 'verify', ...asAuditor);
  assert.equal(verified.status, 0, verified.err + verified.out);
  const verification = JSON.parse(verified.out) as AuditVerification;
  assert.equal(verification.ok, true);
  assert.ok(verification.records >= 100);
  assert.ok(verification.checkpoints >= 2, 'one signed at 100 records, one for the export');
  assert.equal(verification.publicKeyFingerprint, keptPoint.publicKeyFingerprint);
  for (const file of [keptCheckpoint, exportFile]) {
    const against = manager.cli('audit', 'verify', '--checkpoint', file, ...asAuditor);
    assert.equal(against.status, 0, against.err + against.out);
    assert.equal(
      (JSON.parse(against.out) as AuditVerification).against,
      file === keptCheckpoint ? keptPoint.seq : checkpoint.seq,
    );
  }
  const human = cli('audit', 'verify', '--manager', manager.url, '--data-dir', dataDir, ...asAuditor);
  assert.equal(human.status, 0, human.err);
  assert.match(human.out, /^audit trail verified: \d+ record\(s\), \d+ checkpoint\(s\)/);
  // A checkpoint that is not one is refused, not believed.
  const forged = path.join(work, 'forged-checkpoint.json');
  writeFileSync(forged, JSON.stringify({ ...keptPoint, mac: 'f'.repeat(64) }));
  const refused = manager.cli('audit', 'verify', '--checkpoint', forged, ...asAuditor);
  assert.equal(refused.status, 1);
  assert.match(
    (JSON.parse(refused.out) as AuditVerification).firstBad?.problem ?? '',
    /signature does not verify/,
  );
});

/** A copy of the stopped manager's trail and master key, for one tampering. */
function copyTrail(name: string): string {
  const dir = path.join(work, name);
  mkdirSync(dir, { mode: 0o700 });
  copyFileSync(path.join(dataDir, 'master.key'), path.join(dir, 'master.key'));
  chmodSync(path.join(dir, 'master.key'), 0o600);
  const source = new Database(path.join(dataDir, 'audit.db'), { readonly: true });
  try {
    source.exec(`VACUUM INTO '${path.join(dir, 'audit.db')}'`);
  } finally {
    source.close();
  }
  return dir;
}

function tamper(dir: string, change: (db: Database.Database) => void): void {
  const db = new Database(path.join(dir, 'audit.db'));
  try {
    change(db);
  } finally {
    db.close();
  }
}

function verifyOffline(dir: string, checkpoint?: string): { status: number; result: AuditVerification } {
  const run = cli(
    'audit',
    'verify',
    '--offline',
    '--data-dir',
    dir,
    '--json',
    ...(checkpoint ? ['--checkpoint', checkpoint] : []),
  );
  assert.ok(run.out, run.err);
  return { status: run.status, result: JSON.parse(run.out) as AuditVerification };
}

function assertCaught(dir: string, seq: number, problem: RegExp, checkpoint?: string): void {
  const { status, result } = verifyOffline(dir, checkpoint);
  assert.equal(status, 1, JSON.stringify(result));
  assert.equal(result.ok, false);
  assert.equal(result.firstBad?.seq, seq, JSON.stringify(result));
  assert.match(result.firstBad?.problem ?? '', problem);
}

test('tampering with audit.db of the stopped manager: each change caught, the first bad record named', async () => {
  await manager.stop();
  const honest = copyTrail('honest');
  const clean = verifyOffline(honest, keptCheckpoint);
  assert.equal(clean.status, 0, JSON.stringify(clean.result));
  assert.equal(clean.result.ok, true);
  const last = clean.result.lastSeq;
  assert.ok(last > 100);

  // A flipped byte of one field.
  const flipped = copyTrail('flipped');
  tamper(flipped, (db) => {
    const actor = db.prepare('SELECT actor FROM audit_records WHERE seq = 17').pluck().get() as string;
    const changed = String.fromCharCode(actor.charCodeAt(0) ^ 1) + actor.slice(1);
    db.prepare('UPDATE audit_records SET actor = ? WHERE seq = 17').run(changed);
  });
  assertCaught(flipped, 17, /^record 17: MAC does not match$/);

  // A byte of the details: a status 201 made 200.
  const details = copyTrail('details');
  const detailsSeq = firstSeq(honest, "SELECT min(seq) FROM audit_records WHERE details LIKE '%201%'");
  tamper(details, (db) =>
    db
      .prepare("UPDATE audit_records SET details = replace(details, '201', '200') WHERE seq = ?")
      .run(detailsSeq),
  );
  assertCaught(details, detailsSeq, new RegExp(`^record ${detailsSeq}: MAC does not match$`));

  // A deleted record.
  const deleted = copyTrail('deleted');
  tamper(deleted, (db) => db.prepare('DELETE FROM audit_records WHERE seq = 30').run());
  assertCaught(deleted, 30, /^record 30 missing \(29 is followed by 31\)$/);

  // A forged record inserted in the middle, the later ones renumbered to make room.
  const inserted = copyTrail('inserted');
  tamper(inserted, (db) => {
    db.transaction(() => {
      db.prepare('UPDATE audit_records SET seq = seq + 1000000 WHERE seq >= 40').run();
      db.prepare('UPDATE audit_records SET seq = seq - 999999 WHERE seq >= 1000000').run();
      const previous = db.prepare('SELECT * FROM audit_records WHERE seq = 39').get() as Record<
        string,
        unknown
      >;
      db.prepare(
        `INSERT INTO audit_records VALUES (40, :time, 'admin', 'admin', 'root', 'DELETE /v1/users/{name}',
           'r-auditor', 'success', '', '127.0.0.1', '{"status":200}', :mac)`,
      ).run({ time: previous.time, mac: randomBytes(32).toString('hex') });
    })();
  });
  assertCaught(inserted, 40, /^record 40: MAC does not match$/);

  // Two records' contents swapped, macs and all.
  const swapped = copyTrail('swapped');
  tamper(swapped, (db) => {
    db.transaction(() => {
      db.prepare('UPDATE audit_records SET seq = -1 WHERE seq = 50').run();
      db.prepare('UPDATE audit_records SET seq = 50 WHERE seq = 60').run();
      db.prepare('UPDATE audit_records SET seq = 60 WHERE seq = -1').run();
    })();
  });
  assertCaught(swapped, 50, /^record 50: MAC does not match$/);

  // The tail cut, with the trail's own checkpoints beyond it removed too: the trail alone
  // looks whole, the checkpoint the auditor kept shows the cut.
  const truncated = copyTrail('truncated');
  const cutAt = last - 20;
  tamper(truncated, (db) => {
    db.prepare('DELETE FROM audit_records WHERE seq > ?').run(cutAt);
    db.prepare('DELETE FROM audit_checkpoints WHERE seq > ?').run(cutAt);
  });
  assert.equal(verifyOffline(truncated).result.ok, true, 'a cut tail alone cannot be seen');
  const keptSeq = (JSON.parse(readFileSync(keptCheckpoint, 'utf8')) as AuditCheckpoint).seq;
  assert.ok(keptSeq > cutAt);
  assertCaught(
    truncated,
    cutAt + 1,
    new RegExp(
      `^record ${cutAt + 1} missing: the trail ends at ${cutAt}, but the given checkpoint of .* reaches ${keptSeq}`,
    ),
    keptCheckpoint,
  );
  // Cut with the trail's checkpoints left in place: they show it themselves.
  const cutOnly = copyTrail('cut-only');
  tamper(cutOnly, (db) => db.prepare('DELETE FROM audit_records WHERE seq > ?').run(cutAt));
  assertCaught(
    cutOnly,
    cutAt + 1,
    new RegExp(`^record ${cutAt + 1} missing: the trail ends at ${cutAt}, but its checkpoint`),
  );

  // A checkpoint of the trail changed (its time): its signature no longer holds.
  const checkpointChanged = copyTrail('checkpoint');
  const pointSeq = firstSeq(honest, 'SELECT min(seq) FROM audit_checkpoints');
  tamper(checkpointChanged, (db) => db.prepare('UPDATE audit_checkpoints SET time = time + 1').run());
  assertCaught(
    checkpointChanged,
    pointSeq,
    new RegExp(`^the checkpoint at record ${pointSeq}: its signature does not verify$`),
  );
});

/** A number a query reads from a copy of the trail. */
function firstSeq(dir: string, sql: string): number {
  const db = new Database(path.join(dir, 'audit.db'), { readonly: true });
  try {
    return db.prepare(sql).pluck().get() as number;
  } finally {
    db.close();
  }
}

test('after a restart the manager names the same first bad record, and records go on', async () => {
  tamper(dataDir, (db) =>
    db.prepare("UPDATE audit_records SET object = 'someone-else' WHERE seq = 25").run(),
  );
  manager = await startManagerProcess(dataDir);
  const verification = await auditor().verifyAudit();
  assert.equal(verification.ok, false);
  assert.deepEqual(verification.firstBad, { seq: 25, problem: 'record 25: MAC does not match' });
  const cli = manager.cli('audit', 'verify', ...asAuditor);
  assert.equal(cli.status, 1);
  assert.deepEqual((JSON.parse(cli.out) as AuditVerification).firstBad, verification.firstBad);
  const restarted = (await auditor().auditRecords({ action: 'manager.started', limit: 10 })).map(
    (r) => r.seq,
  );
  assert.equal(restarted.length, 2);
  await manager.admin().createHostGroup('after-restart');
  const newest = await auditor().auditRecords({ newest: true, limit: 3 });
  assert.ok(newest.some((r) => r.action === 'POST /v1/hostgroups' && r.object === 'after-restart'));
});

test('a trail cut under the running manager: recorded as changed before the next record', async () => {
  // Another process (an intruder with the file) removes the newest record.
  let cut = 0;
  tamper(dataDir, (db) => {
    cut = db.prepare('SELECT max(seq) FROM audit_records').pluck().get() as number;
    db.prepare('DELETE FROM audit_records WHERE seq = ?').run(cut);
  });
  await manager.admin().createHostGroup('after-cut');
  const newest = await auditor().auditRecords({ newest: true, limit: 3 });
  const changed = newest.find((r) => r.action === 'audit.trail.changed');
  assert.ok(changed, JSON.stringify(newest));
  assert.deepEqual(
    [changed.seq, changed.outcome, changed.details],
    [cut, 'failure', { expectedSeq: cut, foundSeq: cut - 1 }],
  );
  assert.equal(newest.find((r) => r.object === 'after-cut')?.seq, cut + 1);
  assert.match(manager.log(), /audit\.db was changed under the running manager/);
});
