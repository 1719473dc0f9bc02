// The OpenAPI paths of the audit trail (audit_routes.ts, docs/audit.md). Part of
// openapi.ts's document.
import { CHECKPOINT_FORMAT } from '../audit/audit_chain.js';
import { MAX_AUDIT_LIMIT } from './audit_routes.js';

const error = { $ref: '#/components/responses/Error' };
const admin = [{ admin: [] }, { bearer: [] }];
const json = (schema: object, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const query = (name: string, schema: object, description: string) => ({
  name,
  in: 'query',
  required: false,
  schema,
  description,
});

const record = {
  type: 'object',
  description: 'one audit record: names, ids and outcomes, never key material',
  properties: {
    seq: { type: 'integer', minimum: 1 },
    time: { type: 'integer', description: 'ms since the epoch' },
    actor: { type: 'string', description: 'a user name, host:<hostId>, anonymous or system' },
    role: { type: 'string', description: 'the roles joined by ",", or host, public, system' },
    domain: { type: 'string' },
    action: {
      type: 'string',
      description: 'METHOD /v1/route/{param}, or host.delivery, host.report.<type>…',
    },
    object: { type: 'string' },
    outcome: { type: 'string', enum: ['success', 'failure'] },
    reason: { type: 'string', description: 'the error code of a failure' },
    source: { type: 'string', description: "the caller's address, or local" },
    details: {
      type: 'object',
      additionalProperties: { oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] },
    },
    mac: { type: 'string', description: "HMAC-SHA256 (hex) over the previous record's mac and this record" },
  },
};

const checkpoint = {
  type: 'object',
  required: ['format', 'seq', 'mac', 'time', 'signature', 'publicKey'],
  properties: {
    format: { type: 'string', enum: [CHECKPOINT_FORMAT] },
    seq: { type: 'integer', minimum: 1 },
    mac: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    time: { type: 'integer' },
    signature: { type: 'string', description: 'Ed25519, base64' },
    publicKey: { type: 'string', description: "the trail's Ed25519 public key, PEM" },
    publicKeyFingerprint: { type: 'string' },
  },
};

const verification = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    records: { type: 'integer' },
    checkpoints: { type: 'integer' },
    lastSeq: { type: 'integer' },
    publicKeyFingerprint: { type: 'string' },
    against: { type: 'integer', description: 'the seq of the checkpoint given' },
    firstBad: {
      type: 'object',
      properties: { seq: { type: 'integer' }, problem: { type: 'string' } },
    },
  },
};

const verified = json(verification, 'the verification: ok, or the first bad record');

export const AUDIT_PATHS = {
  '/v1/audit': {
    get: {
      summary:
        "audit records, oldest first (a domain's administrators: that domain's only); every filter optional",
      security: admin,
      parameters: [
        query('after', { type: 'integer', minimum: 0 }, 'only records after this seq'),
        query('since', { type: 'string', format: 'date-time' }, 'only records at or after'),
        query('until', { type: 'string', format: 'date-time' }, 'only records at or before'),
        query('actor', { type: 'string' }, 'exactly this actor'),
        query('action', { type: 'string' }, 'exactly this action, or a prefix ending in *'),
        query('outcome', { type: 'string', enum: ['success', 'failure'] }, 'only this outcome'),
        query('domain', { type: 'string' }, "only this domain's (root domain administrators)"),
        query('limit', { type: 'integer', minimum: 1, maximum: MAX_AUDIT_LIMIT }, 'default 100'),
        query('newest', { type: 'boolean' }, 'the newest `limit` matches instead of the oldest'),
      ],
      responses: {
        '200': json({ type: 'array', items: record }, 'the records'),
        '400': error,
        '401': error,
      },
    },
  },
  '/v1/audit/verify': {
    get: {
      summary: 'recompute the whole chain and check every checkpoint; names the first bad record',
      security: admin,
      responses: { '200': verified, '401': error },
    },
    post: {
      summary: 'verify, and prove the trail still reaches a checkpoint kept before (catches a cut end)',
      security: admin,
      requestBody: {
        required: false,
        content: { 'application/json': { schema: { type: 'object', properties: { checkpoint } } } },
      },
      responses: { '200': verified, '400': error, '401': error },
    },
  },
  '/v1/audit/checkpoint': {
    get: {
      summary: 'the newest signed checkpoint (made now if records came after the last) with the public key',
      security: admin,
      responses: { '200': json(checkpoint, 'the checkpoint, to keep'), '401': error },
    },
  },
};
