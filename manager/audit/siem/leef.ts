// An audit record in IBM QRadar's Log Event Extended Format, 1.0 (attributes separated by
// tabs) or 2.0 (the separator named in the header: here "^"), as the MSG of an RFC 5424
// message with no structured data. Attributes use LEEF's predefined keys where one fits
// (devTime, cat, sev, usrName, role, domain, resource, src), the rest under their own
// names. devTime, seq and mac come first: a message cut short keeps what ties it to the
// chain.
import { isIP } from 'node:net';

import type { AuditRecord } from '../audit_record.js';
import {
  APP_NAME,
  PRODUCT_VERSION,
  type Sender,
  VENDOR,
  actionCategory,
  summary,
  syslogHeader,
} from './syslog_header.js';

/** LEEF 2.0's attribute separator. */
export const LEEF2_DELIMITER = '^';
/** devTime's format, in Java's SimpleDateFormat as QRadar reads it: ISO 8601 in UTC. */
export const LEEF_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX";
/** LEEF severity, 1 to 10. */
export const LEEF_SEVERITY = { success: 3, failure: 6 } as const;

/** A header field: '\' and '|' after a backslash; line breaks become spaces. */
export function escapeLeefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(/\r\n|[\r\n]/g, ' ');
}

/**
 * An attribute value: '\' and the separator after a backslash (a tab as \t), line breaks
 * as \n and \r. '=' stays: a value runs from the first '=' to the next separator.
 */
export function escapeLeefValue(value: string, delimiter: string): string {
  const special = (c: string) =>
    c === '\\' || c === '\n' || c === '\r' || c === delimiter || (c === '\t' && delimiter === '\t');
  let out = '';
  for (const c of value) {
    if (!special(c)) out += c;
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else out += `\\${c}`;
  }
  return out;
}

/** The attributes, in order; empty values are left out. */
export function leefAttributes(record: AuditRecord): [string, string][] {
  const pairs: [string, string][] = [
    ['devTime', new Date(record.time).toISOString()],
    ['devTimeFormat', LEEF_TIME_FORMAT],
    ['seq', String(record.seq)],
    ['mac', record.mac],
    ['cat', actionCategory(record.action)],
    ['sev', String(LEEF_SEVERITY[record.outcome])],
    ['usrName', record.actor],
    ['role', record.role],
    ['domain', record.domain],
    ['action', record.action],
    ['resource', record.object],
    ['outcome', record.outcome],
    ['reason', record.reason],
    ['source', record.source],
    ['msg', summary(record)],
  ];
  if (isIP(record.source)) pairs.push(['src', record.source]);
  if (Object.keys(record.details).length > 0) pairs.push(['details', JSON.stringify(record.details)]);
  return pairs.filter(([, value]) => value !== '');
}

export function formatLeef(record: AuditRecord, sender: Sender, version: '1.0' | '2.0'): string {
  const delimiter = version === '1.0' ? '\t' : LEEF2_DELIMITER;
  const header = [
    `LEEF:${version}`,
    ...[VENDOR, APP_NAME, PRODUCT_VERSION, record.action].map(escapeLeefHeader),
    ...(version === '2.0' ? [delimiter] : []),
  ].join('|');
  const attributes = leefAttributes(record)
    .map(([key, value]) => `${key}=${escapeLeefValue(value, delimiter)}`)
    .join(delimiter);
  return `${syslogHeader(record, sender)} - ${header}|${attributes}`;
}
