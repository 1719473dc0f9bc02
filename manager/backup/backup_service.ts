// Backups of a running manager (docs/backup.md): the backup keys it keeps and hands out
// once under a passphrase, and the backup file of its whole data directory under one of
// them. Restoring is offline (restore.ts): a running manager never replaces its own data.
import { ManagerError } from '../../manager-client/errors.js';
import { MAX_BACKUP_BYTES, type BackupKeyFile, type BackupKeyView } from '../../manager-client/types.js';
import type { MasterKey } from '../keys/master_key.js';
import { sealBackup } from './backup_file.js';
import { BackupKeys } from './backup_keys.js';
import { checkPassphrase, wrapBackupKey } from './key_file.js';
import { takeSnapshot, type SnapshotFile } from './snapshot.js';

const badRequest = (message: string) => new ManagerError('VEIL_BACKUP_BAD_REQUEST', message);

function objectBody(body: unknown, shape: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`the body is a JSON object: ${shape}`);
  }
  return body as Record<string, unknown>;
}

/** A backup file as the API answers it. */
export interface BackupFile {
  backupKeyId: string;
  createdAt: string;
  /** The file, in pieces: header, then ciphertext, then the tag. */
  pieces: Buffer[];
}

export class BackupService {
  readonly #keys: BackupKeys;

  constructor(
    private readonly dataDir: string,
    master: MasterKey,
    private readonly caFingerprint: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.#keys = new BackupKeys(dataDir, master);
  }

  /** A new backup key, kept, and answered once wrapped under the body's passphrase. */
  async createKey(body: unknown): Promise<BackupKeyFile> {
    const passphrase = checkPassphrase(objectBody(body, '{"passphrase": …}').passphrase);
    const { view, key } = this.#keys.create(this.now());
    try {
      return await wrapBackupKey(key, passphrase, { ...view, caFingerprint: this.caFingerprint });
    } finally {
      key.fill(0);
    }
  }

  keys(): BackupKeyView[] {
    return this.#keys.list();
  }

  /** The backup of the whole data directory under the body's backup key. */
  create(body: unknown): BackupFile {
    const { backupKeyId } = objectBody(body, '{"backupKeyId": …}');
    if (typeof backupKeyId !== 'string') {
      throw badRequest('backupKeyId names the backup key (veil-manager backup key list, or make one)');
    }
    const key = this.#keys.key(backupKeyId);
    const createdAt = this.now().toISOString();
    let files: SnapshotFile[];
    try {
      files = takeSnapshot(this.dataDir, MAX_BACKUP_BYTES);
    } catch (error) {
      key.fill(0);
      if (error instanceof ManagerError) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      throw new ManagerError('VEIL_BACKUP_UNAVAILABLE', `the data directory cannot be read whole (${code})`, {
        cause: error,
      });
    }
    try {
      const pieces = sealBackup(files, key, { backupKeyId, createdAt, caFingerprint: this.caFingerprint });
      return { backupKeyId, createdAt, pieces };
    } finally {
      key.fill(0);
      // The snapshot holds the master key file among the rest: no copy of it outlives the call.
      for (const file of files) file.bytes.fill(0);
    }
  }
}
