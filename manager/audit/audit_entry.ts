// What an entry may hold before it is chained: the fields of audit_record.ts with their
// types, bounded lengths, and details of short plain values under names that are not those
// of secrets. The callers never put key material in an entry; this refuses the obvious
// slips (a detail called "password", "token" or "material") instead of recording them.
import type { AuditEntry } from './audit_record.js';

const MAX_FIELD = 1024;
const MAX_DETAILS = 32;
const MAX_DETAIL_VALUE = 2048;

const SECRET_NAMES = /^(?:material|password|secret|token|apikey|wrapped|wrappingkey|privatekey|blob|key)$/i;

const TEXT_FIELDS = ['actor', 'role', 'domain', 'action', 'object', 'reason', 'source'] as const;

function refuse(message: string): never {
  // A programming error of the manager, not of a request: answered as an internal failure.
  throw new Error(`audit entry refused: ${message}`);
}

/** The entry, checked, with its details copied. */
export function checkEntry(entry: AuditEntry): AuditEntry {
  if (!Number.isSafeInteger(entry.time) || entry.time < 0) refuse('time is ms since the epoch');
  for (const field of TEXT_FIELDS) {
    const value = entry[field];
    if (typeof value !== 'string' || value.length > MAX_FIELD) {
      refuse(`${field} is a string of at most ${MAX_FIELD} characters`);
    }
  }
  if (entry.outcome !== 'success' && entry.outcome !== 'failure') refuse('outcome is success or failure');
  const names = Object.keys(entry.details);
  if (names.length > MAX_DETAILS) refuse(`at most ${MAX_DETAILS} details`);
  const details: Record<string, string | number | boolean> = {};
  for (const name of names) {
    if (SECRET_NAMES.test(name)) refuse(`a detail may not be called ${name}`);
    const value = entry.details[name];
    if (
      typeof value === 'string'
        ? value.length > MAX_DETAIL_VALUE
        : typeof value === 'number'
          ? !Number.isFinite(value)
          : typeof value !== 'boolean'
    ) {
      refuse(
        `detail ${name} is a string of at most ${MAX_DETAIL_VALUE} characters, a finite number or a boolean`,
      );
    }
    details[name] = value;
  }
  return {
    time: entry.time,
    actor: entry.actor,
    role: entry.role,
    domain: entry.domain,
    action: entry.action,
    object: entry.object,
    outcome: entry.outcome,
    reason: entry.reason,
    source: entry.source,
    details,
  };
}
