// The record a restore leaves in the audit trail (docs/audit.md, docs/backup.md). The restored
// trail is the backup's and ends where the backup was made: without a word, a restore would look
// like a truncation, and an auditor's checkpoint taken since would simply stop verifying. So the
// restore appends one record to the restored trail — in the staged directory, before the swap, so
// that the data directory holds either the old trail or the restored one with its record — naming
// the backup, the operator, and the end of the trail it replaced.
import { userInfo } from 'node:os';
import path from 'node:path';

import { AUDIT_DB_FILE, AuditDb } from '../audit/audit_db.js';
import { AuditLog } from '../audit/audit_log.js';
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
  /** The restored manager numbers each host's next delivery above this. */
  deliverySequenceFloor: number;
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

/** Where the trail being replaced had got to: the records after the backup that the restore drops. */
function replacedTrail(dataDir: string): Details {
  let db: AuditDb | undefined;
  try {
    db = AuditDb.openReadOnly(path.join(dataDir, AUDIT_DB_FILE));
    const end = db.tip();
    return end ? { replacedTrailSeq: end.seq, replacedTrailMac: end.mac } : { replacedTrailSeq: 0 };
  } catch (error) {
    return { replacedTrailError: (error as Error).message.slice(0, 500) };
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
    ...(facts.replaced ? replacedTrail(facts.dataDir) : {}),
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
