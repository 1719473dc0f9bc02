// The cryptography of offline unlock (docs/protocol.md, "Offline unlock"), with node:crypto
// alone: the manager's X25519 pair M, the password wrapper of a host's offline key O, the
// response to a host's challenge, and the offline password the manager makes when an
// administrator gives none. Nothing here knows the store; the caller wipes what it passes.
import {
  createCipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  randomInt,
  scrypt,
  type KeyObject,
} from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import type { OfflinePasswordWrapper } from '../../manager-client/types.js';
import { uuidToBytes } from '../delivery/delivery_blob.js';

export const OFFLINE_KEY_BYTES = 32;
const X25519_BYTES = 32;
const SALT_BYTES = 16;
const NONCE_BYTES = 12;
/** What the manager uses (RFC 7914's interactive range): 128 · N · r = 32 MiB. */
export const OFFLINE_SCRYPT = { N: 1 << 15, r: 8, p: 1 } as const;
const SCRYPT_MAXMEM = 64 * 1024 * 1024;

const PASSWORD_LABEL = 'veil/offline-password/v1';
const RESPONSE_LABEL = 'veil/offline-response/v1';

/** Which offline key of which host: bound into the wrapper's AD and the response's key. */
export interface OfflineIds {
  hostId: string;
  offlineKeyId: string;
  offlineKeyVersion: number;
}

function badRequest(message: string): ManagerError {
  return new ManagerError('VEIL_HOST_BAD_REQUEST', message);
}

/** label || host id (16) || offlineKeyId (16) || u32 version. */
export function offlineBinding(label: string, ids: OfflineIds): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(ids.offlineKeyVersion);
  return Buffer.concat([
    Buffer.from(label, 'ascii'),
    uuidToBytes(ids.hostId),
    uuidToBytes(ids.offlineKeyId),
    version,
  ]);
}

/**
 * The raw 32 bytes of an X25519 public key: its JWK `x` (RFC 8037), the same bytes as the end of its
 * SubjectPublicKeyInfo, read without OpenSSL's DER encoder (many times slower; one per registration).
 */
export function rawX25519PublicKey(key: KeyObject): Buffer {
  const raw = Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url');
  if (raw.length !== X25519_BYTES) throw new Error('not an X25519 public key');
  return raw;
}

/** A new pair M: the public half raw, the private half as PKCS#8 DER (the caller wraps and wipes it). */
export function makeManagerPair(): { publicKey: Buffer; privateKeyDer: Buffer } {
  const pair = generateKeyPairSync('x25519');
  return {
    publicKey: rawX25519PublicKey(pair.publicKey),
    privateKeyDer: pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
  };
}

function deriveKek(password: string, salt: Buffer): Promise<Buffer> {
  const secret = Buffer.from(password, 'utf8');
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(secret, salt, 32, { ...OFFLINE_SCRYPT, maxmem: SCRYPT_MAXMEM }, (error, key) => {
      secret.fill(0);
      if (error) reject(error);
      else resolve(key);
    }),
  );
}

/**
 * O under a key derived from the password: KEK = scrypt(password as UTF-8, salt, N, r, p, 32),
 * ciphertext = AES-256-GCM(KEK, nonce, O, AD) || tag, AD = offlineBinding(PASSWORD_LABEL).
 * scrypt runs off the event loop.
 */
export async function passwordWrapper(
  offlineKey: Buffer,
  password: string,
  ids: OfflineIds,
): Promise<OfflinePasswordWrapper> {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const kek = await deriveKek(password, salt);
  try {
    const cipher = createCipheriv('aes-256-gcm', kek, nonce);
    cipher.setAAD(offlineBinding(PASSWORD_LABEL, ids));
    const ciphertext = Buffer.concat([cipher.update(offlineKey), cipher.final(), cipher.getAuthTag()]);
    return {
      kdf: 'scrypt',
      salt: salt.toString('base64'),
      ...OFFLINE_SCRYPT,
      nonce: nonce.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
    };
  } finally {
    kek.fill(0);
  }
}

const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** The host's challenge E: base64url without padding of exactly 32 bytes, canonically encoded. */
export function parseChallenge(text: unknown): Buffer {
  if (typeof text !== 'string') {
    throw badRequest('challenge is a string: what `agentctl challenge` shows (base64url, 43 characters)');
  }
  const bytes = CHALLENGE.test(text) ? Buffer.from(text, 'base64url') : undefined;
  // 43 characters carry 258 bits: the last 2 must be zero, as an encoder writes them.
  if (bytes?.length !== X25519_BYTES || bytes.toString('base64url') !== text) {
    throw badRequest(
      'challenge must be base64url without padding of exactly 32 bytes (43 characters), ' +
        'as `agentctl challenge` shows it',
    );
  }
  return bytes;
}

function unanswerable(): ManagerError {
  return badRequest('this challenge is not a point a response can be made to (an X25519 point of low order)');
}

/**
 * The response to challenge E (docs/protocol.md): shared = X25519(M private, E), refused when
 * all zero; key = HKDF-SHA256(shared, salt = E || M public, info = offlineBinding(RESPONSE_LABEL));
 * response = AES-256-GCM(key, 12 zero bytes, O, no AD) || tag (48 bytes).
 */
export function offlineResponse(
  offlineKey: Buffer,
  managerPrivateKey: KeyObject,
  managerPublicKey: Buffer,
  challenge: Buffer,
  ids: OfflineIds,
): Buffer {
  let shared: Buffer;
  try {
    const hostKey = createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: challenge.toString('base64url') },
      format: 'jwk',
    });
    // OpenSSL itself refuses an all-zero result; checked here all the same.
    shared = diffieHellman({ privateKey: managerPrivateKey, publicKey: hostKey });
  } catch {
    throw unanswerable();
  }
  let key: Buffer | undefined;
  try {
    if (shared.every((byte) => byte === 0)) throw unanswerable();
    key = Buffer.from(
      hkdfSync(
        'sha256',
        shared,
        Buffer.concat([challenge, managerPublicKey]),
        offlineBinding(RESPONSE_LABEL, ids),
        32,
      ),
    );
    // A zero nonce: each challenge is a new X25519 pair on the host, so each key is new.
    const cipher = createCipheriv('aes-256-gcm', key, Buffer.alloc(NONCE_BYTES));
    return Buffer.concat([cipher.update(offlineKey), cipher.final(), cipher.getAuthTag()]);
  } finally {
    shared.fill(0);
    key?.fill(0);
  }
}

// No 0/o, 1/l/i: read aloud or off a screen without doubt. 31 symbols, 25 of them: ~124 bits.
const PASSWORD_ALPHABET = '23456789abcdefghjkmnpqrstuvwxyz';

/** An offline password to show once: 5 groups of 5 symbols joined by "-". */
export function generateOfflinePassword(): string {
  const groups: string[] = [];
  for (let g = 0; g < 5; g++) {
    let group = '';
    for (let i = 0; i < 5; i++) group += PASSWORD_ALPHABET[randomInt(PASSWORD_ALPHABET.length)];
    groups.push(group);
  }
  return groups.join('-');
}
