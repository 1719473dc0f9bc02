// The JWK fast path for hosts' public keys must give exactly the key OpenSSL's decoder gives,
// and must leave every other shape (and every malformed one) to that decoder.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';

import { fastPathJwk, publicKeyFromPem, publicKeyFromSpki } from '../../manager/ca/public_key_import.js';

const spki = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });
const pem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }) as string;

/** What OpenSSL makes of the DER, or the error it throws. */
function openssl(der: Buffer): KeyObject | Error {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (error) {
    return error as Error;
  }
}

function ours(der: Buffer): KeyObject | Error {
  try {
    return publicKeyFromSpki(der);
  } catch (error) {
    return error as Error;
  }
}

const FAST = {
  'RSA-3072': () => generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey,
  'RSA-2048, e = 3': () => generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey,
  'P-256': () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  'P-384': () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
};

describe('public key import through JWK', () => {
  for (const [name, make] of Object.entries(FAST)) {
    it(`reads ${name} on the fast path, equal to OpenSSL's key`, () => {
      for (let i = 0; i < 3; i++) {
        const key = make();
        const jwk = fastPathJwk(spki(key));
        assert.deepEqual(jwk, key.export({ format: 'jwk' }));
        assert.ok(publicKeyFromSpki(spki(key)).equals(key));
        assert.ok(publicKeyFromPem(pem(key)).equals(key));
      }
    });
  }

  it('leaves other key types and compressed points to OpenSSL, with the same result', () => {
    const others = [
      generateKeyPairSync('ed25519').publicKey,
      generateKeyPairSync('x25519').publicKey,
      generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey,
      generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey,
    ];
    for (const key of others) {
      assert.equal(fastPathJwk(spki(key)), undefined, key.asymmetricKeyType);
      assert.ok(publicKeyFromSpki(spki(key)).equals(key));
      assert.ok(publicKeyFromPem(pem(key)).equals(key));
    }
    // P-256 with its point compressed: 02/03 || x.
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const { x, y } = key.export({ format: 'jwk' });
    const parity = Buffer.from(y ?? '', 'base64url').at(-1)! & 1;
    const prefix = Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex');
    const compressed = Buffer.concat([prefix, Buffer.from([2 + parity]), Buffer.from(x ?? '', 'base64url')]);
    assert.equal(fastPathJwk(compressed), undefined);
    assert.ok(publicKeyFromSpki(compressed).equals(key));
  });

  it('agrees with OpenSSL on malformed keys: truncated, extended, flipped, mislabelled', () => {
    const keys = [FAST['RSA-3072'](), FAST['P-256'](), FAST['P-384']()];
    for (const key of keys) {
      const der = spki(key);
      const variants: Buffer[] = [
        der.subarray(0, der.length - 1),
        der.subarray(0, 20),
        Buffer.concat([der, Buffer.from([0])]),
        Buffer.alloc(0),
      ];
      // Every single byte of the structure before the key bits, and a few inside them, flipped.
      for (let at = 0; at < Math.min(der.length, 40); at++) {
        const flipped = Buffer.from(der);
        flipped[at] = (flipped[at] ?? 0) ^ 0x01;
        variants.push(flipped);
      }
      for (const at of [der.length - 1, der.length - 5, der.length - 40]) {
        const flipped = Buffer.from(der);
        flipped[at] = (flipped[at] ?? 0) ^ 0x10;
        variants.push(flipped);
      }
      for (const variant of variants) {
        const expected = openssl(variant);
        const got = ours(variant);
        if (expected instanceof Error) {
          assert.ok(got instanceof Error, `accepted what OpenSSL refuses: ${variant.toString('hex')}`);
        } else {
          assert.ok(!(got instanceof Error), `refused what OpenSSL accepts: ${variant.toString('hex')}`);
          assert.ok(got.equals(expected));
        }
      }
    }
  });

  it('takes the PEM fast path only for the exact base64 of the key', () => {
    const key = FAST['P-256']();
    const text = pem(key);
    assert.ok(publicKeyFromPem(text.replace(/\n/g, '\r\n')).equals(key));
    // A character Node's decoder would skip but OpenSSL refuses.
    const spoiled = text.replace('\n', '\n*');
    assert.throws(() => createPublicKey(spoiled));
    assert.throws(() => publicKeyFromPem(spoiled));
    assert.throws(() => publicKeyFromPem('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n'));
  });
});
