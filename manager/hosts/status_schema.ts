// What a host may report of its guard points (POST /v1/hosts/self/status), as one schema:
// the OpenAPI document shows it and Ajv checks every report against it. A report is taken
// whole or refused whole, with the first bad field named by its JSON pointer.
import { Ajv } from 'ajv';

import { ManagerError } from '../../manager-client/errors.js';
import { TRANSFORMATION_STATES, type GuardPointStatus } from '../../manager-client/types.js';
import { explainSchemaError } from './schema_errors.js';

export const MAX_STATUS_GUARD_POINTS = 1000;
export const MAX_STATUS_KEY_VERSIONS = 10_000;
/** Up to 1,000 guard points, each with up to 10,000 key versions: larger than other requests. */
export const MAX_STATUS_BYTES = 4 * 1024 * 1024;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const NO_NUL = '^[^\\u0000]*$';
const count = (title: string) => ({ type: 'integer', minimum: 0, maximum: 2 ** 53, title });
const message = { type: 'string', maxLength: 1000, pattern: NO_NUL, title: 'a message without NUL' };

export const GUARD_POINT_TRANSFORMATION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  description:
    "the guard point's live data transformation (docs/ldt.md); keyVersions: the key versions its files " +
    "are under after the host's last scan, with counts (what the manager retires versions by)",
  required: [
    'state',
    'filesTotal',
    'filesDone',
    'bytesTotal',
    'bytesDone',
    'etaSeconds',
    'keyVersions',
    'plaintextFiles',
  ],
  properties: {
    state: { type: 'string', enum: [...TRANSFORMATION_STATES] },
    filesTotal: count('a number of files'),
    filesDone: count('a number of files'),
    bytesTotal: count('a number of bytes'),
    bytesDone: count('a number of bytes'),
    etaSeconds: { ...count('a number of seconds'), nullable: true },
    keyVersions: {
      type: 'array',
      maxItems: MAX_STATUS_KEY_VERSIONS,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['keyId', 'version', 'files'],
        properties: {
          keyId: { type: 'string', format: 'uuid' },
          version: { type: 'integer', minimum: 1, maximum: 4294967295, title: 'a key version' },
          files: count('a number of files'),
        },
      },
    },
    plaintextFiles: count('a number of files'),
    message,
  },
} as const;

export const GUARD_POINT_STATUS_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['guardPointId', 'state'],
  properties: {
    guardPointId: { type: 'string', format: 'uuid' },
    state: { type: 'string', enum: ['guarded', 'released', 'failed'] },
    message,
    transformation: GUARD_POINT_TRANSFORMATION_SCHEMA,
  },
} as const;

export const GUARD_POINT_STATUS_REPORT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['guardPoints'],
  properties: {
    guardPoints: { type: 'array', maxItems: MAX_STATUS_GUARD_POINTS, items: GUARD_POINT_STATUS_SCHEMA },
  },
} as const;

const ajv = new Ajv({ strict: true, verbose: true, formats: { uuid: UUID } });
const validate = ajv.compile<{ guardPoints: GuardPointStatus[] }>(GUARD_POINT_STATUS_REPORT_SCHEMA);

/**
 * A host's guard point report, checked (VEIL_REGISTRATION_BAD_REQUEST naming the first bad
 * field by its JSON pointer); ids in lower case. Each guard point once, each key version once
 * per guard point.
 */
export function checkStatusReport(body: unknown): GuardPointStatus[] {
  const refuse = (why: string) =>
    new ManagerError('VEIL_REGISTRATION_BAD_REQUEST', `the guard point report was refused: ${why}`);
  if (!validate(body)) {
    const first = validate.errors?.[0];
    throw refuse(first ? explainSchemaError(first) : 'it is not a guard point report');
  }
  const seen = new Set<string>();
  return body.guardPoints.map((entry, i) => {
    const guardPointId = entry.guardPointId.toLowerCase();
    if (seen.has(guardPointId)) throw refuse(`/guardPoints/${i}/guardPointId: is reported twice`);
    seen.add(guardPointId);
    const t = entry.transformation;
    const versions = new Set<string>();
    const keyVersions = t?.keyVersions.map((k, j) => {
      const keyId = k.keyId.toLowerCase();
      if (versions.has(`${keyId}:${k.version}`)) {
        throw refuse(
          `/guardPoints/${i}/transformation/keyVersions/${j}: ${keyId}:${k.version} is counted twice`,
        );
      }
      versions.add(`${keyId}:${k.version}`);
      return { keyId, version: k.version, files: k.files };
    });
    return {
      guardPointId,
      state: entry.state,
      ...(entry.message === undefined ? {} : { message: entry.message }),
      ...(t && keyVersions ? { transformation: { ...t, keyVersions } } : {}),
    };
  });
}
