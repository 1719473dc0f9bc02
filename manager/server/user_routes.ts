// The routes of the manager's own administration: its users and their roles, sign-in
// sessions and API keys, and the settings (the domain's key algorithm, the manager's
// others). Who may call each is access.ts's table.
import { ManagerError } from '../../manager-client/errors.js';
import type { Settings } from '../../manager-client/types.js';
import { ROOT_DOMAIN } from '../domains.js';
import type { Caller } from '../sessions.js';
import type { Authorized, Route } from './routes.js';
import { readJson } from './http.js';

/** The name of a user in a path (users.ts allows no other). */
const USER = '([A-Za-z0-9][A-Za-z0-9._@-]{0,63})';
const API_KEY = '([0-9a-fA-F-]{36})';

function settings({ keys, users, sessions, domain = ROOT_DOMAIN }: Authorized): Settings {
  return {
    domain,
    keyAlgorithm: keys.defaultAlgorithm(),
    separateAuditor: users.separateAuditor(),
    sessionLifetimeSeconds: sessions.lifetimeSeconds(),
  };
}

/** The caller dispatch found: every route here but login is an administrator's. */
function caller({ user }: Authorized): Caller {
  if (!user) throw new ManagerError('VEIL_AUTH_ADMIN_REQUIRED', 'this request needs an administrator');
  return user;
}

export const USER_ROUTES: Route[] = [
  { method: 'GET', path: /^\/v1\/users$/, handler: ({ users }) => [200, users.list()] },
  {
    method: 'POST',
    path: /^\/v1\/users$/,
    handler: async ({ req, users }) => [201, users.create(await readJson(req))],
  },
  {
    method: 'PUT',
    path: /^\/v1\/users\/self\/password$/,
    handler: async (context) => {
      // One's own user, in one's own domain, whichever domain the request works in.
      const self = caller(context);
      return [
        200,
        await context.inDomain(self.domain).users.changeOwnPassword(self.name, await readJson(context.req)),
      ];
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/login$/,
    handler: async ({ req, sessions }) => [
      200,
      await sessions.login(await readJson(req), req.socket.remoteAddress ?? 'unknown'),
    ],
  },
  { method: 'GET', path: /^\/v1\/apikeys$/, handler: ({ sessions }) => [200, sessions.apiKeys()] },
  {
    method: 'POST',
    path: /^\/v1\/apikeys$/,
    handler: async (context) => [
      201,
      context.sessions.createApiKey(caller(context), await readJson(context.req)),
    ],
  },
  {
    method: 'DELETE',
    path: new RegExp(`^/v1/apikeys/${API_KEY}$`),
    handler: (context, [id]) => [200, context.sessions.revokeApiKey(caller(context), id ?? '')],
  },
  {
    method: 'PUT',
    path: new RegExp(`^/v1/users/${USER}$`),
    handler: async ({ req, users }, [name]) => [200, users.change(name ?? '', await readJson(req))],
  },
  {
    method: 'DELETE',
    path: new RegExp(`^/v1/users/${USER}$`),
    handler: ({ users }, [name]) => [200, users.remove(name ?? '')],
  },
  { method: 'GET', path: /^\/v1\/settings$/, handler: (context) => [200, settings(context)] },
  {
    method: 'PUT',
    path: /^\/v1\/settings$/,
    handler: async (context) => {
      const body = await readJson(context.req);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ManagerError('VEIL_KEY_BAD_REQUEST', 'the settings are a JSON object');
      }
      const { keyAlgorithm, separateAuditor, sessionLifetimeSeconds } = body as Record<string, unknown>;
      if (
        keyAlgorithm === undefined &&
        separateAuditor === undefined &&
        sessionLifetimeSeconds === undefined
      ) {
        throw new ManagerError(
          'VEIL_KEY_BAD_REQUEST',
          'give one or more of keyAlgorithm, separateAuditor and sessionLifetimeSeconds',
        );
      }
      if (
        (separateAuditor !== undefined || sessionLifetimeSeconds !== undefined) &&
        context.domain !== ROOT_DOMAIN
      ) {
        throw new ManagerError(
          'VEIL_DOMAIN_FORBIDDEN',
          "separateAuditor and sessionLifetimeSeconds are the whole manager's: change them in the root domain",
        );
      }
      // All of them at once: a refused change changes nothing. The manager's own settings
      // look at every domain's users.
      context.store.transaction(() => {
        if (keyAlgorithm !== undefined) context.keys.setDefaultAlgorithm(keyAlgorithm);
        if (separateAuditor !== undefined) context.system.users.setSeparateAuditor(separateAuditor);
        if (sessionLifetimeSeconds !== undefined)
          context.system.sessions.setLifetimeSeconds(sessionLifetimeSeconds);
      });
      return [200, settings(context)];
    },
  },
];
