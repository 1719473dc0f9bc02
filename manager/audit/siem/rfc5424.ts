// An audit record as an RFC 5424 syslog message: every field in the structured data
// element veil@32473 (seq and mac first, so that a message cut short keeps what ties it to
// the chain), the details in veilDetails@32473, and a one-line summary as MSG, UTF-8 after
// a BOM (§6.4). 32473 is the private enterprise number RFC 5612 reserves for examples:
// Veil has none of its own.
import type { AuditRecord } from '../audit_record.js';
import { type Sender, summary, syslogHeader } from './syslog_header.js';

export const SD_ID = 'veil@32473';
export const DETAILS_SD_ID = 'veilDetails@32473';

const BOM = '\uFEFF';

/** A PARAM-VALUE (§6.3.3): '"', '\' and ']' each after a backslash; anything else as it is, in UTF-8. */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`);
}

/**
 * An SD-NAME (§6.3.2) made of a detail's key: 1 to 32 PRINTUSASCII other than '=', ' ',
 * ']' and '"'; the others become '_'.
 */
export function paramName(key: string): string {
  const name = key.replace(/[^\x21-\x7e]|[= \]"]/g, '_').slice(0, 32);
  return name === '' ? '_' : name;
}

function element(id: string, params: [string, string][]): string {
  return `[${id}${params.map(([name, value]) => ` ${name}="${escapeParamValue(value)}"`).join('')}]`;
}

/** The record's fields in the order they go out. */
export function recordParams(record: AuditRecord): [string, string][] {
  return [
    ['seq', String(record.seq)],
    ['mac', record.mac],
    ['actor', record.actor],
    ['role', record.role],
    ['domain', record.domain],
    ['action', record.action],
    ['object', record.object],
    ['outcome', record.outcome],
    ['reason', record.reason],
    ['source', record.source],
  ];
}

export function formatRfc5424(record: AuditRecord, sender: Sender): string {
  const details = Object.entries(record.details).map(([key, value]): [string, string] => [
    paramName(key),
    String(value),
  ]);
  const data =
    element(SD_ID, recordParams(record)) + (details.length > 0 ? element(DETAILS_SD_ID, details) : '');
  return `${syslogHeader(record, sender)} ${data} ${BOM}${summary(record)}`;
}
