// The native key table through native/core.ts: raw and file imports, states, removal,
// argument checks, and that no call ever hands key material back to JavaScript.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import * as core from '../../native/core.js';
import {
  createContainer,
  decodeFile,
  encodeFile,
  keys,
  type CipherName,
  type KeyInfo,
  type KeyRef,
  type KeyState,
  type NativeErrorCode,
} from '../../native/core.js';
import { buildDelivery } from '../../manager/delivery/delivery_blob.js';
import { assertNoKeyBytes, expectNativeError, expectNativeRejection } from '../support/no_key_bytes.js';
import { managerPair, passwordWrapper, respond } from './offline_support.js';

const dir = mkdtempSync(join(tmpdir(), 'veil-key-table-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function newRef(version = 1): KeyRef {
  return { keyId: randomUUID(), version };
}

/** Imports `material` (a copy: importRaw wipes what it is given) and returns the ref. */
function importKey(material: Buffer, state: KeyState = 'active', ref: KeyRef = newRef()): KeyRef {
  keys.importRaw(ref, state, Buffer.from(material));
  return ref;
}

function entryOf(ref: KeyRef): KeyInfo | undefined {
  return keys.list().find((info) => info.keyId === ref.keyId && info.version === ref.version);
}

function sorted(list: KeyInfo[]): KeyInfo[] {
  return [...list].sort((a, b) => `${a.keyId}/${a.version}`.localeCompare(`${b.keyId}/${b.version}`));
}

function writeKeyFile(name: string, content: Buffer, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

const plain = randomBytes(5000);

test('importRaw lists 32- and 16-byte keys by id, version, state and algorithm, never material', () => {
  const m256 = randomBytes(32);
  const m128 = randomBytes(16);
  const r256 = importKey(m256, 'active');
  const r128 = importKey(m128, 'pre-activation', newRef(7));
  try {
    assert.deepEqual(entryOf(r256), { ...r256, state: 'active', algorithm: 'aes-256' });
    assert.deepEqual(entryOf(r128), { ...r128, state: 'pre-activation', algorithm: 'aes-128' });
    const list = keys.list();
    assertNoKeyBytes(list, [m256, m128], 'keys.list()');
    for (const info of list) {
      assert.deepEqual(Object.keys(info).sort(), ['algorithm', 'keyId', 'state', 'version']);
      assertNoKeyBytes(JSON.stringify(info), [m256, m128], 'a key table entry');
    }
  } finally {
    keys.remove(r256);
    keys.remove(r128);
  }
});

test('importRaw wipes the caller buffer, also when it refuses the material', () => {
  for (const length of [32, 16]) {
    const material = randomBytes(length);
    const ref = newRef();
    keys.importRaw(ref, 'active', material);
    assert.ok(material.equals(Buffer.alloc(length)), `the ${length}-byte buffer was not wiped`);
    keys.remove(ref);
  }
  for (const length of [0, 15, 24, 31, 33, 64]) {
    const material = randomBytes(length);
    const copy = Buffer.from(material);
    expectNativeError(() => keys.importRaw(newRef(), 'active', material), 'VEIL_KEY_INVALID', [copy]);
    assert.ok(material.equals(Buffer.alloc(length)), `the refused ${length}-byte buffer was not wiped`);
  }
  // A destroyed key has no material: importing one is refused, and the buffer still wiped.
  const material = randomBytes(32);
  const ref = newRef();
  expectNativeError(() => keys.importRaw(ref, 'destroyed', material), 'VEIL_KEY_INVALID');
  assert.ok(material.equals(Buffer.alloc(32)), 'the buffer of a refused destroyed key was not wiped');
  assert.equal(entryOf(ref), undefined);
});

test('setState: only an active key protects new data; suspended, deactivated, compromised still decode', async () => {
  const material = randomBytes(32);
  const ref = importKey(material);
  try {
    const containers = new Map<CipherName, Buffer>();
    for (const cipher of core.CIPHERS) containers.set(cipher, await encodeFile(ref, cipher, plain));
    for (const state of ['suspended', 'deactivated', 'compromised', 'pre-activation', 'active'] as const) {
      keys.setState(ref, state);
      assert.deepEqual(entryOf(ref), { ...ref, state, algorithm: 'aes-256' });
      if (state === 'active') {
        createContainer(ref, 'aes-256-gcm').close();
      } else {
        expectNativeError(() => createContainer(ref, 'aes-256-gcm'), 'VEIL_KEY_NOT_ACTIVE', [material]);
        await expectNativeRejection(() => encodeFile(ref, 'aes-256-xts', plain), 'VEIL_KEY_NOT_ACTIVE', [
          material,
        ]);
      }
      for (const [cipher, container] of containers) {
        if (state === 'pre-activation') {
          // "held but used for nothing": not even for decryption.
          await expectNativeRejection(() => decodeFile(container), 'VEIL_KEY_NOT_ACTIVE', [material]);
        } else {
          assert.ok((await decodeFile(container)).equals(plain), `${cipher} container under ${state} key`);
        }
      }
    }
    expectNativeError(() => keys.setState(newRef(), 'active'), 'VEIL_KEY_NOT_FOUND');
  } finally {
    keys.remove(ref);
  }
});

test('setState destroyed removes the version', async () => {
  const material = randomBytes(16);
  const ref = importKey(material);
  const container = await encodeFile(ref, 'aes-256-gcm', plain);
  keys.setState(ref, 'destroyed');
  assert.equal(entryOf(ref), undefined);
  await expectNativeRejection(() => decodeFile(container), 'VEIL_KEY_NOT_FOUND', [material]);
  assert.equal(keys.remove(ref), false);
});

test('remove: the version is gone, its containers no longer open, a second remove returns false', async () => {
  const material = randomBytes(32);
  const ref = importKey(material);
  const sibling = importKey(randomBytes(32), 'active', { keyId: ref.keyId, version: 2 });
  try {
    const container = await encodeFile(ref, 'aes-256-gcm', plain);
    assert.equal(keys.remove(ref), true);
    assert.equal(entryOf(ref), undefined);
    assert.notEqual(entryOf(sibling), undefined, 'removing version 1 removed version 2 too');
    await expectNativeRejection(() => decodeFile(container), 'VEIL_KEY_NOT_FOUND', [material]);
    expectNativeError(() => createContainer(ref, 'aes-256-gcm'), 'VEIL_KEY_NOT_FOUND', [material]);
    assert.equal(keys.remove(ref), false);
    assert.equal(keys.remove(newRef()), false);
    // The same material under the same ref opens the container again.
    importKey(material, 'deactivated', ref);
    assert.ok((await decodeFile(container)).equals(plain));
  } finally {
    keys.remove(ref);
    keys.remove(sibling);
  }
});

test('importFile reads a 32-byte key file (mode 0600) into the table', async () => {
  const material = randomBytes(32);
  const path = writeKeyFile('good.key', material);
  const ref = newRef(3);
  try {
    keys.importFile(ref, 'active', path);
    assert.deepEqual(entryOf(ref), { ...ref, state: 'active', algorithm: 'aes-256' });
    assertNoKeyBytes(keys.list(), [material], 'keys.list()');
    const container = await encodeFile(ref, 'aes-256-xts', plain);
    // The key in the table is the file's bytes: the same bytes imported raw open the container.
    keys.remove(ref);
    importKey(material, 'deactivated', ref);
    assert.ok((await decodeFile(container)).equals(plain));
  } finally {
    keys.remove(ref);
  }
});

test('importFile refuses a missing file, a wrong length, a directory, a file others can read or own', () => {
  interface Case {
    name: string;
    path: string;
    code: NativeErrorCode;
    problem: RegExp;
    content?: Buffer;
  }
  const unreadable = 'VEIL_KEY_FILE_UNREADABLE';
  mkdirSync(join(dir, 'a-directory'));
  const cases: Case[] = [
    { name: 'missing file', path: join(dir, 'missing.key'), code: unreadable, problem: /no such|not exist/i },
    {
      name: 'directory',
      path: join(dir, 'a-directory'),
      code: unreadable,
      problem: /directory|not a regular/i,
    },
    { name: 'device', path: '/dev/zero', code: unreadable, problem: /not a regular/i },
  ];
  for (const mode of [0o644, 0o640, 0o604]) {
    const content = randomBytes(32);
    const path = writeKeyFile(`open-${mode.toString(8)}.key`, content, mode);
    cases.push({
      name: `mode ${mode.toString(8)}`,
      path,
      code: unreadable,
      problem: /other users|mode/i,
      content,
    });
  }
  {
    const content = randomBytes(32);
    const path = writeKeyFile('foreign-owner.key', content);
    chownSync(path, 65534, 65534);
    cases.push({ name: 'owned by nobody', path, code: unreadable, problem: /belongs to uid 65534/, content });
  }
  for (const length of [0, 16, 31, 33, 64]) {
    const content = randomBytes(length);
    const path = writeKeyFile(`len-${length}.key`, content);
    cases.push({ name: `${length} bytes`, path, code: 'VEIL_KEY_INVALID', problem: /32 raw bytes/, content });
  }
  const before = sorted(keys.list());
  for (const { name, path, code, problem, content } of cases) {
    const secrets =
      content && content.length >= 16 ? [content, content.subarray(0, 16), content.subarray(-16)] : [];
    const error = expectNativeError(() => keys.importFile(newRef(), 'active', path), code, secrets);
    assert.match(error.message, problem, `${name}: "${error.message}" does not name the problem`);
  }
  assert.deepEqual(sorted(keys.list()), before, 'a refused key file changed the table');
});

test('importFile refuses a FIFO without blocking on it', () => {
  const fifo = join(dir, 'key.fifo');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  const core = fileURLToPath(new URL('../../native/core.ts', import.meta.url));
  const script = `
    import { keys } from ${JSON.stringify(core)};
    try {
      keys.importFile({ keyId: ${JSON.stringify(randomUUID())}, version: 1 }, 'active', ${JSON.stringify(fifo)});
      console.log('accepted');
    } catch (error) {
      console.log(error.code);
    }`;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  assert.equal(child.signal, null, 'importFile of a FIFO blocked (the child was killed after 15 s)');
  assert.equal(child.stdout.trim(), 'VEIL_KEY_FILE_UNREADABLE', child.stderr);
});

test('bad arguments are refused with VEIL_INVALID_ARGUMENT', () => {
  const good = newRef();
  const path = writeKeyFile('args.key', randomBytes(32));
  const badRefs = [
    { keyId: 'not-a-uuid', version: 1 },
    { keyId: randomUUID().toUpperCase(), version: 1 },
    { keyId: randomUUID().replaceAll('-', ''), version: 1 },
    { keyId: '', version: 1 },
    { keyId: 42 as unknown as string, version: 1 },
    { keyId: good.keyId, version: 0 },
    { keyId: good.keyId, version: -1 },
    { keyId: good.keyId, version: 1.5 },
    { keyId: good.keyId, version: 2 ** 32 },
    { keyId: good.keyId, version: Number.NaN },
  ];
  const badStates = ['enabled', '', 'ACTIVE', undefined] as unknown as KeyState[];
  const before = sorted(keys.list());
  for (const ref of badRefs) {
    expectNativeError(() => keys.importRaw(ref, 'active', randomBytes(32)), 'VEIL_INVALID_ARGUMENT');
    expectNativeError(() => keys.importFile(ref, 'active', path), 'VEIL_INVALID_ARGUMENT');
    expectNativeError(() => keys.setState(ref, 'active'), 'VEIL_INVALID_ARGUMENT');
    expectNativeError(() => keys.remove(ref), 'VEIL_INVALID_ARGUMENT');
    expectNativeError(() => createContainer(ref, 'aes-256-gcm'), 'VEIL_INVALID_ARGUMENT');
  }
  for (const state of badStates) {
    expectNativeError(() => keys.importRaw(good, state, randomBytes(32)), 'VEIL_INVALID_ARGUMENT');
    expectNativeError(() => keys.importFile(good, state, path), 'VEIL_INVALID_ARGUMENT');
    expectNativeError(() => keys.setState(good, state), 'VEIL_INVALID_ARGUMENT');
  }
  expectNativeError(
    () => keys.importRaw(good, 'active', 'x'.repeat(32) as unknown as Buffer),
    'VEIL_INVALID_ARGUMENT',
  );
  for (const bad of ['', 'a\0b', 7 as unknown as string]) {
    expectNativeError(() => keys.importFile(good, 'active', bad), 'VEIL_INVALID_ARGUMENT');
  }
  assert.deepEqual(sorted(keys.list()), before);
});

test('importRaw wipes the caller buffer when it refuses the arguments', () => {
  const material = randomBytes(32);
  expectNativeError(
    () => keys.importRaw({ keyId: 'bad', version: 1 }, 'active', material),
    'VEIL_INVALID_ARGUMENT',
  );
  assert.ok(material.equals(Buffer.alloc(32)), 'the buffer was not wiped');
});

test('no function of the module returns key bytes', async () => {
  const m256 = randomBytes(32);
  const m128 = randomBytes(16);
  const delivered = randomBytes(32);
  const offlineKey = randomBytes(32);
  const secrets = [m256, m128, delivered, offlineKey];
  const ref = importKey(m256);
  const ref128 = importKey(m128);
  const offlineRef = importKey(offlineKey);
  const deliveredRef = newRef();
  const extra = [newRef(), newRef()];
  const hostId = randomUUID();
  const results = new Map<string, unknown>();
  const call = async (name: string, fn: () => unknown): Promise<unknown> => {
    let result: unknown;
    try {
      result = await fn();
    } catch (error) {
      result = error;
    }
    assertNoKeyBytes(result, secrets, `the result of ${name}`);
    results.set(name, result);
    return result;
  };
  try {
    const plain4k = randomBytes(4096);
    const random = (n: number): Buffer => randomBytes(n);
    await call('keys.importRaw', () => keys.importRaw(extra[0], 'active', random(32)));
    await call('keys.importFile', () =>
      keys.importFile(extra[1], 'active', writeKeyFile('all.key', random(32))),
    );
    await call('keys.setState', () => keys.setState(ref128, 'active'));
    await call('keys.list', () => keys.list());
    await call('keys.remove', () => keys.remove(newRef()));
    await call('transportPublicKey', () => core.transportPublicKey());
    await call('installDelivery', () =>
      core.installDelivery(
        buildDelivery({
          transportPublicKeyPem: core.transportPublicKey(),
          hostId,
          sequence: 1n,
          entries: [{ ...deliveredRef, state: 'active', algorithm: 'aes-256', material: delivered }],
        }),
        { hostId, afterSequence: 0n },
      ),
    );
    const sealed = (await call('offline.seal', () => core.offline.seal(hostId, offlineRef))) as Buffer;
    const wrapper = passwordWrapper(offlineKey, 'pw', hostId, offlineRef);
    const unlocked = await call('offline.unlockPassword', () =>
      core.offline.unlockPassword(sealed, hostId, offlineRef, wrapper, Buffer.from('pw')),
    );
    assert.ok(Array.isArray(unlocked), `unlockPassword failed: ${String(unlocked)}`);
    const manager = managerPair();
    const challenge = (await call('offline.challenge', () => core.offline.challenge())) as Buffer;
    const answered = await call('offline.unlockResponse', () =>
      core.offline.unlockResponse(
        sealed,
        hostId,
        offlineRef,
        manager.publicKey,
        respond(challenge, manager, offlineKey, hostId, offlineRef),
      ),
    );
    assert.deepEqual(answered, unlocked);
    const container = (await call('createContainer', () =>
      createContainer(ref, 'aes-256-gcm'),
    )) as core.Container;
    for (const getter of ['fileId', 'cipher', 'size', 'state', 'progress', 'key', 'runUnit'] as const) {
      await call(`Container.${getter}`, () => container[getter]);
    }
    await call('Container.header', () => container.header());
    const header = (await call('Container.setSize', () => container.setSize(4096))) as Buffer;
    const encrypted = (await call('Container.encryptBlocks', () =>
      container.encryptBlocks(0, plain4k),
    )) as Buffer;
    await call('Container.decryptBlocks', () => container.decryptBlocks(0, encrypted));
    await call('Container.encryptBlocksAsync', () => container.encryptBlocksAsync(0, plain4k));
    await call('Container.decryptBlocksAsync', () => container.decryptBlocksAsync(0, encrypted));
    await call('Container.rewrap', () => container.rewrap(ref128));
    await call('Container.close', () => container.close());
    const opened = (await call('openContainer', () => core.openContainer(header))) as core.Container;
    opened.close();
    await call('Container.constructor', () => container.constructor);
    const file = (await call('encodeFile', () => encodeFile(ref, 'aes-256-xts', plain))) as Buffer;
    await call('decodeFile', () => decodeFile(file));
    await call('benchmarkBlocks', () => core.benchmarkBlocks('aes-256-gcm', 4096, 0.05, false));
    const self = core.selfTest;
    await call('selfTest.aesGcmEncrypt', () =>
      self.aesGcmEncrypt(random(32), random(12), random(8), plain4k),
    );
    await call('selfTest.aesGcmDecrypt', () =>
      self.aesGcmDecrypt(random(32), random(12), random(8), plain4k, random(16)),
    );
    await call('selfTest.aesXts', () => self.aesXts(random(64), random(16), plain4k, true));
    await call('selfTest.hkdfSha256', () => self.hkdfSha256(random(32), random(16), random(8), 64));
    await call('selfTest.randomBytes', () => self.randomBytes(64));
    await call('selfTest.x25519PublicKey', () => self.x25519PublicKey(random(32)));
    await call('selfTest.x25519', () => self.x25519(random(32), self.x25519PublicKey(random(32))));
    await call('selfTest.scrypt', () => self.scrypt(random(16), random(16), 1024, 8, 1, 32));
    await call('selfTest.globMatch', () => self.globMatch('a/**', 'a/b'));
    const emptyTable = {
      format: 1,
      name: 'p',
      digest: '',
      learnMode: false,
      resources: [],
      users: [],
      processes: [],
      rules: [],
      keys: [],
      keyRules: [],
    };
    const probe = { uid: 0, gid: 0, groups: [], exe: null, sha256: null, action: 0, path: 'a' };
    await call('selfTest.evaluatePolicy', () => self.evaluatePolicy(emptyTable, probe));
    await call('selfTest.timePolicy', () => self.timePolicy(emptyTable, probe, 10));
    const guarded = mkdtempSync(join(dir, 'guard-'));
    const guardPoint = (await call('mountGuardPoint', () =>
      core.mountGuardPoint({ directory: guarded, key: ref, cipher: 'aes-256-gcm' }),
    )) as Awaited<ReturnType<typeof core.mountGuardPoint>>;
    await call('GuardPoint.unmount', () => guardPoint.unmount());
    await call('clearStaleMount', () => core.clearStaleMount(guarded));
    await call('peerCredentials', () => core.peerCredentials(0));
    await call('systemdNotify', () => core.systemdNotify('STATUS=key table test'));
    for (const [name, value] of Object.entries(core)) {
      await call(`export ${name}`, () => value);
    }

    // Every exported function (classes aside) and every method was called above.
    const isClass = (fn: unknown): boolean =>
      typeof fn === 'function' && Function.prototype.toString.call(fn).startsWith('class');
    const exported = [
      ...Object.entries(core)
        .filter(([, value]) => typeof value === 'function' && !isClass(value))
        .map(([name]) => name),
      ...Object.keys(keys).map((name) => `keys.${name}`),
      ...Object.keys(core.offline).map((name) => `offline.${name}`),
      ...Object.keys(core.selfTest).map((name) => `selfTest.${name}`),
      ...Object.getOwnPropertyNames(core.Container.prototype).map((name) => `Container.${name}`),
    ];
    const uncalled = exported.filter((name) => !results.has(name));
    assert.deepEqual(uncalled, [], 'exported functions this test does not call');
  } finally {
    keys.remove(ref);
    keys.remove(ref128);
    keys.remove(offlineRef);
    keys.remove(deliveredRef);
    for (const extraRef of extra) keys.remove(extraRef);
  }
});
