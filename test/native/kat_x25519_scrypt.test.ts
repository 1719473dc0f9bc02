// The primitives of offline unlock in the native core: X25519 against RFC 7748 (§5.2, §6.1)
// and node:crypto, scrypt against RFC 7914 §12 and node:crypto.
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, scryptSync } from 'node:crypto';
import { describe, test } from 'node:test';

import { selfTest } from '../../native/core.js';
import { assertNativeError, hex } from './kat_support.js';
import { nodeX25519, rawPublicKey, x25519PrivateKey } from './offline_support.js';

interface X25519Vector {
  source: string;
  scalar: string;
  u: string;
  out: string;
}

const X25519_VECTORS: X25519Vector[] = [
  {
    source: 'RFC 7748 §5.2, first vector',
    scalar: 'a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4',
    u: 'e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c',
    out: 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552',
  },
  {
    // The u-coordinate has its top bit set: X25519 must ignore it.
    source: 'RFC 7748 §5.2, second vector',
    scalar: '4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d',
    u: 'e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493',
    out: '95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957',
  },
];

// RFC 7748 §5.2: k = u = 9; then (k, u) = (X25519(k, u), k), `iterations` times.
const ITERATED = [
  { iterations: 1, k: '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079' },
  { iterations: 1000, k: '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51' },
];

// RFC 7748 §6.1.
const DH = {
  alicePrivate: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePublic: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobPrivate: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  bobPublic: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  shared: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
};

interface ScryptVector {
  source: string;
  password: string;
  salt: string;
  N: number;
  r: number;
  p: number;
  out: string;
}

const SCRYPT_VECTORS: ScryptVector[] = [
  {
    source: 'RFC 7914 §12, first vector',
    password: '',
    salt: '',
    N: 16,
    r: 1,
    p: 1,
    out:
      '77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442' +
      'fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906',
  },
  {
    source: 'RFC 7914 §12, second vector',
    password: 'password',
    salt: 'NaCl',
    N: 1024,
    r: 8,
    p: 16,
    out:
      'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162' +
      '2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640',
  },
  {
    source: 'RFC 7914 §12, third vector',
    password: 'pleaseletmein',
    salt: 'SodiumChloride',
    N: 16384,
    r: 8,
    p: 1,
    out:
      '7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2' +
      'd5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887',
  },
  {
    // N = 2^20, r = 8: 1 GiB, the most offline unlock allows.
    source: 'RFC 7914 §12, fourth vector',
    password: 'pleaseletmein',
    salt: 'SodiumChloride',
    N: 1048576,
    r: 8,
    p: 1,
    out:
      '2101cb9b6a511aaeaddbbe09cf70f881ec568d574a2ffd4dabe5ee9820adaa47' +
      '8e56fd8f4ba5d09ffa1c6d927c40f4c337304049e8a952fbcbf45c6fa77a41a4',
  },
];

describe('X25519', () => {
  test('node:crypto agrees with the RFC 7748 vectors', () => {
    for (const v of X25519_VECTORS) {
      assert.equal(nodeX25519(hex(v.scalar), hex(v.u)).toString('hex'), v.out, v.source);
    }
    const alice = x25519PrivateKey(hex(DH.alicePrivate));
    assert.equal(rawPublicKey(createPublicKey(alice)).toString('hex'), DH.alicePublic);
    assert.equal(nodeX25519(hex(DH.alicePrivate), hex(DH.bobPublic)).toString('hex'), DH.shared);
  });

  for (const v of X25519_VECTORS) {
    test(`the native core: ${v.source}`, () => {
      assert.equal(selfTest.x25519(hex(v.scalar), hex(v.u)).toString('hex'), v.out);
    });
  }

  test('the native core: RFC 7748 §5.2, iterated 1 and 1000 times', () => {
    let k: Buffer = Buffer.alloc(32);
    k[0] = 9;
    let u: Buffer = Buffer.from(k);
    for (let i = 1; i <= 1000; i++) {
      const next = selfTest.x25519(k, u);
      u = k;
      k = next;
      const expected = ITERATED.find((e) => e.iterations === i);
      if (expected) assert.equal(k.toString('hex'), expected.k, `after ${i} iterations`);
    }
  });

  test('the native core: RFC 7748 §6.1 key agreement', () => {
    assert.equal(selfTest.x25519PublicKey(hex(DH.alicePrivate)).toString('hex'), DH.alicePublic);
    assert.equal(selfTest.x25519PublicKey(hex(DH.bobPrivate)).toString('hex'), DH.bobPublic);
    assert.equal(selfTest.x25519(hex(DH.alicePrivate), hex(DH.bobPublic)).toString('hex'), DH.shared);
    assert.equal(selfTest.x25519(hex(DH.bobPrivate), hex(DH.alicePublic)).toString('hex'), DH.shared);
  });

  test('the native core agrees with node:crypto on random keys', () => {
    for (let i = 0; i < 64; i++) {
      const a = randomBytes(32);
      const b = randomBytes(32);
      const aPublic = selfTest.x25519PublicKey(a);
      const bPublic = selfTest.x25519PublicKey(b);
      assert.ok(aPublic.equals(rawPublicKey(createPublicKey(x25519PrivateKey(a)))));
      const shared = selfTest.x25519(a, bPublic);
      assert.ok(shared.equals(selfTest.x25519(b, aPublic)), 'both sides agree');
      assert.ok(shared.equals(nodeX25519(a, bPublic)), 'node:crypto agrees');
    }
  });

  test('a low-order point (all-zero shared secret) is refused', () => {
    const p = 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f';
    for (const u of [
      '00'.repeat(32),
      `01${'00'.repeat(31)}`,
      p,
      `ee${p.slice(2)}`,
      // RFC 7748 §6.1 suggests checking; these two points have order 8 (libsodium's blacklist).
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
    ]) {
      assertNativeError(() => selfTest.x25519(randomBytes(32), hex(u)), ['VEIL_INVALID_ARGUMENT'], u);
    }
  });

  test('keys of the wrong length are refused', () => {
    for (const [a, b] of [
      [31, 32],
      [32, 33],
      [0, 32],
    ] as const) {
      assertNativeError(
        () => selfTest.x25519(randomBytes(a), randomBytes(b)),
        ['VEIL_INVALID_ARGUMENT'],
        `${a}/${b}`,
      );
    }
    assertNativeError(
      () => selfTest.x25519PublicKey(randomBytes(16)),
      ['VEIL_INVALID_ARGUMENT'],
      'public key',
    );
  });
});

describe('scrypt', () => {
  test('node:crypto agrees with the RFC 7914 vectors', () => {
    for (const v of SCRYPT_VECTORS) {
      const out = scryptSync(v.password, v.salt, 64, { N: v.N, r: v.r, p: v.p, maxmem: 2 ** 31 });
      assert.equal(out.toString('hex'), v.out, v.source);
    }
  });

  for (const v of SCRYPT_VECTORS) {
    test(`the native core: ${v.source} (N = ${v.N}, r = ${v.r}, p = ${v.p})`, () => {
      const out = selfTest.scrypt(Buffer.from(v.password), Buffer.from(v.salt), v.N, v.r, v.p, 64);
      assert.equal(out.toString('hex'), v.out);
    });
  }

  test('the native core agrees with node:crypto on random inputs and lengths', () => {
    for (const length of [1, 16, 32, 33, 64, 100]) {
      const password = randomBytes(length % 40);
      const salt = randomBytes(16);
      const [N, r, p] = [2 ** (1 + (length % 10)), 1 + (length % 4), 1 + (length % 3)];
      assert.ok(
        selfTest
          .scrypt(password, salt, N, r, p, length)
          .equals(scryptSync(password, salt, length, { N, r, p })),
        `N ${N}, r ${r}, p ${p}, length ${length}`,
      );
    }
  });

  test('parameters out of range are refused before any work', () => {
    const pw = Buffer.from('pw');
    const salt = Buffer.from('salt');
    for (const [N, r, p, length] of [
      [1, 1, 1, 32],
      [3, 1, 1, 32],
      [2 ** 21, 8, 1, 32],
      [2 ** 16, 1, 1, 32], // RFC 7914: N < 2^(16 r)
      [2 ** 20, 9, 1, 32], // more than 1 GiB
      [16, 0, 1, 32],
      [16, 33, 1, 32],
      [16, 1, 0, 32],
      [16, 1, 17, 32],
      [16, 1, 1, 0],
      [16, 1, 1, 1025],
    ]) {
      assertNativeError(
        () => selfTest.scrypt(pw, salt, N, r, p, length),
        ['VEIL_INVALID_ARGUMENT'],
        `N ${N}, r ${r}, p ${p}, length ${length}`,
      );
    }
  });
});
