// The OpenAPI 3 document of the manager's API, served at /v1/openapi.json. It describes
// the routes of routes.ts; a test holds the two together. Host event reports are checked
// against the very schema shown here (hosts/report_schema.ts).
import {
  HOST_REPORT_BATCH_SCHEMA,
  HOST_REPORT_SCHEMA,
  MAX_REPORTS_PER_BATCH,
} from '../hosts/report_schema.js';
import {
  GUARD_POINT_STATUS_REPORT_SCHEMA,
  GUARD_POINT_STATUS_SCHEMA,
  GUARD_POINT_TRANSFORMATION_SCHEMA,
} from '../hosts/status_schema.js';
import { HOST_REPORT_TYPES } from '../../manager-client/types.js';
import { ACCESS } from './access.js';
import { AUDIT_PATHS } from './openapi_audit.js';
import { BACKUP_PATHS } from './openapi_backup.js';
import { SIEM_PATHS } from './openapi_siem.js';
import { DOMAIN_PATHS } from './openapi_domains.js';
import { USER_PATHS } from './openapi_users.js';

const error = { $ref: '#/components/responses/Error' };
const hostId = { name: 'hostId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const jsonBody = (schema: object) => ({ required: true, content: { 'application/json': { schema } } });
const keyId = { name: 'keyId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const version = { name: 'version', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
const keyAnswer = {
  description: 'the key, all its versions, no material',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Key' } } },
};
const adminKeyCall = (summary: string, body?: object) => ({
  summary,
  security: [{ admin: [] }],
  parameters: [keyId, version],
  ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: body } } } } : {}),
  responses: { '200': keyAnswer, '400': error, '401': error, '404': error, '409': error },
});

const DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 'Veil manager',
    version: '1',
    description:
      'Keys, hosts and registration of a Veil manager. Hosts authenticate with the client certificate ' +
      'issued at registration (mutual TLS); administrators with HTTP Basic over TLS. Each operation ' +
      'names who may call it in x-veil-access: public, host, user (any administrator) or the role it ' +
      'needs (docs/administration.md); an administrator without it is answered 403.',
  },
  components: {
    securitySchemes: {
      admin: { type: 'http', scheme: 'basic' },
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description: 'a session token (POST /v1/login) or an API key',
      },
      host: { type: 'mutualTLS' },
    },
    schemas: {
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
      TokenOptions: {
        type: 'object',
        required: ['lifetimeSeconds', 'maxUses'],
        properties: {
          lifetimeSeconds: { type: 'integer', minimum: 60, maximum: 2592000 },
          maxUses: { type: 'integer', minimum: 1, maximum: 10000 },
          hostGroup: { type: 'string', maxLength: 64 },
          namePrefix: { type: 'string', maxLength: 64 },
        },
      },
      NewToken: {
        type: 'object',
        properties: {
          tokenId: { type: 'string', format: 'uuid' },
          token: { type: 'string', description: 'shown once' },
          expiresAt: { type: 'string', format: 'date-time' },
          maxUses: { type: 'integer' },
        },
      },
      RegistrationRequest: {
        type: 'object',
        required: ['token', 'csr', 'transportPublicKey', 'hostname'],
        properties: {
          token: { type: 'string' },
          csr: { type: 'string', description: 'PKCS#10, PEM' },
          transportPublicKey: { type: 'string', description: 'RSA-3072 SubjectPublicKeyInfo, PEM' },
          hostname: { type: 'string' },
        },
      },
      Registration: {
        type: 'object',
        properties: {
          hostId: { type: 'string', format: 'uuid' },
          hostName: { type: 'string' },
          certificate: { type: 'string', description: 'PEM, for client authentication' },
          caChain: { type: 'array', items: { type: 'string' } },
        },
      },
      NewKey: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string' },
          algorithm: { type: 'string', enum: ['aes-256', 'aes-128'] },
          activationDate: { type: 'string', format: 'date-time' },
          deactivationDate: { type: 'string', format: 'date-time' },
        },
      },
      NewGuardPoint: {
        type: 'object',
        required: ['path', 'policy'],
        properties: {
          path: { type: 'string' },
          policy: { type: 'string' },
          hostId: { type: 'string', format: 'uuid' },
          hostGroup: { type: 'string' },
          automatic: { type: 'boolean' },
        },
      },
      KeyVersion: {
        type: 'object',
        properties: {
          version: { type: 'integer' },
          state: {
            type: 'string',
            enum: ['pre-activation', 'active', 'suspended', 'deactivated', 'compromised', 'destroyed'],
          },
          createdAt: { type: 'string', format: 'date-time' },
          stateChangedAt: { type: 'string', format: 'date-time' },
          activationDate: { type: 'string', format: 'date-time', nullable: true },
          deactivationDate: { type: 'string', format: 'date-time', nullable: true },
          compromiseDate: { type: 'string', format: 'date-time', nullable: true },
          revocationReason: { type: 'string', nullable: true },
          hasMaterial: { type: 'boolean' },
          rekey: {
            type: 'string',
            enum: ['rewrap', 'full'],
            description:
              'how hosts move files to this version when a rotation makes it: rewrap (each file key ' +
              'rewrapped, header only) or full (every file re-encrypted); rewrap for version 1',
          },
          usage: {
            type: 'object',
            description:
              "what still needs the version, by the policies in use and the hosts' last guard point " +
              'reports (docs/keys.md, "Retirement")',
            properties: {
              hostsUsing: {
                type: 'array',
                description: 'hosts whose last report has files under it, with how many',
                items: {
                  type: 'object',
                  properties: {
                    hostId: { type: 'string', format: 'uuid' },
                    files: { type: 'integer', minimum: 1 },
                  },
                },
              },
              hostsPending: {
                type: 'array',
                description:
                  'hosts that keep it: files under it, or a guard point using the key not yet reported idle without it',
                items: { type: 'string', format: 'uuid' },
              },
              destroyable: { type: 'boolean', description: 'whether destroy would be accepted now' },
              reason: {
                type: 'string',
                nullable: true,
                description: 'why not: the refusal destroy would give',
              },
            },
          },
        },
      },
      Key: {
        type: 'object',
        properties: {
          keyId: { type: 'string', format: 'uuid' },
          name: { type: 'string' },
          algorithm: { type: 'string', enum: ['aes-256', 'aes-128'] },
          createdAt: { type: 'string', format: 'date-time' },
          versions: { type: 'array', items: { $ref: '#/components/schemas/KeyVersion' } },
        },
      },
      ManagerCa: {
        type: 'object',
        properties: {
          certificate: { type: 'string', description: 'PEM' },
          fingerprint: {
            type: 'string',
            description: "SHA-256 of the certificate's DER, upper-case hex pairs joined by ':'",
          },
        },
      },
      HostReport: HOST_REPORT_SCHEMA,
      GuardPointTransformation: GUARD_POINT_TRANSFORMATION_SCHEMA,
      GuardPointStatus: GUARD_POINT_STATUS_SCHEMA,
      GuardPointStatusReport: GUARD_POINT_STATUS_REPORT_SCHEMA,
      HostReportBatch: HOST_REPORT_BATCH_SCHEMA,
      HostReportRecord: {
        allOf: [
          { $ref: '#/components/schemas/HostReport' },
          {
            type: 'object',
            properties: {
              hostId: { type: 'string', format: 'uuid' },
              receivedAt: { type: 'string', format: 'date-time' },
            },
          },
        ],
      },
      OfflinePasswordSet: {
        type: 'object',
        required: ['hostId', 'setAt'],
        properties: {
          hostId: { type: 'string', format: 'uuid' },
          password: { type: 'string', description: 'only when the manager made it: shown this once' },
          setAt: { type: 'string', format: 'date-time' },
        },
      },
      OfflineResponse: {
        type: 'object',
        required: ['hostId', 'response'],
        properties: {
          hostId: { type: 'string', format: 'uuid' },
          response: {
            type: 'string',
            pattern: '^[A-Za-z0-9_-]{64}$',
            description: 'base64url without padding of the 48-byte response',
          },
        },
      },
      Host: {
        type: 'object',
        properties: {
          hostId: { type: 'string', format: 'uuid' },
          name: { type: 'string' },
          hostGroup: { type: 'string', nullable: true },
          certificateSerial: {
            type: 'string',
            description: 'lower-case hex in whole octets, as `openssl x509 -serial` shows it',
          },
          certificateNotAfter: { type: 'string', format: 'date-time' },
          registeredAt: { type: 'string', format: 'date-time' },
          lastSeenAt: { type: 'string', format: 'date-time', nullable: true },
          deregisteredAt: { type: 'string', format: 'date-time', nullable: true },
          guardPoints: {
            type: 'array',
            items: {
              allOf: [
                { $ref: '#/components/schemas/GuardPointStatus' },
                {
                  type: 'object',
                  properties: { reportedAt: { type: 'string', format: 'date-time' } },
                },
              ],
            },
            description: 'its last guard point report, as the host sent it, with when it came',
          },
        },
      },
    },
    responses: {
      Error: {
        description: 'refused: the code says why',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    },
  },
  paths: {
    '/v1/openapi.json': {
      get: { summary: 'this document', responses: { '200': { description: 'OpenAPI 3 document' } } },
    },
    '/v1/ca': {
      get: {
        summary:
          "the manager's CA certificate and its SHA-256 fingerprint; no authentication: a host fetches " +
          'it before it trusts anything and pins it by the fingerprint (veil-manager ca show)',
        responses: {
          '200': {
            description: 'the CA',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/ManagerCa' } } },
          },
        },
      },
    },
    '/v1/registration': {
      post: {
        summary: 'register a host with a token, a CSR and its transport key',
        requestBody: jsonBody({ $ref: '#/components/schemas/RegistrationRequest' }),
        responses: {
          '201': {
            description: 'registered',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Registration' } } },
          },
          '400': error,
          '401': error,
          '403': error,
          '409': error,
          '413': error,
        },
      },
    },
    '/v1/tokens': {
      post: {
        summary: 'make a registration token',
        security: [{ admin: [] }],
        requestBody: jsonBody({ $ref: '#/components/schemas/TokenOptions' }),
        responses: {
          '201': {
            description: 'made; the token is shown this once',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/NewToken' } } },
          },
          '400': error,
          '401': error,
        },
      },
    },
    '/v1/hosts': {
      get: {
        summary: 'the host inventory',
        security: [{ admin: [] }],
        responses: {
          '200': {
            description: 'every registered host',
            content: {
              'application/json': {
                schema: { type: 'array', items: { $ref: '#/components/schemas/Host' } },
              },
            },
          },
          '401': error,
        },
      },
    },
    '/v1/keys': {
      get: {
        summary: 'every key, with its versions',
        security: [{ admin: [] }],
        responses: {
          '200': {
            description: 'the keys',
            content: {
              'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/Key' } } },
            },
          },
          '401': error,
        },
      },
      post: {
        summary: 'make a key; version 1 is active at its activation date (default now)',
        security: [{ admin: [] }],
        requestBody: jsonBody({ $ref: '#/components/schemas/NewKey' }),
        responses: { '201': keyAnswer, '400': error, '401': error, '409': error },
      },
    },
    '/v1/keys/import-key': {
      get: {
        summary: "the manager's import key: material comes in only encrypted to it (RSA-OAEP, SHA-256)",
        security: [{ admin: [] }],
        responses: { '200': { description: '{publicKey (PEM), algorithm}' }, '401': error },
      },
    },
    '/v1/keys/import': {
      post: {
        summary:
          'make a key whose version 1 is wrapped material (base64 of RSA-OAEP-SHA256 under the import key)',
        security: [{ admin: [] }],
        requestBody: jsonBody({
          type: 'object',
          required: ['name', 'wrapped'],
          properties: {
            name: { type: 'string' },
            algorithm: { type: 'string', enum: ['aes-256', 'aes-128'] },
            wrapped: { type: 'string', format: 'byte' },
            activationDate: { type: 'string', format: 'date-time' },
            deactivationDate: { type: 'string', format: 'date-time' },
          },
        }),
        responses: { '201': keyAnswer, '400': error, '401': error, '409': error },
      },
    },
    '/v1/keys/{keyId}/versions/{version}/export': {
      post: {
        summary:
          "a version's material, encrypted to the caller's RSA public key (3072 bits or more; OAEP, SHA-256)",
        security: [{ admin: [] }],
        parameters: [keyId, version],
        requestBody: jsonBody({
          type: 'object',
          required: ['wrappingKey'],
          properties: { wrappingKey: { type: 'string', description: 'PEM public key' } },
        }),
        responses: {
          '200': { description: '{keyId, version, algorithm, state, wrapped (base64)}' },
          '400': error,
          '401': error,
          '404': error,
          '409': error,
        },
      },
    },
    ...USER_PATHS,
    ...DOMAIN_PATHS,
    ...AUDIT_PATHS,
    ...BACKUP_PATHS,
    ...SIEM_PATHS,
    '/v1/inventory': {
      get: {
        summary:
          'every key version and certificate with its type, usage, state and dates (NIST SP 800-57 §9.2)',
        security: [{ admin: [] }],
        responses: { '200': { description: '{keys, certificates}' }, '401': error },
      },
    },
    '/v1/keys/{keyId}': {
      get: {
        summary: 'one key',
        security: [{ admin: [] }],
        parameters: [keyId],
        responses: { '200': keyAnswer, '400': error, '401': error, '404': error },
      },
    },
    '/v1/keys/{keyId}/history': {
      get: {
        summary: 'every state change of the key, with its NIST SP 800-57 §7 transition number',
        security: [{ admin: [] }],
        parameters: [keyId],
        responses: { '200': { description: 'the changes, oldest first' }, '401': error, '404': error },
      },
    },
    '/v1/keys/{keyId}/rotate': {
      post: {
        summary: 'a new active version; the active ones are deactivated',
        security: [{ admin: [] }],
        parameters: [keyId],
        requestBody: {
          required: false,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  deactivationDate: { type: 'string', format: 'date-time' },
                  rekey: {
                    type: 'string',
                    enum: ['rewrap', 'full'],
                    default: 'rewrap',
                    description:
                      "how hosts move files to the new version: rewrap each file's key under it (header only, " +
                      'O(files)) or re-encrypt every file under a new file key; files under a compromised ' +
                      'version are always re-encrypted in full',
                  },
                },
              },
            },
          },
        },
        responses: { '200': keyAnswer, '400': error, '401': error, '404': error },
      },
    },
    '/v1/keys/{keyId}/versions/{version}/state': {
      post: adminKeyCall('move a version to another state (not compromised or destroyed)', {
        type: 'object',
        required: ['state'],
        properties: { state: { type: 'string' } },
      }),
    },
    '/v1/keys/{keyId}/versions/{version}/revoke': {
      post: adminKeyCall('mark a version compromised, with a KMIP reason and the compromise date', {
        type: 'object',
        properties: { reason: { type: 'string' }, compromiseDate: { type: 'string', format: 'date-time' } },
      }),
    },
    '/v1/keys/{keyId}/versions/{version}/destroy': {
      post: adminKeyCall("destroy a version's material; its metadata stays"),
    },
    '/v1/events': {
      get: {
        summary:
          'the host event stream (WebSocket): offline unlock data, guard points with their policies and ' +
          'the rekey mode of each key version they need, and key deliveries (docs/protocol.md), on ' +
          'connect and after every change',
        security: [{ host: [] }],
        responses: {
          '101': { description: 'switched to the WebSocket protocol' },
          '401': error,
          '426': error,
        },
      },
    },
    '/v1/policies': {
      get: {
        summary: 'every policy',
        security: [{ admin: [] }],
        responses: {
          '200': { description: 'the policies, each with its version and document' },
          '401': error,
        },
      },
      post: {
        summary: 'add a policy (docs/policy.md), or replace the one of its name (its version grows)',
        security: [{ admin: [] }],
        requestBody: jsonBody({ type: 'object' }),
        responses: { '201': { description: 'the policy as stored' }, '400': error, '401': error },
      },
    },
    '/v1/policies/{name}': {
      get: {
        summary: 'one policy',
        security: [{ admin: [] }],
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'the policy' }, '401': error, '404': error },
      },
    },
    '/v1/guardpoints': {
      get: {
        summary: 'every guard point',
        security: [{ admin: [] }],
        responses: { '200': { description: 'the guard points' }, '401': error },
      },
      post: {
        summary:
          'guard a directory of one host (hostId) or of every host of a group (hostGroup) with a policy',
        security: [{ admin: [] }],
        requestBody: jsonBody({ $ref: '#/components/schemas/NewGuardPoint' }),
        responses: { '201': { description: 'the guard point' }, '400': error, '401': error, '404': error },
      },
    },
    '/v1/guardpoints/{guardPointId}': {
      delete: {
        summary: 'remove a guard point (its hosts stop guarding the directory; the data stays encrypted)',
        security: [{ admin: [] }],
        parameters: [
          { name: 'guardPointId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
        ],
        responses: { '200': { description: 'removed' }, '401': error, '404': error },
      },
    },
    '/v1/hosts/{hostId}': {
      get: {
        summary: 'one host: group, certificate, registration, last seen, de-registration',
        security: [{ admin: [] }],
        parameters: [hostId],
        responses: {
          '200': {
            description: 'the host',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Host' } } },
          },
          '401': error,
          '404': error,
        },
      },
      delete: {
        summary:
          'de-register a host: its certificate is revoked, its connections closed at once, every later ' +
          'request refused; it is told to remove its guard points',
        security: [{ admin: [] }],
        parameters: [hostId],
        responses: { '200': { description: 'the host, de-registered' }, '401': error, '404': error },
      },
    },
    '/v1/hosts/{hostId}/group': {
      put: {
        summary: 'put a host in an existing host group (hostGroup), or in none (null)',
        security: [{ admin: [] }],
        parameters: [hostId],
        requestBody: jsonBody({
          type: 'object',
          properties: { hostGroup: { type: 'string', nullable: true } },
        }),
        responses: { '200': { description: 'the host' }, '400': error, '401': error, '404': error },
      },
    },
    '/v1/hosts/{hostId}/offline-password': {
      post: {
        summary:
          'set a host\'s offline password (docs/protocol.md, "Offline unlock"); without one the manager ' +
          'makes one and answers it this once. Only the password wrapper is kept (it replaces the one ' +
          "before) and pushed to the host's open event streams",
        security: [{ admin: [] }],
        parameters: [hostId],
        requestBody: {
          required: false,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                properties: { password: { type: 'string', minLength: 12, maxLength: 256 } },
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'set',
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/OfflinePasswordSet' } },
            },
          },
          '400': error,
          '401': error,
          '404': error,
        },
      },
    },
    '/v1/hosts/{hostId}/offline-response': {
      post: {
        summary:
          'the response to a host\'s offline unlock challenge (docs/protocol.md, "Offline unlock"), ' +
          'for `agentctl unlock --response`',
        security: [{ admin: [] }],
        parameters: [hostId],
        requestBody: jsonBody({
          type: 'object',
          additionalProperties: false,
          required: ['challenge'],
          properties: {
            challenge: {
              type: 'string',
              pattern: '^[A-Za-z0-9_-]{43}$',
              description: "the host's X25519 public key E, base64url without padding (32 bytes)",
            },
          },
        }),
        responses: {
          '200': {
            description: 'the response',
            content: {
              'application/json': { schema: { $ref: '#/components/schemas/OfflineResponse' } },
            },
          },
          '400': error,
          '401': error,
          '404': error,
        },
      },
    },
    '/v1/hostgroups': {
      get: {
        summary: 'every host group with its hosts',
        security: [{ admin: [] }],
        responses: { '200': { description: 'the groups' }, '401': error },
      },
      post: {
        summary: 'make a host group',
        security: [{ admin: [] }],
        requestBody: jsonBody({
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' } },
        }),
        responses: { '201': { description: 'the group' }, '400': error, '401': error },
      },
    },
    '/v1/hosts/self/status': {
      post: {
        summary: "report the state of each of this host's guard points (replaces its last report)",
        security: [{ host: [] }],
        description:
          'Each guard point once, each key version once per transformation; no other field. A refused ' +
          'report (the first bad field by its JSON pointer) changes nothing. Changes of state are recorded ' +
          'in the audit trail (host.guardpoint-status, host.rekey-progress); progress alone is not.',
        requestBody: jsonBody({ $ref: '#/components/schemas/GuardPointStatusReport' }),
        responses: {
          '200': {
            description: 'the host as the manager now shows it',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Host' } } },
          },
          '400': error,
          '401': error,
          '413': error,
        },
      },
    },
    '/v1/hosts/self/certificate': {
      post: {
        summary:
          'renew the host certificate from a new CSR; the old one stops working once the new one is used',
        security: [{ host: [] }],
        requestBody: jsonBody({ type: 'object', required: ['csr'], properties: { csr: { type: 'string' } } }),
        responses: {
          '201': {
            description: 'the new certificate',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Registration' } } },
          },
          '400': error,
          '401': error,
        },
      },
    },
    '/v1/hosts/self/transport-key': {
      put: {
        summary:
          "replace this host's transport public key (its native core makes a new pair at each start); " +
          'its open event streams get a fresh delivery wrapped to the new key',
        security: [{ host: [] }],
        requestBody: jsonBody({
          type: 'object',
          required: ['transportPublicKey'],
          properties: {
            transportPublicKey: { type: 'string', description: 'RSA-3072 SubjectPublicKeyInfo, PEM' },
          },
        }),
        responses: {
          '200': {
            description: 'the host',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Host' } } },
          },
          '400': error,
          '401': error,
        },
      },
    },
    '/v1/hosts/self/events': {
      post: {
        summary:
          `report 1 to ${MAX_REPORTS_PER_BATCH} events (denials, audit records, tamper, key problems, ` +
          'guard point failures; at most 4 MiB): stored whole, each once by its eventId, or refused whole',
        security: [{ host: [] }],
        requestBody: jsonBody({ $ref: '#/components/schemas/HostReportBatch' }),
        responses: {
          '200': {
            description: 'stored',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { accepted: { type: 'integer' }, duplicates: { type: 'integer' } },
                },
              },
            },
          },
          '400': error,
          '401': error,
          '413': error,
        },
      },
    },
    '/v1/hosts/{hostId}/events': {
      get: {
        summary: "a host's reported events, newest first",
        security: [{ admin: [] }],
        parameters: [
          hostId,
          {
            name: 'limit',
            in: 'query',
            schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
          { name: 'type', in: 'query', schema: { type: 'string', enum: [...HOST_REPORT_TYPES] } },
        ],
        responses: {
          '200': {
            description: 'the events',
            content: {
              'application/json': {
                schema: { type: 'array', items: { $ref: '#/components/schemas/HostReportRecord' } },
              },
            },
          },
          '400': error,
          '401': error,
          '404': error,
        },
      },
    },
    '/v1/hosts/self': {
      get: {
        summary: 'the host this client certificate belongs to',
        security: [{ host: [] }],
        responses: {
          '200': {
            description: 'the host',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Host' } } },
          },
          '401': error,
        },
      },
    },
  },
} as const;

type Operation = Record<string, unknown> & { responses?: Record<string, unknown> };

/** The document with each operation's access (access.ts), and a 403 where a role is needed. */
export const OPENAPI = {
  ...DOCUMENT,
  paths: Object.fromEntries(
    Object.entries(DOCUMENT.paths).map(([path, methods]) => [
      path,
      Object.fromEntries(
        Object.entries(methods as Record<string, Operation>).map(([method, operation]) => {
          const access = ACCESS[`${method.toUpperCase()} ${path}`];
          const roleNeeded = access !== undefined && !['public', 'host', 'user'].includes(access);
          return [
            method,
            {
              ...operation,
              'x-veil-access': access,
              ...(roleNeeded ? { responses: { ...operation.responses, '403': error } } : {}),
            },
          ];
        }),
      ),
    ]),
  ) as Record<string, Record<string, Operation>>,
};
