// Constants, errors and the cryptographic pieces of docs/format.md (version 2), written
// from that page alone with node:crypto. container_codec.ts assembles them into containers.
import crypto from 'node:crypto';

export const MAGIC = Buffer.from('895645494c0d0a1a', 'hex'); // \x89VEIL\r\n\x1a
export const FORMAT_VERSION = 2;
/** The header: the first 512 bytes of the header page (page 0). */
export const HEADER_SIZE = 512;
/** A page of the container: 4096 bytes at an offset that is a multiple of 4096. */
export const PAGE = 4096;
export const PLAIN_BS = 4096;
export const MAX_SIZE = 2 ** 48;
/** Blocks per group; a group is a tag page followed by one data page per block (both ciphers). */
export const GROUP_BLOCKS = 128;
/** GCM: a tag entry is nonce (12) || tag (16). */
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;
export const TAG_ENTRY = NONCE_SIZE + TAG_SIZE;
/** GCM: tag entry j of a group is at byte TAG_ENTRIES_OFFSET + 28j of its tag page. */
export const TAG_ENTRIES_OFFSET = 512;

export type CipherName = 'aes-256-gcm' | 'aes-256-xts';
export const CIPHER_ID: Record<CipherName, number> = { 'aes-256-gcm': 1, 'aes-256-xts': 2 };

/** A guard point key version, as named in a key slot. */
export interface KeyRef {
  keyId: string; // lower-case UUID
  version: number;
}

/** Finds guard point key material (16 or 32 bytes); undefined when the key is unknown. */
export type Keyring = (keyId: string, version: number) => Buffer | undefined;

export function keyringOf(entries: readonly (KeyRef & { material: Buffer })[]): Keyring {
  return (keyId, version) => entries.find((e) => e.keyId === keyId && e.version === version)?.material;
}

/** The codes of the Errors table in docs/format.md. */
export type FormatErrorCode =
  | 'VEIL_FORMAT_BAD_MAGIC'
  | 'VEIL_FORMAT_UNSUPPORTED_VERSION'
  | 'VEIL_FORMAT_UNKNOWN_FEATURE'
  | 'VEIL_KEY_NOT_FOUND'
  | 'VEIL_CRYPTO_AUTH_FAILED'
  | 'VEIL_FORMAT_CORRUPT_HEADER'
  | 'VEIL_FORMAT_TRUNCATED';

export class FormatError extends Error {
  readonly code: FormatErrorCode;
  constructor(code: FormatErrorCode, message: string) {
    super(message);
    this.name = 'FormatError';
    this.code = code;
  }
}

/** Every authentication failure reads the same, whatever failed. */
export function authFailed(): FormatError {
  return new FormatError('VEIL_CRYPTO_AUTH_FAILED', 'authentication failed');
}

export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

export function u64(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(value));
  return b;
}

export function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

export function bytesToUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function hkdf(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', ikm, salt, info, length));
}

const ascii = (s: string): Buffer => Buffer.from(s, 'ascii');

export function deriveKek(material: Buffer, key: KeyRef): Buffer {
  const info = Buffer.concat([ascii('veil/v1 file-key-wrap'), uuidToBytes(key.keyId), u32(key.version)]);
  return hkdf(material, Buffer.alloc(0), info, 32);
}

export function deriveBlockKey(fileKey: Buffer, fileId: Buffer, cipher: CipherName): Buffer {
  return hkdf(fileKey, fileId, ascii(`veil/v1 block ${cipher}`), cipher === 'aes-256-gcm' ? 32 : 64);
}

export function deriveHeaderMacKey(fileKey: Buffer, fileId: Buffer): Buffer {
  return hkdf(fileKey, fileId, ascii('veil/v1 header-mac'), 32);
}

export function headerMac(fileKey: Buffer, fileId: Buffer, header: Buffer): Buffer {
  return crypto
    .createHmac('sha256', deriveHeaderMacKey(fileKey, fileId))
    .update(header.subarray(0, 480))
    .digest();
}

function slotAd(fileId: Buffer, slot: 0 | 1, key: KeyRef): Buffer {
  return Buffer.concat([MAGIC, fileId, Buffer.from([slot]), uuidToBytes(key.keyId), u32(key.version)]);
}

/** An 84-byte key slot: key id, version, reserved, nonce, wrapped file key, tag. */
export function wrapSlot(
  kek: Buffer,
  key: KeyRef,
  fileId: Buffer,
  slot: 0 | 1,
  nonce: Buffer,
  fileKey: Buffer,
) {
  const gcm = crypto.createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: 16 });
  gcm.setAAD(slotAd(fileId, slot, key));
  const wrapped = Buffer.concat([gcm.update(fileKey), gcm.final()]);
  return Buffer.concat([
    uuidToBytes(key.keyId),
    u32(key.version),
    Buffer.alloc(4),
    nonce,
    wrapped,
    gcm.getAuthTag(),
  ]);
}

/** Unwraps an 84-byte key slot (step 2 of "Reading a header") and returns its file key. */
export function unwrapSlot(keyring: Keyring, slotBytes: Buffer, fileId: Buffer, slot: 0 | 1): Buffer {
  const key = { keyId: bytesToUuid(slotBytes.subarray(0, 16)), version: slotBytes.readUInt32BE(16) };
  const material = keyring(key.keyId, key.version);
  if (material === undefined) {
    throw new FormatError(
      'VEIL_KEY_NOT_FOUND',
      `key ${key.keyId} version ${key.version} is not in the key table`,
    );
  }
  const gcm = crypto.createDecipheriv('aes-256-gcm', deriveKek(material, key), slotBytes.subarray(24, 36), {
    authTagLength: 16,
  });
  gcm.setAAD(slotAd(fileId, slot, key));
  gcm.setAuthTag(slotBytes.subarray(68, 84));
  try {
    return Buffer.concat([gcm.update(slotBytes.subarray(36, 68)), gcm.final()]);
  } catch {
    throw authFailed();
  }
}

function gcmBlockAd(fileId: Buffer, index: number): Buffer {
  return Buffer.concat([fileId, u64(index)]);
}

function xtsTweak(index: number): Buffer {
  const tweak = Buffer.alloc(16); // u128le(i)
  tweak.writeBigUInt64LE(BigInt(index));
  return tweak;
}

/** One encrypted block: its 4096-byte data page and, for GCM, its 28-byte tag entry. */
export interface EncryptedBlock {
  page: Buffer;
  entry: Buffer | undefined; // nonce (12) || tag (16); undefined for XTS
}

/** Encrypts one 4096-byte plaintext block `index`; `nonce` is only used by GCM. */
export function encryptBlock(
  cipher: CipherName,
  blockKey: Buffer,
  fileId: Buffer,
  index: number,
  plain: Buffer,
  nonce: Buffer,
): EncryptedBlock {
  if (plain.length !== PLAIN_BS) throw new RangeError(`a block is ${PLAIN_BS} bytes, not ${plain.length}`);
  if (cipher === 'aes-256-xts') {
    const xts = crypto.createCipheriv('aes-256-xts', blockKey, xtsTweak(index));
    return { page: Buffer.concat([xts.update(plain), xts.final()]), entry: undefined };
  }
  if (nonce.length !== NONCE_SIZE) throw new RangeError(`a GCM nonce is ${NONCE_SIZE} bytes`);
  const gcm = crypto.createCipheriv('aes-256-gcm', blockKey, nonce, { authTagLength: TAG_SIZE });
  gcm.setAAD(gcmBlockAd(fileId, index));
  const page = Buffer.concat([gcm.update(plain), gcm.final()]);
  return { page, entry: Buffer.concat([nonce, gcm.getAuthTag()]) };
}

/**
 * Decrypts block `index` from its 4096-byte data page and, for GCM, its 28-byte tag entry;
 * undefined when a GCM tag fails. An all-zero XTS page is a hole and reads as zeros.
 */
export function decryptBlock(
  cipher: CipherName,
  blockKey: Buffer,
  fileId: Buffer,
  index: number,
  page: Buffer,
  entry?: Buffer,
): Buffer | undefined {
  if (page.length !== PAGE) throw new RangeError(`a data page is ${PAGE} bytes, not ${page.length}`);
  if (cipher === 'aes-256-xts') {
    if (!page.some((b) => b !== 0)) return Buffer.alloc(PLAIN_BS);
    const xts = crypto.createDecipheriv('aes-256-xts', blockKey, xtsTweak(index));
    return Buffer.concat([xts.update(page), xts.final()]);
  }
  if (entry?.length !== TAG_ENTRY) throw new RangeError(`a GCM tag entry is ${TAG_ENTRY} bytes`);
  const gcm = crypto.createDecipheriv('aes-256-gcm', blockKey, entry.subarray(0, NONCE_SIZE), {
    authTagLength: TAG_SIZE,
  });
  gcm.setAAD(gcmBlockAd(fileId, index));
  gcm.setAuthTag(entry.subarray(NONCE_SIZE));
  try {
    return Buffer.concat([gcm.update(page), gcm.final()]);
  } catch {
    return undefined;
  }
}
