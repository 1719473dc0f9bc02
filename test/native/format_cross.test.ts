// The native core against the reference codec of docs/format.md (test/reference/), in both
// directions, on the golden containers, and for the header-only operations setSize and rewrap.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { CIPHERS, decodeFile, encodeFile, format, keys, openContainer } from '../../native/core.js';
import {
  HEADER_SIZE,
  blockOffset,
  containerLength,
  decodeContainer,
  encodeContainer,
  entryOffset,
  keyringOf,
  readHeader,
  storedEnd,
} from '../reference/container_codec.js';
import { GUARD_KEYS, VECTORS, fixturePath, plaintextOf } from '../reference/vectors.js';
import { TestKeys, plaintext, referenceThrows } from './format_support.js';

const MiB = 1024 * 1024;
// 128 blocks fill group 0; 3 MiB spans six groups.
const SIZES = [0, 1, 15, 16, 17, 4095, 4096, 4097, 128 * 4096, 128 * 4096 + 1, 3 * MiB, 3 * MiB + 12345];

const testKeys = new TestKeys();
let v1: ReturnType<TestKeys['add']>;
let v2: ReturnType<TestKeys['add']>;

before(() => {
  v1 = testKeys.add();
  v2 = testKeys.add({ keyId: v1.keyId, version: 2, material: plaintext(16, 'aes-128 guard key') });
});
after(() => testKeys.removeAll());

test('the native format constants are those of docs/format.md', () => {
  assert.deepEqual(
    { ...format },
    {
      version: 2,
      headerSize: 512,
      plainBlockSize: 4096,
      pageSize: 4096,
      groupBlocks: 128,
      tagEntrySize: 28,
      tagEntriesOffset: 512,
      maxLogicalSize: 2 ** 48,
    },
  );
});

for (const cipher of CIPHERS) {
  describe(`${cipher}: both directions`, () => {
    for (const size of SIZES) {
      test(`${size} bytes: native encodeFile → reference decodeContainer`, async () => {
        const plain = plaintext(size, `native ${cipher} ${size}`);
        const container = await encodeFile(v1, cipher, plain);
        assert.equal(container.length, containerLength(size));
        const header = readHeader(container, testKeys.keyring);
        assert.deepEqual([header.cipher, header.size, header.state, header.progress], [cipher, size, 0, 0]);
        assert.ok(decodeContainer(container, testKeys.keyring).equals(plain), 'reference plaintext differs');
      });

      test(`${size} bytes: reference encodeContainer → native decodeFile`, async () => {
        const plain = plaintext(size, `reference ${cipher} ${size}`);
        const container = encodeContainer({ keyring: testKeys.keyring, key: v2, cipher, plaintext: plain });
        assert.ok((await decodeFile(container)).equals(plain), 'native plaintext differs');
      });
    }
  });
}

test('a fresh file id and file key per file, a fresh GCM nonce per block write', async () => {
  const block = plaintext(4096, 'one block');
  const [a, b] = [await encodeFile(v1, 'aes-256-gcm', block), await encodeFile(v1, 'aes-256-gcm', block)];
  assert.notDeepEqual(a.subarray(24, 40), b.subarray(24, 40), 'two files share a file id');
  const container = openContainer(a);
  try {
    // A run of one GCM block: its 4096-byte page, then its entry (nonce || tag).
    const first = container.encryptBlocks(0, block);
    const second = container.encryptBlocks(0, block);
    assert.equal(first.length, 4096 + 28);
    assert.notDeepEqual(first.subarray(4096, 4108), second.subarray(4096, 4108), 'a block nonce was reused');
    for (const run of [first, second]) {
      const placed = Buffer.from(a);
      run.copy(placed, blockOffset(0), 0, 4096);
      run.copy(placed, entryOffset(0), 4096);
      assert.deepEqual(decodeContainer(placed, testKeys.keyring), block);
    }
  } finally {
    container.close();
  }
});

describe('golden containers (test/fixtures/format-v2)', () => {
  before(() => {
    for (const k of GUARD_KEYS) keys.importRaw(k, 'active', Buffer.from(k.material));
  });
  after(() => {
    for (const k of GUARD_KEYS) keys.remove(k);
  });

  for (const v of VECTORS) {
    test(`native decodeFile reads ${v.file}`, async () => {
      const container = fs.readFileSync(fixturePath(v.file));
      assert.deepEqual(await decodeFile(container), plaintextOf(v.size));
      const opened = openContainer(container.subarray(0, HEADER_SIZE));
      try {
        assert.deepEqual(
          {
            fileId: opened.fileId,
            cipher: opened.cipher,
            size: opened.size,
            state: opened.state,
            progress: opened.progress,
            key: opened.key,
          },
          {
            fileId: 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff',
            cipher: v.cipher,
            size: v.size,
            state: v.reencrypting ? 're-encrypting' : 'stable',
            progress: v.reencrypting?.progress ?? 0,
            key: v.key,
          },
        );
        assert.deepEqual(opened.header(), container.subarray(0, HEADER_SIZE));
      } finally {
        opened.close();
      }
    });
  }
});

for (const cipher of CIPHERS) {
  describe(`${cipher}: header-only operations`, () => {
    const plain = plaintext(10000, `header ops ${cipher}`); // 3 blocks, the last 1808 bytes
    // The container cut after `blocks` blocks, under another header.
    const withHeader = (header: Buffer, container: Buffer, blocks: number) =>
      Buffer.concat([header, container.subarray(HEADER_SIZE, storedEnd(blocks))]);

    test('rewrap to a new key version: the reference reads it with the new key only', async () => {
      const container = await encodeFile(v1, cipher, plain);
      const opened = openContainer(container);
      let header: Buffer;
      try {
        header = opened.rewrap(v2);
        assert.deepEqual(opened.key, { keyId: v2.keyId, version: 2 });
        assert.deepEqual(opened.header(), header);
      } finally {
        opened.close();
      }
      assert.equal(header.length, HEADER_SIZE);
      assert.deepEqual(
        header.subarray(0, 56),
        container.subarray(0, 56),
        'rewrap changed fields before slot A',
      );
      assert.deepEqual(header.subarray(140, 480), Buffer.alloc(340), 'slot B and reserved bytes not zero');
      const rewrapped = Buffer.concat([header, container.subarray(HEADER_SIZE)]);
      const onlyV2 = keyringOf([v2]);
      const onlyV1 = keyringOf([v1]);
      assert.ok(decodeContainer(rewrapped, onlyV2).equals(plain), 'reference cannot read the rewrapped file');
      referenceThrows(
        () => decodeContainer(rewrapped, onlyV1),
        'VEIL_KEY_NOT_FOUND',
        'rewrapped, without v2',
      );
      referenceThrows(() => decodeContainer(container, onlyV2), 'VEIL_KEY_NOT_FOUND', 'original, without v1');
      assert.ok((await decodeFile(rewrapped)).equals(plain), 'native cannot read the rewrapped file');
    });

    test('rewrap of a reference container: the blocks stay, the reference reads the new header', () => {
      const container = encodeContainer({ keyring: testKeys.keyring, key: v2, cipher, plaintext: plain });
      const opened = openContainer(container);
      let header: Buffer;
      try {
        header = opened.rewrap(v1);
      } finally {
        opened.close();
      }
      const rewrapped = Buffer.concat([header, container.subarray(HEADER_SIZE)]);
      assert.ok(decodeContainer(rewrapped, keyringOf([v1])).equals(plain));
    });

    test('setSize shrinks and grows the logical size within the written blocks', async () => {
      const container = await encodeFile(v1, cipher, plain);
      const opened = openContainer(container);
      const headers = new Map<number, Buffer>();
      try {
        for (const size of [5000, 12288, 0, 4096, 10000]) {
          headers.set(size, opened.setSize(size));
          assert.equal(opened.size, size);
        }
      } finally {
        opened.close();
      }
      const read = (size: number, blocks: number) =>
        decodeContainer(withHeader(headers.get(size)!, container, blocks), testKeys.keyring);
      assert.deepEqual(read(5000, 2), plain.subarray(0, 5000));
      assert.deepEqual(read(12288, 3), Buffer.concat([plain, Buffer.alloc(12288 - 10000)])); // zero padding
      assert.deepEqual(read(0, 0), Buffer.alloc(0));
      assert.deepEqual(read(4096, 1), plain.subarray(0, 4096));
      assert.deepEqual(read(10000, 3), plain);
      referenceThrows(() => read(5000, 1), 'VEIL_FORMAT_TRUNCATED', 'size 5000 with one block');
    });
  });
}
