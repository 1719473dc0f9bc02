// The sending side of the key delivery blob of docs/protocol.md, written with node:crypto
// alone: the manager builds every delivery with it, and the tests feed the native core
// with it (also malformed deliveries, through the raw steps and the tests-only options).
// `buildDelivery` is the checked path a manager takes; `encodePayload` and `sealDelivery`
// are the raw steps beneath it, which tests call directly to build malformed deliveries.
import {
  constants,
  createCipheriv,
  createDecipheriv,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  randomUUID,
  type CipherGCM,
  type KeyLike,
} from 'node:crypto';
import { UUID } from '../../common/uuid.js';

export type DeliveryKeyState =
  'pre-activation' | 'active' | 'suspended' | 'deactivated' | 'compromised' | 'destroyed';
export type DeliveryAlgorithm = 'aes-256' | 'aes-128';

export const DELIVERY_MAGIC: Buffer = Buffer.from([0x89, 0x56, 0x45, 0x49, 0x4c, 0x4b, 0x44, 0x31]);
export const DELIVERY_VERSION = 1;
export const MAX_DELIVERY_BYTES = 1024 * 1024;
export const MAX_DELIVERY_ENTRIES = 1024;
/** Bytes before the wrapped one-time key. */
export const FIXED_HEADER_SIZE = 62;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;

export const STATE_CODES: Readonly<Record<DeliveryKeyState, number>> = {
  'pre-activation': 1,
  active: 2,
  suspended: 3,
  deactivated: 4,
  compromised: 5,
  destroyed: 6,
};
export const ALGORITHM_CODES: Readonly<Record<DeliveryAlgorithm, number>> = { 'aes-256': 1, 'aes-128': 2 };
export const MATERIAL_LENGTHS: Readonly<Record<DeliveryAlgorithm, number>> = { 'aes-256': 32, 'aes-128': 16 };

/** One key version to deliver: with material it is installed, without it withdrawn. */
export interface DeliveryEntryInput {
  keyId: string;
  version: number;
  state: DeliveryKeyState;
  algorithm: DeliveryAlgorithm;
  material?: Buffer;
}

export interface BuildDeliveryOptions {
  transportPublicKeyPem: KeyLike;
  hostId: string;
  deliveryId?: string;
  sequence: bigint;
  createdAt?: number | bigint | Date;
  entries: readonly DeliveryEntryInput[];
}

/**
 * A payload entry as it goes on the wire, unchecked: state and algorithm may be raw codes,
 * and `materialLength` overrides the length field (tests build malformed payloads this way).
 */
export interface PayloadEntry {
  keyId: string;
  version: number;
  state: DeliveryKeyState | number;
  algorithm: DeliveryAlgorithm | number;
  material?: Buffer;
  materialLength?: number;
}

export interface PayloadTamper {
  /** Written as the entry count instead of the real number of entries. */
  count?: number;
  /** Appended after the last entry. */
  trailing?: Buffer;
}

/** The steps after the payload. The options marked "tests only" break the protocol. */
export interface SealOptions {
  transportPublicKeyPem: KeyLike;
  hostId: string;
  deliveryId?: string;
  sequence: bigint;
  createdAt?: number | bigint | Date;
  payload: Buffer;
  /** Tests only: the one-time key K (normally 32 fresh random bytes). Not wiped. */
  oneTimeKey?: Buffer;
  /** Tests only: the OAEP hash (normally sha256). */
  oaepHash?: string;
  /** Tests only: an OAEP label (normally empty). */
  oaepLabel?: Buffer;
}

export function uuidToBytes(uuid: string): Buffer {
  if (!UUID.test(uuid)) throw new Error(`not a lower-case UUID: ${uuid}`);
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

export function bytesToUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function code(value: string | number, codes: Readonly<Record<string, number>>, what: string): number {
  if (typeof value === 'number') return value;
  const found = codes[value];
  if (found === undefined) throw new Error(`unknown ${what}: ${value}`);
  return found;
}

function millis(createdAt: number | bigint | Date | undefined): bigint {
  if (createdAt === undefined) return BigInt(Date.now());
  if (createdAt instanceof Date) return BigInt(createdAt.getTime());
  return BigInt(createdAt);
}

/** Refuses what docs/protocol.md forbids, so a checked sender never emits a malformed payload. */
export function checkEntries(entries: readonly DeliveryEntryInput[]): void {
  if (entries.length > MAX_DELIVERY_ENTRIES) {
    throw new Error(`a delivery holds at most ${MAX_DELIVERY_ENTRIES} entries, got ${entries.length}`);
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    uuidToBytes(entry.keyId);
    if (!Number.isInteger(entry.version) || entry.version < 1 || entry.version > 0xffffffff) {
      throw new Error(`key version must be an integer from 1 to 4294967295, got ${entry.version}`);
    }
    if (STATE_CODES[entry.state] === undefined) throw new Error(`unknown key state ${String(entry.state)}`);
    const length = MATERIAL_LENGTHS[entry.algorithm];
    if (length === undefined) throw new Error(`unknown algorithm ${String(entry.algorithm)}`);
    if (entry.material !== undefined && entry.material.length !== length) {
      throw new Error(`${entry.algorithm} material is ${length} bytes, got ${entry.material.length}`);
    }
    if (entry.state === 'destroyed' && entry.material !== undefined) {
      throw new Error('a destroyed key version can only be withdrawn (no material)');
    }
    const ref = `${entry.keyId}/${entry.version}`;
    if (seen.has(ref)) throw new Error(`key ${ref} appears twice`);
    seen.add(ref);
  }
}

/** Encodes the payload exactly as given, without checks. */
export function encodePayload(entries: readonly PayloadEntry[], tamper: PayloadTamper = {}): Buffer {
  const parts: Buffer[] = [];
  const count = Buffer.alloc(2);
  count.writeUInt16BE(tamper.count ?? entries.length);
  parts.push(count);
  for (const entry of entries) {
    const fixed = Buffer.alloc(24);
    uuidToBytes(entry.keyId).copy(fixed, 0);
    fixed.writeUInt32BE(entry.version, 16);
    fixed.writeUInt8(code(entry.state, STATE_CODES, 'key state'), 20);
    fixed.writeUInt8(code(entry.algorithm, ALGORITHM_CODES, 'algorithm'), 21);
    fixed.writeUInt16BE(entry.materialLength ?? entry.material?.length ?? 0, 22);
    parts.push(fixed);
    if (entry.material !== undefined) parts.push(entry.material);
  }
  if (tamper.trailing !== undefined) parts.push(tamper.trailing);
  return Buffer.concat(parts);
}

/**
 * AES-256-GCM under K. A wrong-length K (tests only) is used the way a careless host might
 * (AES-128-GCM for 16 bytes, the first 32 bytes of a longer one), so accepting it shows.
 */
function oneTimeCipher(key: Buffer, nonce: Buffer): CipherGCM {
  if (key.length === 16) return createCipheriv('aes-128-gcm', key, nonce);
  if (key.length > 32) return createCipheriv('aes-256-gcm', key.subarray(0, 32), nonce);
  return createCipheriv('aes-256-gcm', Buffer.concat([key, Buffer.alloc(32 - key.length)]), nonce);
}

/** Wraps a fresh K to the transport key, encrypts the payload under it, and lays out the blob. */
export function sealDelivery(options: SealOptions): Buffer {
  const key = options.oneTimeKey ?? randomBytes(32);
  try {
    const wrapped = publicEncrypt(
      {
        key: options.transportPublicKeyPem,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: options.oaepHash ?? 'sha256',
        ...(options.oaepLabel === undefined ? {} : { oaepLabel: options.oaepLabel }),
      },
      key,
    );
    const header = Buffer.alloc(FIXED_HEADER_SIZE);
    DELIVERY_MAGIC.copy(header, 0);
    header.writeUInt16BE(DELIVERY_VERSION, 8);
    header.writeUInt16BE(0, 10);
    uuidToBytes(options.hostId).copy(header, 12);
    uuidToBytes(options.deliveryId ?? randomUUID()).copy(header, 28);
    header.writeBigUInt64BE(options.sequence, 44);
    header.writeBigUInt64BE(millis(options.createdAt), 52);
    header.writeUInt16BE(wrapped.length, 60);
    const ad = Buffer.concat([header, wrapped]);
    const nonce = randomBytes(NONCE_SIZE);
    const cipher = oneTimeCipher(key, nonce);
    cipher.setAAD(ad);
    const ciphertext = Buffer.concat([cipher.update(options.payload), cipher.final()]);
    return Buffer.concat([ad, nonce, ciphertext, cipher.getAuthTag()]);
  } finally {
    if (options.oneTimeKey === undefined) key.fill(0);
  }
}

/** The checked sender: the blob docs/protocol.md describes, for one host. */
export function buildDelivery(options: BuildDeliveryOptions): Buffer {
  checkEntries(options.entries);
  if (options.sequence < 1n || options.sequence >= 1n << 64n) {
    throw new Error('the sequence number is a u64 starting at 1');
  }
  const payload = encodePayload(options.entries);
  try {
    return sealDelivery({ ...options, payload });
  } finally {
    payload.fill(0);
  }
}

/** [start, end) byte ranges of each field of a blob. */
export interface DeliveryRegions {
  magic: [number, number];
  version: [number, number];
  reserved: [number, number];
  hostId: [number, number];
  deliveryId: [number, number];
  sequence: [number, number];
  createdAt: [number, number];
  wrappedKeyLength: [number, number];
  wrappedKey: [number, number];
  nonce: [number, number];
  ciphertext: [number, number];
  tag: [number, number];
}

export interface DeliveryHeader {
  magic: Buffer;
  version: number;
  reserved: number;
  hostId: string;
  deliveryId: string;
  sequence: bigint;
  createdAt: bigint;
  wrappedKeyLength: number;
  regions: DeliveryRegions;
}

/** Reads the header fields (no checks beyond length), for tests that tamper with one field. */
export function parseDeliveryHeader(blob: Buffer): DeliveryHeader {
  if (blob.length < FIXED_HEADER_SIZE) throw new Error('blob shorter than its fixed header');
  const w = blob.readUInt16BE(60);
  const nonceAt = FIXED_HEADER_SIZE + w;
  if (blob.length < nonceAt + NONCE_SIZE + TAG_SIZE) throw new Error('blob shorter than its layout');
  return {
    magic: Buffer.from(blob.subarray(0, 8)),
    version: blob.readUInt16BE(8),
    reserved: blob.readUInt16BE(10),
    hostId: bytesToUuid(blob.subarray(12, 28)),
    deliveryId: bytesToUuid(blob.subarray(28, 44)),
    sequence: blob.readBigUInt64BE(44),
    createdAt: blob.readBigUInt64BE(52),
    wrappedKeyLength: w,
    regions: {
      magic: [0, 8],
      version: [8, 10],
      reserved: [10, 12],
      hostId: [12, 28],
      deliveryId: [28, 44],
      sequence: [44, 52],
      createdAt: [52, 60],
      wrappedKeyLength: [60, 62],
      wrappedKey: [FIXED_HEADER_SIZE, nonceAt],
      nonce: [nonceAt, nonceAt + NONCE_SIZE],
      ciphertext: [nonceAt + NONCE_SIZE, blob.length - TAG_SIZE],
      tag: [blob.length - TAG_SIZE, blob.length],
    },
  };
}

export interface DecodedEntry {
  keyId: string;
  version: number;
  state: number;
  algorithm: number;
  material: Buffer;
}

/** Decodes a well-formed payload (throws on trailing or missing bytes; no semantic checks). */
export function decodePayload(payload: Buffer): DecodedEntry[] {
  const count = payload.readUInt16BE(0);
  const entries: DecodedEntry[] = [];
  let at = 2;
  for (let i = 0; i < count; i++) {
    const length = payload.readUInt16BE(at + 22);
    if (at + 24 + length > payload.length) throw new Error('payload truncated');
    entries.push({
      keyId: bytesToUuid(payload.subarray(at, at + 16)),
      version: payload.readUInt32BE(at + 16),
      state: payload.readUInt8(at + 20),
      algorithm: payload.readUInt8(at + 21),
      material: Buffer.from(payload.subarray(at + 24, at + 24 + length)),
    });
    at += 24 + length;
  }
  if (at !== payload.length) throw new Error('bytes follow the last entry');
  return entries;
}

/** Opens a blob with the transport private key: the receiving side, for checking the sender. */
export function openDelivery(blob: Buffer, privateKey: KeyLike): { header: DeliveryHeader; payload: Buffer } {
  const header = parseDeliveryHeader(blob);
  const { wrappedKey, nonce, ciphertext, tag } = header.regions;
  const key = privateDecrypt(
    { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    blob.subarray(...wrappedKey),
  );
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(...nonce));
    decipher.setAAD(blob.subarray(0, nonce[0]));
    decipher.setAuthTag(blob.subarray(...tag));
    const payload = Buffer.concat([decipher.update(blob.subarray(...ciphertext)), decipher.final()]);
    return { header, payload };
  } finally {
    key.fill(0);
  }
}
