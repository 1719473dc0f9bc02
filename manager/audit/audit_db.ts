// audit.db, the audit trail's own SQLite file beside the manager's store (docs/audit.md):
// the records, the signed checkpoints and the trail's keys wrapped under the master key.
// Its own file so that the trail is kept, backed up and handed to an auditor apart from the
// store, and so that a store migration never rewrites it. The only SQL of the trail.
import Database from 'better-sqlite3';

import { ManagerError } from '../../manager-client/errors.js';
import type { Checkpoint, StoredFields } from './audit_chain.js';

export const AUDIT_DB_FILE = 'audit.db';

// Each entry moves the schema one version on; entries are never edited once released.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE audit_keys (
     name TEXT PRIMARY KEY,
     wrapped BLOB NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE audit_records (
     seq INTEGER PRIMARY KEY,
     time INTEGER NOT NULL,
     actor TEXT NOT NULL,
     role TEXT NOT NULL,
     domain TEXT NOT NULL,
     action TEXT NOT NULL,
     object TEXT NOT NULL,
     outcome TEXT NOT NULL,
     reason TEXT NOT NULL,
     source TEXT NOT NULL,
     details TEXT NOT NULL,
     mac TEXT NOT NULL
   );
   CREATE INDEX audit_records_time ON audit_records (time);
   CREATE TABLE audit_checkpoints (
     seq INTEGER PRIMARY KEY,
     mac TEXT NOT NULL,
     time INTEGER NOT NULL,
     signature TEXT NOT NULL
   );`,
];

/** A record as stored: its fields, the canonical details text and the mac. */
export type StoredRecord = StoredFields & { details: string; mac: string };

/** What the listing routes filter on; every part optional. */
export interface RecordFilter {
  /** Only records with seq > after. */
  after?: number;
  /** Only records with seq <= through. */
  through?: number;
  since?: number;
  until?: number;
  actor?: string;
  /** An action, or a prefix of one ending in "*". */
  action?: string;
  outcome?: string;
  domain?: string;
  limit: number;
  /** The newest `limit` matching records (still oldest first) instead of the oldest. */
  newest?: boolean;
}

function unavailable(file: string, error: unknown): ManagerError {
  if (error instanceof ManagerError) return error;
  return new ManagerError(
    'VEIL_AUDIT_UNAVAILABLE',
    `cannot open the audit trail ${file}: ${(error as Error).message}`,
    { cause: error },
  );
}

function migrate(db: Database.Database, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new ManagerError(
      'VEIL_AUDIT_UNAVAILABLE',
      `the audit trail ${file} is at schema version ${current}, newer than this manager knows (${MIGRATIONS.length})`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] ?? '');
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}

/** The prepared statements of one open audit.db. */
export class AuditDb {
  readonly #db: Database.Database;
  // Made once: better-sqlite3 builds four wrappers each time db.transaction() is called.
  readonly #inTransaction: (work: () => unknown) => unknown;
  readonly #statements;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#inTransaction = db.transaction((work: () => unknown) => work());
    const filtered = (order: 'ASC' | 'DESC') =>
      db.prepare(
        `SELECT * FROM audit_records
          WHERE seq > :after AND (:through IS NULL OR seq <= :through)
            AND (:since IS NULL OR time >= :since) AND (:until IS NULL OR time <= :until)
            AND (:actor IS NULL OR actor = :actor) AND (:outcome IS NULL OR outcome = :outcome)
            AND (:domain IS NULL OR domain = :domain)
            AND (:action IS NULL OR action = :action)
            AND (:prefix IS NULL OR substr(action, 1, length(:prefix)) = :prefix)
          ORDER BY seq ${order} LIMIT :limit`,
      );
    this.#statements = {
      key: db.prepare('SELECT wrapped FROM audit_keys WHERE name = ?').pluck(),
      insertKey: db.prepare('INSERT INTO audit_keys (name, wrapped, created_at) VALUES (?, ?, ?)'),
      tip: db.prepare('SELECT seq, mac FROM audit_records ORDER BY seq DESC LIMIT 1'),
      insertRecord: db.prepare(
        `INSERT INTO audit_records VALUES (:seq, :time, :actor, :role, :domain, :action, :object,
           :outcome, :reason, :source, :details, :mac)`,
      ),
      record: db.prepare('SELECT * FROM audit_records WHERE seq = ?'),
      all: db.prepare('SELECT * FROM audit_records ORDER BY seq'),
      oldest: filtered('ASC'),
      newest: filtered('DESC'),
      insertCheckpoint: db.prepare('INSERT INTO audit_checkpoints VALUES (:seq, :mac, :time, :signature)'),
      lastCheckpoint: db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1'),
      checkpoints: db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq'),
    };
  }

  /** Opens (with `create`, makes) audit.db: write-ahead log, full sync, like the store. */
  static open(file: string, options: { create: boolean }): AuditDb {
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { fileMustExist: !options.create });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      migrate(db, file);
      return new AuditDb(db);
    } catch (error) {
      db?.close();
      throw unavailable(file, error);
    }
  }

  /** Opens an existing audit.db to read it only (a stopped manager's, for an offline verify). */
  static openReadOnly(file: string): AuditDb {
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly: true, fileMustExist: true });
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version !== MIGRATIONS.length) {
        throw new ManagerError(
          'VEIL_AUDIT_UNAVAILABLE',
          `the audit trail ${file} is at schema version ${version}; this manager reads version ${MIGRATIONS.length}`,
        );
      }
      return new AuditDb(db);
    } catch (error) {
      db?.close();
      throw unavailable(file, error);
    }
  }

  /** Runs `work` in one transaction (a savepoint inside another). */
  transaction<T>(work: () => T): T {
    return this.#inTransaction(work) as T;
  }

  wrappedKey(name: string): Buffer | undefined {
    return this.#statements.key.get(name) as Buffer | undefined;
  }

  insertKey(name: string, wrapped: Buffer, at: number): void {
    this.#statements.insertKey.run(name, wrapped, at);
  }

  /** The newest record's seq and mac, if there is one. */
  tip(): { seq: number; mac: string } | undefined {
    return this.#statements.tip.get() as { seq: number; mac: string } | undefined;
  }

  insertRecord(record: StoredRecord): void {
    this.#statements.insertRecord.run({ ...record });
  }

  record(seq: number): StoredRecord | undefined {
    return this.#statements.record.get(seq) as StoredRecord | undefined;
  }

  /** Every record by seq, read as the walk goes (a long trail is never held whole). */
  records(): IterableIterator<StoredRecord> {
    return this.#statements.all.iterate() as IterableIterator<StoredRecord>;
  }

  find(filter: RecordFilter): StoredRecord[] {
    const prefix = filter.action?.endsWith('*') ? filter.action.slice(0, -1) : null;
    const parameters = {
      after: filter.after ?? 0,
      through: filter.through ?? null,
      since: filter.since ?? null,
      until: filter.until ?? null,
      actor: filter.actor ?? null,
      outcome: filter.outcome ?? null,
      domain: filter.domain ?? null,
      action: prefix === null ? (filter.action ?? null) : null,
      prefix,
      limit: filter.limit,
    };
    if (!filter.newest) return this.#statements.oldest.all(parameters) as StoredRecord[];
    return (this.#statements.newest.all(parameters) as StoredRecord[]).reverse();
  }

  insertCheckpoint(checkpoint: Checkpoint): void {
    this.#statements.insertCheckpoint.run({ ...checkpoint });
  }

  lastCheckpoint(): Checkpoint | undefined {
    return this.#statements.lastCheckpoint.get() as Checkpoint | undefined;
  }

  checkpoints(): Checkpoint[] {
    return this.#statements.checkpoints.all() as Checkpoint[];
  }

  close(): void {
    this.#db.close();
  }
}
