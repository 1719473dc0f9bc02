// The routes of SIEM forwarding (docs/siem.md): the destinations the audit trail is sent
// to, with how far each got. Who may call each is access.ts's table; as the trail holds
// every domain's records, only the root domain's administrators see or change them.
import { ManagerError } from '../../manager-client/errors.js';
import type { SiemForwarding } from '../audit/siem/siem_forwarding.js';
import { ROOT_DOMAIN } from '../domains.js';
import { readJson } from './http.js';
import type { Authorized, Route } from './routes.js';

/** A destination's name in a path, as routes.ts names {name}; the name's own rule is checked by the service. */
const NAME = '([A-Za-z0-9._-]{1,128})';

function forwarding({ user, siem }: Authorized): SiemForwarding {
  if (!user) throw new ManagerError('VEIL_AUTH_ADMIN_REQUIRED', 'this request needs an administrator');
  if (user.domain !== ROOT_DOMAIN) {
    throw new ManagerError(
      'VEIL_DOMAIN_FORBIDDEN',
      "SIEM forwarding sends every domain's audit records: only the root domain's administrators manage it",
    );
  }
  return siem;
}

export const SIEM_ROUTES: Route[] = [
  {
    method: 'GET',
    path: /^\/v1\/siem\/destinations$/,
    handler: (context) => [200, forwarding(context).list()],
  },
  {
    method: 'POST',
    path: /^\/v1\/siem\/destinations$/,
    handler: async (context) => {
      const siem = forwarding(context);
      return [201, siem.add(await readJson(context.req))];
    },
  },
  {
    method: 'GET',
    path: new RegExp(`^/v1/siem/destinations/${NAME}$`),
    handler: (context, [name]) => [200, forwarding(context).get(name ?? '')],
  },
  {
    method: 'DELETE',
    path: new RegExp(`^/v1/siem/destinations/${NAME}$`),
    handler: async (context, [name]) => [200, await forwarding(context).remove(name ?? '')],
  },
];
