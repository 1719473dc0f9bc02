// The manager's keys: the NIST SP 800-57 §7 transition table (all 36 pairs), the master
// key's wrapping, and the key service on a real SQLite store in a temporary directory,
// reopened to show that nothing lives only in memory.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';

import { ManagerError } from '../../manager-client/errors.js';
import { KEY_STATES, type KeyState } from '../../manager-client/types.js';
import { KeyService } from '../../manager/keys/key_service.js';
import { kmipState, transitionFor, USAGE } from '../../manager/keys/lifecycle.js';
import { keyVersionContext, openFileMasterKey } from '../../manager/keys/master_key.js';
import { openSqliteStore } from '../../manager/store/sqlite_store.js';

const work = mkdtempSync('/var/tmp/veil-manager-keys-');
after(() => rmSync(work, { recursive: true, force: true }));

function refusedWith(code: string): (error: unknown) => boolean {
  return (error) => error instanceof ManagerError && error.code === code && error.message.length > 0;
}

// §7 as the reference summary numbers it, written out here on its own: (from, to) → number.
const ALLOWED: Record<string, number> = {
  'pre-activation>destroyed': 2,
  'pre-activation>compromised': 3,
  'pre-activation>active': 4,
  'active>destroyed': 5,
  'active>compromised': 6,
  'active>suspended': 7,
  'active>deactivated': 8,
  'suspended>destroyed': 9,
  'suspended>active': 10,
  'suspended>compromised': 11,
  'suspended>deactivated': 12,
  'deactivated>destroyed': 13,
  'deactivated>compromised': 14,
  'compromised>destroyed': 15,
};

describe('the key states of NIST SP 800-57 §7', () => {
  const pairs = KEY_STATES.flatMap((from) => KEY_STATES.map((to) => [from, to] as const));

  test('all 36 (from, to) pairs: the 14 transitions §7 numbers are allowed, every other is refused', () => {
    assert.equal(pairs.length, 36);
    let allowed = 0;
    for (const [from, to] of pairs) {
      const expected = ALLOWED[`${from}>${to}`];
      if (expected === undefined) {
        assert.throws(
          () => transitionFor(from, to),
          refusedWith('VEIL_KEY_TRANSITION_REFUSED'),
          `${from} → ${to}`,
        );
      } else {
        assert.equal(transitionFor(from, to).number, expected, `${from} → ${to}`);
        allowed++;
      }
    }
    assert.equal(allowed, 14);
  });

  test('only an active version protects; destroyed and pre-activation versions process nothing', () => {
    assert.deepEqual(
      KEY_STATES.filter((s) => USAGE[s].protect),
      ['active'],
    );
    assert.deepEqual(
      KEY_STATES.filter((s) => !USAGE[s].process),
      ['pre-activation', 'destroyed'],
    );
  });

  test('the KMIP 2.1 mapping: suspended shows as Deactivated, a compromised destroyed key as Destroyed Compromised', () => {
    const kmip = (s: KeyState) => kmipState(s, false);
    assert.deepEqual(KEY_STATES.map(kmip), [
      'Pre-Active',
      'Active',
      'Deactivated',
      'Deactivated',
      'Compromised',
      'Destroyed',
    ]);
    assert.equal(kmipState('destroyed', true), 'Destroyed Compromised');
  });

  test('a refusal says what the state can become instead', () => {
    assert.throws(() => transitionFor('destroyed', 'active'), /destroyed is final/);
    assert.throws(() => transitionFor('deactivated', 'active'), /can become destroyed, compromised/);
  });
});

describe('the master key', () => {
  test('is made once (0600), wraps under a context, and refuses a changed blob or another context', () => {
    const file = path.join(work, 'master.key');
    const master = openFileMasterKey(file, { create: true });
    assert.equal(readFileSync(file).length, 32);
    const material = Buffer.alloc(32, 7);
    const wrapped = master.wrap(material, keyVersionContext('k', 1));
    assert.equal(wrapped.includes(material), false);
    const again = openFileMasterKey(file, { create: false });
    assert.deepEqual(again.unwrap(wrapped, keyVersionContext('k', 1)), material);
    assert.throws(
      () => again.unwrap(wrapped, keyVersionContext('k', 2)),
      refusedWith('VEIL_MASTER_KEY_UNUSABLE'),
    );
    const changed = Buffer.from(wrapped);
    changed[20] = (changed[20] ?? 0) ^ 1;
    assert.throws(
      () => again.unwrap(changed, keyVersionContext('k', 1)),
      refusedWith('VEIL_MASTER_KEY_UNUSABLE'),
    );
  });

  test('a missing, loose or wrong-sized file is refused with the reason', () => {
    assert.throws(
      () => openFileMasterKey(path.join(work, 'absent.key'), { create: false }),
      /cannot be opened/,
    );
    const loose = path.join(work, 'loose.key');
    writeFileSync(loose, Buffer.alloc(32), { mode: 0o644 });
    chmodSync(loose, 0o644);
    assert.throws(() => openFileMasterKey(loose, { create: false }), /readable by others/);
    const short = path.join(work, 'short.key');
    writeFileSync(short, Buffer.alloc(31), { mode: 0o600 });
    assert.throws(() => openFileMasterKey(short, { create: false }), /holds 31 bytes/);
  });
});

describe('the key service on a real store', () => {
  const dir = mkdtempSync(path.join(work, 'store-'));
  let clock = Date.parse('2026-11-26T12:00:00Z');
  const open = () => {
    const store = openSqliteStore(path.join(dir, 'manager.db')).inDomain('root');
    const service = new KeyService(
      store,
      openFileMasterKey(path.join(dir, 'master.key'), { create: true }),
      () => clock,
    );
    return { store, service };
  };
  let { store, service } = open();
  after(() => store.close());

  test('create, rotate, suspend and reinstate, revoke, destroy: each recorded with its §7 number', () => {
    const key = service.create({ name: 'payroll' });
    assert.deepEqual(
      key.versions.map((v) => v.state),
      ['active'],
    );
    clock += 1000;
    const rotated = service.rotate(key.keyId);
    assert.deepEqual(
      rotated.versions.map((v) => v.state),
      ['deactivated', 'active'],
    );
    service.setState(key.keyId, 2, 'suspended');
    service.setState(key.keyId, 2, 'active');
    const revoked = service.revoke(key.keyId, 1, 'key-compromise', clock - 500);
    assert.equal(revoked.versions[0]?.state, 'compromised');
    assert.equal(revoked.versions[0]?.compromiseDate, new Date(clock - 500).toISOString());
    assert.equal(revoked.versions[0]?.revocationReason, 'key-compromise');
    const destroyed = service.destroy(key.keyId, 1);
    assert.equal(destroyed.versions[0]?.hasMaterial, false);
    assert.deepEqual(
      service.history(key.keyId).map((c) => `${c.version}:${c.transition}:${c.to}`),
      [
        '1:1:pre-activation',
        '1:4:active',
        '1:8:deactivated',
        '2:1:pre-activation',
        '2:4:active',
        '2:7:suspended',
        '2:10:active',
        '1:14:compromised',
        '1:15:destroyed',
      ],
    );
    assert.throws(() => service.material(key.keyId, 1), /destroyed/);
  });

  test('a refused transition changes nothing and records nothing', () => {
    const key = service.create({ name: 'refused' });
    const before = service.history(key.keyId).length;
    service.setState(key.keyId, 1, 'deactivated');
    assert.throws(() => service.setState(key.keyId, 1, 'active'), refusedWith('VEIL_KEY_TRANSITION_REFUSED'));
    assert.equal(service.view(key.keyId).versions[0]?.state, 'deactivated');
    assert.equal(service.history(key.keyId).length, before + 1);
  });

  test('activation and deactivation dates drive transitions 4, 8 and 12', () => {
    const later = service.create({
      name: 'dated',
      activationDate: clock + 60_000,
      deactivationDate: clock + 120_000,
    });
    assert.equal(later.versions[0]?.state, 'pre-activation');
    const other = service.create({ name: 'suspended-then-due', deactivationDate: clock + 120_000 });
    service.setState(other.keyId, 1, 'suspended');
    assert.deepEqual(service.applyDates(), []);
    clock += 60_000;
    assert.deepEqual(
      service.applyDates().map((c) => c.transition),
      [4],
    );
    clock += 60_000;
    assert.deepEqual(
      service
        .applyDates()
        .map((c) => `${c.keyId === later.keyId ? 'dated' : 'other'}:${c.transition}`)
        .sort(),
      ['dated:8', 'other:12'],
    );
  });

  test('bad requests are refused with a message and change nothing', () => {
    const count = service.list().length;
    assert.throws(() => service.create({ name: 'bad name!' }), refusedWith('VEIL_KEY_BAD_REQUEST'));
    assert.throws(() => service.create({ name: 'payroll' }), refusedWith('VEIL_KEY_NAME_TAKEN'));
    assert.throws(
      () => service.create({ name: 'backwards', activationDate: clock, deactivationDate: clock - 1 }),
      refusedWith('VEIL_KEY_BAD_REQUEST'),
    );
    assert.throws(() => service.view('NOT-A-UUID'), refusedWith('VEIL_KEY_BAD_REQUEST'));
    assert.throws(
      () => service.view('00000000-0000-4000-8000-000000000000'),
      refusedWith('VEIL_KEY_UNKNOWN'),
    );
    assert.throws(() => service.setState(service.list()[0]?.keyId ?? '', 1, 'destroyed'), /use destroy/);
    assert.equal(service.list().length, count);
  });

  test("a destroyed version's wrapped material is gone from the store's files, WAL included", () => {
    const key = service.create({ name: 'shredded' });
    clock += 1000;
    service.rotate(key.keyId);
    const wrapped = store.versions(key.keyId).find((v) => v.version === 1)?.wrappedMaterial;
    assert.ok(wrapped && wrapped.length >= 32);
    const holding = () =>
      readdirSync(dir)
        .filter((f) => f.startsWith('manager.db'))
        .filter((f) => readFileSync(path.join(dir, f)).includes(wrapped));
    assert.notDeepEqual(holding(), [], 'the wrapped material is on disk before');
    service.destroy(key.keyId, 1);
    assert.deepEqual(holding(), []);
    store.close();
    ({ store, service } = open());
    assert.deepEqual(holding(), []);
    assert.equal(service.view(key.keyId).versions[0]?.state, 'destroyed');
  });

  test("a de-registered host's wrapped offline key is zeroed where its row was, not left in free space", () => {
    const hostId = randomUUID();
    const wrappedOfflineKey = randomBytes(60);
    store.insertHost({
      id: hostId,
      name: 'shredded-host',
      hostGroup: null,
      certificatePem: 'not used here',
      certificateSerial: randomBytes(16).toString('hex'),
      certificateNotAfter: clock,
      transportPublicKeyPem: 'not used here',
      registeredAt: clock,
      lastSeenAt: null,
      deregisteredAt: null,
      guardPointStatus: null,
      previousCertificateSerial: null,
    });
    store.insertHostOffline({
      hostId,
      offlineKeyId: randomUUID(),
      offlineKeyVersion: 1,
      wrappedOfflineKey,
      managerPublicKey: randomBytes(32),
      wrappedManagerPrivateKey: randomBytes(80),
      wrappedPasswordWrapper: null,
      passwordSetAt: null,
      createdAt: clock,
    });
    store.forgetDeleted();
    const holding = () =>
      readdirSync(dir)
        .filter((f) => f.startsWith('manager.db'))
        .filter((f) => readFileSync(path.join(dir, f)).includes(wrappedOfflineKey));
    assert.deepEqual(holding(), ['manager.db'], 'in the database file, the WAL emptied');
    store.deleteHostOffline(hostId);
    store.forgetDeleted();
    assert.deepEqual(holding(), []);
  });

  test('after a restart every key, state and history is there, and material only ever stored wrapped', () => {
    const key = service.create({ name: 'survives', algorithm: 'aes-128' });
    const material = service.material(key.keyId, 1);
    assert.equal(material.length, 16);
    const listed = service.list();
    store.close();
    ({ store, service } = open());
    assert.deepEqual(service.list(), listed);
    assert.deepEqual(service.material(key.keyId, 1), material);
    for (const file of readdirSync(dir).filter((f) => f.startsWith('manager.db'))) {
      assert.equal(
        readFileSync(path.join(dir, file)).includes(material),
        false,
        `${file} holds no clear material`,
      );
    }
  });
});
