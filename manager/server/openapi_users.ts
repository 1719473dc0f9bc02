// The OpenAPI paths of the manager's own administration (user_routes.ts): users, roles
// and settings. Part of openapi.ts's document.
import { ADMIN_ROLES } from '../../manager-client/types.js';

const error = { $ref: '#/components/responses/Error' };
const admin = [{ admin: [] }, { bearer: [] }];
const jsonBody = (schema: object) => ({ required: true, content: { 'application/json': { schema } } });
const name = { name: 'name', in: 'path', required: true, schema: { type: 'string', maxLength: 64 } };
const password = { type: 'string', minLength: 12, maxLength: 256 };
const roles = { type: 'array', minItems: 1, items: { type: 'string', enum: ADMIN_ROLES } };
const user = {
  type: 'object',
  description: 'an administrator; never its password hash',
  properties: {
    name: { type: 'string' },
    roles,
    createdAt: { type: 'string', format: 'date-time' },
    disabledAt: { type: 'string', format: 'date-time', nullable: true },
  },
};
const userAnswer = { description: 'the user', content: { 'application/json': { schema: user } } };
const settings = {
  type: 'object',
  properties: {
    domain: { type: 'string', readOnly: true, description: 'the domain keyAlgorithm is of' },
    keyAlgorithm: { type: 'string', enum: ['aes-256', 'aes-128'], description: "the domain's" },
    separateAuditor: { type: 'boolean', description: 'an auditor may hold no other role (default true)' },
    sessionLifetimeSeconds: { type: 'integer', minimum: 1, maximum: 86400, description: 'default 900' },
  },
};

const apiKey = {
  type: 'object',
  description: 'an API key; its secret only when it is made',
  properties: {
    apiKeyId: { type: 'string', format: 'uuid' },
    name: { type: 'string' },
    owner: { type: 'string' },
    roles,
    createdAt: { type: 'string', format: 'date-time' },
    apiKey: { type: 'string', description: 'the bearer secret, shown once' },
  },
};

export const USER_PATHS = {
  '/v1/login': {
    post: {
      summary: 'a session: a bearer token for Authorization: Bearer, valid sessionLifetimeSeconds',
      requestBody: jsonBody({
        type: 'object',
        required: ['name', 'password'],
        properties: { name: { type: 'string' }, password: { type: 'string' } },
      }),
      responses: {
        '200': {
          description: '{token, expiresAt}',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { token: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } },
              },
            },
          },
        },
        '400': error,
        '401': error,
        '429': error,
      },
    },
  },
  '/v1/apikeys': {
    get: {
      summary: 'every API key (never a secret)',
      security: admin,
      responses: {
        '200': {
          description: 'the API keys',
          content: { 'application/json': { schema: { type: 'array', items: apiKey } } },
        },
        '401': error,
      },
    },
    post: {
      summary: "a long-lived API key of the caller, with at most the caller's roles; the secret shown once",
      security: admin,
      requestBody: jsonBody({
        type: 'object',
        required: ['name', 'roles'],
        properties: { name: { type: 'string', maxLength: 64 }, roles },
      }),
      responses: {
        '201': { description: 'the key', content: { 'application/json': { schema: apiKey } } },
        '400': error,
        '401': error,
        '403': error,
      },
    },
  },
  '/v1/apikeys/{apiKeyId}': {
    delete: {
      summary: "revoke an API key at once (one's own; any with the admin role)",
      security: admin,
      parameters: [
        { name: 'apiKeyId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } },
      ],
      responses: {
        '200': { description: 'the key revoked', content: { 'application/json': { schema: apiKey } } },
        '401': error,
        '404': error,
      },
    },
  },
  '/v1/users': {
    get: {
      summary: 'every administrator and its roles',
      security: admin,
      responses: {
        '200': {
          description: 'the users, by name',
          content: { 'application/json': { schema: { type: 'array', items: user } } },
        },
        '401': error,
      },
    },
    post: {
      summary: 'a new administrator with its roles',
      security: admin,
      requestBody: jsonBody({
        type: 'object',
        required: ['name', 'password', 'roles'],
        properties: { name: { type: 'string', maxLength: 64 }, password, roles },
      }),
      responses: { '201': userAnswer, '400': error, '401': error, '409': error },
    },
  },
  '/v1/users/self/password': {
    put: {
      summary: "the caller's own password; current is the present one",
      security: admin,
      requestBody: jsonBody({
        type: 'object',
        required: ['current', 'password'],
        properties: { current: { type: 'string' }, password },
      }),
      responses: { '200': userAnswer, '400': error, '401': error },
    },
  },
  '/v1/users/{name}': {
    put: {
      summary: "change an administrator's roles, password or disabled state",
      security: admin,
      parameters: [name],
      requestBody: jsonBody({
        type: 'object',
        properties: { roles, password, disabled: { type: 'boolean' } },
      }),
      responses: { '200': userAnswer, '400': error, '401': error, '404': error, '409': error },
    },
    delete: {
      summary: 'remove an administrator (never the last enabled one holding admin)',
      security: admin,
      parameters: [name],
      responses: { '200': userAnswer, '401': error, '404': error, '409': error },
    },
  },
  '/v1/settings': {
    get: {
      summary: "the request domain's key algorithm and the manager's settings",
      security: admin,
      responses: {
        '200': { description: 'the settings', content: { 'application/json': { schema: settings } } },
        '401': error,
      },
    },
    put: {
      summary: "change the domain's key algorithm, or (in the root domain) the manager's settings",
      security: admin,
      requestBody: jsonBody(settings),
      responses: {
        '200': { description: 'the settings', content: { 'application/json': { schema: settings } } },
        '400': error,
        '401': error,
      },
    },
  },
};
