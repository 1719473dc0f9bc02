// The routes of domains (domains.ts). Who may call each is access.ts's table; that only the
// root domain's administrators make and remove domains is DomainService's rule.
import { ManagerError } from '../../manager-client/errors.js';
import { DomainService } from '../domains.js';
import { readJson } from './http.js';
import type { Authorized, Route } from './routes.js';

/** A domain's name in a path (domains.ts allows no other). */
export const DOMAIN = '([a-z0-9][a-z0-9._-]{0,63})';

function domains({ user, system }: Authorized): DomainService {
  if (!user) throw new ManagerError('VEIL_AUTH_ADMIN_REQUIRED', 'this request needs an administrator');
  return new DomainService(system.store, user.domain);
}

export const DOMAIN_ROUTES: Route[] = [
  { method: 'GET', path: /^\/v1\/domains$/, handler: (context) => [200, domains(context).list()] },
  {
    method: 'POST',
    path: /^\/v1\/domains$/,
    handler: async (context) => [201, domains(context).create(await readJson(context.req))],
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/domains/${DOMAIN}$`),
    handler: (context, [name]) => [200, domains(context).domain(name ?? '')],
  },
  {
    method: 'DELETE',
    path: new RegExp(`^/v1/domains/${DOMAIN}$`),
    handler: (context, [name]) => [200, domains(context).remove(name ?? '')],
  },
];
