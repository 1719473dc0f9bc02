// The shape of the manager's audit trail (docs/audit.md): what is recorded of every
// administrative action and host event, and the two sides of the trail — the log that
// appends and chains records (audit_log.ts) and what reads them in order (SIEM forwarding).
// A record never carries key material: only names, ids, versions and outcomes.
import type { AuditRecordView } from '../../manager-client/types.js';

// The record's fields are the API's (manager-client's AuditRecordView, documented there):
// the trail stores and serves exactly what it is given.

/** One thing that happened, as the code that saw it describes it: a record before its seq and mac. */
export type AuditEntry = Omit<AuditRecordView, 'seq' | 'mac'>;

/** An entry once appended: numbered without gaps from 1 and chained to the one before by its mac. */
export type AuditRecord = AuditRecordView;

/** Reads the trail in order: what a SIEM forwarder follows, from a sequence number it keeps itself. */
export interface AuditRecordSource {
  /** Records with seq > after, oldest first, at most `limit`. */
  recordsAfter(after: number, limit: number): AuditRecord[];
  /** The newest record's seq (0 when the trail is empty). */
  lastSeq(): number;
  /** Called after each append; answers a function that stops the calls. */
  onAppend(listener: (record: AuditRecord) => void): () => void;
}

/** Appends to the trail. */
export interface AuditSink {
  append(entry: AuditEntry): AuditRecord;
}
