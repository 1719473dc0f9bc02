// The OpenAPI paths of domains (domain_routes.ts). Part of openapi.ts's document.
import { KEY_ALGORITHMS } from '../../manager-client/types.js';

const error = { $ref: '#/components/responses/Error' };
const admin = [{ admin: [] }, { bearer: [] }];
const domain = {
  type: 'object',
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
    parent: { type: 'string', nullable: true, description: 'root, or null for the root domain' },
    keyAlgorithm: { type: 'string', enum: KEY_ALGORITHMS },
    createdAt: { type: 'string', format: 'date-time' },
  },
};
const domainAnswer = { description: 'the domain', content: { 'application/json': { schema: domain } } };
const name = {
  name: 'domain',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
};

export const DOMAIN_PATHS = {
  '/v1/domains': {
    get: {
      summary: "the domains: every one for the root domain's administrators, else one's own",
      security: admin,
      responses: {
        '200': {
          description: 'the domains, root first',
          content: { 'application/json': { schema: { type: 'array', items: domain } } },
        },
        default: error,
      },
    },
    post: {
      summary: "make a domain under the root domain (the root domain's administrators only)",
      security: admin,
      requestBody: {
        required: true,
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['name'],
              properties: { name: domain.properties.name, keyAlgorithm: domain.properties.keyAlgorithm },
            },
          },
        },
      },
      responses: { '201': domainAnswer, default: error },
    },
  },
  '/v1/domains/{domain}': {
    get: {
      summary: 'one domain',
      security: admin,
      parameters: [name],
      responses: { '200': domainAnswer, default: error },
    },
    delete: {
      summary: 'remove an empty domain (the root domain stays)',
      security: admin,
      parameters: [name],
      responses: { '200': domainAnswer, default: error },
    },
  },
};
