// The shape of the manager's audit trail (docs/audit.md): what is recorded of every
// administrative action and host event, and the two sides of the trail — the log that
// appends and chains records (audit_log.ts) and what reads them in order (SIEM forwarding).
// A record never carries key material: only names, ids, versions and outcomes.

export type AuditOutcome = 'success' | 'failure';

/** One thing that happened, as the code that saw it describes it. */
export interface AuditEntry {
  /** ms since the epoch. */
  time: number;
  /** An administrator's name, "host:<hostId>", "anonymous" or "system". */
  actor: string;
  /** The actor's roles joined by ",", or "host", "public", "system". */
  role: string;
  /** The domain's name ("root" for the root domain). */
  domain: string;
  /** What was done: "METHOD /v1/route/{param}" for API calls, "host.delivery" and such for events. */
  action: string;
  /** What it was done to (a key id, host id, user name…), "" when nothing in particular. */
  object: string;
  outcome: AuditOutcome;
  /** The error code of a failure; "" on success. */
  reason: string;
  /** The caller's address, or "local" for the manager's own work. */
  source: string;
  /** A few more facts (key version, event type…): short strings and numbers only. */
  details: Readonly<Record<string, string | number | boolean>>;
}

/** An entry once appended: numbered without gaps from 1 and chained to the one before. */
export interface AuditRecord extends AuditEntry {
  seq: number;
  /** HMAC-SHA256 (hex) over this record and the previous record's mac. */
  mac: string;
}

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
