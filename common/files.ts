// Files written whole or not at all: the manager's keys and CA beside its store, the agent's state.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

/** Makes the directory's entries durable: a rename or a new name in it survives a crash. */
export function syncDirectory(directory: string): void {
  const dir = openSync(directory, constants.O_RDONLY);
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Writes under a temporary name with `mode`, syncs, renames into place, syncs the directory. */
export function writeFileAtomically(file: string, data: Buffer | string, mode: number): void {
  const temporary = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString('hex')}.new`,
  );
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temporary);
    throw error;
  }
  closeSync(fd);
  renameSync(temporary, file);
  syncDirectory(path.dirname(file));
}

/**
 * Like writeFileAtomically, but never replaces a file: when `file` exists the call fails
 * with EEXIST and leaves it as it was (the new name is a hard link to the synced temporary).
 */
export function writeNewFileAtomically(file: string, data: Buffer | string, mode: number): void {
  const temporary = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${randomBytes(6).toString('hex')}.new`,
  );
  writeFileAtomically(temporary, data, mode);
  try {
    linkSync(temporary, file);
  } finally {
    unlinkSync(temporary);
  }
  syncDirectory(path.dirname(file));
}
