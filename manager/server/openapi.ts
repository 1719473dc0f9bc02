// The OpenAPI 3 document of the manager's API, served at /v1/openapi.json. It describes
// the routes of routes.ts; a test holds the two together.
const error = { $ref: '#/components/responses/Error' };

export const OPENAPI = {
  openapi: '3.0.3',
  info: {
    title: 'Veil manager',
    version: '1',
    description:
      'Keys, hosts and registration of a Veil manager. Hosts authenticate with the client certificate ' +
      'issued at registration (mutual TLS); administrators with HTTP Basic over TLS.',
  },
  components: {
    securitySchemes: {
      admin: { type: 'http', scheme: 'basic' },
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
      Host: {
        type: 'object',
        properties: {
          hostId: { type: 'string', format: 'uuid' },
          name: { type: 'string' },
          hostGroup: { type: 'string', nullable: true },
          certificateSerial: { type: 'string' },
          certificateNotAfter: { type: 'string', format: 'date-time' },
          registeredAt: { type: 'string', format: 'date-time' },
          lastSeenAt: { type: 'string', format: 'date-time', nullable: true },
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
    '/v1/registration': {
      post: {
        summary: 'register a host with a token, a CSR and its transport key',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/RegistrationRequest' } } },
        },
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
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { $ref: '#/components/schemas/TokenOptions' } } },
        },
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
