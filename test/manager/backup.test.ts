// Backup and restore with the real manager process and the real CLI (docs/backup.md): a
// backup under a new key; a restore onto the same data directory undoes what came after
// it; a restore onto a fresh directory is the same manager (CA, keys with every version and
// state, users who sign in, audit trail); every bad input is refused with its code and
// leaves the data directory byte for byte as it was.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ManagerClient } from '../../manager-client/client.js';
import type { AuditRecordView, BackupKeyView, KeyView } from '../../manager-client/types.js';
import { AuditDb } from '../../manager/audit/audit_db.js';
import { MAGIC } from '../../manager/backup/backup_file.js';
import { cliJson, fillManager, leftovers, tree, veilManager } from './backup_support.js';
import { failure, startManagerProcess, type ManagerProcess } from './support.js';

const work = mkdtempSync('/var/tmp/veil-manager-backup-');
const dataA = path.join(work, 'a');
const dataB = path.join(work, 'b');
const passphraseFile = path.join(work, 'passphrase');
const keyFile = path.join(work, 'backup-key.json');
const otherKeyFile = path.join(work, 'other-key.json');
const backupFile = path.join(work, 'manager.vbk');
const PASSWORDS = { 'keeper-before': 'password of keeper', 'audit-before': 'password of auditor' };
const running: ManagerProcess[] = [];

/** What the manager held when the backup was made. */
let atBackup: { keys: KeyView[]; users: string[]; hosts: unknown; guardPoints: unknown; domains: unknown };
let caFingerprint: string;
let atBackupKeyId: string;

async function start(dataDir: string): Promise<ManagerProcess> {
  const manager = await startManagerProcess(dataDir);
  running.push(manager);
  return manager;
}

async function stop(manager: ManagerProcess): Promise<void> {
  await manager.stop();
  running.splice(running.indexOf(manager), 1);
}

const as = (manager: ManagerProcess, name: string, password: string): ManagerClient =>
  new ManagerClient({ url: manager.url, caPem: manager.caPem(), admin: { name, password } });

/** The end of a stopped manager's trail, read from its audit.db. */
function trailEnd(dataDir: string): { seq: number; mac: string } {
  const db = AuditDb.openReadOnly(path.join(dataDir, 'audit.db'));
  try {
    const end = db.tip();
    assert.ok(end, `${dataDir} has an empty trail`);
    return end;
  } finally {
    db.close();
  }
}

/**
 * The restored trail's record of the restore: the only `backup.restore`, numbered as the CLI said,
 * made by this OS user, and chained right after the backup's last record (made before the backup).
 */
async function restoreRecord(manager: ManagerProcess, auditSeq: unknown): Promise<AuditRecordView> {
  const auditor = as(manager, 'audit-before', PASSWORDS['audit-before']);
  const records = await auditor.auditRecords({ action: 'backup.restore' });
  assert.equal(records.length, 1, JSON.stringify(records));
  const [record] = records as [AuditRecordView];
  assert.equal(record.seq, auditSeq);
  assert.equal(record.actor, `os:${userInfo().username}`);
  assert.equal(record.role, 'local');
  assert.equal(record.outcome, 'success');
  assert.equal(record.details.backupFile, backupFile);
  assert.equal(record.details.backupKeyId, atBackupKeyId);
  assert.equal(record.details.caFingerprint, caFingerprint);
  // Deliveries after the restore are numbered above any a host took after the backup.
  assert.ok(
    Number(record.details.deliverySequenceFloor) >=
      Math.floor(Date.parse(String(record.details.backupCreatedAt)) / 1000) * 2 ** 20,
  );
  const [previous] = await auditor.auditRecords({ after: record.seq - 2, limit: 1 });
  assert.equal(previous?.seq, record.seq - 1);
  assert.ok(
    (previous?.time ?? Infinity) <= Date.parse(String(record.details.backupCreatedAt)),
    `record ${record.seq - 1} was made after the backup`,
  );
  return record;
}

async function state(manager: ManagerProcess): Promise<typeof atBackup> {
  const admin = manager.admin();
  return {
    keys: await admin.keys(),
    users: (await admin.users()).map((u) => `${u.name}:${u.roles.join(',')}`).sort(),
    hosts: await admin.hosts(),
    guardPoints: await admin.guardPoints(),
    domains: await admin.domains(),
  };
}

const restore = (dataDir: string, ...more: string[]) =>
  veilManager(
    'backup',
    'restore',
    '--in',
    backupFile,
    '--key-file',
    keyFile,
    '--passphrase-file',
    passphraseFile,
    '--data-dir',
    dataDir,
    ...more,
  );

before(() => writeFileSync(passphraseFile, 'correct horse battery staple, twice\n'));

after(async () => {
  for (const manager of [...running]) await manager.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('backup and restore of the manager', () => {
  let manager: ManagerProcess;
  let fresh: ManagerProcess;

  test('a backup under a new key: the key file is handed out once, neither file holds a key in the clear', async () => {
    manager = await start(dataA);
    caFingerprint = manager.caFingerprint;
    await fillManager(manager, work, PASSWORDS);
    const made = cliJson<{ backupKeyId: string; keyFile: string }>(
      manager.cli('backup', 'key', 'create', '--out', keyFile, '--passphrase-file', passphraseFile),
    );
    assert.equal(made.keyFile, keyFile);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const listed = cliJson<BackupKeyView[]>(manager.cli('backup', 'key', 'list'));
    assert.deepEqual(
      listed.map((k) => k.backupKeyId),
      [made.backupKeyId],
    );
    atBackupKeyId = made.backupKeyId;
    atBackup = await state(manager);
    const backup = cliJson<{ file: string; backupKeyId: string; caFingerprint: string; files: number }>(
      manager.cli('backup', 'create', '--out', backupFile, '--backup-key', made.backupKeyId),
    );
    assert.equal(backup.backupKeyId, made.backupKeyId);
    assert.equal(backup.caFingerprint, caFingerprint);
    const bytes = readFileSync(backupFile);
    assert.equal(statSync(backupFile).mode & 0o777, 0o600);
    assert.deepEqual(bytes.subarray(0, MAGIC.length), MAGIC);
    assert.ok(!bytes.includes(readFileSync(path.join(dataA, 'master.key'))), 'the master key in the clear');
    assert.ok(!bytes.includes(Buffer.from('keeper-before')), 'a user name in the clear');
    const shown = veilManager('backup', 'show', '--in', backupFile);
    assert.equal(shown.json.backupKeyId, made.backupKeyId);
    assert.equal(shown.json.files, backup.files);

    // A backup never goes over another file, and an unknown key is refused.
    const again = manager.cli('backup', 'create', '--out', backupFile, '--backup-key', made.backupKeyId);
    assert.equal(again.status, 1);
    assert.match(again.out, /VEIL_BACKUP_BAD_REQUEST.*exists already/);
    assert.deepEqual(readFileSync(backupFile), bytes);
    const unknown = await failure(manager.admin().createBackup('00000000-0000-4000-8000-000000000000'));
    assert.equal(unknown.code, 'VEIL_BACKUP_KEY_UNKNOWN');
    // Another key, for the wrong-key refusal below.
    cliJson(
      manager.cli(
        'backup',
        'create',
        '--out',
        path.join(work, 'other.vbk'),
        '--new-key-out',
        otherKeyFile,
        '--passphrase-file',
        passphraseFile,
      ),
    );
  });

  test('only the root domain’s administrators handle backups', async () => {
    const admin = manager.admin();
    const password = readFileSync(path.join(dataA, 'admin-password'), 'utf8').trim();
    const inSales = new ManagerClient({
      url: manager.url,
      caPem: manager.caPem(),
      admin: { name: 'admin', password },
      domain: 'sales',
    });
    await inSales.createUser({ name: 'sales-admin', password: 'password of sales', roles: ['admin'] });
    const sales = as(manager, 'sales-admin', 'password of sales');
    assert.equal((await failure(sales.backupKeys())).code, 'VEIL_DOMAIN_FORBIDDEN');
    assert.equal((await failure(sales.createBackup(atBackupKeyId))).code, 'VEIL_DOMAIN_FORBIDDEN');
    const keeper = as(manager, 'keeper-before', PASSWORDS['keeper-before']);
    assert.equal((await failure(keeper.backupKeys())).code, 'VEIL_AUTH_ROLE_REQUIRED');
    assert.equal((await failure(admin.createBackupKey('too short'))).code, 'VEIL_BACKUP_BAD_REQUEST');
    // Through the API the backup is the file's bytes, as the CLI writes them.
    const bytes = await admin.createBackup(atBackupKeyId);
    assert.deepEqual(bytes.subarray(0, MAGIC.length), MAGIC);
  });

  test('restored onto the same data directory (--force), what came after the backup is gone', async () => {
    const admin = manager.admin();
    await admin.createKey({ name: 'after-backup' });
    await admin.rotateKey(atBackup.keys.find((k) => k.name === 'rotated')?.keyId ?? '');
    // Destroyed after the backup: the restore brings its material back, and says so.
    const suspendedId = atBackup.keys.find((k) => k.name === 'suspended')?.keyId ?? '';
    await admin.setKeyState(suspendedId, 1, 'deactivated');
    await admin.destroyKey(suspendedId, 1);
    await admin.createUser({
      name: 'keeper-after',
      password: 'password of keeper after',
      roles: ['key-admin'],
    });
    await stop(manager);
    const replacedEnd = trailEnd(dataA);

    const refused = restore(dataA);
    assert.equal(refused.status, 1);
    assert.equal(refused.json.code, 'VEIL_BACKUP_BAD_REQUEST', refused.err);
    const restored = restore(dataA, '--force');
    assert.equal(restored.status, 0, restored.err);
    assert.equal(restored.json.replaced, true);
    assert.deepEqual(restored.json.destroyedVersionsBack, [`${suspendedId}/1`]);
    assert.deepEqual(leftovers(dataA), []);

    manager = await start(dataA);
    assert.equal(manager.caFingerprint, caFingerprint);
    const now = await state(manager);
    assert.deepEqual(now.keys, atBackup.keys);
    assert.deepEqual(now.users, atBackup.users);
    assert.deepEqual(now.hosts, atBackup.hosts);
    assert.deepEqual(now.guardPoints, atBackup.guardPoints);
    assert.ok(!now.keys.some((k) => k.name === 'after-backup'));
    assert.equal((await failure(as(manager, 'keeper-after', 'password of keeper after').keys())).status, 401);
    assert.equal(
      (await as(manager, 'keeper-before', PASSWORDS['keeper-before']).keys()).length,
      now.keys.length,
    );
    const audit = await as(manager, 'audit-before', PASSWORDS['audit-before']).verifyAudit();
    assert.equal(audit.ok, true, JSON.stringify(audit.firstBad));
    // The trail says it was rolled back, and from where: the records after the backup are gone.
    const record = await restoreRecord(manager, restored.json.auditSeq);
    assert.equal(record.object, realpathSync(dataA));
    assert.equal(record.details.replaced, true);
    assert.equal(record.details.replacedTrailSeq, replacedEnd.seq);
    assert.equal(record.details.replacedTrailMac, replacedEnd.mac);
    assert.ok(replacedEnd.seq >= record.seq, 'the replaced trail had got further than the backup');
    assert.equal(record.details.destroyedVersionsBack, `${suspendedId}/1`);
    assert.equal(record.details.destroyedVersionsBackCount, 1);
  });

  test('restored onto a fresh data directory, it is the same manager', async () => {
    const restored = restore(dataB);
    assert.equal(restored.status, 0, restored.err);
    assert.equal(restored.json.replaced, false);
    assert.equal(statSync(dataB).mode & 0o777, 0o700);
    fresh = await start(dataB);
    assert.equal(fresh.caFingerprint, caFingerprint);
    const now = await state(fresh);
    assert.deepEqual(now.keys, atBackup.keys);
    const states = now.keys.map(
      (k) => `${k.name}:${k.versions.map((v) => `${v.version}=${v.state}`).join(',')}`,
    );
    assert.deepEqual(states.sort(), ['rotated:1=compromised,2=active', 'suspended:1=suspended']);
    assert.deepEqual(now.hosts, atBackup.hosts);
    assert.deepEqual(now.domains, atBackup.domains);
    assert.ok(
      (
        await as(fresh, 'keeper-before', PASSWORDS['keeper-before']).login(
          'keeper-before',
          PASSWORDS['keeper-before'],
        )
      ).token,
    );
    const audit = await as(fresh, 'audit-before', PASSWORDS['audit-before']).verifyAudit();
    assert.equal(audit.ok, true, JSON.stringify(audit.firstBad));
    const record = await restoreRecord(fresh, restored.json.auditSeq);
    assert.equal(record.object, realpathSync(dataB));
    assert.equal(record.details.replaced, false);
    assert.equal(record.details.replacedTrailSeq, undefined);
    assert.equal(record.details.destroyedVersionsBack, undefined, 'no replaced trail to tell from');
    // The restored manager makes backups under the restored key as the old one did.
    const key = (await fresh.admin().backupKeys()).map((k) => k.backupKeyId);
    assert.ok(key.includes(String(restored.json.backupKeyId)));
  });

  test('a wrong passphrase, a wrong key, a truncated or altered file, a running manager: refused, nothing changed', async () => {
    // dataA's manager is stopped for a byte-for-byte comparison; dataB's runs.
    await stop(manager);
    const bytes = readFileSync(backupFile);
    const variant = (name: string, change: (b: Buffer) => Buffer): string => {
      const file = path.join(work, name);
      writeFileSync(file, change(Buffer.from(bytes)));
      return file;
    };
    const flip = (at: number) => (b: Buffer) => {
      b[at] = (b[at] ?? 0) ^ 0x01;
      return b;
    };
    const wrongPassphrase = path.join(work, 'wrong-passphrase');
    writeFileSync(wrongPassphrase, 'not the passphrase at all\n');
    const cases: [string, string[], string, RegExp][] = [
      [
        'wrong passphrase',
        ['--passphrase-file', wrongPassphrase],
        'VEIL_BACKUP_BAD_PASSPHRASE',
        /passphrase/,
      ],
      ['wrong key', ['--key-file', otherKeyFile], 'VEIL_BACKUP_BAD_KEY', /made under backup key/],
      [
        'truncated',
        ['--in', variant('cut.vbk', (b) => b.subarray(0, b.length - 100))],
        'VEIL_BACKUP_CORRUPT',
        /truncated/,
      ],
      ['header byte', ['--in', variant('head.vbk', flip(30))], 'VEIL_BACKUP_CORRUPT', /header is damaged/],
      [
        'body byte',
        ['--in', variant('body.vbk', flip(bytes.length - 1000))],
        'VEIL_BACKUP_CORRUPT',
        /altered/,
      ],
      ['not a backup', ['--in', passphraseFile], 'VEIL_BACKUP_CORRUPT', /not a Veil manager backup/],
    ];
    const before = tree(dataA);
    for (const [what, args, code, message] of cases) {
      const answer = veilManager(
        'backup',
        'restore',
        '--in',
        backupFile,
        '--key-file',
        keyFile,
        '--passphrase-file',
        passphraseFile,
        '--data-dir',
        dataA,
        '--force',
        ...args,
      );
      assert.equal(answer.status, 1, `${what}: ${answer.err}`);
      assert.equal(answer.json.code, code, `${what}: ${answer.err}`);
      assert.match(String(answer.json.message), message, what);
      assert.deepEqual(tree(dataA), before, `${what} changed the data directory`);
      assert.deepEqual(leftovers(dataA), [], what);
    }
    // The manager's own side files change as it runs; every other byte stays.
    const side = /-(wal|shm)$/;
    const servedBefore = tree(dataB, side);
    const busy = restore(dataB, '--force');
    assert.equal(busy.json.code, 'VEIL_BACKUP_TARGET_IN_USE', busy.err);
    assert.deepEqual(tree(dataB, side), servedBefore);
    assert.deepEqual(leftovers(dataB), []);
    assert.ok((await fresh.admin().keys()).length > 0, 'the running manager still serves');
    // Another manager's directory is not replaced, even with --force.
    const other = path.join(work, 'other');
    mkdirSync(other);
    const another = await start(other);
    await stop(another);
    const otherBefore = tree(other);
    const foreign = restore(other, '--force');
    assert.equal(foreign.json.code, 'VEIL_BACKUP_BAD_REQUEST', foreign.err);
    assert.match(String(foreign.json.message), /holds another manager/);
    assert.deepEqual(tree(other), otherBefore);
    // verify checks the good file whole, without a data directory.
    const verified = veilManager(
      'backup',
      'verify',
      '--in',
      backupFile,
      '--key-file',
      keyFile,
      '--passphrase-file',
      passphraseFile,
    );
    assert.equal(verified.status, 0, verified.err);
    assert.equal(verified.json.caFingerprint, caFingerprint);
  });
});
