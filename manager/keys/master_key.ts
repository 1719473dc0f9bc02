// The master key: every key version the manager stores is wrapped under it, bound to the
// key id and version, so a wrapped blob moved to another record does not unwrap. Behind
// one interface so that an HSM can take its place; this version keeps it in a root-only
// file in the data directory.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

import { ManagerError } from '../../manager-client/errors.js';
import { writeFileAtomically } from '../../common/files.js';

export interface MasterKey {
  /** AES-256-GCM under the master key, with `context` as associated data. */
  wrap(material: Buffer, context: string): Buffer;
  /** The material; a blob that was changed, or wrapped for another context, is refused. */
  unwrap(wrapped: Buffer, context: string): Buffer;
}

const FORMAT = 1;
const NONCE = 12;
const TAG = 16;
const KEY_BYTES = 32;

/** The context a key version's material is wrapped for. */
export function keyVersionContext(keyId: string, version: number): string {
  return `veil/key-version/${keyId}/${version}`;
}

class FileMasterKey implements MasterKey {
  constructor(private readonly key: Buffer) {}

  wrap(material: Buffer, context: string): Buffer {
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(material), cipher.final()]);
    return Buffer.concat([Buffer.from([FORMAT]), nonce, body, cipher.getAuthTag()]);
  }

  unwrap(wrapped: Buffer, context: string): Buffer {
    if (wrapped.length < 1 + NONCE + TAG || wrapped[0] !== FORMAT) {
      throw new ManagerError('VEIL_MASTER_KEY_UNUSABLE', `the stored key for ${context} is malformed`);
    }
    const decipher = createDecipheriv('aes-256-gcm', this.key, wrapped.subarray(1, 1 + NONCE));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG));
    try {
      return Buffer.concat([
        decipher.update(wrapped.subarray(1 + NONCE, wrapped.length - TAG)),
        decipher.final(),
      ]);
    } catch {
      throw new ManagerError(
        'VEIL_MASTER_KEY_UNUSABLE',
        `the stored key for ${context} does not unwrap: it was changed, or the master key is not the one it was stored under`,
      );
    }
  }
}

function unusable(file: string, why: string): ManagerError {
  return new ManagerError('VEIL_MASTER_KEY_UNUSABLE', `master key ${file}: ${why}`);
}

/**
 * Opens the master key file, or with `create` makes it when it is missing (32 random
 * bytes, mode 0600, written atomically).
 * A file that is not a regular file of exactly 32 bytes, owned by this user with no
 * access for others, is refused.
 */
export function openFileMasterKey(file: string, options: { create: boolean }): MasterKey {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !options.create) {
      throw unusable(file, `cannot be opened (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    createMasterKeyFile(file);
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw unusable(file, 'is not a regular file');
    if ((st.mode & 0o077) !== 0)
      throw unusable(file, `is readable by others (mode ${(st.mode & 0o777).toString(8)}; make it 0600)`);
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
      throw unusable(file, 'belongs to another user');
    }
    if (st.size !== KEY_BYTES) throw unusable(file, `holds ${st.size} bytes, not ${KEY_BYTES}`);
    const key = Buffer.alloc(KEY_BYTES);
    if (readSync(fd, key, 0, KEY_BYTES, 0) !== KEY_BYTES) throw unusable(file, 'could not be read whole');
    return new FileMasterKey(key);
  } finally {
    closeSync(fd);
  }
}

function createMasterKeyFile(file: string): void {
  const key = randomBytes(KEY_BYTES);
  try {
    writeFileAtomically(file, key, 0o600);
  } finally {
    key.fill(0);
  }
}
