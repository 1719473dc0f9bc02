// The manager's side of offline unlock for the native tests, written from docs/protocol.md
// ("Offline unlock") with node:crypto alone: the password wrapper, the X25519 pair M and
// the response to a challenge, and a reader of the sealed key file.
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  scryptSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

import type { KeyRef, OfflinePasswordWrapper } from '../../native/core.js';
import { decodePayload, type DecodedEntry } from '../../manager/delivery/delivery_blob.js';

export const PASSWORD_LABEL = 'veil/offline-password/v1';
export const RESPONSE_LABEL = 'veil/offline-response/v1';
export const SEAL_LABEL = 'veil/offline-seal/v1';
export const SEALED_MAGIC = Buffer.from('895645494c534b31', 'hex'); // "\x89VEILSK1"

// DER prefixes of an X25519 key's PKCS#8 and SubjectPublicKeyInfo encodings (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function uuidBytes(id: string): Buffer {
  return Buffer.from(id.replaceAll('-', ''), 'hex');
}

/** label || host id (16) || offlineKeyId (16) || u32 version. */
export function binding(label: string, hostId: string, ref: KeyRef): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(ref.version);
  return Buffer.concat([Buffer.from(label, 'ascii'), uuidBytes(hostId), uuidBytes(ref.keyId), version]);
}

export function x25519PrivateKey(raw: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

export function x25519PublicKey(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

export function rawPublicKey(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
}

/** X25519 with node:crypto, of raw 32-byte halves. */
export function nodeX25519(privateKey: Buffer, publicKey: Buffer): Buffer {
  return diffieHellman({ privateKey: x25519PrivateKey(privateKey), publicKey: x25519PublicKey(publicKey) });
}

function gcmSeal(key: Buffer, nonce: Buffer, plain: Buffer, ad?: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  if (ad) cipher.setAAD(ad);
  return Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

/** KEK = scrypt(password, salt, N, r, p, 32); ciphertext = AES-256-GCM(KEK, nonce, O, AD) || tag. */
export function passwordWrapper(
  offlineKey: Buffer,
  password: string,
  hostId: string,
  ref: KeyRef,
  params: { N: number; r: number; p: number } = { N: 2 ** 14, r: 8, p: 1 },
): OfflinePasswordWrapper {
  const salt = randomBytes(16);
  const nonce = randomBytes(12);
  const kek = scryptSync(Buffer.from(password, 'utf8'), salt, 32, { ...params, maxmem: 2 ** 31 });
  const ciphertext = gcmSeal(kek, nonce, offlineKey, binding(PASSWORD_LABEL, hostId, ref));
  return { salt, ...params, nonce, ciphertext };
}

/** The manager's X25519 pair M. */
export interface ManagerPair {
  privateKey: KeyObject;
  publicKey: Buffer;
}

export function managerPair(): ManagerPair {
  const pair = generateKeyPairSync('x25519');
  return { privateKey: pair.privateKey, publicKey: rawPublicKey(pair.publicKey) };
}

/**
 * shared = X25519(M private, E); key = HKDF-SHA256(shared, salt = E || M public,
 * info = label || binding, 32); response = AES-256-GCM(key, zero nonce, O) || tag.
 */
export function respond(
  challenge: Buffer,
  manager: ManagerPair,
  offlineKey: Buffer,
  hostId: string,
  ref: KeyRef,
): Buffer {
  const shared = diffieHellman({ privateKey: manager.privateKey, publicKey: x25519PublicKey(challenge) });
  const key = Buffer.from(
    hkdfSync(
      'sha256',
      shared,
      Buffer.concat([challenge, manager.publicKey]),
      binding(RESPONSE_LABEL, hostId, ref),
      32,
    ),
  );
  return gcmSeal(key, Buffer.alloc(12), offlineKey);
}

/** The sealed key file's regions (docs/protocol.md, "Sealed key file"), as [start, end). */
export function sealedRegions(sealed: Buffer): Record<string, [number, number]> {
  return {
    magic: [0, 8],
    format: [8, 10],
    reserved: [10, 12],
    hostId: [12, 28],
    offlineKeyId: [28, 44],
    offlineKeyVersion: [44, 48],
    nonce: [48, 60],
    ciphertext: [60, sealed.length - 16],
    tag: [sealed.length - 16, sealed.length],
  };
}

/** Opens a sealed key file with O as docs/protocol.md says: its header fields and entries. */
export function openSealed(
  sealed: Buffer,
  offlineKey: Buffer,
): { format: number; reserved: number; hostId: Buffer; ref: KeyRef; entries: DecodedEntry[] } {
  const hostId = sealed.subarray(12, 28);
  const keyId = sealed.subarray(28, 44).toString('hex');
  const ref = {
    keyId: `${keyId.slice(0, 8)}-${keyId.slice(8, 12)}-${keyId.slice(12, 16)}-${keyId.slice(16, 20)}-${keyId.slice(20)}`,
    version: sealed.readUInt32BE(44),
  };
  const info = Buffer.concat([Buffer.from(SEAL_LABEL, 'ascii'), sealed.subarray(12, 48)]);
  const key = Buffer.from(hkdfSync('sha256', offlineKey, Buffer.alloc(0), info, 32));
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(48, 60));
  decipher.setAAD(sealed.subarray(0, 60));
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  const payload = Buffer.concat([decipher.update(sealed.subarray(60, sealed.length - 16)), decipher.final()]);
  return {
    format: sealed.readUInt16BE(8),
    reserved: sealed.readUInt16BE(10),
    hostId,
    ref,
    entries: decodePayload(payload),
  };
}
