// AES-256-XTS in the native core against the IEEE 1619-2007 known answers with 256-bit keys and against
// node:crypto's 'aes-256-xts' at every length 16..70 and a few large ones.
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import { selfTest } from '../../native/core.js';
import { assertNativeError, crossCheckLengths, hex, loadKat } from './kat_support.js';

interface XtsVector {
  source: string;
  key: string;
  tweak: string;
  plaintext: string;
  ciphertext: string;
}

const kat = loadKat<XtsVector>('aes_256_xts');

function nodeXts(key: Buffer, tweak: Buffer, data: Buffer, encrypt: boolean): Buffer {
  const cipher = encrypt
    ? createCipheriv('aes-256-xts', key, tweak)
    : createDecipheriv('aes-256-xts', key, tweak);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

/** A random 64-byte XTS key whose two halves differ (OpenSSL refuses equal halves). */
function xtsKey(): Buffer {
  for (;;) {
    const key = randomBytes(64);
    if (!key.subarray(0, 32).equals(key.subarray(32))) return key;
  }
}

const REFUSED = ['VEIL_INVALID_ARGUMENT', 'VEIL_CRYPTO_FAILED'] as const;

describe('AES-256-XTS fixture', () => {
  test('every vector has a 64-byte key, a 16-byte tweak, equal lengths, and node:crypto agrees with it', () => {
    for (const v of kat.vectors) {
      const key = hex(v.key, `${v.source}: key`);
      const tweak = hex(v.tweak, `${v.source}: tweak`);
      const plain = hex(v.plaintext, `${v.source}: plaintext`);
      const cipher = hex(v.ciphertext, `${v.source}: ciphertext`);
      assert.equal(key.length, 64, v.source);
      assert.equal(tweak.length, 16, v.source);
      assert.equal(plain.length, cipher.length, v.source);
      assert.ok(plain.length >= 16, v.source);
      assert.equal(
        nodeXts(key, tweak, plain, true).toString('hex'),
        v.ciphertext,
        `${v.source}: node encrypt`,
      );
      assert.equal(
        nodeXts(key, tweak, cipher, false).toString('hex'),
        v.plaintext,
        `${v.source}: node decrypt`,
      );
    }
  });

  test('covers IEEE 1619-2007 vectors 10-14', () => {
    for (const n of [10, 11, 12, 13, 14]) {
      assert.ok(
        kat.vectors.some((v) => v.source.includes(`Vector ${n} `)),
        `IEEE 1619 vector ${n} missing`,
      );
    }
  });
});

describe('AES-256-XTS known answers through the native core', () => {
  for (const v of kat.vectors) {
    test(v.source, () => {
      const key = hex(v.key);
      const tweak = hex(v.tweak);
      assert.equal(
        selfTest.aesXts(key, tweak, hex(v.plaintext), true).toString('hex'),
        v.ciphertext,
        'encrypt',
      );
      assert.equal(
        selfTest.aesXts(key, tweak, hex(v.ciphertext), false).toString('hex'),
        v.plaintext,
        'decrypt',
      );
    });
  }
});

describe('AES-256-XTS native against node:crypto', () => {
  for (const length of crossCheckLengths(16)) {
    test(`length ${length}`, () => {
      const key = xtsKey();
      const tweak = randomBytes(16);
      const plain = randomBytes(length);
      const inputs = [key, tweak, plain].map((b) => Buffer.from(b));

      const native = selfTest.aesXts(key, tweak, plain, true);
      const node = nodeXts(key, tweak, plain, true);
      assert.equal(native.length, length);
      assert.ok(native.equals(node), 'ciphertext differs from node:crypto');
      assert.deepEqual([key, tweak, plain], inputs, 'encryption modified its inputs');

      const back = selfTest.aesXts(key, tweak, node, false);
      assert.ok(back.equals(plain), 'native decryption of node:crypto output');
      assert.deepEqual([key, tweak], inputs.slice(0, 2), 'decryption modified its inputs');

      // The tweak matters: the same data under the next data unit number encrypts differently.
      const other = Buffer.from(tweak);
      other.writeUInt8(other.readUInt8(0) ^ 1, 0);
      assert.ok(!selfTest.aesXts(key, other, plain, true).equals(native), 'tweak ignored');
    });
  }

  test('a block index as tweak: u128le(i) matches node:crypto for the first, a large and the last index', () => {
    const key = xtsKey();
    const block = randomBytes(4096);
    for (const index of [0n, 1n, 0xffffffffn, 2n ** 36n - 1n, 2n ** 64n - 1n]) {
      const tweak = Buffer.alloc(16);
      tweak.writeBigUInt64LE(index, 0);
      assert.ok(
        selfTest.aesXts(key, tweak, block, true).equals(nodeXts(key, tweak, block, true)),
        `index ${index}`,
      );
    }
  });
});

describe('AES-256-XTS argument refusal', () => {
  const key = xtsKey();
  const tweak = randomBytes(16);

  test('data under 16 bytes is refused', () => {
    for (const length of [0, 1, 15]) {
      for (const encrypt of [true, false]) {
        assertNativeError(
          () => selfTest.aesXts(key, tweak, randomBytes(length), encrypt),
          REFUSED,
          `${length} bytes, ${encrypt ? 'encrypt' : 'decrypt'}`,
        );
      }
    }
  });

  test('a key other than 64 bytes is refused', () => {
    for (const length of [0, 32, 48, 65]) {
      assertNativeError(
        () => selfTest.aesXts(randomBytes(length), tweak, randomBytes(32), true),
        REFUSED,
        `${length}-byte key`,
      );
    }
  });

  test('a tweak other than 16 bytes is refused', () => {
    for (const length of [0, 8, 12, 17]) {
      assertNativeError(
        () => selfTest.aesXts(key, randomBytes(length), randomBytes(32), true),
        REFUSED,
        `${length}-byte tweak`,
      );
    }
  });

  test('encryption under a key whose two halves are equal is refused', () => {
    const half = randomBytes(32);
    assertNativeError(
      () => selfTest.aesXts(Buffer.concat([half, half]), tweak, randomBytes(32), true),
      REFUSED,
      'Key1 == Key2',
    );
  });
});
