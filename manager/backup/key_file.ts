// Key files: a backup key as it leaves the manager, once, encrypted under a passphrase
// (scrypt, then AES-256-GCM). Every field but the ciphertext is associated data, so a key
// file whose id, date or scrypt parameters were changed does not open.
import { createCipheriv, createDecipheriv, randomBytes, scrypt, scryptSync } from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import type { BackupKeyFile } from '../../manager-client/types.js';
import { UUID } from '../../common/uuid.js';

export const BACKUP_KEY_BYTES = 32;
export const MIN_PASSPHRASE = 12;
export const MAX_PASSPHRASE = 1024;

// N = 2^17, r = 8: 128 MiB and about half a second. A key file protects every backup made
// under its key, and is opened rarely: more than a sign-in password's cost (2^15) is right.
const N = 1 << 17;
const R = 8;
const P = 1;
// What a key file may ask of the machine that opens it: up to 1 GiB of scrypt memory.
const MAX_MEMORY = 1024 * 1024 * 1024;
const NONCE = 12;
const TAG = 16;

const badRequest = (message: string) => new ManagerError('VEIL_BACKUP_BAD_REQUEST', message);
const badKeyFile = (message: string) => new ManagerError('VEIL_BACKUP_BAD_KEY', message);

/** A passphrase as the API and the CLI take it. */
export function checkPassphrase(passphrase: unknown): string {
  if (
    typeof passphrase !== 'string' ||
    passphrase.length < MIN_PASSPHRASE ||
    passphrase.length > MAX_PASSPHRASE
  ) {
    throw badRequest(`a passphrase is ${MIN_PASSPHRASE} to ${MAX_PASSPHRASE} characters`);
  }
  return passphrase;
}

function associatedData(file: Omit<BackupKeyFile, 'nonce' | 'wrappedKey'>): Buffer {
  const { kdf } = file;
  return Buffer.from(
    [
      file.format,
      file.version,
      file.backupKeyId,
      file.createdAt,
      file.caFingerprint,
      kdf.name,
      kdf.N,
      kdf.r,
      kdf.p,
      kdf.salt,
      file.cipher,
    ].join('\n'),
    'utf8',
  );
}

const maxmem = (n: number, r: number, p: number) => 128 * n * r * p + 64 * 1024 * 1024;

/** The key file of `key`, wrapped under `passphrase` (scrypt runs off the event loop). */
export async function wrapBackupKey(
  key: Buffer,
  passphrase: string,
  about: { backupKeyId: string; createdAt: string; caFingerprint: string },
): Promise<BackupKeyFile> {
  const salt = randomBytes(16);
  const kek = await new Promise<Buffer>((resolve, reject) =>
    scrypt(passphrase, salt, 32, { N, r: R, p: P, maxmem: maxmem(N, R, P) }, (error, derived) =>
      error ? reject(error) : resolve(derived),
    ),
  );
  const head = {
    format: 'veil-backup-key' as const,
    version: 1 as const,
    ...about,
    kdf: { name: 'scrypt' as const, N, r: R, p: P, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm' as const,
  };
  const nonce = randomBytes(NONCE);
  try {
    const cipher = createCipheriv('aes-256-gcm', kek, nonce);
    cipher.setAAD(associatedData(head));
    const body = Buffer.concat([cipher.update(key), cipher.final(), cipher.getAuthTag()]);
    return { ...head, nonce: nonce.toString('base64'), wrappedKey: body.toString('base64') };
  } finally {
    kek.fill(0);
  }
}

function base64Field(value: unknown, bytes: number, what: string): Buffer {
  const decoded = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (decoded.length !== bytes || decoded.toString('base64') !== value) {
    throw badKeyFile(`the key file's ${what} is not base64 of ${bytes} bytes`);
  }
  return decoded;
}

/** A key file's JSON, checked field by field (its key still wrapped). */
export function parseKeyFile(text: string): BackupKeyFile {
  let file: Partial<BackupKeyFile> & { kdf?: Partial<BackupKeyFile['kdf']> };
  try {
    file = JSON.parse(text) as typeof file;
  } catch {
    throw badKeyFile('the key file is not JSON: give the file `veil-manager backup key create` wrote');
  }
  if (typeof file !== 'object' || file === null || file.format !== 'veil-backup-key') {
    throw badKeyFile('this is not a Veil backup key file');
  }
  if (file.version !== 1) throw badKeyFile(`key file version ${String(file.version)} is not known here`);
  const kdf = file.kdf;
  if (
    typeof file.backupKeyId !== 'string' ||
    !UUID.test(file.backupKeyId) ||
    typeof file.createdAt !== 'string' ||
    typeof file.caFingerprint !== 'string' ||
    file.cipher !== 'aes-256-gcm' ||
    typeof kdf !== 'object' ||
    kdf === null ||
    kdf.name !== 'scrypt'
  ) {
    throw badKeyFile('the key file lacks a field or has a malformed one');
  }
  const { N: n, r, p } = kdf as Record<string, unknown>;
  const whole = (v: unknown, max: number): v is number =>
    Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= max;
  if (
    !whole(n, 1 << 22) ||
    (n & (n - 1)) !== 0 ||
    !whole(r, 64) ||
    !whole(p, 16) ||
    128 * n * r * p > MAX_MEMORY
  ) {
    throw badKeyFile('the key file asks for scrypt parameters beyond what this tool allows');
  }
  base64Field(kdf.salt, 16, 'salt');
  base64Field(file.nonce, NONCE, 'nonce');
  base64Field(file.wrappedKey, BACKUP_KEY_BYTES + TAG, 'wrapped key');
  return file as BackupKeyFile;
}

/** The backup key inside a key file; the caller wipes it. Any failure reads the same. */
export function unwrapBackupKey(file: BackupKeyFile, passphrase: string): Buffer {
  const { kdf } = file;
  const kek = scryptSync(passphrase, Buffer.from(kdf.salt, 'base64'), 32, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    maxmem: maxmem(kdf.N, kdf.r, kdf.p),
  });
  const body = Buffer.from(file.wrappedKey, 'base64');
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(file.nonce, 'base64'));
    decipher.setAAD(associatedData(file));
    decipher.setAuthTag(body.subarray(BACKUP_KEY_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, BACKUP_KEY_BYTES)), decipher.final()]);
  } catch {
    throw new ManagerError(
      'VEIL_BACKUP_BAD_PASSPHRASE',
      'the passphrase does not open this key file (a wrong passphrase, or the key file was changed)',
    );
  } finally {
    kek.fill(0);
  }
}
