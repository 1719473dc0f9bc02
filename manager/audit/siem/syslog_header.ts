// The RFC 5424 header every SIEM message of the manager starts with, whatever its body
// (RFC 5424 structured data, CEF or LEEF): PRI from facility and severity, the record's
// time, the manager's host, APP-NAME, PROCID and MSGID (the action's category).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

import type { SyslogFacility } from '../../../manager-client/types.js';
import type { AuditRecord } from '../audit_record.js';

/** RFC 5424 §6.2.1 facility codes. */
export const FACILITY_CODES: Readonly<Record<SyslogFacility, number>> = {
  user: 1,
  daemon: 3,
  auth: 4,
  authpriv: 10,
  audit: 13,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
};

/** A success is routine (notice, 5); a failure, often a refusal, is worth a look (warning, 4). */
export const SEVERITY = { success: 5, failure: 4 } as const;

export const APP_NAME = 'veil-manager';
export const VENDOR = 'Veil';

/** The version CEF and LEEF headers name: the package's. */
export const PRODUCT_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** What the header says of the sender; the same for every record of one manager. */
export interface Sender {
  hostname: string;
  procId: string;
  facility: SyslogFacility;
}

export function localSender(facility: SyslogFacility): Sender {
  return { hostname: hostname(), procId: String(process.pid), facility };
}

/**
 * A header field as RFC 5424 allows it: PRINTUSASCII (33 to 126) only, at most `max`
 * characters, "-" (NILVALUE) when nothing is left.
 */
export function headerField(value: string, max: number): string {
  const printable = value.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return printable === '' ? '-' : printable;
}

/**
 * The action's category, as MSGID: "api.keys" for "POST /v1/keys/{keyId}/rotate", the
 * first part of a dotted event ("host" for "host.delivery").
 */
export function actionCategory(action: string): string {
  const api = /^[A-Z]+ \/v1\/([^/{}\s]+)/.exec(action);
  const category = api ? `api.${api[1] ?? ''}` : (action.split('.')[0] ?? '');
  return headerField(category, 32);
}

/** "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID", without the space after MSGID. */
export function syslogHeader(record: AuditRecord, sender: Sender): string {
  const pri = FACILITY_CODES[sender.facility] * 8 + SEVERITY[record.outcome];
  return [
    `<${pri}>1`,
    new Date(record.time).toISOString(),
    headerField(sender.hostname, 255),
    APP_NAME,
    headerField(sender.procId, 128),
    actionCategory(record.action),
  ].join(' ');
}

/**
 * One line for people: who did what to what, where, and how it ended. Control characters
 * become spaces so that a line-oriented viewer shows one line; the exact values are in the
 * message's fields.
 */
export function summary(record: AuditRecord): string {
  const what = record.object === '' ? record.action : `${record.action} ${record.object}`;
  const ending = record.outcome === 'success' ? 'success' : `failure ${record.reason}`.trimEnd();
  return `${record.actor} (${record.role}) ${what} in ${record.domain}: ${ending}`.replace(/\p{Cc}/gu, ' ');
}
