// veil-manager user …: the manager's administrators and their roles; veil-manager apikey
// …: their API keys. A new password comes from a file (--new-password-file) or a prompt
// (no echo on a terminal; otherwise the first line of standard input), never from the
// command line itself.
import { readFileSync } from 'node:fs';

import { type Command, InvalidArgumentError } from 'commander';

import { promptSecret } from '../../common/prompt.js';
import { ManagerError } from '../../manager-client/errors.js';
import { ADMIN_ROLES, type AdminRole, type ApiKeyView, type UserView } from '../../manager-client/types.js';
import type { CommandHelpers } from './command_helpers.js';

type Helpers<C> = CommandHelpers<C>;

interface NewPasswordOptions {
  newPasswordFile?: string;
}

function roleList(value: string): AdminRole[] {
  const roles = value.split(',').map((role) => role.trim());
  for (const role of roles) {
    if (!ADMIN_ROLES.includes(role as AdminRole)) {
      throw new InvalidArgumentError(`roles are a comma-separated list of ${ADMIN_ROLES.join(', ')}`);
    }
  }
  return roles as AdminRole[];
}

/** A line typed without echo (or piped in); Ctrl-C cancels. */
async function promptLine(question: string): Promise<string> {
  const line = await promptSecret(question);
  if (line === undefined) throw new ManagerError('VEIL_USER_BAD_REQUEST', 'cancelled');
  return line;
}

/** The new password: the file's text without its final line break, or typed twice at a prompt. */
async function newPassword(options: NewPasswordOptions): Promise<string> {
  if (options.newPasswordFile !== undefined) {
    try {
      return readFileSync(options.newPasswordFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new ManagerError(
        'VEIL_USER_BAD_REQUEST',
        `cannot read ${options.newPasswordFile}: ${(error as Error).message}`,
      );
    }
  }
  const password = await promptLine('new password (12 to 256 characters): ');
  if (process.stdin.isTTY && (await promptLine('again: ')) !== password) {
    throw new ManagerError('VEIL_USER_BAD_REQUEST', 'the two passwords differ');
  }
  return password;
}

const describe = (u: UserView): string =>
  `${u.name}  ${u.roles.join(',')}  made ${u.createdAt}${u.disabledAt ? `  disabled ${u.disabledAt}` : ''}`;

const NEW_PASSWORD_FILE = [
  '--new-password-file <file>',
  "a file holding the user's new password (its final line break is not part of it); else a prompt",
] as const;

export function addUserCommands<C>(program: Command, { connectionOptions, act }: Helpers<C>): void {
  const user = program.command('user').description('administrators of the manager and their roles');
  connectionOptions(user.command('list').description('every administrator and its roles')).action(
    (options: C) =>
      act(
        options,
        (api) => api.users(),
        (users) => users.map(describe).join('\n'),
      ),
  );
  connectionOptions(
    user
      .command('create <name>')
      .description(`make an administrator (roles: ${ADMIN_ROLES.join(', ')})`)
      .requiredOption('--roles <roles>', 'comma-separated roles', roleList)
      .option(...NEW_PASSWORD_FILE),
  ).action((name: string, options: C & NewPasswordOptions & { roles: AdminRole[] }) =>
    act(
      options,
      async (api) => api.createUser({ name, roles: options.roles, password: await newPassword(options) }),
      (u) => `made ${describe(u)}`,
    ),
  );
  connectionOptions(
    user
      .command('set <name>')
      .description("change an administrator's roles, password or disabled state")
      .option('--roles <roles>', 'comma-separated roles, replacing the present ones', roleList)
      .option('--disable', 'refuse its sign-in from now on')
      .option('--enable', 'allow its sign-in again')
      .option('--new-password', 'set a new password, typed at a prompt')
      .option(...NEW_PASSWORD_FILE),
  ).action(
    (
      name: string,
      options: C &
        NewPasswordOptions & {
          roles?: AdminRole[];
          disable?: boolean;
          enable?: boolean;
          newPassword?: boolean;
        },
    ) =>
      act(
        options,
        async (api) => {
          if (options.disable && options.enable) {
            throw new ManagerError('VEIL_USER_BAD_REQUEST', 'give --disable or --enable, not both');
          }
          const changesPassword = options.newPassword === true || options.newPasswordFile !== undefined;
          return api.changeUser(name, {
            roles: options.roles,
            disabled: options.disable ? true : options.enable ? false : undefined,
            password: changesPassword ? await newPassword(options) : undefined,
          });
        },
        (u) => `changed ${describe(u)}`,
      ),
  );
  connectionOptions(user.command('remove <name>').description('remove an administrator')).action(
    (name: string, options: C) =>
      act(
        options,
        (api) => api.removeUser(name),
        (u) => `removed ${u.name}`,
      ),
  );
  connectionOptions(
    user
      .command('passwd')
      .description("change your own password (--admin's): the present one as for any command, the new one")
      .option(...NEW_PASSWORD_FILE),
  ).action((options: C & NewPasswordOptions) =>
    act(
      options,
      async (api) => api.changeOwnPassword(await newPassword(options)),
      (u) => `changed the password of ${u.name}`,
    ),
  );

  const apiKey = program.command('apikey').description("administrators' long-lived API keys");
  const describeKey = (k: ApiKeyView): string =>
    `${k.apiKeyId}  ${k.name}  owner=${k.owner}  ${k.roles.join(',')}  made ${k.createdAt}`;
  connectionOptions(
    apiKey
      .command('create <name>')
      .description('make an API key of yours with some of your roles; its secret is shown once')
      .requiredOption('--roles <roles>', 'comma-separated roles, each one you hold', roleList),
  ).action((name: string, options: C & { roles: AdminRole[] }) =>
    act(
      options,
      (api) => api.createApiKey({ name, roles: options.roles }),
      (k) => `${k.apiKey}\n(${describeKey(k)}: the secret is shown once; give it with --api-key-file)`,
    ),
  );
  connectionOptions(apiKey.command('list').description('every API key, never a secret')).action(
    (options: C) =>
      act(
        options,
        (api) => api.apiKeys(),
        (keys) => (keys.length === 0 ? 'no API keys' : keys.map(describeKey).join('\n')),
      ),
  );
  connectionOptions(apiKey.command('revoke <api-key-id>').description('revoke an API key at once')).action(
    (id: string, options: C) =>
      act(
        options,
        (api) => api.revokeApiKey(id),
        (k) => `revoked ${k.apiKeyId} (${k.name})`,
      ),
  );
}
