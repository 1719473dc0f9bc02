// Batched re-encryption of small files (docs/format.md, "Batches of small files"): many
// files of one call share the journal's fdatasync and two syncfs. A child process serves
// the guard point and re-encrypts batches of files back and forth between two key
// versions; it is killed with SIGKILL at random moments, and after each kill this process
// mounts the directory (which applies the journal) and checks every file's bytes and header.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { decodeContainer } from '../reference/container_codec.js';
import type { KeyRef } from '../../native/core.js';
import {
  cleanUp,
  hashes,
  mount,
  newKey,
  newPlace,
  sh,
  unmount,
  until,
  type GuardPoint,
  type Place,
} from './ldt_support.js';

after(cleanUp);

const core = new URL('../../native/core.js', import.meta.url).href;

// The child: the two key versions, the mount, then batches of 48 files (more than one
// round of the journal on the last ones) re-encrypted toward one version and then the
// other, until it is killed.
const CHILD = `
const { keys, mountGuardPoint } = await import(process.env.CORE);
const [keyId, m1, m2] = [process.env.KEY_ID, process.env.M1, process.env.M2];
keys.importRaw({ keyId, version: 1 }, 'active', Buffer.from(m1, 'hex'));
keys.importRaw({ keyId, version: 2 }, 'active', Buffer.from(m2, 'hex'));
const gp = mountGuardPoint(
  { directory: process.env.DIR, key: { keyId, version: 1 }, cipher: 'aes-256-gcm', ldtJournal: process.env.JOURNAL },
  () => {},
);
const paths = (await gp.scanFiles()).map((e) => e.path).sort();
process.stdout.write('ready\\n');
for (let version = 2; ; version = 3 - version) {
  for (let i = 0; i < paths.length; i += 48) {
    for (;;) {
      const results = await gp.transformFiles(
        paths.slice(i, i + 48).map((path) => ({ path, op: 'reencrypt', keyId, version, maxBytes: 8 << 20 })),
      );
      const failed = results.find((r) => r.error);
      if (failed) throw new Error(JSON.stringify(failed));
      if (results.every((r) => r.done)) break;
    }
  }
}
`;

/** The child serving `place` and re-encrypting its files in batches until it is killed. */
function serve(place: Place, keyId: string, materials: Buffer[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    env: {
      ...process.env,
      ...env,
      CORE: core,
      KEY_ID: keyId,
      M1: materials[0].toString('hex'),
      M2: materials[1].toString('hex'),
      DIR: place.dir,
      JOURNAL: place.journal,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    void exited.then(() => reject(new Error(`the child exited: ${stderr}`)));
  });
  return { process: child, ready, exited, stderr: () => stderr };
}

/** 160 files of 0 to 40 KiB (up to 10 blocks), a few of them exactly one group long; their hashes. */
async function smallFiles(
  place: Place,
  key: KeyRef,
): Promise<{ names: string[]; before: Map<string, string> }> {
  const { gp } = mount(place, key, 'aes-256-gcm');
  sh(
    `cd '${place.dir}' && for i in $(seq 0 159); do ` +
      `if [ $((i % 40)) -eq 7 ]; then n=524288; else n=$(( (i * 2654435761) % 40960 )); fi; ` +
      `head -c $n /dev/urandom > f$i; done`,
  );
  const names = Array.from({ length: 160 }, (_, i) => `f${i}`);
  const before = hashes(place.dir, names);
  await unmount(gp);
  return { names, before };
}

test('batches of small files killed at random moments: every file reads back after the journal is applied', async () => {
  const place = newPlace('batch');
  const { refs, materials, keyring } = newKey(2);
  const [v1, v2] = refs as [(typeof refs)[0], (typeof refs)[0]];
  const { names, before } = await smallFiles(place, v1);
  let gp: GuardPoint;
  let landed = 0;
  for (let kill = 0; kill < 8; kill++) {
    const child = serve(place, v1.keyId, materials);
    await child.ready;
    await new Promise((resolve) => setTimeout(resolve, 30 + Math.floor(Math.random() * 400)));
    child.process.kill('SIGKILL');
    await child.exited;
    assert.equal(child.stderr(), '', 'the child failed before it was killed');
    spawnSync('umount', ['-l', place.dir]);

    // The journal is applied at mount; every file reads as it was written.
    gp = mount(place, v1, 'aes-256-gcm').gp;
    const scanned = await gp.scanFiles();
    assert.equal(scanned.length, names.length);
    // Mid-way: files under both versions, or one in state 1.
    const versions = new Set(scanned.map((e) => e.keyVersion));
    if (versions.size > 1 || scanned.some((e) => e.kind === 'reencrypting')) landed += 1;
    assert.deepEqual(hashes(place.dir, names), before, `after kill ${kill}`);
    await unmount(gp);
  }
  assert.ok(landed > 0, 'no kill landed while files were being re-encrypted');

  // Finished under version 2: stable, and each file decodes offline with the keyring.
  ({ gp } = mount(place, v1, 'aes-256-gcm'));
  for (let i = 0; i < names.length; i += 48) {
    for (;;) {
      const results = await gp.transformFiles(
        names.slice(i, i + 48).map((path) => ({ path, op: 'reencrypt' as const, ...v2, maxBytes: 8 << 20 })),
      );
      assert.ok(
        results.every((r) => !r.error),
        JSON.stringify(results.find((r) => r.error)),
      );
      if (results.every((r) => r.done)) break;
    }
  }
  const scanned = await gp.scanFiles();
  assert.ok(scanned.every((e) => e.kind === 'container' && e.keyVersion === 2));
  assert.deepEqual(hashes(place.dir, names), before);
  await unmount(gp);
  for (const name of names) {
    const plain = decodeContainer(readFileSync(join(place.dir, name)), keyring);
    assert.equal(createHash('sha256').update(plain).digest('hex'), before.get(name), name);
  }
});

test('a file torn in the middle of a batch (a power cut) is put back from the journal at mount', async () => {
  const place = newPlace('torn');
  const { refs, materials } = newKey(2);
  const [v1] = refs as [(typeof refs)[0]];
  const { names, before } = await smallFiles(place, v1);
  // The 5th file of the first round, then the 70th: a file of the second call's batch.
  for (const at of [5, 70]) {
    const child = serve(place, v1.keyId, materials, { LDT_TEST_TORN_BATCH: String(at) });
    assert.equal(await child.exited, 'SIGKILL', child.stderr());
    spawnSync('umount', ['-l', place.dir]);
    const { gp, events } = mount(place, v1, 'aes-256-gcm');
    await until('a recovered event with torn blocks', () =>
      events.some((e) => e.type === 'recovered' && /[1-9]\d* torn block/.test(e.message)),
    );
    assert.deepEqual(hashes(place.dir, names), before, `torn at file ${at}`);
    await unmount(gp);
  }
});
