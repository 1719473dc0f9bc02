// AES-256-GCM in the native core against published known answers (McGrew-Viega, NIST CAVP) and against
// node:crypto, an independent implementation, at every length 0..70 and a few large ones.
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import { selfTest } from '../../native/core.js';
import { assertNativeError, crossCheckLengths, flipBit, hex, loadKat } from './kat_support.js';

interface GcmVector {
  source: string;
  key: string;
  iv: string;
  aad: string;
  plaintext?: string;
  ciphertext: string;
  tag: string;
  result: 'pass' | 'fail';
}

const kat = loadKat<GcmVector>('aes_256_gcm');

function nodeEncrypt(
  key: Buffer,
  iv: Buffer,
  aad: Buffer,
  plain: Buffer,
): { ciphertext: Buffer; tag: Buffer } {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

function nodeDecrypt(key: Buffer, iv: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

const AUTH_FAILED = ['VEIL_CRYPTO_AUTH_FAILED'] as const;
const REFUSED = ['VEIL_INVALID_ARGUMENT', 'VEIL_CRYPTO_FAILED', 'VEIL_CRYPTO_AUTH_FAILED'] as const;

describe('AES-256-GCM fixture', () => {
  test('every vector is 256-bit key, 96-bit IV, 128-bit tag, and node:crypto agrees with it', () => {
    for (const v of kat.vectors) {
      const key = hex(v.key, `${v.source}: key`);
      const iv = hex(v.iv, `${v.source}: iv`);
      const aad = hex(v.aad, `${v.source}: aad`);
      const ciphertext = hex(v.ciphertext, `${v.source}: ciphertext`);
      const tag = hex(v.tag, `${v.source}: tag`);
      assert.equal(key.length, 32, v.source);
      assert.equal(iv.length, 12, v.source);
      assert.equal(tag.length, 16, v.source);
      if (v.result === 'pass') {
        const plain = hex(v.plaintext, `${v.source}: plaintext`);
        const out = nodeEncrypt(key, iv, aad, plain);
        assert.equal(out.ciphertext.toString('hex'), v.ciphertext, `${v.source}: node ciphertext`);
        assert.equal(out.tag.toString('hex'), v.tag, `${v.source}: node tag`);
      } else {
        assert.equal(v.result, 'fail', `${v.source}: result must be pass or fail`);
        assert.equal(v.plaintext, undefined, `${v.source}: a fail vector has no plaintext`);
        assert.throws(() => nodeDecrypt(key, iv, aad, ciphertext, tag), `${v.source}: node accepted it`);
      }
    }
  });

  test('covers McGrew-Viega test cases 13-16 and NIST pass and fail cases', () => {
    for (const n of [13, 14, 15, 16]) {
      assert.ok(
        kat.vectors.some((v) => v.source.includes(`Test Case ${n}`)),
        `McGrew-Viega test case ${n} missing`,
      );
    }
    assert.ok(kat.vectors.some((v) => v.source.includes('gcmEncryptExtIV256') && v.aad.length > 0));
    assert.ok(kat.vectors.filter((v) => v.result === 'fail').length >= 3);
  });
});

describe('AES-256-GCM known answers through the native core', () => {
  for (const v of kat.vectors) {
    test(v.source, () => {
      const key = hex(v.key);
      const iv = hex(v.iv);
      const aad = hex(v.aad);
      const ciphertext = hex(v.ciphertext);
      const tag = hex(v.tag);
      if (v.result === 'pass') {
        const plain = hex(v.plaintext);
        const out = selfTest.aesGcmEncrypt(key, iv, aad, plain);
        assert.equal(out.ciphertext.toString('hex'), v.ciphertext, 'native ciphertext');
        assert.equal(out.tag.toString('hex'), v.tag, 'native tag');
        const back = selfTest.aesGcmDecrypt(key, iv, aad, ciphertext, tag);
        assert.equal(back.toString('hex'), v.plaintext, 'native decryption');
        assertNativeError(
          () => selfTest.aesGcmDecrypt(key, iv, aad, ciphertext, flipBit(tag, 127)),
          AUTH_FAILED,
          'flipped last tag bit',
        );
      } else {
        assertNativeError(
          () => selfTest.aesGcmDecrypt(key, iv, aad, ciphertext, tag),
          AUTH_FAILED,
          'NIST FAIL vector',
        );
      }
    });
  }
});

describe('AES-256-GCM native against node:crypto', () => {
  for (const length of crossCheckLengths(0)) {
    test(`length ${length}`, () => {
      const key = randomBytes(32);
      const iv = randomBytes(12);
      const aad = randomBytes(length === 65536 ? 4097 : (length * 7) % 50);
      const plain = randomBytes(length);
      const inputs = [key, iv, aad, plain].map((b) => Buffer.from(b));

      const native = selfTest.aesGcmEncrypt(key, iv, aad, plain);
      const node = nodeEncrypt(key, iv, aad, plain);
      assert.equal(native.ciphertext.length, length);
      assert.equal(native.tag.length, 16);
      assert.ok(native.ciphertext.equals(node.ciphertext), 'ciphertext differs from node:crypto');
      assert.ok(native.tag.equals(node.tag), 'tag differs from node:crypto');
      assert.deepEqual([key, iv, aad, plain], inputs, 'encryption modified its inputs');

      const back = selfTest.aesGcmDecrypt(key, iv, aad, node.ciphertext, node.tag);
      assert.ok(back.equals(plain), 'native decryption of node:crypto output');
      assert.ok(nodeDecrypt(key, iv, aad, native.ciphertext, native.tag).equals(plain));

      if (length > 0) {
        for (const b of [0, length * 8 - 1]) {
          assertNativeError(
            () => selfTest.aesGcmDecrypt(key, iv, aad, flipBit(node.ciphertext, b), node.tag),
            AUTH_FAILED,
            `ciphertext bit ${b} flipped`,
          );
        }
      }
      for (const b of [0, 127]) {
        assertNativeError(
          () => selfTest.aesGcmDecrypt(key, iv, aad, node.ciphertext, flipBit(node.tag, b)),
          AUTH_FAILED,
          `tag bit ${b} flipped`,
        );
      }
      if (aad.length > 0) {
        assertNativeError(
          () => selfTest.aesGcmDecrypt(key, iv, flipBit(aad, aad.length * 8 - 1), node.ciphertext, node.tag),
          AUTH_FAILED,
          'aad bit flipped',
        );
      }
      assertNativeError(
        () => selfTest.aesGcmDecrypt(key, flipBit(iv, 0), aad, node.ciphertext, node.tag),
        AUTH_FAILED,
        'iv bit flipped',
      );
      assertNativeError(
        () => selfTest.aesGcmDecrypt(flipBit(key, 0), iv, aad, node.ciphertext, node.tag),
        AUTH_FAILED,
        'other key',
      );
    });
  }
});

describe('AES-256-GCM argument refusal', () => {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const plain = randomBytes(100);
  const { ciphertext, tag } = nodeEncrypt(key, iv, Buffer.alloc(0), plain);

  test('a truncated or empty tag is refused, never accepted as a shorter tag', () => {
    for (const length of [0, 4, 12, 15]) {
      assertNativeError(
        () => selfTest.aesGcmDecrypt(key, iv, Buffer.alloc(0), ciphertext, tag.subarray(0, length)),
        REFUSED,
        `${length}-byte tag`,
      );
    }
  });

  test('an IV other than 12 bytes is refused', () => {
    for (const length of [0, 8, 16]) {
      assertNativeError(
        () => selfTest.aesGcmEncrypt(key, randomBytes(length), Buffer.alloc(0), plain),
        REFUSED,
        `${length}-byte IV`,
      );
    }
  });

  test('a key other than 32 bytes is refused', () => {
    for (const length of [0, 16, 24, 33]) {
      assertNativeError(
        () => selfTest.aesGcmEncrypt(randomBytes(length), iv, Buffer.alloc(0), plain),
        REFUSED,
        `${length}-byte key`,
      );
    }
  });
});
