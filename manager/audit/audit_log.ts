// The manager's tamper-evident audit trail (docs/audit.md): each entry appended in one
// transaction of audit.db as the next record, its mac chained to the one before; a signed
// checkpoint every `checkpointEvery` records, or every `checkpointSeconds` when records
// came. What reads the trail in order (SIEM forwarding) follows it through
// AuditRecordSource.
import path from 'node:path';

import { ManagerError } from '../../manager-client/errors.js';
import type { AuditCheckpoint, AuditVerification } from '../../manager-client/types.js';
import { ROOT_DOMAIN } from '../domains.js';
import type { MasterKey } from '../keys/master_key.js';
import {
  CHECKPOINT_FORMAT,
  GENESIS_MAC,
  canonicalDetails,
  canonicalRecord,
  chainMac,
  signCheckpoint,
  type Checkpoint,
} from './audit_chain.js';
import { AUDIT_DB_FILE, AuditDb, type RecordFilter, type StoredRecord } from './audit_db.js';
import { loadAuditKeys, type AuditKeys } from './audit_keys.js';
import type { AuditEntry, AuditRecord, AuditRecordSource, AuditSink } from './audit_record.js';
import { checkEntry } from './audit_entry.js';
import { verifyTrail } from './audit_verify.js';
import { GroupCommit } from '../store/group_commit.js';

export interface AuditLogOptions {
  /** A checkpoint after this many records (default 100). */
  checkpointEvery?: number;
  /** A checkpoint this often when records came since the last (default 60). */
  checkpointSeconds?: number;
  now?: () => number;
  log?: (line: string) => void;
}

/** A stored record as the trail's readers see it; details that no longer parse read as {}. */
export function recordOf(row: StoredRecord): AuditRecord {
  let details: AuditRecord['details'] = {};
  try {
    details = JSON.parse(row.details) as AuditRecord['details'];
  } catch {
    // Only a changed audit.db has such details; verify names the record.
  }
  return {
    seq: row.seq as number,
    time: row.time as number,
    actor: row.actor as string,
    role: row.role as string,
    domain: row.domain as string,
    action: row.action as string,
    object: row.object as string,
    outcome: row.outcome as AuditRecord['outcome'],
    reason: row.reason as string,
    source: row.source as string,
    details,
    mac: row.mac,
  };
}

export class AuditLog implements AuditSink, AuditRecordSource {
  readonly #db: AuditDb;
  readonly #keys: AuditKeys;
  readonly #listeners = new Set<(record: AuditRecord) => void>();
  readonly #every: number;
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  readonly #timer: NodeJS.Timeout;
  // The chain's end as this process wrote it: a trail whose end differs at the next append
  // was changed under the running manager, and that goes into the trail before anything else.
  #tip: { seq: number; mac: string };
  #lastCheckpointSeq: number;
  // Inside batch(): the records appended so far, announced once the batch has committed.
  #pending: AuditRecord[] | undefined;
  #closed = false;
  // appendDurably(): the entries of one turn, appended in one batch (one sync to disk).
  readonly #group = new GroupCommit((work) => this.batch(work));

  private constructor(db: AuditDb, keys: AuditKeys, options: AuditLogOptions) {
    this.#db = db;
    this.#keys = keys;
    this.#every = options.checkpointEvery ?? 100;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? (() => undefined);
    this.#tip = db.tip() ?? { seq: 0, mac: GENESIS_MAC };
    this.#lastCheckpointSeq = db.lastCheckpoint()?.seq ?? 0;
    this.#timer = setInterval(() => this.#checkpointQuietly(), (options.checkpointSeconds ?? 60) * 1000);
    this.#timer.unref();
  }

  /** Opens the trail in the data directory, making audit.db and its keys on first start. */
  static open(dataDir: string, master: MasterKey, options: AuditLogOptions = {}): AuditLog {
    const db = AuditDb.open(path.join(dataDir, AUDIT_DB_FILE), { create: true });
    let log: AuditLog | undefined;
    try {
      const { keys, created } = loadAuditKeys(db, master, { create: true, now: options.now?.() });
      log = new AuditLog(db, keys, options);
      if (created) {
        log.append({
          ...log.systemEntry('audit.trail.created'),
          details: { publicKeyFingerprint: keys.publicKeyFingerprint },
        });
      }
      return log;
    } catch (error) {
      if (log) log.close();
      else db.close();
      throw error;
    }
  }

  /** An entry of the manager's own work, to be completed by the caller. */
  systemEntry(action: string, object = ''): AuditEntry {
    return {
      time: this.#now(),
      actor: 'system',
      role: 'system',
      domain: ROOT_DOMAIN,
      action,
      object,
      outcome: 'success',
      reason: '',
      source: 'local',
      details: {},
    };
  }

  get publicKeyPem(): string {
    return this.#keys.publicKeyPem;
  }

  /**
   * Appends the entry as the next record, in one transaction; throws rather than drop it.
   * A trail whose end is not the one this process wrote was changed under it: that is
   * recorded first ("audit.trail.changed"), and the chain goes on from the end found.
   */
  append(entry: AuditEntry): AuditRecord {
    if (this.#closed) throw new ManagerError('VEIL_AUDIT_UNAVAILABLE', 'the audit trail is closed');
    const checked = checkEntry(entry);
    const written = this.#written(checked);
    const record = written[written.length - 1];
    this.#tip = { seq: record.seq, mac: record.mac };
    if (this.#pending) this.#pending.push(...written);
    else this.#appended(written);
    return record;
  }

  /** The records an append writes: the entry's, after an "audit.trail.changed" when the end moved. */
  #written(checked: AuditEntry): AuditRecord[] {
    const atTip = (): AuditRecord[] | undefined => {
      const found = this.#db.tip() ?? { seq: 0, mac: GENESIS_MAC };
      return found.seq === this.#tip.seq && found.mac === this.#tip.mac
        ? [this.#insert(found, checked)]
        : undefined;
    };
    // A batch that has written a record holds audit.db's write lock until it ends: the trail's
    // end can only be the one this process wrote, and is not read again.
    if (this.#pending && this.#pending.length > 0) return [this.#insert(this.#tip, checked)];
    // Inside a batch's transaction a single insert needs no savepoint of its own (a statement that
    // fails undoes itself); the two of a changed trail still go in one.
    const plain = this.#pending ? atTip() : undefined;
    return plain ?? this.#db.transaction(() => atTip() ?? this.#afterChange(checked));
  }

  /** The trail's end is not where this process left it: that is recorded, then the entry. */
  #afterChange(checked: AuditEntry): AuditRecord[] {
    const found = this.#db.tip() ?? { seq: 0, mac: GENESIS_MAC };
    this.#log(
      `the audit trail ends at record ${found.seq}, not at ${this.#tip.seq} as this manager wrote it: ` +
        'audit.db was changed under the running manager (veil-manager audit verify)',
    );
    const changed = this.#insert(found, {
      ...this.systemEntry('audit.trail.changed'),
      outcome: 'failure',
      reason: 'tampered',
      details: { expectedSeq: this.#tip.seq, foundSeq: found.seq },
    });
    return [changed, this.#insert(changed, checked)];
  }

  /**
   * Appends the entry as append() does, with the others of its group (group_commit.ts: those of
   * the same turn of the event loop, and under load of the turns until the group is due): one
   * transaction for them all, each in a savepoint of its own (one refused does not
   * undo the others). Resolves with the record once that transaction has committed.
   */
  appendDurably(entry: AuditEntry): Promise<AuditRecord> {
    return this.#group.run(() => this.append(entry));
  }

  #insert(tip: { seq: number; mac: string }, entry: AuditEntry): AuditRecord {
    const details = canonicalDetails(entry.details);
    const fields = { ...entry, seq: tip.seq + 1 };
    const mac = chainMac(this.#keys.hmac, tip.mac, canonicalRecord(fields, details));
    this.#db.insertRecord({ ...fields, details, mac });
    return { ...fields, mac };
  }

  /**
   * Runs `work` in one audit.db transaction: the records it appends are written with one
   * sync to disk, and are announced (and counted towards a checkpoint) once committed. If
   * `work` throws, none of them stays.
   */
  batch<T>(work: () => T): T {
    if (this.#pending) return work();
    const tip = this.#tip;
    this.#pending = [];
    let result: T;
    try {
      result = this.#db.transaction(work);
    } catch (error) {
      this.#tip = tip;
      throw error;
    } finally {
      const pending = this.#pending;
      this.#pending = undefined;
      if (this.#tip !== tip) this.#appended(pending);
    }
    return result;
  }

  recordsAfter(after: number, limit: number): AuditRecord[] {
    return this.find({ after, limit });
  }

  find(filter: RecordFilter): AuditRecord[] {
    return this.#db.find(filter).map(recordOf);
  }

  lastSeq(): number {
    return this.#tip.seq;
  }

  onAppend(listener: (record: AuditRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The newest checkpoint, signed now if records came after the last one; undefined for an empty trail. */
  checkpoint(): AuditCheckpoint | undefined {
    if (this.#tip.seq > this.#lastCheckpointSeq) this.#checkpointNow();
    const point = this.#db.lastCheckpoint();
    return point && this.exported(point);
  }

  /** A checkpoint as an auditor keeps it: with the public key that checks it. */
  exported(point: Checkpoint): AuditCheckpoint {
    return {
      format: CHECKPOINT_FORMAT,
      ...point,
      publicKey: this.#keys.publicKeyPem,
      publicKeyFingerprint: this.#keys.publicKeyFingerprint,
    };
  }

  verify(given?: AuditCheckpoint): AuditVerification {
    return verifyTrail(this.#db, this.#keys, given);
  }

  /** Signs a last checkpoint when records came since the one before, and closes audit.db. */
  close(): void {
    if (this.#closed) return;
    this.#group.flush();
    clearInterval(this.#timer);
    this.#checkpointQuietly();
    this.#closed = true;
    this.#listeners.clear();
    this.#db.close();
  }

  #appended(records: AuditRecord[]): void {
    for (const record of records) {
      for (const listener of this.#listeners) {
        try {
          listener(record);
        } catch (error) {
          this.#log(`an audit trail reader failed on record ${record.seq}: ${(error as Error).message}`);
        }
      }
    }
    if (this.#tip.seq - this.#lastCheckpointSeq >= this.#every) this.#checkpointQuietly();
  }

  #checkpointNow(): void {
    const point = signCheckpoint(this.#keys.signing, { ...this.#tip, time: this.#now() });
    this.#db.insertCheckpoint(point);
    this.#lastCheckpointSeq = point.seq;
  }

  // A checkpoint that fails costs only the next one's coverage: the records are kept.
  #checkpointQuietly(): void {
    if (this.#closed || this.#pending || this.#tip.seq <= this.#lastCheckpointSeq) return;
    try {
      this.#checkpointNow();
    } catch (error) {
      this.#log(`cannot sign an audit checkpoint at record ${this.#tip.seq}: ${(error as Error).message}`);
    }
  }
}

/**
 * Verifies the trail of a data directory without a running manager (a stopped one's, or a
 * copy): audit.db read only, its keys unwrapped with the master key.
 */
export function verifyAuditFile(
  dataDir: string,
  master: MasterKey,
  given?: AuditCheckpoint,
): AuditVerification {
  const db = AuditDb.openReadOnly(path.join(dataDir, AUDIT_DB_FILE));
  try {
    return verifyTrail(db, loadAuditKeys(db, master, { create: false }).keys, given);
  } finally {
    db.close();
  }
}
