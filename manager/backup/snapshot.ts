// A consistent snapshot of a running manager's data directory: every SQLite database
// (*.db, wherever it lies) as an image read through SQLite itself, and every other regular
// file as it is. It is taken in one synchronous stretch: every writer of the directory is
// this process's event loop, so no change can fall between two of its files (the store and
// the audit trail agree), and a database image includes what its WAL holds.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import Database from 'better-sqlite3';

import { ManagerError } from '../../manager-client/errors.js';
import { PID_FILE } from '../server/pid_file.js';

export interface SnapshotFile {
  /** Relative to the data directory, with "/". */
  path: string;
  /** Permission bits (0o600, 0o644…). */
  mode: number;
  bytes: Buffer;
  sha256: string;
}

/**
 * Whether a file of the data directory belongs in a backup. Left out: SQLite's side files
 * (a database image holds their content), pid and lock files, and files half-written by
 * writeFileAtomically. The first administrator's password file travels: it is no more
 * secret than the master key beside it, and the CLI on the manager's machine signs in
 * with it (--data-dir).
 */
export function carried(relative: string): boolean {
  const name = path.posix.basename(relative);
  if (name === PID_FILE || /-(wal|shm|journal)$/.test(name) || /\.(pid|lock)$/.test(name)) return false;
  return !(name.startsWith('.') && name.endsWith('.new'));
}

const isDatabase = (relative: string): boolean => relative.endsWith('.db');

function databaseImage(file: string, relative: string): Buffer {
  let db: Database.Database | undefined;
  try {
    // Its own connection, read-only in effect: the image is of one read transaction.
    db = new Database(file, { fileMustExist: true });
    return db.serialize();
  } catch (error) {
    throw new ManagerError(
      'VEIL_BACKUP_UNAVAILABLE',
      `the database ${relative} cannot be read for a backup: ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    db?.close();
  }
}

/** Every carried file under `dataDir`, sorted by path; refused past `maxBytes` in all. */
export function takeSnapshot(dataDir: string, maxBytes: number): SnapshotFile[] {
  const files: SnapshotFile[] = [];
  let total = 0;
  const visit = (relative: string): void => {
    const full = path.join(dataDir, relative);
    for (const name of readdirSync(full).sort()) {
      const child = relative === '' ? name : `${relative}/${name}`;
      const st = lstatSync(path.join(dataDir, child));
      if (st.isDirectory()) visit(child);
      // Symbolic links, sockets and the like are nothing the manager makes.
      if (!st.isFile() || !carried(child)) continue;
      const bytes = isDatabase(child)
        ? databaseImage(path.join(dataDir, child), child)
        : readFileSync(path.join(dataDir, child));
      total += bytes.length;
      if (total > maxBytes) {
        throw new ManagerError(
          'VEIL_BACKUP_UNAVAILABLE',
          `the data directory holds more than ${maxBytes} bytes, more than one backup holds (docs/backup.md)`,
        );
      }
      files.push({
        path: child,
        mode: st.mode & 0o777,
        bytes,
        sha256: createHash('sha256').update(bytes).digest('hex'),
      });
    }
  };
  visit('');
  return files;
}
