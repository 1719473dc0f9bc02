// Public keys that hosts send (transport keys, CSR keys) made into KeyObjects through JWK.
// OpenSSL 3's DER/PEM decoders cost 0.2–0.3 ms per key alone and several times that while
// other threads use OpenSSL (the issuer threads, during bulk registration), where a JWK
// import sets the numbers directly in about 20 µs. The fast path reads only the exact DER
// shapes below and leaves everything else to OpenSSL, so a key is refused or accepted
// with the same words either way; importing checks what DER cannot (an EC point on its
// curve).
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';

/** AlgorithmIdentifier rsaEncryption with NULL parameters, as DER: the content of its SEQUENCE. */
const RSA_ENCRYPTION = Buffer.from('06092a864886f70d0101010500', 'hex');
/** id-ecPublicKey (content of the OID TLV). */
const EC_PUBLIC_KEY = Buffer.from('2a8648ce3d0201', 'hex');
/** namedCurve OIDs (content of the OID TLV) with their JWK names and coordinate sizes. */
const CURVES: readonly { oid: Buffer; crv: string; size: number }[] = [
  { oid: Buffer.from('2a8648ce3d030107', 'hex'), crv: 'P-256', size: 32 },
  { oid: Buffer.from('2b81040022', 'hex'), crv: 'P-384', size: 48 },
];

class NotFastPath extends Error {}

interface Tlv {
  start: number;
  end: number;
}

/** The TLV with `tag` at `at`, with a definite length in minimal DER form, inside `limit`. */
function tlv(der: Uint8Array, at: number, tag: number, limit = der.length): Tlv {
  if (at + 2 > limit || der[at] !== tag) throw new NotFastPath();
  let length = der[at + 1] ?? 0;
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes < 1 || bytes > 2 || start + bytes > limit) throw new NotFastPath();
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[start++] ?? 0);
    if (length < 0x80 || (bytes === 2 && length < 0x100)) throw new NotFastPath();
  }
  const end = start + length;
  if (end > limit) throw new NotFastPath();
  return { start, end };
}

/** A positive INTEGER's magnitude, refusing non-minimal encodings. */
function unsignedInteger(der: Uint8Array, { start, end }: Tlv): Buffer {
  const first = der[start];
  if (first === undefined || start === end || first & 0x80) throw new NotFastPath();
  if (first === 0) {
    if (end - start < 2 || ((der[start + 1] ?? 0) & 0x80) === 0) throw new NotFastPath();
    start++;
  }
  return Buffer.from(der.subarray(start, end));
}

const equals = (der: Uint8Array, { start, end }: Tlv, expected: Buffer): boolean =>
  expected.equals(der.subarray(start, end));

/** RSAPublicKey (RFC 8017) as JWK. */
function rsaJwk(der: Uint8Array, key: Tlv): JsonWebKey {
  const sequence = tlv(der, key.start, 0x30, key.end);
  if (sequence.end !== key.end) throw new NotFastPath();
  const modulus = tlv(der, sequence.start, 0x02, sequence.end);
  const exponent = tlv(der, modulus.end, 0x02, sequence.end);
  if (exponent.end !== sequence.end) throw new NotFastPath();
  return {
    kty: 'RSA',
    n: unsignedInteger(der, modulus).toString('base64url'),
    e: unsignedInteger(der, exponent).toString('base64url'),
  };
}

/** An uncompressed EC point on a named curve as JWK. */
function ecJwk(curveOid: Uint8Array, point: Uint8Array): JsonWebKey {
  const curve = CURVES.find((c) => c.oid.equals(curveOid));
  if (curve === undefined || point.length !== 1 + 2 * curve.size || point[0] !== 0x04) {
    throw new NotFastPath();
  }
  const coordinate = (from: number) =>
    Buffer.from(point.subarray(from, from + curve.size)).toString('base64url');
  return { kty: 'EC', crv: curve.crv, x: coordinate(1), y: coordinate(1 + curve.size) };
}

/** The JWK of a SubjectPublicKeyInfo (DER) of the shapes above; throws NotFastPath otherwise. */
function spkiJwk(der: Uint8Array): JsonWebKey {
  const outer = tlv(der, 0, 0x30);
  if (outer.end !== der.length) throw new NotFastPath();
  const algorithm = tlv(der, outer.start, 0x30, outer.end);
  const bits = tlv(der, algorithm.end, 0x03, outer.end);
  if (bits.end !== outer.end || der[bits.start] !== 0) throw new NotFastPath();
  const key = { start: bits.start + 1, end: bits.end };
  if (equals(der, algorithm, RSA_ENCRYPTION)) return rsaJwk(der, key);
  const oid = tlv(der, algorithm.start, 0x06, algorithm.end);
  const curve = tlv(der, oid.end, 0x06, algorithm.end);
  if (!equals(der, oid, EC_PUBLIC_KEY) || curve.end !== algorithm.end) throw new NotFastPath();
  return ecJwk(der.subarray(curve.start, curve.end), der.subarray(key.start, key.end));
}

/** The JWK of a SubjectPublicKeyInfo (DER) when it has one of the shapes the fast path reads. */
export function fastPathJwk(der: Uint8Array): JsonWebKey | undefined {
  try {
    return spkiJwk(der);
  } catch (error) {
    if (error instanceof NotFastPath) return undefined;
    throw error;
  }
}

/** `createPublicKey` of a SubjectPublicKeyInfo in DER, through JWK when it can be. */
export function publicKeyFromSpki(der: Uint8Array): KeyObject {
  const jwk = fastPathJwk(der);
  if (jwk === undefined) return createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
  return createPublicKey({ key: jwk, format: 'jwk' });
}

const PUBLIC_KEY_PEM = /^\s*-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END PUBLIC KEY-----\s*$/;

/** `createPublicKey` of a PEM public key, through JWK when it is a SubjectPublicKeyInfo of the shapes above. */
export function publicKeyFromPem(pem: string): KeyObject {
  const body = PUBLIC_KEY_PEM.exec(pem)?.[1]?.replace(/\r?\n/g, '');
  const der = body === undefined ? undefined : Buffer.from(body, 'base64');
  // Node's base64 decoder skips what it cannot read; OpenSSL's does not: only text that is exactly
  // the encoding of its bytes takes the fast path.
  const jwk = der !== undefined && der.toString('base64') === body ? fastPathJwk(der) : undefined;
  if (jwk !== undefined) return createPublicKey({ key: jwk, format: 'jwk' });
  return createPublicKey({ key: pem, format: 'pem' });
}
