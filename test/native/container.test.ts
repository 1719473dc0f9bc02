// The container handle of the native core: lifecycle, argument checks, key withdrawal,
// and the memory protections around key material.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';

import { createContainer, decodeFile, format, keys, openContainer, type KeyRef } from '../../native/core.js';
import * as layout from '../../native/layout.js';

const imported: KeyRef[] = [];

function newKey(): KeyRef {
  const ref = { keyId: randomUUID(), version: 1 };
  keys.importRaw(ref, 'active', randomBytes(32));
  imported.push(ref);
  return ref;
}

after(() => {
  for (const ref of imported) keys.remove(ref);
});

function expectCode(code: string): (err: unknown) => boolean {
  return (err) => {
    assert.equal((err as { code?: string }).code, code);
    return true;
  };
}

/** A container from a header and a run of blocks from block 0, each part where docs/format.md puts it. */
function place(header: Buffer, run: Buffer, size: number): Buffer {
  const blocks = layout.blockCount(size);
  assert.ok(blocks <= layout.GROUP_BLOCKS, 'one group only');
  const file = Buffer.alloc(layout.containerLength(size));
  header.copy(file, 0);
  run.copy(file, layout.blockOffset(0), 0, blocks * 4096);
  run.copy(file, layout.entryOffset(0), blocks * 4096); // GCM's tag entries; nothing for XTS
  return file;
}

test('sync and async block batches agree and decode through the header', async () => {
  const ref = newKey();
  for (const cipher of ['aes-256-gcm', 'aes-256-xts'] as const) {
    const c = createContainer(ref, cipher);
    const plain = randomBytes(5 * format.plainBlockSize);
    const header = c.setSize(plain.length);
    const sync = c.encryptBlocks(0, plain);
    const async = await c.encryptBlocksAsync(0, plain);
    assert.equal(sync.length, 5 * c.runUnit);
    assert.equal(c.runUnit, cipher === 'aes-256-gcm' ? 4096 + 28 : 4096);
    assert.deepEqual(c.decryptBlocks(0, async), plain);
    assert.deepEqual(await c.decryptBlocksAsync(0, sync), plain);
    assert.deepEqual(await decodeFile(place(header, sync, plain.length)), plain);
    c.close();
  }
});

test('GCM draws a fresh nonce per block write; XTS is deterministic per key and position', () => {
  const ref = newKey();
  const block = randomBytes(format.plainBlockSize);
  const gcm = createContainer(ref, 'aes-256-gcm');
  assert.notDeepEqual(gcm.encryptBlocks(3, block), gcm.encryptBlocks(3, block));
  const xts = createContainer(ref, 'aes-256-xts');
  assert.deepEqual(xts.encryptBlocks(3, block), xts.encryptBlocks(3, block));
  assert.notDeepEqual(xts.encryptBlocks(3, block), xts.encryptBlocks(4, block));
  assert.notEqual(gcm.fileId, xts.fileId);
  assert.match(gcm.fileId, /^[0-9a-f]{32}$/);
  gcm.close();
  xts.close();
});

test('a block decrypted at another index fails authentication (GCM)', () => {
  const c = createContainer(newKey(), 'aes-256-gcm');
  const stored = c.encryptBlocks(7, randomBytes(format.plainBlockSize));
  assert.throws(() => c.decryptBlocks(8, stored), expectCode('VEIL_CRYPTO_AUTH_FAILED'));
  c.close();
});

test('a closed container refuses every use', async () => {
  const c = createContainer(newKey(), 'aes-256-gcm');
  c.close();
  assert.throws(() => c.header(), expectCode('VEIL_KEY_HANDLE_CLOSED'));
  assert.throws(() => c.encryptBlocks(0, Buffer.alloc(4096)), expectCode('VEIL_KEY_HANDLE_CLOSED'));
  await assert.rejects(
    c.decryptBlocksAsync(0, Buffer.alloc(format.pageSize + format.tagEntrySize)),
    expectCode('VEIL_KEY_HANDLE_CLOSED'),
  );
  assert.throws(() => c.size, expectCode('VEIL_KEY_HANDLE_CLOSED'));
});

test('withdrawing a key stops containers already open under it', async () => {
  const ref = newKey();
  const c = createContainer(ref, 'aes-256-xts');
  const header = c.setSize(10);
  c.encryptBlocks(0, Buffer.alloc(4096));
  assert.equal(keys.remove(ref), true);
  assert.throws(() => c.encryptBlocks(0, Buffer.alloc(4096)), expectCode('VEIL_KEY_NOT_FOUND'));
  assert.throws(() => openContainer(header), expectCode('VEIL_KEY_NOT_FOUND'));
  await assert.rejects(decodeFile(header), expectCode('VEIL_KEY_NOT_FOUND'));
  c.close();
});

test('a rewrap keeps the file key: old blocks decode under the new key version', async () => {
  const keyId = randomUUID();
  const v1 = { keyId, version: 1 };
  const v2 = { keyId, version: 2 };
  keys.importRaw(v1, 'active', randomBytes(32));
  keys.importRaw(v2, 'active', randomBytes(32));
  imported.push(v1, v2);
  const c = createContainer(v1, 'aes-256-gcm');
  const plain = randomBytes(9000);
  c.setSize(plain.length);
  const padded = Buffer.alloc(3 * 4096);
  plain.copy(padded);
  const blocks = c.encryptBlocks(0, padded);
  const header = c.rewrap(v2);
  assert.deepEqual(c.key, v2);
  keys.setState(v1, 'deactivated');
  assert.deepEqual(await decodeFile(place(header, blocks, plain.length)), plain);
  keys.remove(v1);
  assert.deepEqual(await decodeFile(place(header, blocks, plain.length)), plain);
  keys.setState(v2, 'suspended');
  assert.throws(() => createContainer(v2, 'aes-256-gcm'), expectCode('VEIL_KEY_NOT_ACTIVE'));
  assert.throws(() => c.rewrap(v2), expectCode('VEIL_KEY_NOT_ACTIVE'));
  c.close();
});

test('arguments are checked before they reach native code', () => {
  const c = createContainer(newKey(), 'aes-256-gcm');
  assert.throws(() => c.encryptBlocks(0, Buffer.alloc(100)), expectCode('VEIL_INVALID_ARGUMENT'));
  assert.throws(() => c.decryptBlocks(0, Buffer.alloc(4096)), expectCode('VEIL_INVALID_ARGUMENT'));
  assert.throws(() => c.encryptBlocks(-1, Buffer.alloc(4096)), expectCode('VEIL_INVALID_ARGUMENT'));
  assert.throws(() => c.setSize(format.maxLogicalSize + 1), expectCode('VEIL_INVALID_ARGUMENT'));
  assert.throws(() => c.setSize(1.5), expectCode('VEIL_INVALID_ARGUMENT'));
  assert.throws(
    () => createContainer({ keyId: randomUUID(), version: 1 }, 'aes-256-cbc' as 'aes-256-gcm'),
    expectCode('VEIL_INVALID_ARGUMENT'),
  );
  assert.throws(() => openContainer('header' as unknown as Buffer), expectCode('VEIL_INVALID_ARGUMENT'));
  c.close();
});

test('key memory is locked and the process cannot dump core', () => {
  newKey();
  const status = readFileSync('/proc/self/status', 'utf8');
  const locked = Number(/^VmLck:\s+(\d+) kB/m.exec(status)?.[1]);
  assert.ok(locked > 0, `expected locked memory, VmLck is ${locked} kB`);
  const limits = readFileSync('/proc/self/limits', 'utf8');
  assert.match(limits, /^Max core file size\s+0\s+0\s/m);
});
