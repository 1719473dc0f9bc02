// The record a restore leaves in the audit trail (docs/audit.md, docs/backup.md). The restored
// trail is the backup's and ends where the backup was made: without a word, a restore would look
// like a truncation, and an auditor's checkpoint taken since would simply stop verifying. So the
// restore appends one record to the restored trail — in the staged directory, before the swap, so
// that the data directory holds either the old trail or the restored one with its record — naming
// the backup, the operator, and the end of the trail it replaced.
import { userInfo } from 'node:os';
import path from 'node:path';

import { AUDIT_DB_FILE, AuditDb } from '../audit/audit_db.js';
import { AuditLog, recordOf } from '../audit/audit_log.js';
import type { AuditEntry } from '../audit/audit_record.js';
import { openFileMasterKey } from '../keys/master_key.js';

export interface RestoreFacts {
  backupFile: string;
  backupKeyId: string;
  /** When the backup was made (ISO 8601, from its header). */
  createdAt: string;
  caFingerprint: string;
  /** The data directory restored into. */
  dataDir: string;
  /** Whether a manager's data was there, and is replaced. */
  replaced: boolean;
  /** When it was, how far its trail had got (ReplacedTrail.end). */
  replacedTrail?: Details;
  /** The restored manager numbers each host's next delivery above this. */
  deliverySequenceFloor: number;
  /** Versions destroyed in the replaced manager that the backup brings back (`keyId/version`). */
  destroyedVersionsBack: string[];
}

type Details = AuditEntry['details'];

/** A path as a record's field holds it: whole, or its end when longer than the field allows. */
const tail = (text: string, most: number): string =>
  text.length <= most ? text : `…${text.slice(text.length - most + 1)}`;

/** The OS user running the restore: a restore is an operator's act at the machine, not an API call. */
function operator(): string {
  try {
    return `os:${userInfo().username}`;
  } catch {
    return `os:uid-${process.getuid?.() ?? 'unknown'}`; // no passwd entry for this uid
  }
}

/** The action of a key version's destruction in the trail (the route, as audit_hook.ts names it). */
const DESTROY_ACTION = 'POST /v1/keys/{keyId}/versions/{version}/destroy';
const PAGE = 1000;

/** What a restore reads of the trail of the manager it replaces. */
export interface ReplacedTrail {
  /** For the record: how far it had got (the records after the backup the restore drops). */
  end: Details;
  /**
   * The key versions (`keyId/version`) it records as destroyed: a backup made before a
   * destruction brings the version's material back (NIST SP 800-57 §8.3.4 wants it gone).
   */
  destroyed: Set<string>;
}

/** Reads the trail in `dataDir` once; one that does not open says so in `end`. */
export function readReplacedTrail(dataDir: string): ReplacedTrail {
  const destroyed = new Set<string>();
  let db: AuditDb | undefined;
  try {
    db = AuditDb.openReadOnly(path.join(dataDir, AUDIT_DB_FILE));
    const tip = db.tip();
    for (let after = 0; ;) {
      const records = db
        .find({ action: DESTROY_ACTION, outcome: 'success', after, limit: PAGE })
        .map(recordOf);
      for (const { object, details } of records) destroyed.add(`${object}/${String(details.version)}`);
      const last = records.at(-1);
      if (records.length < PAGE || last === undefined) break;
      after = last.seq;
    }
    const end: Details = tip
      ? { replacedTrailSeq: tip.seq, replacedTrailMac: tip.mac }
      : { replacedTrailSeq: 0 };
    return { end, destroyed };
  } catch (error) {
    return { end: { replacedTrailError: (error as Error).message.slice(0, 500) }, destroyed };
  } finally {
    db?.close();
  }
}

/**
 * Appends the `backup.restore` record to the trail staged in `staging`, chained to the backup's last
 * record; answers its seq. Throws when it cannot: a restore that cannot say so in the trail does not
 * happen.
 */
export function recordRestore(staging: string, facts: RestoreFacts): number {
  const details: Details = {
    backupFile: tail(path.resolve(facts.backupFile), 2048),
    backupKeyId: facts.backupKeyId,
    backupCreatedAt: facts.createdAt,
    caFingerprint: facts.caFingerprint,
    replaced: facts.replaced,
    deliverySequenceFloor: facts.deliverySequenceFloor,
    ...(facts.destroyedVersionsBack.length > 0
      ? {
          destroyedVersionsBack: tail(facts.destroyedVersionsBack.join(' '), 2048),
          destroyedVersionsBackCount: facts.destroyedVersionsBack.length,
        }
      : {}),
    ...facts.replacedTrail,
  };
  const master = openFileMasterKey(path.join(staging, 'master.key'), { create: false });
  const trail = AuditLog.open(staging, master);
  try {
    return trail.append({
      ...trail.systemEntry('backup.restore', tail(facts.dataDir, 1024)),
      actor: operator(),
      role: 'local',
      details,
    }).seq;
  } finally {
    trail.close();
  }
}
