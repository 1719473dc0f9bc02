// An audit record in ArcSight's Common Event Format (CEF 0), as the MSG of an RFC 5424
// message with no structured data. The header names the device (Veil, veil-manager, the
// package version), the action as signature id, a short name and a severity; the
// extension carries the fields under CEF's own keys where one fits (rt, suser, spriv, src,
// act, outcome, reason, msg), the rest in labelled custom fields (cn1 seq, cs1 domain, cs2
// mac, cs3 object, cs4 details as JSON). rt, seq and mac come first: a message cut short
// keeps what ties it to the chain.
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

/** CEF severity, 0 to 10: low for a success, medium for a failure. */
export const CEF_SEVERITY = { success: 3, failure: 6 } as const;

/**
 * A header field: '\' and '|' after a backslash. The header may not span lines, so line
 * breaks become spaces.
 */
export function escapeCefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(/\r\n|[\r\n]/g, ' ');
}

/** An extension value: '\' and '=' after a backslash, line breaks as \n and \r. */
export function escapeCefValue(value: string): string {
  return value.replace(/[\\=\r\n]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
}

/** The extension's pairs, in order; empty values are left out. */
export function cefExtension(record: AuditRecord, sender: Sender): [string, string][] {
  const pairs: [string, string][] = [
    ['rt', String(record.time)],
    ['cn1Label', 'seq'],
    ['cn1', String(record.seq)],
    ['cs2Label', 'mac'],
    ['cs2', record.mac],
    ['suser', record.actor],
    ['spriv', record.role],
    ['cs1Label', 'domain'],
    ['cs1', record.domain],
    ['act', record.action],
    ['cat', actionCategory(record.action)],
    ['outcome', record.outcome],
    ['reason', record.reason],
    // src holds an address only; "local" and such go in shost.
    [isIP(record.source) ? 'src' : 'shost', record.source],
    ['dvchost', sender.hostname],
    ['dvcpid', sender.procId],
    ['msg', summary(record)],
  ];
  if (record.object !== '') pairs.push(['cs3Label', 'object'], ['cs3', record.object]);
  if (Object.keys(record.details).length > 0) {
    pairs.push(['cs4Label', 'details'], ['cs4', JSON.stringify(record.details)]);
  }
  return pairs.filter(([, value]) => value !== '');
}

export function formatCef(record: AuditRecord, sender: Sender): string {
  const header = [
    'CEF:0',
    VENDOR,
    APP_NAME,
    PRODUCT_VERSION,
    record.action,
    `${record.action} ${record.outcome}`,
    String(CEF_SEVERITY[record.outcome]),
  ]
    .map((field, i) => (i === 0 ? field : escapeCefHeader(field)))
    .join('|');
  const extension = cefExtension(record, sender)
    .map(([key, value]) => `${key}=${escapeCefValue(value)}`)
    .join(' ');
  // "-": no structured data; the CEF text is the whole MSG, without a BOM, which CEF
  // readers would take for part of "CEF:".
  return `${syslogHeader(record, sender)} - ${header}|${extension}`;
}
