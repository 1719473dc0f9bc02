// The OpenAPI paths of SIEM forwarding (siem_routes.ts, docs/siem.md). Part of
// openapi.ts's document; the request body's schema is the one the manager checks.
import { NEW_DESTINATION_SCHEMA } from '../audit/siem/destinations.js';

const error = { $ref: '#/components/responses/Error' };
const admin = [{ admin: [] }, { bearer: [] }];
const name = { name: 'name', in: 'path', required: true, schema: { type: 'string', maxLength: 64 } };

const status = {
  type: 'object',
  description: 'how forwarding goes, as the running manager sees it',
  properties: {
    cursor: { type: 'integer', description: 'every record up to this seq was sent' },
    lastSeq: { type: 'integer', description: "the trail's newest record" },
    lag: { type: 'integer', description: 'records not yet sent' },
    connected: { type: 'boolean' },
    lastSentAt: { type: 'string', format: 'date-time', nullable: true },
    lastError: { type: 'string', nullable: true },
    lastErrorAt: { type: 'string', format: 'date-time', nullable: true },
  },
};

const { from: _from, ...given } = NEW_DESTINATION_SCHEMA.properties;
const destination = {
  type: 'object',
  description: 'a SIEM destination and how forwarding to it goes',
  properties: { ...given, createdAt: { type: 'string', format: 'date-time' }, status },
};
const answer = (description: string) => ({
  description,
  content: { 'application/json': { schema: destination } },
});

export const SIEM_PATHS = {
  '/v1/siem/destinations': {
    get: {
      summary: 'every SIEM destination the audit trail is forwarded to, with its status',
      security: admin,
      responses: {
        '200': {
          description: 'the destinations, by name',
          content: { 'application/json': { schema: { type: 'array', items: destination } } },
        },
        '401': error,
      },
    },
    post: {
      summary:
        'a new SIEM destination: the trail is sent to it from its first record (from: start) or from now on',
      security: admin,
      requestBody: { required: true, content: { 'application/json': { schema: NEW_DESTINATION_SCHEMA } } },
      responses: { '201': answer('the destination'), '400': error, '401': error, '409': error },
    },
  },
  '/v1/siem/destinations/{name}': {
    get: {
      summary: 'one SIEM destination and its status',
      security: admin,
      parameters: [name],
      responses: { '200': answer('the destination'), '401': error, '404': error },
    },
    delete: {
      summary: 'stop forwarding to a SIEM destination and forget it and its cursor',
      security: admin,
      parameters: [name],
      responses: { '200': answer('the destination removed'), '401': error, '404': error },
    },
  },
};
