// The OpenAPI paths of backups (backup_routes.ts, docs/backup.md). Part of openapi.ts's
// document.
import { MAX_BACKUP_BYTES } from '../../manager-client/types.js';

const error = { $ref: '#/components/responses/Error' };
const admin = [{ admin: [] }, { bearer: [] }];
const jsonBody = (schema: object) => ({ required: true, content: { 'application/json': { schema } } });
const backupKey = {
  type: 'object',
  properties: {
    backupKeyId: { type: 'string', format: 'uuid' },
    createdAt: { type: 'string', format: 'date-time' },
  },
};
const keyFile = {
  type: 'object',
  description: 'the backup key wrapped under the passphrase: scrypt, then AES-256-GCM (docs/backup.md)',
  properties: {
    format: { type: 'string', enum: ['veil-backup-key'] },
    version: { type: 'integer', enum: [1] },
    backupKeyId: { type: 'string', format: 'uuid' },
    createdAt: { type: 'string', format: 'date-time' },
    caFingerprint: { type: 'string' },
    kdf: {
      type: 'object',
      properties: {
        name: { type: 'string', enum: ['scrypt'] },
        N: { type: 'integer' },
        r: { type: 'integer' },
        p: { type: 'integer' },
        salt: { type: 'string', format: 'byte' },
      },
    },
    cipher: { type: 'string', enum: ['aes-256-gcm'] },
    nonce: { type: 'string', format: 'byte' },
    wrappedKey: { type: 'string', format: 'byte' },
  },
};

export const BACKUP_PATHS = {
  '/v1/backup-keys': {
    get: {
      summary: 'the backup keys the manager keeps (never their material); root domain only',
      security: admin,
      responses: {
        '200': {
          description: 'the backup keys, oldest first',
          content: { 'application/json': { schema: { type: 'array', items: backupKey } } },
        },
        '401': error,
      },
    },
    post: {
      summary:
        'a new backup key, kept wrapped under the master key and answered once wrapped under the ' +
        'passphrase; root domain only',
      security: admin,
      requestBody: jsonBody({
        type: 'object',
        required: ['passphrase'],
        properties: { passphrase: { type: 'string', minLength: 12, maxLength: 1024 } },
      }),
      responses: {
        '201': { description: 'the key file', content: { 'application/json': { schema: keyFile } } },
        '400': error,
        '401': error,
      },
    },
  },
  '/v1/backups': {
    post: {
      summary:
        'a backup of the whole manager (keys, hosts, CA, policies, guard points, users, domains, audit ' +
        `trail), encrypted under a backup key; at most ${MAX_BACKUP_BYTES} bytes; root domain only`,
      security: admin,
      requestBody: jsonBody({
        type: 'object',
        required: ['backupKeyId'],
        properties: { backupKeyId: { type: 'string', format: 'uuid' } },
      }),
      responses: {
        '200': {
          description: 'the backup file (docs/backup.md, "File format")',
          content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
        },
        '400': error,
        '401': error,
        '404': error,
        '500': error,
      },
    },
  },
};
