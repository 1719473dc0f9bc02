// What a host may report (POST /v1/hosts/self/events), as one schema: the OpenAPI document
// shows it and Ajv checks every batch against it. A batch is taken whole or refused whole,
// with the first bad field named by its JSON pointer.
import { Ajv } from 'ajv';

import { ManagerError } from '../../manager-client/errors.js';
import { HOST_REPORT_TYPES, type HostReport } from '../../manager-client/types.js';
import { explainSchemaError } from './schema_errors.js';

export const MAX_REPORTS_PER_BATCH = 500;
/** A batch of 500 reports with long paths is larger than other requests (docs/protocol.md). */
export const MAX_REPORT_BATCH_BYTES = 4 * 1024 * 1024;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/** ISO 8601 date and time with a zone, every field in range (Date.parse takes 30 February). */
export function isDateTime(text: string): boolean {
  const m = DATE_TIME.exec(text);
  if (!m) return false;
  const [year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map(Number);
  const date = new Date(Date.UTC(year, month - 1, day));
  return (
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    hour < 24 &&
    minute < 60 &&
    second < 60 &&
    (m[7] === undefined || (Number(m[8]) < 24 && Number(m[9]) < 60))
  );
}

const NO_NUL = '^[^\\u0000]*$';
const text = (maxLength: number, title: string, pattern = NO_NUL) => ({
  type: 'string',
  maxLength,
  pattern,
  title,
});
const id = (maximum: number, title: string) => ({ type: 'integer', minimum: 0, maximum, title });

export const ACCESS_DECISION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['policy', 'digest', 'rule', 'action', 'effect', 'applyKey', 'learned', 'gid', 'executable'],
  properties: {
    policy: text(128, 'a policy name', '^[A-Za-z0-9._-]{1,128}$'),
    digest: text(64, 'the SHA-256 of the policy, 64 lower-case hex digits', '^[0-9a-f]{64}$'),
    rule: { ...id(65535, 'the index of a security rule'), nullable: true },
    action: text(32, 'an action name', '^[a-z][a-z0-9_]{0,31}$'),
    effect: { type: 'string', enum: ['permit', 'deny'] },
    applyKey: { type: 'boolean' },
    learned: { type: 'boolean' },
    gid: id(4294967295, 'a group id'),
    executable: text(4096, "the caller's executable"),
  },
} as const;

export const HOST_REPORT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['eventId', 'time', 'type', 'message'],
  properties: {
    eventId: { type: 'string', format: 'uuid' },
    time: { type: 'string', format: 'date-time', maxLength: 64 },
    type: { type: 'string', enum: [...HOST_REPORT_TYPES] },
    guardPoint: text(4096, 'an absolute path', '^/[^\\u0000]*$'),
    path: text(4096, 'a path relative to the guard point', '^(?!/)[^\\u0000]*$'),
    code: text(64, 'an error code: upper-case letters, digits and _', '^[A-Z][A-Z0-9_]{0,63}$'),
    message: text(1024, 'a message'),
    uid: id(4294967295, 'a user id'),
    pid: id(2147483647, 'a process id'),
    access: ACCESS_DECISION_SCHEMA,
  },
} as const;

export const HOST_REPORT_BATCH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['events'],
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_REPORTS_PER_BATCH,
      items: HOST_REPORT_SCHEMA,
    },
  },
} as const;

const ajv = new Ajv({
  strict: true,
  verbose: true,
  formats: { uuid: UUID, 'date-time': isDateTime },
});
// The envelope and each report apart, so that the first bad field is the first in the batch.
const { items: _reports, ...envelopeEvents } = HOST_REPORT_BATCH_SCHEMA.properties.events;
const validateEnvelope = ajv.compile<{ events: unknown[] }>({
  ...HOST_REPORT_BATCH_SCHEMA,
  properties: { events: envelopeEvents },
});
const validateReport = ajv.compile<HostReport>(HOST_REPORT_SCHEMA);

const eventCount = (): string => `must hold 1 to ${MAX_REPORTS_PER_BATCH} events`;

/** The reports of a batch, checked; event ids in lower case, so that dedup ignores case. */
export function checkReportBatch(body: unknown): HostReport[] {
  const refuse = (message: string) =>
    new ManagerError(
      'VEIL_HOST_REPORT_BAD_REQUEST',
      `the batch was refused whole, nothing stored: ${message}`,
    );
  if (!validateEnvelope(body)) {
    const first = validateEnvelope.errors?.[0];
    throw refuse(first ? explainSchemaError(first, '', eventCount) : 'it is not a batch of host events');
  }
  return body.events.map((report, i) => {
    const at = `/events/${i}`;
    if (!validateReport(report)) {
      const first = validateReport.errors?.[0];
      throw refuse(first ? explainSchemaError(first, at, eventCount) : `${at}: is not a host event`);
    }
    // An access event carries its decision; no other event does.
    if (report.type === 'access' && report.access === undefined) {
      throw refuse(`${at}/access: is missing (an access event carries its decision)`);
    }
    if (report.type !== 'access' && report.access !== undefined) {
      throw refuse(`${at}/access: only an access event carries one`);
    }
    return { ...report, eventId: report.eventId.toLowerCase() };
  });
}
