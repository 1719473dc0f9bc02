// Where a restore goes: checks on the data directory before anything is decrypted, the
// staging directory beside it, and the swap that puts the staged contents in its place with
// renames only — so that until the swap the data directory is untouched, and a failure of
// the swap itself puts the old directory back.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';

import { ManagerError } from '../../manager-client/errors.js';
import { fingerprintHex } from '../../manager-client/fingerprint.js';
import { readCaCertificate } from '../ca/authority.js';
import { servingPid } from '../server/pid_file.js';

/** What is at the data directory now: nothing, an empty directory, or a manager's data. */
export type TargetState = 'absent' | 'empty' | 'manager';

const badRequest = (message: string) => new ManagerError('VEIL_BACKUP_BAD_REQUEST', message);

export function refuseIfServed(dir: string): void {
  const pid = servingPid(dir);
  if (pid !== undefined) {
    throw new ManagerError(
      'VEIL_BACKUP_TARGET_IN_USE',
      `a manager (pid ${pid}) serves ${dir}: stop it before restoring into its data directory`,
    );
  }
}

/** Checks that a backup of the manager with `caFingerprint` may be restored into `dir`. */
export function checkTarget(dir: string, caFingerprint: string, force: boolean): TargetState {
  refuseIfServed(dir);
  const parent = path.dirname(dir);
  if (!existsSync(parent) || !statSync(parent).isDirectory()) {
    throw badRequest(`${parent} does not exist: make it first (the data directory itself may be missing)`);
  }
  if (!existsSync(dir)) return 'absent';
  const st = statSync(dir);
  if (!st.isDirectory()) throw badRequest(`${dir} is not a directory`);
  if (st.dev !== statSync(parent).dev) {
    throw badRequest(
      `${dir} is a mount point, and a restore swaps the directory itself: restore into a directory ` +
        'inside it and point --data-dir there (docs/backup.md)',
    );
  }
  const names = readdirSync(dir);
  if (names.length === 0) return 'empty';
  if (!force) {
    throw badRequest(`${dir} is not empty: give --force to replace this manager's data with the backup's`);
  }
  if (!names.includes('master.key') && !names.includes('manager.db')) {
    throw badRequest(`${dir} holds files but no manager's data: restore into a new or empty directory`);
  }
  if (names.includes('ca.crt')) {
    let present: string | undefined;
    try {
      present = readCaCertificate(dir).fingerprint;
    } catch {
      present = undefined; // an unreadable CA is what a restore repairs
    }
    if (present !== undefined && fingerprintHex(present) !== fingerprintHex(caFingerprint)) {
      throw badRequest(
        `${dir} holds another manager (CA ${present}); the backup is of CA ${caFingerprint}: ` +
          'restore into a new directory, or move that one away first',
      );
    }
  }
  return 'manager';
}

/** A new 0700 directory beside `dir`, on its file system, for the restored contents. */
export function stagingDir(dir: string): string {
  const staging = path.join(
    path.dirname(dir),
    `.${path.basename(dir)}.restore-${randomBytes(6).toString('hex')}`,
  );
  mkdirSync(staging, { mode: 0o700 });
  return staging;
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Every directory under `dir` (and it) synced, deepest first: the staged tree is durable. */
export function fsyncTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) fsyncTree(path.join(dir, entry.name));
  }
  fsyncDir(dir);
}

/**
 * Puts `staging` in the place of `dir`. Into a missing or empty directory that is one
 * rename. A manager's directory is renamed aside first, then removed once the staged one is
 * in place; the two renames are the only moment the data directory is missing, and a
 * failure of the second puts the first back. Answers the old directory if it could not be
 * removed.
 */
export function swapInto(staging: string, dir: string, state: TargetState): string | undefined {
  const parent = path.dirname(dir);
  try {
    if (state !== 'manager') {
      renameSync(staging, dir);
      fsyncDir(parent);
      return undefined;
    }
    const aside = path.join(parent, `.${path.basename(dir)}.replaced-${randomBytes(6).toString('hex')}`);
    renameSync(dir, aside);
    try {
      renameSync(staging, dir);
    } catch (error) {
      try {
        renameSync(aside, dir);
      } catch {
        throw new ManagerError(
          'VEIL_BACKUP_RESTORE_FAILED',
          `${dir} is missing: its old data is in ${aside} and the restored data in ${staging}; ` +
            `rename one of them to ${dir}`,
          { cause: error },
        );
      }
      throw error;
    }
    fsyncDir(parent);
    try {
      rmSync(aside, { recursive: true, force: true });
      return undefined;
    } catch {
      return aside;
    }
  } catch (error) {
    if (error instanceof ManagerError) throw error;
    throw new ManagerError(
      'VEIL_BACKUP_RESTORE_FAILED',
      `the restored data could not be put in place of ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ${dir} is unchanged`,
      { cause: error },
    );
  }
}
