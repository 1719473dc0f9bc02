// The fixed inputs of the golden containers in test/fixtures/format-v2/ (docs/format.md,
// "Test vectors"). make_vectors.ts writes them; vectors.test.ts checks them.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  PLAIN_BS,
  deriveBlockKey,
  deriveHeaderMacKey,
  deriveKek,
  encodeContainer,
  keyringOf,
  u32,
  type CipherName,
  type KeyRef,
} from './container_codec.js';

export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/format-v2/', import.meta.url));
export const FORMAT_DOC = fileURLToPath(new URL('../../docs/format.md', import.meta.url));

/** `length` bytes counting up from `first`: seq(0x20, 4) = 20 21 22 23. */
const seq = (first: number, length: number): Buffer =>
  Buffer.from(Array.from({ length }, (_, j) => first + j));

export const PLAINTEXT_RULE = 'byte j of the plaintext is j mod 251';
export const plaintextOf = (size: number): Buffer =>
  Buffer.from(Array.from({ length: size }, (_, j) => j % 251));

export const KEY_ID = '0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b';
/** Two versions of one guard point key: AES-256 material for v1, AES-128 for v2. */
export const GUARD_KEYS = [
  { keyId: KEY_ID, version: 1, material: seq(0x00, 32) },
  { keyId: KEY_ID, version: 2, material: seq(0x40, 16) },
] as const;
export const keyring = keyringOf(GUARD_KEYS);
const guardKey = (key: KeyRef): Buffer => keyring(key.keyId, key.version)!;

export const FILE_ID = seq(0xf0, 16);
export const FILE_KEY = seq(0x20, 32);
export const SLOT_NONCE = seq(0xa0, 12);
/** Block i's GCM nonce: b0 b1 … b7 || u32(i). */
export const blockNonce = (i: number): Buffer => Buffer.concat([seq(0xb0, 8), u32(i)]);
export const FILE_KEY_B = seq(0x60, 32);
export const SLOT_NONCE_B = seq(0xc0, 12);

export interface Vector {
  file: string;
  cipher: CipherName;
  size: number;
  key: KeyRef;
  /** State 1: slot B under `key`, progress mark `progress`, blocks before `written` under slot B. */
  reencrypting?: { key: KeyRef; progress: number; written: number };
  note: string;
}

const v1 = { keyId: KEY_ID, version: 1 };
const v2 = { keyId: KEY_ID, version: 2 };
export const VECTORS: readonly Vector[] = [
  { file: 'gcm-0.veil', cipher: 'aes-256-gcm', size: 0, key: v1, note: 'empty file: the header page only' },
  { file: 'gcm-5.veil', cipher: 'aes-256-gcm', size: 5, key: v1, note: 'one short block' },
  { file: 'gcm-4096.veil', cipher: 'aes-256-gcm', size: 4096, key: v1, note: 'exactly one block' },
  { file: 'gcm-5000.veil', cipher: 'aes-256-gcm', size: 5000, key: v1, note: 'two blocks, the last short' },
  { file: 'xts-5.veil', cipher: 'aes-256-xts', size: 5, key: v1, note: 'one short block' },
  { file: 'xts-5000.veil', cipher: 'aes-256-xts', size: 5000, key: v1, note: 'two blocks, the last short' },
  {
    file: 'gcm-524293.veil',
    cipher: 'aes-256-gcm',
    size: 128 * 4096 + 5,
    key: v1,
    note: '129 blocks: a second group with its own tag page',
  },
  {
    file: 'gcm-reencrypting.veil',
    cipher: 'aes-256-gcm',
    size: 10000,
    key: v1,
    reencrypting: { key: v2, progress: 1, written: 2 },
    note: 'state 1, re-encrypting to key v2 (see below)',
  },
];

/** The vectors docs/format.md prints in hex (vectors.test.ts checks the hex against the files). */
export const SHOWN: readonly string[] = ['gcm-5.veil', 'xts-5.veil'];

export function encodeVector(v: Vector): Buffer {
  return encodeContainer({
    keyring,
    key: v.key,
    cipher: v.cipher,
    plaintext: plaintextOf(v.size),
    random: { fileId: FILE_ID, fileKey: FILE_KEY, slotNonce: SLOT_NONCE, blockNonces: blockNonce },
    reencrypting: v.reencrypting && { ...v.reencrypting, fileKey: FILE_KEY_B, slotNonce: SLOT_NONCE_B },
  });
}

/** Every input of a vector, and the keys derived from them, as hex. */
export function describeVector(v: Vector) {
  const hex = (b: Buffer): string => b.toString('hex');
  const guard = { material: guardKey(v.key) };
  const blocks = Math.ceil(v.size / PLAIN_BS);
  return {
    file: v.file,
    note: v.note,
    cipher: v.cipher,
    key: { keyId: v.key.keyId, version: v.key.version, material: hex(guard.material) },
    plaintext: { size: v.size, rule: PLAINTEXT_RULE },
    fileId: hex(FILE_ID),
    fileKey: hex(FILE_KEY),
    slotNonce: hex(SLOT_NONCE),
    blockNonces:
      v.cipher === 'aes-256-gcm' ? Array.from({ length: blocks }, (_, i) => hex(blockNonce(i))) : [],
    reencrypting: v.reencrypting && {
      ...v.reencrypting,
      fileKey: hex(FILE_KEY_B),
      slotNonce: hex(SLOT_NONCE_B),
      derived: {
        kek: hex(deriveKek(guardKey(v.reencrypting.key), v.reencrypting.key)),
        blockKey: hex(deriveBlockKey(FILE_KEY_B, FILE_ID, v.cipher)),
      },
    },
    derived: {
      kek: hex(deriveKek(guard.material, v.key)),
      blockKey: hex(deriveBlockKey(FILE_KEY, FILE_ID, v.cipher)),
      headerMacKey: hex(deriveHeaderMacKey(FILE_KEY, FILE_ID)),
    },
  };
}

export const fixturePath = (file: string): string => path.join(FIXTURE_DIR, file);
