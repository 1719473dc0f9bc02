// The SIEM destinations: checked when an administrator adds one (the request's schema, then
// what a schema cannot say: TLS files only for TLS, each file readable and holding what it
// should), and kept in siem/destinations.json in the data directory (0600, written whole
// or not at all), checked again against its schema whenever it is read.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { createSecureContext } from 'node:tls';

import { Ajv, type ErrorObject } from 'ajv';

import { writeFileAtomically } from '../../../common/files.js';
import { ManagerError } from '../../../manager-client/errors.js';
import {
  SIEM_FORMATS,
  SIEM_TRANSPORTS,
  SYSLOG_FACILITIES,
  type NewSiemDestination,
  type SiemDestinationView,
  type SyslogFacility,
} from '../../../manager-client/types.js';

/** A destination as it is kept: its view without the status. */
export type SiemDestination = Omit<SiemDestinationView, 'status'>;

export const SIEM_DIR = 'siem';
export const DESTINATIONS_FILE = 'destinations.json';
export const DEFAULT_FACILITY: SyslogFacility = 'authpriv';

/** Also a cursor file's name (siem/<name>.cursor): no dots, no slashes. */
export const NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const file = { type: 'string', minLength: 2, maxLength: 4096, pattern: '^/[^\\u0000]*$' };

const PROPERTIES = {
  name: { type: 'string', pattern: NAME_PATTERN },
  transport: { type: 'string', enum: SIEM_TRANSPORTS },
  host: { type: 'string', minLength: 1, maxLength: 253 },
  port: { type: 'integer', minimum: 1, maximum: 65535 },
  format: { type: 'string', enum: SIEM_FORMATS },
  facility: { type: 'string', enum: SYSLOG_FACILITIES },
  caFile: file,
  certFile: file,
  keyFile: file,
  maxMessageBytes: { type: 'integer', minimum: 480, maximum: 65000 },
};

/** POST /v1/siem/destinations's body (the OpenAPI document shows it). */
export const NEW_DESTINATION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'transport', 'host', 'port', 'format'],
  properties: { ...PROPERTIES, from: { type: 'string', enum: ['start', 'now'] } },
};

const STORED_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['version', 'destinations'],
  properties: {
    version: { type: 'integer', enum: [1] },
    destinations: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'transport', 'host', 'port', 'format', 'facility', 'createdAt'],
        properties: { ...PROPERTIES, createdAt: { type: 'string', maxLength: 64 } },
      },
    },
  },
};

const ajv = new Ajv({ strict: true, allErrors: false });
const validateNew = ajv.compile<NewSiemDestination>(NEW_DESTINATION_SCHEMA);
const validateStored = ajv.compile<{ version: 1; destinations: SiemDestination[] }>(STORED_SCHEMA);

function explain(errors: ErrorObject[] | null | undefined): string {
  const error = errors?.[0];
  if (!error) return 'it is not valid';
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties')
    return `${String(params.additionalProperty)} is not a field here`;
  if (error.keyword === 'required') return `${String(params.missingProperty)} is missing`;
  const field = error.instancePath.replace(/^\//, '') || 'the destination';
  if (error.keyword === 'pattern' && /(^|\/)name$/.test(field)) {
    return `${field} is 1 to 64 of a-z, 0-9, "-" and "_", starting with a letter or digit`;
  }
  if (error.keyword === 'pattern' && /File$/.test(field)) {
    return `${field} must be an absolute path on the manager's machine`;
  }
  const allowed = error.keyword === 'enum' ? `: ${(params.allowedValues as unknown[]).join(', ')}` : '';
  return `${field} ${error.message ?? 'is not valid'}${allowed}`;
}

const bad = (message: string) => new ManagerError('VEIL_SIEM_BAD_REQUEST', message);

function readFile(file: string, field: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw bad(`${field} ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/**
 * The TLS files, read as the connection will read them. Messages name the file, never
 * what it holds.
 */
function checkTlsFiles({ caFile, certFile, keyFile }: NewSiemDestination): void {
  const pem = readFile(caFile ?? '', 'caFile');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  try {
    if (blocks.length === 0) throw new Error('none');
    for (const block of blocks) new X509Certificate(block);
  } catch {
    throw bad(`caFile ${caFile ?? ''} holds no usable PEM certificate`);
  }
  if (certFile === undefined || keyFile === undefined) return;
  const cert = readFile(certFile, 'certFile');
  const key = readFile(keyFile, 'keyFile');
  try {
    new X509Certificate(cert);
  } catch {
    throw bad(`certFile ${certFile} holds no usable PEM certificate`);
  }
  try {
    createPrivateKey(key);
  } catch {
    throw bad(`keyFile ${keyFile} holds no usable unencrypted PEM private key`);
  }
  try {
    createSecureContext({ cert, key });
  } catch {
    throw bad(`the key in ${keyFile} is not the key of the certificate in ${certFile}`);
  }
}

/** A new destination from a request body, checked; its TLS files read once. */
export function checkNewDestination(
  body: unknown,
  now = new Date(),
): { destination: SiemDestination; from: 'start' | 'now' } {
  if (!validateNew(body)) throw bad(explain(validateNew.errors));
  const given = body;
  if (isIP(given.host) === 0 && !HOST_NAME.test(given.host)) {
    throw bad(`host is a host name or an IP address, not ${JSON.stringify(given.host)}`);
  }
  const tlsFiles = (['caFile', 'certFile', 'keyFile'] as const).filter((f) => given[f] !== undefined);
  if (given.transport !== 'tls' && tlsFiles.length > 0) {
    throw bad(`${tlsFiles.join(', ')}: only for the tls transport`);
  }
  if (given.transport === 'tls' && given.caFile === undefined) {
    throw bad("the tls transport needs caFile: the CA certificate the receiver's certificate chains to");
  }
  if ((given.certFile === undefined) !== (given.keyFile === undefined)) {
    throw bad('a client certificate needs both certFile and keyFile');
  }
  if (given.transport !== 'udp' && given.maxMessageBytes !== undefined) {
    throw bad('maxMessageBytes is only for udp: over tcp and tls a message goes whole');
  }
  if (given.transport === 'tls') checkTlsFiles(given);
  const { from = 'start', facility = DEFAULT_FACILITY, ...rest } = given;
  return { destination: { ...rest, facility, createdAt: now.toISOString() }, from };
}

/** siem/ in the data directory, made 0700 when missing. */
export function siemDir(dataDir: string): string {
  const dir = path.join(dataDir, SIEM_DIR);
  if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
  return dir;
}

/** The kept destinations; none when the file does not exist yet. */
export function loadDestinations(dataDir: string): SiemDestination[] {
  const file = path.join(dataDir, SIEM_DIR, DESTINATIONS_FILE);
  if (!existsSync(file)) return [];
  let stored: unknown;
  try {
    stored = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ManagerError(
      'VEIL_SIEM_UNAVAILABLE',
      `${file} cannot be read as JSON: ${(error as Error).message}`,
    );
  }
  if (!validateStored(stored)) {
    throw new ManagerError(
      'VEIL_SIEM_UNAVAILABLE',
      `${file} is not a valid destination list: ${explain(validateStored.errors)}`,
    );
  }
  return stored.destinations;
}

export function saveDestinations(dataDir: string, destinations: SiemDestination[]): void {
  const file = path.join(siemDir(dataDir), DESTINATIONS_FILE);
  try {
    writeFileAtomically(file, `${JSON.stringify({ version: 1, destinations }, null, 2)}\n`, 0o600);
  } catch (error) {
    throw new ManagerError('VEIL_SIEM_UNAVAILABLE', `cannot write ${file}: ${(error as Error).message}`);
  }
}
