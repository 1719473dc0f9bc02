// The backup keys the manager keeps: one file each, backup-keys/<id>.json in the data
// directory, the 32-byte key wrapped under the master key and bound to its id. Files and
// not store rows: a backup key outlives any schema of the store, and a backup carries
// them like every other file of the directory.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { writeFileAtomically } from '../../common/files.js';
import { UUID } from '../../common/uuid.js';
import { ManagerError } from '../../manager-client/errors.js';
import type { BackupKeyView } from '../../manager-client/types.js';
import type { MasterKey } from '../keys/master_key.js';
import { BACKUP_KEY_BYTES } from './key_file.js';

export const BACKUP_KEYS_DIR = 'backup-keys';

const context = (backupKeyId: string) => `veil/backup-key/${backupKeyId}`;

interface StoredBackupKey {
  backupKeyId: string;
  createdAt: string;
  /** base64 of the master key's wrap of the key. */
  wrapped: string;
}

export class BackupKeys {
  readonly #dir: string;

  constructor(
    dataDir: string,
    private readonly master: MasterKey,
  ) {
    this.#dir = path.join(dataDir, BACKUP_KEYS_DIR);
  }

  /** Makes and keeps a new key; the caller wipes the material it is handed. */
  create(now = new Date()): { view: BackupKeyView; key: Buffer } {
    const key = randomBytes(BACKUP_KEY_BYTES);
    const view = { backupKeyId: randomUUID(), createdAt: now.toISOString() };
    const stored: StoredBackupKey = {
      ...view,
      wrapped: this.master.wrap(key, context(view.backupKeyId)).toString('base64'),
    };
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    writeFileAtomically(this.#file(view.backupKeyId), `${JSON.stringify(stored)}\n`, 0o600);
    return { view, key };
  }

  list(): BackupKeyView[] {
    if (!existsSync(this.#dir)) return [];
    return readdirSync(this.#dir)
      .filter((name) => name.endsWith('.json') && UUID.test(name.slice(0, -5)))
      .map((name) => {
        const { backupKeyId, createdAt } = this.#read(name.slice(0, -5));
        return { backupKeyId, createdAt };
      })
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.backupKeyId.localeCompare(b.backupKeyId));
  }

  /** The material of a kept key; the caller wipes it. */
  key(backupKeyId: string): Buffer {
    const stored = this.#read(backupKeyId);
    return this.master.unwrap(Buffer.from(stored.wrapped, 'base64'), context(stored.backupKeyId));
  }

  #file(backupKeyId: string): string {
    return path.join(this.#dir, `${backupKeyId}.json`);
  }

  #read(backupKeyId: string): StoredBackupKey {
    const unknown = new ManagerError(
      'VEIL_BACKUP_KEY_UNKNOWN',
      `this manager keeps no backup key ${backupKeyId} (veil-manager backup key list)`,
    );
    if (!UUID.test(backupKeyId)) throw unknown;
    let stored: StoredBackupKey;
    try {
      stored = JSON.parse(readFileSync(this.#file(backupKeyId), 'utf8')) as StoredBackupKey;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw unknown;
      throw new ManagerError('VEIL_BACKUP_UNAVAILABLE', `backup key ${backupKeyId} cannot be read`);
    }
    if (stored.backupKeyId !== backupKeyId || typeof stored.wrapped !== 'string') {
      throw new ManagerError('VEIL_BACKUP_UNAVAILABLE', `backup key ${backupKeyId} is malformed`);
    }
    return stored;
  }
}
