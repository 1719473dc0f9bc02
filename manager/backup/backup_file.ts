// The backup file (docs/backup.md, "File format"): a header in the clear, authenticated as
// associated data, then the archive encrypted with AES-256-GCM under a key derived from
// the backup key and the header's salt. The header also carries a checksum, so that a
// damaged file is told apart from a wrong key, and a key check, so that a wrong key is
// told apart from an altered body.
import { createCipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import { UUID } from '../../common/uuid.js';
import { encodeManifest, type ArchiveFile } from './archive.js';

/** "\x89VBAK\r\n\x1a": not text, and damaged by a transfer that mangles line ends. */
export const MAGIC = Buffer.from([0x89, 0x56, 0x42, 0x41, 0x4b, 0x0d, 0x0a, 0x1a]);
export const FORMAT_VERSION = 1;
/** magic, version (u16), header length (u32). */
export const PREFIX_BYTES = MAGIC.length + 2 + 4;
export const CHECKSUM_BYTES = 32;
export const TAG_BYTES = 16;
const MAX_HEADER_BYTES = 64 * 1024;
const SALT_BYTES = 32;
const NONCE_BYTES = 12;

export interface BackupHeader {
  backupKeyId: string;
  createdAt: string;
  /** The CA fingerprint of the manager the backup is of: what its hosts pin. */
  caFingerprint: string;
  /** base64, 32 bytes: the file key's HKDF salt. */
  salt: string;
  /** base64, 12 bytes. */
  nonce: string;
  /** base64, 32 bytes: HKDF output beside the file key; tells a wrong backup key. */
  keyCheck: string;
  /** The ciphertext's length, tag excluded: tells a truncated file. */
  payloadBytes: number;
  /** How many files the archive holds (for `backup show`). */
  files: number;
}

const corrupt = (message: string) => new ManagerError('VEIL_BACKUP_CORRUPT', message);

/** The file key and the key check of a backup key and a salt. The caller wipes the key. */
export function fileKeys(backupKey: Buffer, salt: Buffer): { key: Buffer; check: Buffer } {
  const okm = Buffer.from(hkdfSync('sha256', backupKey, salt, 'veil/backup/1', 64));
  const keys = { key: Buffer.from(okm.subarray(0, 32)), check: Buffer.from(okm.subarray(32)) };
  okm.fill(0);
  return keys;
}

/** The header bytes: prefix, JSON, checksum. All of them are the GCM associated data. */
function encodeHeader(header: BackupHeader): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(PREFIX_BYTES);
  MAGIC.copy(prefix);
  prefix.writeUInt16BE(FORMAT_VERSION, MAGIC.length);
  prefix.writeUInt32BE(json.length, MAGIC.length + 2);
  const body = Buffer.concat([prefix, json]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** The backup file of `files` under `backupKey`, in pieces (the caller sends or joins them). */
export function sealBackup(
  files: ArchiveFile[],
  backupKey: Buffer,
  about: { backupKeyId: string; createdAt: string; caFingerprint: string },
): Buffer[] {
  const manifest = encodeManifest(files, about.createdAt);
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const { key, check } = fileKeys(backupKey, salt);
  try {
    const header = encodeHeader({
      ...about,
      salt: salt.toString('base64'),
      nonce: nonce.toString('base64'),
      keyCheck: check.toString('base64'),
      payloadBytes: manifest.length + files.reduce((sum, f) => sum + f.bytes.length, 0),
      files: files.length,
    });
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(header);
    const pieces = [header, cipher.update(manifest)];
    for (const file of files) pieces.push(cipher.update(file.bytes));
    pieces.push(cipher.final(), cipher.getAuthTag());
    return pieces;
  } finally {
    key.fill(0);
  }
}

/** How long the header is, from the first PREFIX_BYTES of a file. */
export function headerLength(prefix: Buffer): number {
  if (prefix.length < PREFIX_BYTES || !prefix.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw corrupt('this is not a Veil manager backup (its first bytes are not the backup magic)');
  }
  const version = prefix.readUInt16BE(MAGIC.length);
  if (version !== FORMAT_VERSION) {
    throw new ManagerError(
      'VEIL_BACKUP_BAD_REQUEST',
      `this backup is of format version ${version}; this veil-manager reads version ${FORMAT_VERSION}`,
    );
  }
  const length = prefix.readUInt32BE(MAGIC.length + 2);
  if (length < 2 || length > MAX_HEADER_BYTES) throw corrupt('the backup header is damaged (its length)');
  return PREFIX_BYTES + length + CHECKSUM_BYTES;
}

function base64Of(value: unknown, bytes: number): boolean {
  return typeof value === 'string' && Buffer.from(value, 'base64').length === bytes;
}

/** The header of a file from its first headerLength() bytes, checked. */
export function parseHeader(bytes: Buffer): BackupHeader {
  const body = bytes.subarray(0, bytes.length - CHECKSUM_BYTES);
  const checksum = createHash('sha256').update(body).digest();
  if (!timingSafeEqual(checksum, bytes.subarray(bytes.length - CHECKSUM_BYTES))) {
    throw corrupt('the backup header is damaged: its checksum does not match');
  }
  let header: Partial<BackupHeader>;
  try {
    header = JSON.parse(body.subarray(PREFIX_BYTES).toString('utf8')) as Partial<BackupHeader>;
  } catch {
    throw corrupt('the backup header is not JSON');
  }
  if (
    typeof header !== 'object' ||
    header === null ||
    typeof header.backupKeyId !== 'string' ||
    !UUID.test(header.backupKeyId) ||
    typeof header.createdAt !== 'string' ||
    typeof header.caFingerprint !== 'string' ||
    !base64Of(header.salt, SALT_BYTES) ||
    !base64Of(header.nonce, NONCE_BYTES) ||
    !base64Of(header.keyCheck, 32) ||
    !Number.isSafeInteger(header.payloadBytes) ||
    (header.payloadBytes ?? -1) < 0 ||
    !Number.isSafeInteger(header.files)
  ) {
    throw corrupt('the backup header lacks a field or has a malformed one');
  }
  return header as BackupHeader;
}

/** The file key for a header's backup; a key that is not the backup's own is refused. */
export function keyForHeader(header: BackupHeader, backupKey: Buffer): Buffer {
  const { key, check } = fileKeys(backupKey, Buffer.from(header.salt, 'base64'));
  if (!timingSafeEqual(check, Buffer.from(header.keyCheck, 'base64'))) {
    key.fill(0);
    throw new ManagerError(
      'VEIL_BACKUP_BAD_KEY',
      `the key file holds a key with this backup's id (${header.backupKeyId}) but not its key`,
    );
  }
  return key;
}
