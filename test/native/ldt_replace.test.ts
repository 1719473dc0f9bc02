// Whole-file replacements of live data transformation on real FUSE mounts: initial
// encryption of the plaintext a guard point serves (plaintextFiles 'serve'), re-encryption
// of XTS files, the busy rule, the hidden .veil-ldt directory, and what a scan reports.
// Every file operation on a mount runs in a child process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { mountGuardPoint } from '../../native/core.js';
import { decodeContainer, encodeContainer } from '../reference/container_codec.js';
import { expectNativeError } from '../support/no_key_bytes.js';
import { cleanUp, hashes, mount, newKey, newPlace, sh, shStatus, unmount } from './ldt_support.js';

after(cleanUp);

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

test("plaintext served as it is with plaintextFiles 'serve', then encrypted in place: same bytes, owner, mode, times", async () => {
  const place = newPlace('encrypt');
  const { refs, keyring } = newKey(1);
  const v1 = refs[0];
  const originals = new Map<string, Buffer>();
  mkdirSync(join(place.dir, 'd'));
  for (const [name, size] of [
    ['empty', 0],
    ['five', 5],
    ['page', 4096],
    ['d/big', 700_001],
    ['owned', 1000],
  ] as const) {
    const data = randomBytes(size);
    originals.set(name, data);
    writeFileSync(join(place.dir, name), data);
  }
  sh(`cd '${place.dir}' && chown nobody owned && chmod 640 owned && touch -d '2001-02-03 04:05:06' owned`);
  expectNativeError(
    () => mountGuardPoint({ directory: place.dir, key: v1, cipher: 'aes-256-gcm' }),
    'VEIL_FS_PLAINTEXT_PRESENT',
  );
  const { gp } = mount(place, v1, 'aes-256-gcm', { plaintextFiles: 'serve' });
  const names = [...originals.keys()];
  const expected = new Map(names.map((n) => [n, sha256(originals.get(n)!)]));
  assert.deepEqual(hashes(place.dir, names), expected);
  assert.equal(sh(`stat -c '%s' '${place.dir}/d/big'`).trim(), '700001');
  // Written through the mount while still plaintext.
  sh(`printf 'tail' >> '${place.dir}/five'`);
  originals.set('five', Buffer.concat([originals.get('five')!, Buffer.from('tail')]));
  expected.set('five', sha256(originals.get('five')!));
  const scanned = await gp.scanFiles();
  assert.deepEqual(
    scanned.map((e) => [e.path, e.kind, e.size]).sort(),
    names.map((n) => [n, 'plaintext', originals.get(n)!.length]).sort(),
  );
  const statBefore = sh(`stat -c '%U %a %Y' '${place.dir}/owned'`);
  const results = await gp.transformFiles(
    names.map((path) => ({ path, op: 'encrypt' as const, ...v1, maxBytes: 0 })),
  );
  assert.ok(
    results.every((r) => r.done && !r.error && !r.skipped),
    JSON.stringify(results),
  );
  assert.equal(results.find((r) => r.path === 'd/big')?.bytes, 700_001);
  assert.deepEqual(hashes(place.dir, names), expected);
  assert.equal(sh(`stat -c '%U %a %Y' '${place.dir}/owned'`), statBefore);
  assert.equal(sh(`stat -c '%s' '${place.dir}/d/big'`).trim(), '700001');
  assert.ok((await gp.scanFiles()).every((e) => e.kind === 'container' && e.keyVersion === 1));
  // Encrypting again does nothing; the hidden directory stays hidden.
  const [again] = await gp.transformFiles([{ path: 'five', op: 'encrypt', ...v1, maxBytes: 0 }]);
  assert.deepEqual([again?.done, again?.bytes], [true, 0]);
  assert.doesNotMatch(sh(`ls -a '${place.dir}'`), /\.veil-ldt/);
  await unmount(gp);
  for (const name of names)
    assert.deepEqual(decodeContainer(readFileSync(join(place.dir, name)), keyring), originals.get(name));
  assert.deepEqual(readdirSync(join(place.dir, '.veil-ldt')), []);
  // A plain mount (refuse) accepts the directory now.
  const { gp: plain } = mount(place, v1, 'aes-256-gcm');
  assert.deepEqual(hashes(place.dir, names), expected);
  await unmount(plain);
});

test('a file open by anyone is skipped as busy, and done once it is closed', async () => {
  const place = newPlace('busy');
  const { refs } = newKey(2);
  const [v1, v2] = refs as [(typeof refs)[0], (typeof refs)[0]];
  writeFileSync(join(place.dir, 'plain'), randomBytes(10_000));
  const { gp } = mount(place, v1, 'aes-256-xts', { plaintextFiles: 'serve' });
  sh(`head -c 9000 /dev/urandom > '${place.dir}/xts'`);
  const holder = spawn(
    'bash',
    ['-c', `exec 3<'${place.dir}/plain' 4<'${place.dir}/xts'; echo open; sleep 30`],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
  const before = hashes(place.dir, ['plain', 'xts']);
  const busy = await gp.transformFiles([
    { path: 'plain', op: 'encrypt', ...v1, maxBytes: 0 },
    { path: 'xts', op: 'reencrypt', ...v2, maxBytes: 1 << 20 },
  ]);
  assert.deepEqual(
    busy.map((r) => [r.done, r.skipped]),
    [
      [false, 'busy'],
      [false, 'busy'],
    ],
  );
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  let results = busy;
  for (let i = 0; i < 50 && !results.every((r) => r.done); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    results = await gp.transformFiles([
      { path: 'plain', op: 'encrypt', ...v1, maxBytes: 0 },
      { path: 'xts', op: 'reencrypt', ...v2, maxBytes: 1 << 20 },
    ]);
  }
  assert.ok(
    results.every((r) => r.done && !r.error),
    JSON.stringify(results),
  );
  assert.deepEqual(hashes(place.dir, ['plain', 'xts']), before);
  const scan = new Map((await gp.scanFiles()).map((e) => [e.path, e]));
  assert.deepEqual([scan.get('plain')?.cipher, scan.get('plain')?.keyVersion], ['aes-256-xts', 1]);
  assert.deepEqual([scan.get('xts')?.cipher, scan.get('xts')?.keyVersion], ['aes-256-xts', 2]);
  await unmount(gp);
});

test('.veil-ldt is invisible through the mount, its leftovers are deleted at mount; a scan reports every state', async () => {
  const place = newPlace('scan');
  const { refs, keyring } = newKey(2);
  const [v1, v2] = refs as [(typeof refs)[0], (typeof refs)[0]];
  mkdirSync(join(place.dir, '.veil-ldt'), { mode: 0o700 });
  writeFileSync(join(place.dir, '.veil-ldt', 'replace-leftover'), 'half a container');
  mkdirSync(join(place.dir, 'a/b'), { recursive: true });
  writeFileSync(
    join(place.dir, 'a/b/reenc.bin'),
    encodeContainer({
      keyring,
      key: v1,
      cipher: 'aes-256-gcm',
      plaintext: randomBytes(3 * 4096),
      reencrypting: { key: v2, progress: 2 },
    }),
  );
  writeFileSync(
    join(place.dir, 'xts.bin'),
    encodeContainer({ keyring, key: v2, cipher: 'aes-256-xts', plaintext: randomBytes(100) }),
  );
  writeFileSync(join(place.dir, 'plain.txt'), 'hello');
  symlinkSync('xts.bin', join(place.dir, 'link'));
  const { gp } = mount(place, v1, 'aes-256-gcm', { plaintextFiles: 'serve' });
  assert.equal(
    existsSync(join(place.dir, '.veil-ldt')),
    false,
    'not through the mount (stat from this process only)',
  );
  assert.doesNotMatch(sh(`ls -a '${place.dir}'`), /veil-ldt/);
  assert.notEqual(shStatus(`stat '${place.dir}/.veil-ldt'`).status, 0);
  for (const script of [
    `mkdir '${place.dir}/.veil-ldt'`,
    `touch '${place.dir}/.veil-ldt'`,
    `mv '${place.dir}/plain.txt' '${place.dir}/.veil-ldt'`,
    `ln -s x '${place.dir}/.veil-ldt'`,
  ]) {
    const result = shStatus(script);
    assert.notEqual(result.status, 0, script);
    assert.match(result.stderr, /Permission denied|Operation not permitted/, script);
  }
  const scan = (await gp.scanFiles()).sort((a, b) => a.path.localeCompare(b.path));
  assert.deepEqual(scan, [
    {
      path: 'a/b/reenc.bin',
      size: 3 * 4096,
      kind: 'reencrypting',
      cipher: 'aes-256-gcm',
      keyId: v1.keyId,
      keyVersion: 1,
      targetKeyId: v2.keyId,
      targetKeyVersion: 2,
      progress: 2,
    },
    { path: 'plain.txt', size: 5, kind: 'plaintext' },
    { path: 'xts.bin', size: 100, kind: 'container', cipher: 'aes-256-xts', keyId: v2.keyId, keyVersion: 2 },
  ]);
  // Toward another target than slot B's: slot B's is finished first, and done says false.
  const [other] = await gp.transformFiles([
    { path: 'a/b/reenc.bin', op: 'reencrypt', ...v1, maxBytes: 1 << 20 },
  ]);
  assert.deepEqual([other?.done, other?.error], [false, undefined]);
  const reenc = (await gp.scanFiles()).find((e) => e.path === 'a/b/reenc.bin');
  assert.deepEqual([reenc?.kind, reenc?.keyVersion], ['container', 2]);
  await unmount(gp);
  assert.deepEqual(readdirSync(join(place.dir, '.veil-ldt')), [], 'the leftover was deleted');
});
