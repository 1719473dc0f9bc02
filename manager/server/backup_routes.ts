// The routes of backups (docs/backup.md): backup keys and the backup file of the whole
// manager. The admin role, in access.ts; and only the root domain's administrators, since
// a backup holds every domain's keys.
import { ManagerError } from '../../manager-client/errors.js';
import { ROOT_DOMAIN } from '../domains.js';
import { FileAnswer, readJson } from './http.js';
import type { Authorized, Route } from './routes.js';

function rootAdministrator({ user }: Authorized): void {
  if (!user) throw new ManagerError('VEIL_AUTH_ADMIN_REQUIRED', 'this request needs an administrator');
  if (user.domain !== ROOT_DOMAIN) {
    throw new ManagerError(
      'VEIL_DOMAIN_FORBIDDEN',
      "only an administrator of the root domain may handle backups: they hold every domain's keys",
    );
  }
}

const fileName = (createdAt: string, backupKeyId: string): string =>
  `veil-manager-${createdAt.replace(/[:.]/g, '-')}-${backupKeyId.slice(0, 8)}.vbk`;

export const BACKUP_ROUTES: Route[] = [
  {
    method: 'GET',
    path: /^\/v1\/backup-keys$/,
    handler: (context) => {
      rootAdministrator(context);
      return [200, context.backups.keys()];
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/backup-keys$/,
    handler: async (context) => {
      rootAdministrator(context);
      return [201, await context.backups.createKey(await readJson(context.req))];
    },
  },
  {
    method: 'POST',
    path: /^\/v1\/backups$/,
    handler: async (context) => {
      rootAdministrator(context);
      const backup = context.backups.create(await readJson(context.req));
      return [200, new FileAnswer(fileName(backup.createdAt, backup.backupKeyId), backup.pieces)];
    },
  },
];
