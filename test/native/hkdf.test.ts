// HKDF-SHA256 in the native core against RFC 5869 test cases 1-3 and against node:crypto's hkdfSync.
import assert from 'node:assert/strict';
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';

import { selfTest } from '../../native/core.js';
import { assertNativeError, hex, loadKat } from './kat_support.js';

interface HkdfVector {
  source: string;
  ikm: string;
  salt: string;
  info: string;
  length: number;
  prk: string;
  okm: string;
}

const kat = loadKat<HkdfVector>('hkdf_sha256');

function nodeHkdf(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

describe('HKDF-SHA256 fixture', () => {
  test('node:crypto agrees with every vector (extract step and output)', () => {
    for (const v of kat.vectors) {
      const ikm = hex(v.ikm, `${v.source}: ikm`);
      const salt = hex(v.salt, `${v.source}: salt`);
      const info = hex(v.info, `${v.source}: info`);
      const okm = hex(v.okm, `${v.source}: okm`);
      assert.equal(okm.length, v.length, `${v.source}: okm length`);
      // RFC 5869 2.2: an absent salt is HashLen zero bytes.
      const prk = createHmac('sha256', salt.length > 0 ? salt : Buffer.alloc(32))
        .update(ikm)
        .digest('hex');
      assert.equal(prk, v.prk, `${v.source}: PRK`);
      assert.equal(nodeHkdf(ikm, salt, info, v.length).toString('hex'), v.okm, `${v.source}: node OKM`);
    }
  });

  test('covers RFC 5869 test cases 1-3', () => {
    for (const n of [1, 2, 3]) {
      assert.ok(
        kat.vectors.some((v) => v.source.includes(`Test Case ${n} `)),
        `test case ${n} missing`,
      );
    }
  });
});

describe('HKDF-SHA256 known answers through the native core', () => {
  for (const v of kat.vectors) {
    test(v.source, () => {
      const okm = selfTest.hkdfSha256(hex(v.ikm), hex(v.salt), hex(v.info), v.length);
      assert.equal(okm.toString('hex'), v.okm);
    });
  }
});

describe('HKDF-SHA256 native against node:crypto', () => {
  const cases: Array<[ikm: number, salt: number, info: number, length: number]> = [
    [32, 0, 0, 32],
    [32, 16, 25, 32], // the block key shape: file key, file id, "veil/v1 block aes-256-gcm"
    [32, 16, 25, 64], // the XTS block key shape
    [16, 0, 41, 32], // a 128-bit guard key, empty salt, info with key id and version
    [1, 1, 1, 1],
    [64, 64, 64, 31],
    [65, 65, 100, 33],
    [100, 200, 1024, 255],
    [32, 32, 32, 256],
    [32, 32, 32, 255 * 32],
  ];
  for (const [ikmLength, saltLength, infoLength, length] of cases) {
    test(`ikm ${ikmLength}, salt ${saltLength}, info ${infoLength}, length ${length}`, () => {
      const ikm = randomBytes(ikmLength);
      const salt = randomBytes(saltLength);
      const info = randomBytes(infoLength);
      const out = selfTest.hkdfSha256(ikm, salt, info, length);
      assert.equal(out.length, length);
      assert.ok(out.equals(nodeHkdf(ikm, salt, info, length)), 'differs from node:crypto');
    });
  }

  test('a shorter output is a prefix of a longer one', () => {
    const ikm = randomBytes(32);
    const salt = randomBytes(16);
    const info = Buffer.from('veil/v1 block aes-256-xts');
    const long = selfTest.hkdfSha256(ikm, salt, info, 64);
    assert.ok(selfTest.hkdfSha256(ikm, salt, info, 32).equals(long.subarray(0, 32)));
  });

  test('an output longer than 255 * 32 bytes is refused (RFC 5869 2.3)', () => {
    assertNativeError(
      () => selfTest.hkdfSha256(randomBytes(32), Buffer.alloc(0), Buffer.alloc(0), 255 * 32 + 1),
      ['VEIL_INVALID_ARGUMENT', 'VEIL_CRYPTO_FAILED'],
      'length 8161',
    );
  });

  test('a fractional output length is refused, not rounded', () => {
    assertNativeError(
      () => selfTest.hkdfSha256(randomBytes(32), Buffer.alloc(0), Buffer.alloc(0), 1.5),
      ['VEIL_INVALID_ARGUMENT'],
      'length 1.5',
    );
  });
});
