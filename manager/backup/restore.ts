// Restore (docs/backup.md): offline, into the data directory of a stopped manager. Every
// check comes before the data directory is touched — the key file and its passphrase, the
// header, the GCM tag over the whole file, each file's checksum as written to disk, each
// database's integrity, the CA the header names — and the restored contents go into place
// by renames only (target_dir.ts), the restored audit trail saying so in its last record
// (restore_record.ts). Verification alone (no data directory) runs the same
// checks in a temporary directory.
import { createDecipheriv, createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import Database from 'better-sqlite3';

import { ManagerError } from '../../manager-client/errors.js';
import { fingerprintHex } from '../../manager-client/fingerprint.js';
import { readCaCertificate } from '../ca/authority.js';
import { openSqliteStore } from '../store/sqlite_store.js';
import { ArchiveExtractor, type ManifestEntry } from './archive.js';
import {
  headerLength,
  keyForHeader,
  parseHeader,
  PREFIX_BYTES,
  TAG_BYTES,
  type BackupHeader,
} from './backup_file.js';
import { parseKeyFile, unwrapBackupKey } from './key_file.js';
import { readReplacedTrail, recordRestore } from './restore_record.js';
import { checkTarget, fsyncTree, refuseIfServed, stagingDir, swapInto } from './target_dir.js';

export interface RestoreOptions {
  backupFile: string;
  keyFile: string;
  passphrase: string;
  /** Where to restore; without it the backup is only verified. */
  dataDir?: string;
  /** Replace the data of the manager (the same one) in a non-empty `dataDir`. */
  force?: boolean;
}

export interface RestoreResult {
  backupKeyId: string;
  createdAt: string;
  caFingerprint: string;
  files: number;
  bytes: number;
  dataDir?: string;
  /** Whether a manager's data was there and has been replaced. */
  replaced: boolean;
  /** The seq of the `backup.restore` record the restored audit trail ends with. */
  auditSeq?: number;
  /**
   * Key versions (`keyId/version`) the replaced manager had destroyed and the backup brings back:
   * destroy them again (NIST SP 800-57 §8.3.4). Known only when a manager's data is replaced.
   */
  destroyedVersionsBack?: string[];
  /** The replaced data, when it could not be removed. */
  leftOver?: string;
}

const CHUNK = 1024 * 1024;
const corrupt = (message: string) => new ManagerError('VEIL_BACKUP_CORRUPT', message);
/** What a manager's data directory cannot be without. */
const REQUIRED = ['master.key', 'manager.db', 'ca.crt'];

function readExactly(fd: number, length: number, position: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const got = readSync(fd, buffer, done, length - done, position + done);
    if (got === 0) break;
    done += got;
  }
  return buffer.subarray(0, done);
}

function readInput(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ManagerError(
      'VEIL_BACKUP_BAD_REQUEST',
      `cannot read the ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

/** The backup's header, its bytes, and the file's length checked against it. */
function openBackupFile(file: string): {
  fd: number;
  header: BackupHeader;
  headerBytes: Buffer;
  size: number;
} {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw new ManagerError(
      'VEIL_BACKUP_BAD_REQUEST',
      `cannot read the backup ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    const size = fstatSync(fd).size;
    const length = headerLength(readExactly(fd, PREFIX_BYTES, 0));
    const headerBytes = readExactly(fd, length, 0);
    if (headerBytes.length < length) throw corrupt(`the backup is truncated: it ends inside its header`);
    const header = parseHeader(headerBytes);
    const expected = length + header.payloadBytes + TAG_BYTES;
    if (size < expected) {
      throw corrupt(
        `the backup is truncated: it holds ${size} bytes of the ${expected} its header announces`,
      );
    }
    if (size > expected) throw corrupt(`the backup has ${size - expected} bytes past its end`);
    return { fd, header, headerBytes, size };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** The header of a backup, without a key (`veil-manager backup show`). */
export function showBackup(file: string): BackupHeader & { size: number } {
  const { fd, header, size } = openBackupFile(file);
  closeSync(fd);
  return { ...header, size };
}

function sha256Of(file: string): string {
  const hash = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(CHUNK);
    for (let got = readSync(fd, buffer); got > 0; got = readSync(fd, buffer))
      hash.update(buffer.subarray(0, got));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function checkDatabase(file: string, relative: string): void {
  let result: unknown;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    result = db.pragma('integrity_check', { simple: true });
  } catch (error) {
    throw corrupt(`the database ${relative} in the backup does not open: ${(error as Error).message}`);
  } finally {
    db?.close(); // the last connection: SQLite removes its -wal and -shm files
  }
  if (result !== 'ok') throw corrupt(`the database ${relative} in the backup fails its integrity check`);
}

/** The staged files as the manager will read them: on disk, whole, opening, of the right CA. */
function checkStaged(
  staging: string,
  entries: ManifestEntry[],
  header: BackupHeader,
  written: (entry: ManifestEntry) => boolean,
): void {
  for (const name of REQUIRED) {
    if (!entries.some((e) => e.path === name)) throw corrupt(`the backup has no ${name}`);
  }
  for (const entry of entries.filter(written)) {
    const file = path.join(staging, entry.path);
    if (sha256Of(file) !== entry.sha256) {
      throw new ManagerError('VEIL_BACKUP_RESTORE_FAILED', `${entry.path} reads back wrong from ${staging}`);
    }
    if (entry.path.endsWith('.db')) checkDatabase(file, entry.path);
  }
  if (entries.find((e) => e.path === 'master.key')?.size !== 32)
    throw corrupt('the backup has a malformed master.key');
  const ca = readCaCertificate(staging).fingerprint;
  if (fingerprintHex(ca) !== fingerprintHex(header.caFingerprint)) {
    throw corrupt(`the backup's CA (${ca}) is not the one its header names (${header.caFingerprint})`);
  }
}

/** Decrypts the body into `staging`; the GCM tag decides before any extraction error counts. */
function extract(
  fd: number,
  size: number,
  headerBytes: Buffer,
  header: BackupHeader,
  key: Buffer,
  staging: string,
  written: (entry: ManifestEntry) => boolean,
) {
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(header.nonce, 'base64'));
  decipher.setAAD(headerBytes);
  decipher.setAuthTag(readExactly(fd, TAG_BYTES, size - TAG_BYTES));
  const extractor = new ArchiveExtractor(staging, header.payloadBytes, written);
  let failure: Error | undefined;
  const feed = (piece: Buffer): void => {
    if (failure !== undefined || piece.length === 0) return;
    try {
      extractor.push(piece);
    } catch (error) {
      failure = error as Error; // unauthenticated bytes: the tag says whether this is damage
      extractor.abandon();
    }
  };
  const end = size - TAG_BYTES;
  for (let at = headerBytes.length; at < end; at += CHUNK) {
    feed(decipher.update(readExactly(fd, Math.min(CHUNK, end - at), at)));
  }
  try {
    feed(decipher.final());
  } catch {
    extractor.abandon();
    throw corrupt('the backup was altered: its authentication tag does not match its contents');
  }
  if (failure !== undefined) throw failure;
  return extractor.entries;
}

/**
 * Settles the staged store before it goes into place. Hosts refuse a delivery numbered at or
 * below one they hold (a replay), and the backup's numbers are behind those of every delivery made
 * after it: each host's next delivery is numbered above the restore's time in seconds times 2^20,
 * above anything a manager numbering from 1 can have reached and above what an earlier restore
 * started from, unless a host got more than 2^20 deliveries a second since (below 2^53 until the
 * year 2242). And of the versions the replaced manager destroyed, those the backup holds in
 * another state are named: their material is back, for the operator to destroy again.
 */
function settleStore(
  staging: string,
  destroyed: Set<string>,
): { deliverySequenceFloor: number; destroyedVersionsBack: string[] } {
  const deliverySequenceFloor = Math.floor(Date.now() / 1000) * 2 ** 20;
  const store = openSqliteStore(path.join(staging, 'manager.db'));
  try {
    store.raiseDeliverySequences(deliverySequenceFloor);
    const destroyedVersionsBack = [...destroyed].filter((ref) => {
      const [keyId = '', version] = ref.split('/');
      const row = store.versions(keyId).find((v) => String(v.version) === version);
      return row !== undefined && row.state !== 'destroyed';
    });
    return { deliverySequenceFloor, destroyedVersionsBack };
  } finally {
    store.close();
  }
}

export function restoreBackup(options: RestoreOptions): RestoreResult {
  const keyFile = parseKeyFile(readInput(options.keyFile, 'key file').toString('utf8'));
  const { fd, header, headerBytes, size } = openBackupFile(options.backupFile);
  let staging: string | undefined;
  let backupKey: Buffer | undefined;
  let fileKey: Buffer | undefined;
  try {
    // A data directory reached through a symbolic link is swapped where it really is.
    const dataDir =
      options.dataDir === undefined
        ? undefined
        : existsSync(options.dataDir)
          ? realpathSync(options.dataDir)
          : path.resolve(options.dataDir);
    const state =
      dataDir === undefined ? undefined : checkTarget(dataDir, header.caFingerprint, options.force === true);
    if (keyFile.backupKeyId !== header.backupKeyId) {
      throw new ManagerError(
        'VEIL_BACKUP_BAD_KEY',
        `this backup was made under backup key ${header.backupKeyId}; the key file holds key ${keyFile.backupKeyId}`,
      );
    }
    backupKey = unwrapBackupKey(keyFile, options.passphrase);
    fileKey = keyForHeader(header, backupKey);
    staging =
      dataDir === undefined ? mkdtempSync(path.join(tmpdir(), 'veil-backup-verify-')) : stagingDir(dataDir);
    // Verification alone writes only what its checks open: the master key and the wrapped
    // keys stay out of the temporary directory.
    const written =
      dataDir === undefined
        ? (e: ManifestEntry) => e.path.endsWith('.db') || e.path === 'ca.crt'
        : () => true;
    const entries = extract(fd, size, headerBytes, header, fileKey, staging, written);
    checkStaged(staging, entries, header, written);
    const result: RestoreResult = {
      backupKeyId: header.backupKeyId,
      createdAt: header.createdAt,
      caFingerprint: header.caFingerprint,
      files: entries.length,
      bytes: entries.reduce((sum, e) => sum + e.size, 0),
      replaced: state === 'manager',
    };
    if (dataDir === undefined || state === undefined) return result;
    const replaced = state === 'manager' ? readReplacedTrail(dataDir) : undefined;
    const settled = settleStore(staging, replaced?.destroyed ?? new Set());
    const auditSeq = recordRestore(staging, {
      backupFile: options.backupFile,
      backupKeyId: header.backupKeyId,
      createdAt: header.createdAt,
      caFingerprint: header.caFingerprint,
      dataDir,
      replaced: result.replaced,
      ...(replaced ? { replacedTrail: replaced.end } : {}),
      ...settled,
    });
    fsyncTree(staging);
    refuseIfServed(dataDir); // a manager may have started while the backup was checked
    const leftOver = swapInto(staging, dataDir, state);
    staging = undefined;
    return {
      ...result,
      dataDir,
      auditSeq,
      destroyedVersionsBack: settled.destroyedVersionsBack,
      ...(leftOver ? { leftOver } : {}),
    };
  } catch (error) {
    if (error instanceof ManagerError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ManagerError(
      'VEIL_BACKUP_RESTORE_FAILED',
      `the backup could not be restored (${code})${options.dataDir ? `; ${options.dataDir} is unchanged` : ''}`,
      { cause: error },
    );
  } finally {
    closeSync(fd);
    backupKey?.fill(0);
    fileKey?.fill(0);
    if (staging !== undefined) rmSync(staging, { recursive: true, force: true });
  }
}
