// The routes of the manager's API (described in openapi.ts; a test holds the two together)
// and what each does. Who may call each is access.ts's table, checked here in dispatch
// before any handler runs. Administrators authenticate with HTTP Basic, hosts with their
// client certificate.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

import { ManagerError } from '../../manager-client/errors.js';
import {
  KEY_STATES,
  REVOCATION_REASONS,
  type KeyState,
  type RevocationReason,
  type HostView,
  type TokenOptions,
} from '../../manager-client/types.js';
import { DOMAIN_HEADER, requestDomain } from '../domains.js';
import type { Caller } from '../sessions.js';
import { ACCESS, type Access } from './access.js';
import type { AuditLog } from '../audit/audit_log.js';
import { audited } from './audit_hook.js';
import { AUDIT_ROUTES } from './audit_routes.js';
import type { SiemForwarding } from '../audit/siem/siem_forwarding.js';
import { SIEM_ROUTES } from './siem_routes.js';
import { DOMAIN, DOMAIN_ROUTES } from './domain_routes.js';
import { USER_ROUTES } from './user_routes.js';
import { BACKUP_ROUTES } from './backup_routes.js';
import type { BackupService } from '../backup/backup_service.js';
import { MAX_REPORT_BATCH_BYTES } from '../hosts/report_schema.js';
import { MAX_STATUS_BYTES } from '../hosts/status_schema.js';
import { reportQuery } from '../hosts/reports.js';
import type { EventStream } from './events.js';
import { inventory } from '../inventory.js';
import { wrapForExport, wrappingKey, type ImportKey } from '../keys/import_key.js';
import type { CreateKeyOptions } from '../keys/key_service.js';
import { readJson } from './http.js';
import { OPENAPI } from './openapi.js';
import type { Services } from './services.js';

/**
 * What a request works with. Before dispatch the services are the whole store's; an
 * administrator's route gets its domain's in their place (services.ts).
 */
export interface Context extends Services {
  req: IncomingMessage;
  importKey: ImportKey;
  authority: { caPem: string; serverPem: string; caFingerprint: string };
  events: EventStream;
  /** The audit trail every call that changes something is recorded in (audit_hook.ts). */
  audit: AuditLog;
  /** The forwarders of the audit trail to SIEMs (siem_routes.ts). */
  siem: SiemForwarding;
  /** The whole store's services: for what spans domains (sign-in, the manager's settings). */
  system: Services;
  inDomain: (domain: string) => Services;
  /** Backup keys and backups of the whole data directory (backup_routes.ts). */
  backups: BackupService;
}

/**
 * A request's context once its caller is known: for administrators' routes the
 * administrator and the domain the request works in.
 */
export interface Authorized extends Context {
  user?: Caller;
  domain?: string;
}

export type Handler = (
  context: Authorized,
  params: string[],
) => Promise<[number, unknown]> | [number, unknown];

export interface Route {
  method: string;
  path: RegExp;
  handler: Handler;
}

/** The caller of a route of this access: the administrator, if the route is one of theirs. */
async function authorize(
  context: Context,
  access: Access,
  seen: (admin: Caller) => void,
): Promise<Caller | undefined> {
  if (access === 'public' || access === 'host') return undefined; // host routes check their certificate
  const admin = await context.sessions.caller(
    context.req.headers.authorization,
    context.req.socket.remoteAddress ?? 'unknown',
  );
  seen(admin); // the audit record names who was refused a role
  if (access !== 'user' && !admin.roles.includes(access)) {
    throw new ManagerError(
      'VEIL_AUTH_ROLE_REQUIRED',
      `this needs the ${access} role; ${admin.name} has: ${admin.roles.join(', ')}`,
    );
  }
  return admin;
}

/** The registered host whose client certificate this TLS connection presented. */
export function requireHost({ req, registration }: Pick<Context, 'req' | 'registration'>): HostView {
  const socket = req.socket as TLSSocket;
  const certificate = socket.getPeerCertificate();
  if (!socket.authorized || !certificate.serialNumber) {
    throw new ManagerError(
      'VEIL_AUTH_HOST_REQUIRED',
      'this request needs the client certificate of a registered host (mutual TLS)',
    );
  }
  return registration.hostByCertificate(certificate.serialNumber, String(certificate.subject.CN ?? ''));
}

async function objectBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readJson(req);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ManagerError('VEIL_KEY_BAD_REQUEST', 'the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

// An optional ISO 8601 date field, as milliseconds.
function dateField(body: Record<string, unknown>, field: string): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new ManagerError('VEIL_KEY_BAD_REQUEST', `${field} must be an ISO 8601 date`);
  return ms;
}

// The name, algorithm and dates of a new key, from a request body.
function keyOptions(body: Record<string, unknown>): CreateKeyOptions {
  if (typeof body.name !== 'string') throw new ManagerError('VEIL_KEY_BAD_REQUEST', 'a key needs a name');
  if (body.algorithm !== undefined && body.algorithm !== 'aes-256' && body.algorithm !== 'aes-128') {
    throw new ManagerError('VEIL_KEY_BAD_REQUEST', 'algorithm is aes-256 or aes-128');
  }
  return {
    name: body.name,
    algorithm: body.algorithm,
    activationDate: dateField(body, 'activationDate'),
    deactivationDate: dateField(body, 'deactivationDate'),
  };
}

function versionParam(text: string | undefined): number {
  const version = Number(text);
  if (!Number.isInteger(version) || version < 1) {
    throw new ManagerError('VEIL_KEY_BAD_REQUEST', `a version is a whole number from 1, not ${text ?? ''}`);
  }
  return version;
}

// A body that may be left out (no content type, or empty): {} then.
async function optionalBody(req: IncomingMessage): Promise<unknown> {
  return req.headers['content-length'] === '0' || !req.headers['content-type'] ? {} : readJson(req);
}

// A change that may concern the connected hosts: each gets its guard points and keys again.
function changesHosts(handler: Handler): Handler {
  return async (context, params) => {
    const answer = await handler(context, params);
    context.events.refreshAll();
    return answer;
  };
}

const KEY = '([0-9a-f-]{36})';
const HOST = '([0-9a-f]{8}-[0-9a-f-]{27})';

// A host request: its connection is closed at once if the host is de-registered.
function trackedHost(context: Context): HostView {
  const host = requireHost(context);
  context.events.track(host.hostId, context.req.socket);
  return host;
}

const ROUTES: Route[] = [
  { method: 'GET', path: /^\/v1\/openapi\.json$/, handler: () => [200, OPENAPI] },
  {
    // No authentication: a host fetches the CA here before it trusts anything, and pins it
    // by the fingerprint an administrator gives it (veil-manager ca show).
    method: 'GET',
    path: /^\/v1\/ca$/,
    handler: ({ authority }) => [200, { certificate: authority.caPem, fingerprint: authority.caFingerprint }],
  },
  {
    method: 'POST',
    path: /^\/v1\/registration$/,
    handler: async ({ req, registration }) => [
      201,
      await registration.register((await readJson(req)) as never),
    ],
  },
  {
    method: 'POST',
    path: /^\/v1\/tokens$/,
    handler: async ({ req, registration }) => {
      const body = (await readJson(req)) as TokenOptions;
      if (typeof body !== 'object' || body === null) {
        throw new ManagerError('VEIL_REGISTRATION_BAD_REQUEST', 'token options are a JSON object');
      }
      return [201, registration.createToken(body)];
    },
  },
  { method: 'GET', path: /^\/v1\/hosts$/, handler: ({ registration }) => [200, registration.hosts()] },
  {
    method: 'GET',
    path: /^\/v1\/hosts\/self$/,
    handler: (context) => [200, trackedHost(context)],
  },
  {
    method: 'POST',
    path: /^\/v1\/hosts\/self\/status$/,
    handler: async (context) => {
      const host = trackedHost(context);
      const body = await readJson(context.req, MAX_STATUS_BYTES);
      return [200, context.registration.reportStatus(host.hostId, body, context.req.socket.remoteAddress)];
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/hosts\/self\/certificate$/,
    handler: async (context) => {
      const host = trackedHost(context);
      const { csr } = (await readJson(context.req)) as { csr?: unknown };
      const presented = (context.req.socket as TLSSocket).getPeerCertificate().serialNumber;
      return [201, await context.registration.renew(host.hostId, presented, csr)];
    },
  },
  {
    method: 'PUT',
    path: /^\/v1\/hosts\/self\/transport-key$/,
    handler: async (context) => {
      const host = trackedHost(context);
      const view = context.registration.setTransportKey(host.hostId, await readJson(context.req));
      context.events.transportKeyChanged(host.hostId);
      return [200, view];
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/hosts\/self\/events$/,
    handler: async (context) => {
      const host = trackedHost(context);
      const body = await readJson(context.req, MAX_REPORT_BATCH_BYTES);
      return [200, context.reports.receive(host.hostId, body, context.req.socket.remoteAddress)];
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/hosts/${HOST}/events$`),
    handler: ({ req, reports }, [id]) => {
      const query = reportQuery(new URL(req.url ?? '/', 'https://manager').searchParams);
      return [200, reports.list(id ?? '', query)];
    },
  },
  {
    method: 'PUT',
    path: new RegExp(`^/v1/hosts/${HOST}/group$`),
    handler: changesHosts(async ({ req, registration }, [id]) => {
      const { hostGroup } = (await readJson(req)) as { hostGroup?: unknown };
      return [200, registration.setHostGroup(id ?? '', hostGroup ?? null)];
    }),
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1/hosts/${HOST}/offline-password$`),
    handler: async ({ req, offline, events }, [id]) => {
      const answer = await offline.setPassword(id ?? '', await optionalBody(req));
      events.offlineChanged(answer.hostId);
      return [200, answer];
    },
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1/hosts/${HOST}/offline-response$`),
    handler: async ({ req, offline }, [id]) => [200, offline.respond(id ?? '', await readJson(req))],
  },
  {
    method: 'GET',
    path: /^\/v1\/hostgroups$/,
    handler: ({ registration }) => [200, registration.hostGroups()],
  },
  {
    method: 'POST',
    path: /^\/v1\/hostgroups$/,
    handler: async ({ req, registration }) => {
      const { name } = (await readJson(req)) as { name?: unknown };
      return [201, registration.createHostGroup(name)];
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/hosts/${HOST}$`),
    handler: ({ registration }, [id]) => [200, registration.host(id ?? '')],
  },
  {
    method: 'DELETE',
    path: new RegExp(`^/v1/hosts/${HOST}$`),
    handler: ({ registration, events }, [id]) => {
      const host = registration.deregister(id ?? '');
      events.deregistered(host.hostId);
      return [200, host];
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/events$/,
    handler: () => {
      throw new ManagerError(
        'VEIL_REQUEST_UPGRADE_REQUIRED',
        '/v1/events is a WebSocket: connect with an upgrade',
      );
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/policies$/,
    handler: ({ assignments }) => [200, assignments.policies()],
  },
  {
    method: 'POST',
    path: /^\/v1\/policies$/,
    handler: changesHosts(async ({ req, assignments }) => [201, assignments.putPolicy(await readJson(req))]),
  },
  {
    method: 'GET',
    path: /^\/v1\/policies\/([A-Za-z0-9._-]{1,128})$/,
    handler: ({ assignments }, [name]) => [200, assignments.policy(name ?? '')],
  },
  {
    method: 'GET',
    path: /^\/v1\/guardpoints$/,
    handler: ({ assignments }) => [200, assignments.guardPoints()],
  },
  {
    method: 'POST',
    path: /^\/v1\/guardpoints$/,
    handler: changesHosts(async ({ req, assignments }) => [
      201,
      assignments.addGuardPoint((await readJson(req)) as never),
    ]),
  },
  {
    method: 'DELETE',
    path: /^\/v1\/guardpoints\/([0-9a-f][0-9a-f-]{35})$/,
    handler: changesHosts(({ assignments }, [id]) => {
      assignments.removeGuardPoint(id ?? '');
      return [200, { removed: id }];
    }),
  },
  { method: 'GET', path: /^\/v1\/keys$/, handler: ({ keys }) => [200, keys.list()] },
  {
    method: 'GET',
    path: /^\/v1\/keys\/import-key$/,
    handler: ({ importKey }) => [200, { publicKey: importKey.publicKeyPem, algorithm: 'RSA-OAEP-SHA256' }],
  },
  {
    method: 'POST',
    path: /^\/v1\/keys\/import$/,
    handler: async ({ req, keys, importKey }) => {
      const body = await objectBody(req);
      const options = keyOptions(body);
      if (typeof body.wrapped !== 'string' || body.wrapped.length > 4096) {
        throw new ManagerError(
          'VEIL_KEY_BAD_REQUEST',
          'wrapped is the base64 of the material under the import key',
        );
      }
      const material = importKey.unwrap(Buffer.from(body.wrapped, 'base64'));
      return [201, keys.importKey(options, material)];
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/keys$/,
    handler: async ({ req, keys }) => [201, keys.create(keyOptions(await objectBody(req)))],
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/keys/${KEY}$`),
    handler: ({ keys }, [id]) => [200, keys.view(id ?? '')],
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/keys/${KEY}/history$`),
    handler: ({ keys }, [id]) => [200, keys.history(id ?? '')],
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1/keys/${KEY}/rotate$`),
    handler: changesHosts(async ({ req, keys }, [id]) => {
      const body =
        req.headers['content-length'] === '0' || !req.headers['content-type'] ? {} : await objectBody(req);
      return [
        200,
        keys.rotate(id ?? '', { deactivationDate: dateField(body, 'deactivationDate'), rekey: body.rekey }),
      ];
    }),
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1/keys/${KEY}/versions/(\\d+)/state$`),
    handler: changesHosts(async ({ req, keys }, [id, version]) => {
      const { state } = await objectBody(req);
      if (!KEY_STATES.includes(state as KeyState)) {
        throw new ManagerError('VEIL_KEY_BAD_REQUEST', `state is one of ${KEY_STATES.join(', ')}`);
      }
      return [200, keys.setState(id ?? '', versionParam(version), state as KeyState)];
    }),
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1/keys/${KEY}/versions/(\\d+)/revoke$`),
    handler: changesHosts(async ({ req, keys }, [id, version]) => {
      const body = await objectBody(req);
      const reason = body.reason ?? 'key-compromise';
      if (!REVOCATION_REASONS.includes(reason as RevocationReason)) {
        throw new ManagerError('VEIL_KEY_BAD_REQUEST', `reason is one of ${REVOCATION_REASONS.join(', ')}`);
      }
      return [
        200,
        keys.revoke(
          id ?? '',
          versionParam(version),
          reason as RevocationReason,
          dateField(body, 'compromiseDate'),
        ),
      ];
    }),
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1/keys/${KEY}/versions/(\\d+)/export$`),
    handler: async ({ req, keys }, [id, version]) => {
      const key = wrappingKey((await objectBody(req)).wrappingKey);
      return [
        200,
        keys.exportVersion(id ?? '', versionParam(version), (material) => wrapForExport(material, key)),
      ];
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/inventory$/,
    handler: ({ keys, store, authority }) => [200, inventory(keys, store, authority)],
  },
  {
    method: 'POST',
    path: new RegExp(`^/v1/keys/${KEY}/versions/(\\d+)/destroy$`),
    handler: changesHosts(({ keys }, [id, version]) => [200, keys.destroy(id ?? '', versionParam(version))]),
  },
];

ROUTES.push(...USER_ROUTES, ...DOMAIN_ROUTES);
ROUTES.push(...AUDIT_ROUTES);
ROUTES.push(...SIEM_ROUTES);
ROUTES.push(...BACKUP_ROUTES);

/** A route as "METHOD /path" with parameters as {name}, as access.ts and openapi.ts name it. */
function routeName(route: Route): string {
  return `${route.method} ${route.path.source
    .replace(/^\^|\$$/g, '')
    .replace(/\\\//g, '/')
    .replace(/\\\./g, '.')
    .replace(KEY, '{keyId}')
    .replace(HOST, '{hostId}')
    .replace('(\\d+)', '{version}')
    .replace('([A-Za-z0-9._-]{1,128})', '{name}')
    .replace('([A-Za-z0-9][A-Za-z0-9._@-]{0,63})', '{name}')
    .replace('([0-9a-f][0-9a-f-]{35})', '{guardPointId}')
    .replace('([0-9a-fA-F-]{36})', '{apiKeyId}')
    .replace(DOMAIN, '{domain}')}`;
}

// Every route with who may call it: a route the access table lacks stops the manager here.
const GUARDED = ROUTES.map((route) => {
  const access = ACCESS[routeName(route)];
  if (access === undefined) throw new Error(`access.ts says nothing of ${routeName(route)}`);
  return { ...route, access, name: routeName(route) };
});

/** Finds the route of a request, checks its caller and runs it: [status, body], or throws a ManagerError. */
export function dispatch(context: Context): Promise<[number, unknown]> | [number, unknown] {
  const { req } = context;
  const pathname = new URL(req.url ?? '/', 'https://manager').pathname;
  const matching = GUARDED.filter((route) => route.path.test(pathname));
  const route = matching.find((r) => r.method === req.method);
  if (!route) {
    throw matching.length > 0
      ? new ManagerError('VEIL_REQUEST_BAD_METHOD', `${req.method ?? '?'} is not allowed on ${pathname}`)
      : new ManagerError('VEIL_REQUEST_NOT_FOUND', `there is no ${pathname} in this API`);
  }
  const params = route.path.exec(pathname)?.slice(1) ?? [];
  return audited(context, route, params, async (notes) => {
    const user = await authorize(context, route.access, (admin) => (notes.user = admin));
    if (!user) return route.handler(context, params);
    const domain = requestDomain(context.system.store, user.domain, context.req.headers[DOMAIN_HEADER]);
    notes.domain = domain;
    return route.handler({ ...context, ...context.inDomain(domain), user, domain }, params);
  });
}

/** Each route as "METHOD /path" with parameters as {name}: for holding openapi.ts and access.ts to the routes. */
export function routeList(): string[] {
  return ROUTES.map(routeName);
}
