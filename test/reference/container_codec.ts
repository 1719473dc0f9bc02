// Reference codec of docs/format.md (version 1): a whole-file encoder and decoder with
// node:crypto only, written from that page alone. It is checked against the native core
// in both directions (test/native/format_cross.test.ts) and produces the golden vectors.
import crypto from 'node:crypto';

import {
  CIPHER_ID,
  FormatError,
  HEADER_SIZE,
  MAGIC,
  MAX_SIZE,
  PLAIN_BS,
  STORED_BS,
  authFailed,
  decryptBlock,
  deriveBlockKey,
  deriveKek,
  encryptBlock,
  headerMac,
  u64,
  unwrapSlot,
  wrapSlot,
  type CipherName,
  type KeyRef,
  type Keyring,
} from './format_crypto.js';

export * from './format_crypto.js';

/** The inputs the format draws at random; fixed values make test vectors. */
export interface RandomInputs {
  fileId: Buffer; // 16
  fileKey: Buffer; // 32
  slotNonce: Buffer; // 12, slot A's wrap nonce
  blockNonces: (index: number) => Buffer; // 12 each, GCM only
}

/** Makes a state-1 (re-encrypting) container: slot B holds `fileKey` wrapped under `key`. */
export interface ReencryptingInputs {
  key: KeyRef;
  progress: number; // p: blocks 0 … p−1 are under slot B's file key
  /** Blocks 0 … written−1 are under slot B (≥ progress: a crash before p advanced). Default p. */
  written?: number;
  fileKey?: Buffer;
  slotNonce?: Buffer;
}

export interface EncodeOptions {
  keyring: Keyring;
  key: KeyRef;
  cipher: CipherName;
  plaintext: Buffer;
  random?: Partial<RandomInputs>;
  reencrypting?: ReencryptingInputs;
  /** Test hook: edits the header after its fields are written and before it is MACed. */
  editHeader?: (header: Buffer) => void;
}

function material(keyring: Keyring, key: KeyRef): Buffer {
  const found = keyring(key.keyId, key.version);
  if (found === undefined) throw new FormatError('VEIL_KEY_NOT_FOUND', `no key ${key.keyId} v${key.version}`);
  return found;
}

export function encodeContainer(options: EncodeOptions): Buffer {
  const { keyring, key, cipher, plaintext, reencrypting } = options;
  const fileId = options.random?.fileId ?? crypto.randomBytes(16);
  const fileKey = options.random?.fileKey ?? crypto.randomBytes(32);
  const slotNonce = options.random?.slotNonce ?? crypto.randomBytes(12);
  const blockNonce = options.random?.blockNonces ?? (() => crypto.randomBytes(12));
  const n = Math.ceil(plaintext.length / PLAIN_BS);

  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt16BE(1, 8); // format version
  header.writeUInt16BE(HEADER_SIZE, 10);
  header.writeUInt32BE(0, 12); // feature flags
  header[16] = CIPHER_ID[cipher];
  header[17] = Math.log2(PLAIN_BS);
  fileId.copy(header, 24);
  u64(plaintext.length).copy(header, 40);
  wrapSlot(deriveKek(material(keyring, key), key), key, fileId, 0, slotNonce, fileKey).copy(header, 56);

  let fileKeyB: Buffer | undefined;
  let written = 0;
  if (reencrypting !== undefined) {
    fileKeyB = reencrypting.fileKey ?? crypto.randomBytes(32);
    written = reencrypting.written ?? reencrypting.progress;
    const kekB = deriveKek(material(keyring, reencrypting.key), reencrypting.key);
    const nonceB = reencrypting.slotNonce ?? crypto.randomBytes(12);
    header[18] = 1; // state: re-encrypting
    u64(reencrypting.progress).copy(header, 48);
    wrapSlot(kekB, reencrypting.key, fileId, 1, nonceB, fileKeyB).copy(header, 140);
  }
  options.editHeader?.(header);
  headerMac(fileKey, fileId, header).copy(header, 480);

  const keyA = deriveBlockKey(fileKey, fileId, cipher);
  const keyB = fileKeyB && deriveBlockKey(fileKeyB, fileId, cipher);
  const blocks = [header];
  for (let i = 0; i < n; i++) {
    const plain = Buffer.alloc(PLAIN_BS); // the last block is zero-padded
    plaintext.copy(plain, 0, i * PLAIN_BS, (i + 1) * PLAIN_BS);
    const blockKey = keyB !== undefined && i < written ? keyB : keyA;
    blocks.push(encryptBlock(cipher, blockKey, fileId, i, plain, blockNonce(i)));
  }
  return Buffer.concat(blocks);
}

/** A verified header with its unwrapped file keys. */
export interface Header {
  cipher: CipherName;
  fileId: Buffer;
  size: number;
  state: 0 | 1;
  progress: number;
  fileKeyA: Buffer;
  fileKeyB?: Buffer;
}

function corrupt(what: string): FormatError {
  return new FormatError('VEIL_FORMAT_CORRUPT_HEADER', `corrupt header: ${what}`);
}

const isZero = (bytes: Buffer): boolean => !bytes.some((b) => b !== 0);

/** The steps of "Reading a header", in order. */
export function readHeader(container: Buffer, keyring: Keyring): Header {
  // 1. Container, version, features.
  if (container.length < HEADER_SIZE || !container.subarray(0, 8).equals(MAGIC)) {
    throw new FormatError('VEIL_FORMAT_BAD_MAGIC', 'not a Veil container');
  }
  const h = container.subarray(0, HEADER_SIZE);
  if (h.readUInt16BE(8) !== 1 || h.readUInt16BE(10) !== HEADER_SIZE) {
    throw new FormatError('VEIL_FORMAT_UNSUPPORTED_VERSION', 'unsupported container version');
  }
  if (h.readUInt32BE(12) !== 0) throw new FormatError('VEIL_FORMAT_UNKNOWN_FEATURE', 'unknown feature flag');

  // 2. Slot A.
  const fileId = Buffer.from(h.subarray(24, 40));
  const fileKeyA = unwrapSlot(keyring, h.subarray(56, 140), fileId, 0);

  // 3. Header MAC.
  if (!crypto.timingSafeEqual(headerMac(fileKeyA, fileId, h), h.subarray(480, 512))) throw authFailed();

  // 4. The remaining fields.
  const cipher = ({ 1: 'aes-256-gcm', 2: 'aes-256-xts' } as const)[h[16]];
  if (cipher === undefined) throw corrupt(`cipher ${h[16]}`);
  if (h[17] !== Math.log2(PLAIN_BS)) throw corrupt(`block size ${h[17]}`);
  const state = h[18];
  if (state !== 0 && !(state === 1 && cipher === 'aes-256-gcm'))
    throw corrupt(`state ${state} with ${cipher}`);
  // Reserved: bytes 19–23, 224–479, and the 4 reserved bytes of slot A (76–79) and, in state 1, slot B.
  if (!isZero(h.subarray(19, 24)) || !isZero(h.subarray(224, 480)) || !isZero(h.subarray(76, 80))) {
    throw corrupt('reserved bytes not zero');
  }
  const size = h.readBigUInt64BE(40);
  if (size > BigInt(MAX_SIZE)) throw corrupt(`logical size ${size}`);
  const n = Math.ceil(Number(size) / PLAIN_BS);
  const progress = h.readBigUInt64BE(48);
  if (state === 0 && progress !== 0n) throw corrupt('progress mark in state 0');
  if (state === 1 && progress > BigInt(n)) throw corrupt(`progress mark ${progress} beyond ${n} blocks`);
  if (state === 0 && !isZero(h.subarray(140, 224))) throw corrupt('slot B in state 0');
  if (state === 1 && !isZero(h.subarray(160, 164))) throw corrupt('reserved bytes not zero');

  // 5. Slot B.
  const fileKeyB = state === 1 ? unwrapSlot(keyring, h.subarray(140, 224), fileId, 1) : undefined;
  return { cipher, fileId, size: Number(size), state, progress: Number(progress), fileKeyA, fileKeyB };
}

/** Decodes a whole container to its plaintext; throws FormatError on anything wrong. */
export function decodeContainer(container: Buffer, keyring: Keyring): Buffer {
  const header = readHeader(container, keyring);
  const { cipher, fileId, size, progress } = header;
  const stored = STORED_BS[cipher];
  const n = Math.ceil(size / PLAIN_BS);
  if (container.length < HEADER_SIZE + n * stored) {
    throw new FormatError('VEIL_FORMAT_TRUNCATED', 'the container is shorter than its logical size needs');
  }
  const keyA = deriveBlockKey(header.fileKeyA, fileId, cipher);
  const keyB = header.fileKeyB && deriveBlockKey(header.fileKeyB, fileId, cipher);
  const plain: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const block = container.subarray(HEADER_SIZE + i * stored, HEADER_SIZE + (i + 1) * stored);
    // Re-encrypting: blocks before p are under slot B; at or after p, slot A, then slot B.
    const candidates = keyB === undefined ? [keyA] : i < progress ? [keyB] : [keyA, keyB];
    let out: Buffer | undefined;
    for (const key of candidates) {
      out ??= decryptBlock(cipher, key, fileId, i, block);
    }
    if (out === undefined) throw authFailed();
    plain.push(out);
  }
  return Buffer.concat(plain).subarray(0, size); // container bytes after block n−1 are ignored
}
