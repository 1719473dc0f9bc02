// The audit trail's bytes (docs/audit.md): the canonical encoding of a record, the HMAC
// chain over those encodings, and the message a checkpoint signs. Written down exactly so
// that another implementation can recompute a chain from an export and its key.
import { createHmac, sign, verify, type KeyObject } from 'node:crypto';

import type { AuditEntry, AuditRecord } from './audit_record.js';

/** What record 1 is chained to: 32 zero bytes. */
export const GENESIS_MAC = '0'.repeat(64);

export const CHECKPOINT_FORMAT = 'veil-audit-checkpoint/1';

/** The fields of a record in the order the encoding puts them; details come last. */
export const RECORD_FIELDS = [
  'seq',
  'time',
  'actor',
  'role',
  'domain',
  'action',
  'object',
  'outcome',
  'reason',
  'source',
] as const;

type RecordField = (typeof RECORD_FIELDS)[number];

/** A record's fields as stored, before anything is believed about their types. */
export type StoredFields = Record<RecordField, unknown>;

/**
 * The details object with its names in code-unit order, as JSON without spaces: how the
 * details are stored, and what the record's encoding embeds verbatim.
 */
export function canonicalDetails(details: AuditEntry['details']): string {
  const names = Object.keys(details).sort();
  return `{${names.map((name) => `${JSON.stringify(name)}:${JSON.stringify(details[name])}`).join(',')}}`;
}

/**
 * A record without its mac: {"seq":…,"time":…,…,"source":…,"details":{…}} with the
 * fields in RECORD_FIELDS order, each value as JSON.stringify writes it, no spaces.
 * `details` is the stored canonical text: a stored record is encoded from exactly the
 * bytes kept, so that any changed byte changes the encoding.
 */
export function canonicalRecord(fields: StoredFields, details: string): string {
  const parts = RECORD_FIELDS.map((name) => `${JSON.stringify(name)}:${JSON.stringify(fields[name])}`);
  return `{${parts.join(',')},"details":${details}}`;
}

/** HMAC-SHA256(key, previous mac (32 bytes) || UTF-8 of the encoding), as lower-case hex. */
export function chainMac(key: KeyObject, previousMac: string, encoding: string): string {
  return createHmac('sha256', key)
    .update(Buffer.from(previousMac, 'hex'))
    .update(encoding, 'utf8')
    .digest('hex');
}

/** The mac a record should carry, given the mac of the one before it. */
export function recordMac(key: KeyObject, previousMac: string, record: Omit<AuditRecord, 'mac'>): string {
  return chainMac(key, previousMac, canonicalRecord(record, canonicalDetails(record.details)));
}

/** A signed statement that the trail reached `seq`, whose record has `mac`, at `time`. */
export interface Checkpoint {
  seq: number;
  mac: string;
  /** ms since the epoch. */
  time: number;
  /** Ed25519 over checkpointMessage, base64. */
  signature: string;
}

/** What a checkpoint's signature covers: {"format":"veil-audit-checkpoint/1","seq":…,"mac":…,"time":…}. */
export function checkpointMessage({ seq, mac, time }: Omit<Checkpoint, 'signature'>): Buffer {
  return Buffer.from(
    `{"format":${JSON.stringify(CHECKPOINT_FORMAT)},"seq":${JSON.stringify(seq)},` +
      `"mac":${JSON.stringify(mac)},"time":${JSON.stringify(time)}}`,
    'utf8',
  );
}

export function signCheckpoint(signingKey: KeyObject, point: Omit<Checkpoint, 'signature'>): Checkpoint {
  return { ...point, signature: sign(null, checkpointMessage(point), signingKey).toString('base64') };
}

export function checkpointSignatureValid(publicKey: KeyObject, point: Checkpoint): boolean {
  try {
    return verify(null, checkpointMessage(point), publicKey, Buffer.from(point.signature, 'base64'));
  } catch {
    return false;
  }
}
