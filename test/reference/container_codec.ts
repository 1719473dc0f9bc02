// Reference codec of docs/format.md (version 2): a whole-file encoder and decoder with
// node:crypto only, written from that page alone. It is checked against the native core
// in both directions (test/native/format_cross.test.ts) and produces the golden vectors.
import crypto from 'node:crypto';

import {
  CIPHER_ID,
  FORMAT_VERSION,
  FormatError,
  GROUP_BLOCKS,
  HEADER_SIZE,
  MAGIC,
  MAX_SIZE,
  PAGE,
  PLAIN_BS,
  TAG_ENTRIES_OFFSET,
  TAG_ENTRY,
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

// Layout ("Layout" and "The container length carries the logical size" in docs/format.md).
// Both ciphers share it: blocks form groups of 128, each group a tag page and then one data
// page per block (XTS leaves its tag pages empty). So the cipher is optional in these
// helpers: blockOffset(i) and blockOffset(i) are the same offset.

/** The arguments of a layout helper: a count or index, optionally after the cipher. */
// The layout is the same for both ciphers, so none of these takes one.
function countOf(what: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} ${value}`);
  return value;
}

/** The first page of block `i`'s group: its tag page. */
const groupStartPage = (i: number): number => (GROUP_BLOCKS + 1) * Math.floor(i / GROUP_BLOCKS);

/** The byte offset of block `i`'s 4096-byte data page: 4096 × (129g + 1 + j). */
export function blockOffset(index: number): number {
  const i = countOf('block index', index);
  return PAGE * (groupStartPage(i) + 1 + (i % GROUP_BLOCKS));
}

/** GCM: the byte offset of block `i`'s 28-byte tag entry (nonce || tag): 4096 × 129g + 512 + 28j. */
export function entryOffset(i: number): number {
  countOf('block index', i);
  return PAGE * groupStartPage(i) + TAG_ENTRIES_OFFSET + TAG_ENTRY * (i % GROUP_BLOCKS);
}

/** The end of the last of `n` blocks: 4096 for n = 0, else blockOffset(n − 1) + 4096. */
export function storedEnd(blocks: number): number {
  const n = countOf('block count', blocks);
  return n === 0 ? PAGE : blockOffset(n - 1) + PAGE;
}

/** length(size) = storedEnd(n) + (size mod 4096): the length of a container of logical size `size`. */
export function containerLength(logicalSize: number): number {
  const size = countOf('logical size', logicalSize);
  return storedEnd(Math.ceil(size / PLAIN_BS)) + (size % PLAIN_BS);
}

/** The logical size a container's length carries; undefined for a malformed length. */
export function sizeFromLength(length: number): number | undefined {
  if (!Number.isSafeInteger(length) || length < PAGE) return undefined; // under one page
  const r = length % PAGE;
  const p = (length - r) / PAGE;
  if (p > 1 && p % (GROUP_BLOCKS + 1) === 1) return undefined; // ends in a bare tag page
  const n = p - Math.ceil(p / (GROUP_BLOCKS + 1));
  if (r > 0 && n === 0) return undefined; // a tail with no block
  return r === 0 ? PLAIN_BS * n : PLAIN_BS * (n - 1) + r;
}

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
  header.writeUInt16BE(FORMAT_VERSION, 8);
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
  // Zero-filled: bytes 512–4095 of page 0 past the tag entries in use, bytes 0–511 of later
  // tag pages, unused tag entries, and the tail past storedEnd(n) (size mod 4096 bytes).
  const container = Buffer.alloc(containerLength(plaintext.length));
  header.copy(container, 0);
  for (let i = 0; i < n; i++) {
    const plain = Buffer.alloc(PLAIN_BS); // the last block is zero-padded
    plaintext.copy(plain, 0, i * PLAIN_BS, (i + 1) * PLAIN_BS);
    const blockKey = keyB !== undefined && i < written ? keyB : keyA;
    const { page, entry } = encryptBlock(cipher, blockKey, fileId, i, plain, blockNonce(i));
    page.copy(container, blockOffset(i));
    entry?.copy(container, entryOffset(i));
  }
  return container;
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
  if (h.readUInt16BE(8) !== FORMAT_VERSION || h.readUInt16BE(10) !== HEADER_SIZE) {
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
  const n = Math.ceil(size / PLAIN_BS);
  // 6. The length against the logical size, before any block (for XTS too, in this decoder).
  if (container.length < storedEnd(n)) {
    throw new FormatError('VEIL_FORMAT_TRUNCATED', 'the container is shorter than its logical size needs');
  }
  const keyA = deriveBlockKey(header.fileKeyA, fileId, cipher);
  const keyB = header.fileKeyB && deriveBlockKey(header.fileKeyB, fileId, cipher);
  const plain: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const page = container.subarray(blockOffset(i), blockOffset(i) + PAGE);
    const entry =
      cipher === 'aes-256-gcm' ? container.subarray(entryOffset(i), entryOffset(i) + TAG_ENTRY) : undefined;
    // Re-encrypting: blocks before p are under slot B, then slot A (a crash can leave the
    // mark ahead of blocks that never reached the disk); at or after p, slot A, then slot B.
    const candidates = keyB === undefined ? [keyA] : i < progress ? [keyB, keyA] : [keyA, keyB];
    let out: Buffer | undefined;
    for (const key of candidates) {
      out ??= decryptBlock(cipher, key, fileId, i, page, entry);
    }
    if (out === undefined) throw authFailed();
    plain.push(out);
  }
  // Bytes past storedEnd(n), the tail or a crash's leftovers, are ignored.
  return Buffer.concat(plain).subarray(0, size);
}
