// Live data transformation in place, on real FUSE mounts served by this process: rewraps,
// GCM re-encryption in steps while another process reads and writes the same file, the
// fallback between the two file keys of state 1, and recovery of a torn run from the
// journal. Every file operation on a mount runs in a child process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { keys } from '../../native/core.js';
import {
  blockOffset,
  decodeContainer,
  deriveBlockKey,
  encodeContainer,
  encryptBlock,
  entryOffset,
} from '../reference/container_codec.js';
import { findKeyBytes } from '../support/no_key_bytes.js';
import {
  JOURNAL_SLOT_SIZE,
  cleanUp,
  hashes,
  journalRecord,
  mount,
  newKey,
  newPlace,
  sh,
  shStatus,
  unmount,
  until,
} from './ldt_support.js';

after(cleanUp);

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

test('rewrap of 1,000 files: headers only, then the old version leaves the table and every file reads', async () => {
  const place = newPlace('rewrap');
  const { refs, materials, keyring } = newKey(2);
  const [v1, v2] = refs as [(typeof refs)[0], (typeof refs)[0]];
  let { gp } = mount(place, v1, 'aes-256-gcm');
  sh(
    `python3 -c "import os,sys; d=sys.argv[1]; os.makedirs(d+'/sub'); [open(f'{d}/{\\"sub/\\" if i%3==0 else \\"\\"}f{i:04d}','wb').write(os.urandom(i*7)) for i in range(1000)]" '${place.dir}'`,
  );
  const before = sh(`cd '${place.dir}' && find . -type f | sort | xargs sha256sum`);
  const scanned = await gp.scanFiles();
  assert.equal(scanned.length, 1000);
  assert.ok(scanned.every((e) => e.kind === 'container' && e.keyVersion === 1 && e.cipher === 'aes-256-gcm'));
  const started = process.hrtime.bigint();
  const results = await gp.transformFiles(
    scanned.map((e) => ({ path: e.path, op: 'rewrap' as const, ...v2, maxBytes: 0 })),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  process.stdout.write(`# rewrap: ${Math.round(1000 / seconds)} files/s (syncfs included)\n`);
  assert.ok(
    results.every((r) => r.done && r.bytes === 0 && !r.error && !r.skipped),
    JSON.stringify(results[0]),
  );
  assert.ok((await gp.scanFiles()).every((e) => e.keyVersion === 2));
  // Rewrapping again is a no-op; a path that is gone says so.
  const again = await gp.transformFiles([
    { path: scanned[0].path, op: 'rewrap', ...v2, maxBytes: 0 },
    { path: 'no/such/file', op: 'rewrap', ...v2, maxBytes: 0 },
  ]);
  assert.deepEqual(
    again.map((r) => [r.done, r.skipped]),
    [
      [true, undefined],
      [true, 'gone'],
    ],
  );
  keys.remove(v1);
  assert.equal(sh(`cd '${place.dir}' && find . -type f | sort | xargs sha256sum`), before);
  await unmount(gp);
  // On disk: every header under v2, every file decodes with v2 alone.
  const onlyV2 = (id: string, version: number) => (version === 2 ? keyring(id, version) : undefined);
  for (const e of scanned.slice(0, 50)) decodeContainer(readFileSync(join(place.dir, e.path)), onlyV2);
  ({ gp } = mount(place, v2, 'aes-256-gcm'));
  assert.equal(sh(`cd '${place.dir}' && find . -type f | sort | xargs sha256sum`), before);
  await unmount(gp);
  assert.equal(findKeyBytes(results, materials), undefined);
});

// Reads and writes the file at random for `ms`, reopening it often (each open drops the
// kernel's cached pages, so reads reach the guard point); prints the model's hash.
const WORKER = String.raw`
const fs = require('fs'), crypto = require('crypto');
const [file, ms] = [process.argv[1], Number(process.argv[2])];
const size = fs.statSync(file).size;
const model = fs.readFileSync(file);
let fd = fs.openSync(file, 'r+'), ops = 0;
for (const end = Date.now() + ms; Date.now() < end; ops++) {
  if (ops % 40 === 0) { fs.closeSync(fd); fd = fs.openSync(file, 'r+'); }
  const off = Math.floor(Math.random() * (size - 20000)), len = 1 + Math.floor(Math.random() * 20000);
  if (Math.random() < 0.5) {
    const b = crypto.randomBytes(len); fs.writeSync(fd, b, 0, len, off); b.copy(model, off);
  } else {
    const b = Buffer.alloc(len); fs.readSync(fd, b, 0, len, off);
    if (!b.equals(model.subarray(off, off + len))) { console.log('MISMATCH at ' + off); process.exit(1); }
  }
}
fs.fsyncSync(fd); fs.closeSync(fd);
console.log(crypto.createHash('sha256').update(model).digest('hex') + ' ' + ops);
`;

test('GCM re-encryption in small steps while another process reads and writes the file', async () => {
  const place = newPlace('reencrypt');
  const { refs, keyring } = newKey(2);
  const [v1, v2] = refs as [(typeof refs)[0], (typeof refs)[0]];
  const { gp } = mount(place, v1, 'aes-256-gcm');
  const file = join(place.dir, 'data.bin');
  sh(`head -c 3000000 /dev/urandom > '${file}'`);
  const child = spawn(process.execPath, ['-e', WORKER, file, '4000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, 300));
  let calls = 0;
  let moved = 0;
  const seen = new Set<string>();
  for (;;) {
    const [result] = await gp.transformFiles([
      { path: 'data.bin', op: 'reencrypt', ...v2, maxBytes: 64 * 1024 },
    ]);
    assert.ok(result && !result.error, JSON.stringify(result));
    calls += 1;
    moved += result.bytes;
    const [entry] = await gp.scanFiles();
    seen.add(entry.kind);
    if (result.done) break;
    assert.ok(result.bytes > 0 && result.bytes <= 64 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(calls > 40, `${calls} calls`);
  assert.equal(moved, 3000000);
  assert.ok(seen.has('reencrypting'));
  assert.equal(await exited, 0, out);
  const [modelHash, ops] = out.trim().split(' ');
  assert.ok(Number(ops) > 50, `only ${ops} operations ran alongside`);
  assert.equal(hashes(place.dir, ['data.bin']).get('data.bin'), modelHash);
  const [entry] = await gp.scanFiles();
  assert.equal(entry?.kind, 'container');
  assert.equal(entry?.keyVersion, 2);
  // Stable under the target already: done at once.
  const [again] = await gp.transformFiles([{ path: 'data.bin', op: 'reencrypt', ...v2, maxBytes: 4096 }]);
  assert.deepEqual([again?.done, again?.bytes], [true, 0]);
  await unmount(gp);
  // A new file key: the v1 key alone no longer opens the file.
  const onlyV1 = (id: string, version: number) => (version === 1 ? keyring(id, version) : undefined);
  assert.throws(() => decodeContainer(readFileSync(file), onlyV1));
  assert.equal(sha256(decodeContainer(readFileSync(file), keyring)), modelHash);
  // Every run was made durable, so no record is left valid.
  const journal = readFileSync(place.journal);
  for (let at = 0; at < journal.length; at += JOURNAL_SLOT_SIZE) {
    assert.ok(journal.subarray(at, at + 8).equals(Buffer.alloc(8)), `slot at ${at} still holds a record`);
  }
});

test('state 1 decrypts both ways: a block before the mark still under slot A reads, and is re-encrypted', async () => {
  const place = newPlace('fallback');
  const { refs, keyring } = newKey(2);
  const [v1, v2] = refs as [(typeof refs)[0], (typeof refs)[0]];
  const plaintext = randomBytes(5 * 4096 + 123);
  // Mark at 4, but only block 0 reached slot B: blocks 1–3 are before the mark under slot A.
  const container = encodeContainer({
    keyring,
    key: v1,
    cipher: 'aes-256-gcm',
    plaintext,
    reencrypting: { key: v2, progress: 4, written: 1 },
  });
  writeFileSync(join(place.dir, 'f.bin'), container);
  const { gp, events } = mount(place, v1, 'aes-256-gcm');
  const r = shStatus(`sha256sum '${place.dir}/f.bin'`);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(r.stdout.split(' ')[0], sha256(plaintext), JSON.stringify(events));
  const [entry] = await gp.scanFiles();
  assert.deepEqual(
    [entry?.kind, entry?.progress, entry?.targetKeyVersion, entry?.keyVersion],
    ['reencrypting', 4, 2, 1],
  );
  const [result] = await gp.transformFiles([{ path: 'f.bin', op: 'reencrypt', ...v2, maxBytes: 1 << 20 }]);
  assert.equal(result?.done, true, JSON.stringify(result));
  assert.equal(hashes(place.dir, ['f.bin']).get('f.bin'), sha256(plaintext));
  await unmount(gp);
  assert.deepEqual(decodeContainer(readFileSync(join(place.dir, 'f.bin')), keyring), plaintext);
});

test('a run torn by a crash is put back from the journal at mount; a record with a bad checksum is ignored', async () => {
  const place = newPlace('journal');
  const { refs, keyring } = newKey(2);
  const [v1, v2] = refs as [(typeof refs)[0], (typeof refs)[0]];
  const plaintext = randomBytes(10 * 4096 - 100);
  const fileId = randomBytes(16);
  const fileKey = randomBytes(32);
  const fileKeyB = randomBytes(32);
  const encode = (progress: number, written: number) =>
    encodeContainer({
      keyring,
      key: v1,
      cipher: 'aes-256-gcm',
      plaintext,
      random: { fileId, fileKey },
      reencrypting: { key: v2, progress, written, fileKey: fileKeyB },
    });
  // Before the run: all under slot A, mark 0. The run [0, 4): blocks 0 and 1 rewritten
  // under slot B, block 2's data page under B but its tag entry still A's (torn), block 3
  // untouched; the mark had advanced to 4.
  const pre = encode(0, 0);
  const torn = encode(4, 2);
  const block2 = Buffer.alloc(4096);
  plaintext.copy(block2, 0, 2 * 4096, 3 * 4096);
  const { page } = encryptBlock(
    'aes-256-gcm',
    deriveBlockKey(fileKeyB, fileId, 'aes-256-gcm'),
    fileId,
    2,
    block2,
    randomBytes(12),
  );
  page.copy(torn, blockOffset(2));
  writeFileSync(join(place.dir, 'f.bin'), torn);
  // Another file with a torn block 0, and a record for it whose checksum is wrong.
  const other = randomBytes(4096);
  const otherContainer = encodeContainer({ keyring, key: v1, cipher: 'aes-256-gcm', plaintext: other });
  const otherOriginal = Buffer.from(otherContainer.subarray(blockOffset(0), blockOffset(0) + 4096));
  randomBytes(4096).copy(otherContainer, blockOffset(0));
  writeFileSync(join(place.dir, 'other.bin'), otherContainer);
  const journal = Buffer.alloc(2 * JOURNAL_SLOT_SIZE);
  journalRecord({
    fileId,
    path: 'f.bin',
    first: 0,
    data: pre.subarray(blockOffset(0), blockOffset(0) + 4 * 4096),
    tags: pre.subarray(entryOffset(0), entryOffset(0) + 4 * 28),
  }).copy(journal, 0);
  journalRecord({
    fileId: otherContainer.subarray(24, 40),
    path: 'other.bin',
    first: 0,
    data: otherOriginal,
    tags: otherContainer.subarray(entryOffset(0), entryOffset(0) + 28),
    corruptChecksum: true,
  }).copy(journal, JOURNAL_SLOT_SIZE);
  writeFileSync(place.journal, journal);
  assert.throws(() => decodeContainer(torn, keyring), /authentication failed/);

  const { gp, events } = mount(place, v1, 'aes-256-gcm');
  await until('a recovered event', () => events.some((e) => e.type === 'recovered' && e.path === 'f.bin'));
  assert.match(events.find((e) => e.path === 'f.bin')?.message ?? '', /1 torn block/);
  assert.equal(statSync(place.journal).size, 0, 'the journal is cleared');
  assert.equal(hashes(place.dir, ['f.bin']).get('f.bin'), sha256(plaintext));
  const entry = (await gp.scanFiles()).find((e) => e.path === 'f.bin');
  assert.equal(entry?.progress, 0, 'the mark went back to the run start');
  assert.notEqual(
    shStatus(`cat '${place.dir}/other.bin' > /dev/null`).status,
    0,
    'the bad record was not applied',
  );
  const [result] = await gp.transformFiles([{ path: 'f.bin', op: 'reencrypt', ...v2, maxBytes: 1 << 20 }]);
  assert.equal(result?.done, true, JSON.stringify(result));
  assert.equal(hashes(place.dir, ['f.bin']).get('f.bin'), sha256(plaintext));
  await unmount(gp);
  assert.deepEqual(decodeContainer(readFileSync(join(place.dir, 'f.bin')), keyring), plaintext);
});

test('errors per file, never key bytes: unknown or inactive target, tampered block, no journal, bad requests', async () => {
  const place = newPlace('errors');
  const { refs, materials } = newKey(3);
  const [v1, v2, v3] = refs as [(typeof refs)[0], (typeof refs)[0], (typeof refs)[0]];
  keys.setState(v3, 'suspended');
  const { gp } = mount(place, v1, 'aes-256-gcm');
  sh(`head -c 20000 /dev/urandom > '${place.dir}/a' && head -c 20000 /dev/urandom > '${place.dir}/b'`);
  await unmount(gp);
  // Tamper with block 1 of b on the backing file.
  const b = readFileSync(join(place.dir, 'b'));
  b[blockOffset(1) + 10] = b[blockOffset(1) + 10] ^ 0xff;
  writeFileSync(join(place.dir, 'b'), b);
  const { gp: again } = mount(place, v1, 'aes-256-gcm');
  const missing = { keyId: v1.keyId, version: 9 };
  const results = await again.transformFiles([
    { path: 'a', op: 'rewrap', ...missing, maxBytes: 0 },
    { path: 'a', op: 'reencrypt', ...v3, maxBytes: 1 << 20 },
    { path: 'b', op: 'reencrypt', ...v2, maxBytes: 1 << 20 },
    { path: '../a', op: 'rewrap', ...v2, maxBytes: 0 },
    { path: 'a', op: 'encrypt', ...v2, maxBytes: 0 },
  ]);
  assert.deepEqual(
    results.map((r) => r.error?.code),
    [
      'VEIL_KEY_NOT_FOUND',
      'VEIL_KEY_NOT_ACTIVE',
      'VEIL_CRYPTO_AUTH_FAILED',
      'VEIL_INVALID_ARGUMENT',
      undefined,
    ],
  );
  assert.equal(results[4]?.done, false, 'a container under another key is not encrypted again');
  assert.equal(findKeyBytes(results, materials), undefined);
  await assert.rejects(
    again.transformFiles([{ path: '/abs', op: 'rewrap', ...v2, maxBytes: 0 }]),
    /relative to the guard point root/,
  );
  await unmount(again);
  await assert.rejects(again.scanFiles(), /not mounted/);
  const { gp: noJournal } = mount(place, v1, 'aes-256-gcm', { ldtJournal: undefined });
  const [result] = await noJournal.transformFiles([{ path: 'a', op: 'reencrypt', ...v2, maxBytes: 4096 }]);
  assert.equal(result?.error?.code, 'VEIL_INVALID_ARGUMENT');
  assert.match(result?.error?.message ?? '', /ldtJournal/);
  await unmount(noJournal);
});
