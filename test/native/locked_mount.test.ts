// A locked guard point (GuardPointSpec.verifyKeys false): the mount no longer needs the key
// of the containers already there, so the agent can mount a guard point whose keys arrive
// later; until they do its files fail, and after an offline unlock they read. Mounts are
// served from this process; every file operation runs in a child process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import {
  encodeFile,
  keys,
  mountGuardPoint,
  offline,
  type GuardPointEvent,
  type GuardPointSpec,
  type KeyRef,
} from '../../native/core.js';
import { containerLength } from '../../native/layout.js';
import { isMounted } from '../fs/mount_support.js';
import { expectNativeError } from '../support/no_key_bytes.js';
import { managerPair, respond } from './offline_support.js';

const HOST = randomUUID();
const work = mkdtempSync(join(tmpdir(), 'veil-locked-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Waits (at most 5 s) for an event the FUSE threads queued to reach JavaScript. */
async function eventually(events: GuardPointEvent[], wanted: (e: GuardPointEvent) => boolean, what: string) {
  for (const until = Date.now() + 5000; !events.some(wanted);) {
    if (Date.now() > until) assert.fail(`no ${what} event: ${JSON.stringify(events)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `cat` in a child process: its status, stdout and stderr. */
function cat(file: string): { status: number | null; stdout: Buffer; stderr: string } {
  const child = spawnSync('cat', [file], { timeout: 30_000 });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr.toString('utf8') };
}

/** Mounts `spec`, runs `body`, and unmounts whatever happened; returns the events. */
async function withMount(
  spec: GuardPointSpec,
  body: (dir: string) => Promise<void> | void,
): Promise<GuardPointEvent[]> {
  const events: GuardPointEvent[] = [];
  const gp = mountGuardPoint(spec, (event) => events.push(event));
  try {
    assert.ok(isMounted(spec.directory), 'not mounted');
    await body(spec.directory);
  } finally {
    await gp.unmount();
  }
  assert.ok(!isMounted(spec.directory), 'the mount was left behind');
  return events;
}

/** A directory holding a container made under a key that is then removed from the table. */
async function directoryUnderMissingKey(
  name: string,
  plain: Buffer,
): Promise<{ dir: string; ref: KeyRef; material: Buffer }> {
  const dir = mkdtempSync(join(work, `${name}-`));
  const ref = { keyId: randomUUID(), version: 1 };
  const material = randomBytes(32);
  keys.importRaw(ref, 'active', Buffer.from(material));
  writeFileSync(join(dir, 'data.bin'), await encodeFile(ref, 'aes-256-gcm', plain));
  keys.remove(ref);
  return { dir, ref, material };
}

test('verifyKeys false mounts a directory whose key is missing; by default VEIL_FS_WRONG_KEY', async () => {
  const plain = randomBytes(10_000);
  const { dir, ref, material } = await directoryUnderMissingKey('missing', plain);
  // The key of new files is no help: the mount checks the existing container's own key.
  const newFiles = { keyId: randomUUID(), version: 1 };
  keys.importRaw(newFiles, 'active', randomBytes(32));
  try {
    for (const verifyKeys of [undefined, true]) {
      const spec = { directory: dir, key: newFiles, cipher: 'aes-256-gcm' as const, verifyKeys };
      expectNativeError(() => mountGuardPoint(spec), 'VEIL_FS_WRONG_KEY', [material]);
      assert.ok(!isMounted(dir), 'a refused mount was left behind');
    }
    const events = await withMount(
      { directory: dir, key: newFiles, cipher: 'aes-256-gcm', verifyKeys: false },
      (mounted) => {
        const read = cat(join(mounted, 'data.bin'));
        assert.notEqual(read.status, 0, 'a file under a missing key was read');
        assert.match(read.stderr, /Required key not available|Input\/output error/);
      },
    );
    await eventually(
      events,
      (e) => e.type === 'key-unavailable' && e.path === 'data.bin' && e.code === 'VEIL_KEY_NOT_FOUND',
      'key-unavailable',
    );
    // With the key back the default check passes again.
    keys.importRaw(ref, 'active', Buffer.from(material));
    await withMount({ directory: dir, key: newFiles, cipher: 'aes-256-gcm' }, (mounted) => {
      const read = cat(join(mounted, 'data.bin'));
      assert.equal(read.status, 0, read.stderr);
      assert.ok(read.stdout.equals(plain));
    });
  } finally {
    keys.remove(ref);
    keys.remove(newFiles);
  }
});

test('a locked guard point reads once an offline unlock installs its keys', async () => {
  const plain = randomBytes(5000);
  const offlineRef = { keyId: randomUUID(), version: 1 };
  const offlineKey = randomBytes(32);
  const dataRef = { keyId: randomUUID(), version: 3 };
  const dir = mkdtempSync(join(work, 'unlock-'));
  // Before the restart: the keys arrive, a file is written, the host seals its keys.
  keys.importRaw(offlineRef, 'active', Buffer.from(offlineKey));
  keys.importRaw(dataRef, 'active', randomBytes(32));
  writeFileSync(join(dir, 'report.txt'), await encodeFile(dataRef, 'aes-256-xts', plain));
  const sealed = offline.seal(HOST, offlineRef);
  // The restart: the table is empty.
  keys.remove(offlineRef);
  keys.remove(dataRef);
  try {
    await withMount({ directory: dir, key: dataRef, cipher: 'aes-256-xts', verifyKeys: false }, (mounted) => {
      const file = join(mounted, 'report.txt');
      assert.notEqual(cat(file).status, 0, 'read before the unlock');
      const manager = managerPair();
      const response = respond(offline.challenge(), manager, offlineKey, HOST, offlineRef);
      offline.unlockResponse(sealed, HOST, offlineRef, manager.publicKey, response);
      const read = cat(file);
      assert.equal(read.status, 0, read.stderr);
      assert.ok(read.stdout.equals(plain), 'the unlocked file reads back');
      // New files go under the unlocked key too.
      const child = spawnSync(
        'bash',
        ['-c', `printf new > '${join(mounted, 'new.txt')}' && cat '${join(mounted, 'new.txt')}'`],
        {
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      assert.equal(child.stdout, 'new', child.stderr);
    });
  } finally {
    keys.remove(offlineRef);
    keys.remove(dataRef);
  }
});

test('verifyKeys false still refuses plaintext and still repairs a container a crash left too long', async () => {
  const plain = randomBytes(3000);
  const { dir, ref } = await directoryUnderMissingKey('repair', plain);
  const spec = { directory: dir, key: ref, cipher: 'aes-256-gcm' as const, verifyKeys: false };
  const file = join(dir, 'data.bin');
  appendFileSync(file, randomBytes(4096));
  const events = await withMount(spec, () => {});
  assert.equal(statSync(file).size, containerLength(plain.length), 'the length was not repaired');
  await eventually(events, (e) => e.type === 'recovered' && e.path === 'data.bin', 'recovered');
  writeFileSync(join(dir, 'plain.txt'), 'not encrypted');
  expectNativeError(() => mountGuardPoint(spec), 'VEIL_FS_PLAINTEXT_PRESENT');
  assert.ok(!isMounted(dir));
});

test('verifyKeys must be a boolean', () => {
  const dir = mkdtempSync(join(work, 'args-'));
  for (const verifyKeys of ['false', 0, null] as unknown as boolean[]) {
    expectNativeError(
      () =>
        mountGuardPoint({
          directory: dir,
          key: { keyId: randomUUID(), version: 1 },
          cipher: 'aes-256-gcm',
          verifyKeys,
        }),
      'VEIL_INVALID_ARGUMENT',
    );
  }
  assert.ok(!isMounted(dir));
});
