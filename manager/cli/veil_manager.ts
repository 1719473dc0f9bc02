// veil-manager: runs the key manager (`serve`) and administers it over its API (`token`,
// `host`). Administration reaches the manager over HTTPS like any client; on the
// manager's own machine `--data-dir` finds its CA certificate and first password there.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { Command, InvalidArgumentError, Option } from 'commander';

import { ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';
import { VeilError } from '../../common/errors.js';
import { ADMIN_PASSWORD_FILE, FIRST_ADMIN } from '../admins.js';
import { startManager } from '../server/server.js';

const DEFAULT_LISTEN = '127.0.0.1:8443';

interface Connection {
  manager: string;
  dataDir?: string;
  caFile?: string;
  admin: string;
  passwordFile?: string;
  json?: boolean;
}

function fail(error: unknown, json: boolean | undefined): never {
  const code = error instanceof VeilError ? String(error.code) : 'VEIL_INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, code, message })}\n`);
  else process.stderr.write(`veil-manager: error: ${message} (${code})\n`);
  process.exit(1);
}

function listenAddress(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535)
    throw new InvalidArgumentError('expected HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:8443');
  return { host: match[1] ?? match[2] ?? '', port };
}

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
  return n;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new ManagerError(
      'VEIL_MANAGER_UNREACHABLE',
      `cannot read the ${what} ${file}: ${(error as Error).message}`,
    );
  }
}

function client(options: Connection): ManagerClient {
  const caFile = options.caFile ?? (options.dataDir ? path.join(options.dataDir, 'ca.crt') : undefined);
  const passwordFile =
    options.passwordFile ?? (options.dataDir ? path.join(options.dataDir, ADMIN_PASSWORD_FILE) : undefined);
  if (!caFile)
    throw new ManagerError(
      'VEIL_MANAGER_UNREACHABLE',
      "give --ca-file (the manager's CA certificate) or --data-dir",
    );
  return new ManagerClient({
    url: options.manager,
    caPem: readText(caFile, 'CA certificate'),
    admin: passwordFile
      ? { name: options.admin, password: readText(passwordFile, 'password file').trim() }
      : undefined,
  });
}

function connectionOptions(command: Command): Command {
  return command
    .option('--manager <url>', 'the manager', `https://${DEFAULT_LISTEN}`)
    .option(
      '--data-dir <dir>',
      "the manager's data directory, on its own machine: CA and first password from there",
    )
    .option('--ca-file <file>', "the manager's CA certificate (PEM)")
    .option('--admin <name>', 'administrator name', FIRST_ADMIN)
    .option('--password-file <file>', "a file holding the administrator's password")
    .option('--json', 'print results as JSON');
}

const program = new Command()
  .name('veil-manager')
  .description('The Veil key manager and its administration.');

program
  .command('serve')
  .description('run the manager: HTTPS API under /v1/, data (store, master key, CA) in --data-dir')
  .requiredOption('--data-dir <dir>', 'data directory (made 0700 on first start)')
  .option('--listen <host:port>', 'address to listen on', listenAddress, listenAddress(DEFAULT_LISTEN))
  .option('--hostname <name...>', 'names for the server certificate made on first start (besides localhost)')
  .option('--json', 'print the listening line as JSON')
  .action(
    async (options: {
      dataDir: string;
      listen: { host: string; port: number };
      hostname?: string[];
      json?: boolean;
    }) => {
      try {
        const manager = await startManager({
          dataDir: options.dataDir,
          host: options.listen.host,
          port: options.listen.port,
          hostnames: options.hostname,
        });
        const caFile = path.join(path.resolve(options.dataDir), 'ca.crt');
        if (options.json) {
          process.stdout.write(
            `${JSON.stringify({ ok: true, url: manager.url, port: manager.port, caFile, adminPasswordFile: manager.adminPasswordFile ?? null })}\n`,
          );
        } else {
          process.stdout.write(`veil-manager: listening on ${manager.url} (CA certificate: ${caFile})\n`);
          if (manager.adminPasswordFile) {
            process.stdout.write(
              `veil-manager: first start: administrator "${FIRST_ADMIN}", password in ${manager.adminPasswordFile}\n`,
            );
          }
        }
        let closing = false;
        for (const signal of ['SIGINT', 'SIGTERM'] as const) {
          process.on(signal, () => {
            if (closing) return;
            closing = true;
            void manager.close().then(() => process.exit(0));
          });
        }
      } catch (error) {
        fail(error, options.json);
      }
    },
  );

const token = program.command('token').description('registration tokens');
connectionOptions(
  token
    .command('create')
    .description('make a registration token (shown once)')
    .addOption(
      new Option('--lifetime <seconds>', 'how long the token lives (60 s to 30 days)')
        .argParser(positiveInteger)
        .default(3600),
    )
    .addOption(new Option('--max-uses <n>', 'registrations it allows').argParser(positiveInteger).default(1))
    .option('--host-group <group>', 'host group of the hosts it registers')
    .option('--name-prefix <prefix>', "put before each registered host's name"),
).action(
  async (
    options: Connection & { lifetime: number; maxUses: number; hostGroup?: string; namePrefix?: string },
  ) => {
    try {
      const made = await client(options).createToken({
        lifetimeSeconds: options.lifetime,
        maxUses: options.maxUses,
        hostGroup: options.hostGroup,
        namePrefix: options.namePrefix,
      });
      if (options.json) process.stdout.write(`${JSON.stringify(made)}\n`);
      else
        process.stdout.write(
          `${made.token}\n(expires ${made.expiresAt}, ${made.maxUses} use(s); shown once)\n`,
        );
    } catch (error) {
      fail(error, options.json);
    }
  },
);

const host = program.command('host').description('registered hosts');
connectionOptions(host.command('list').description('the host inventory')).action(
  async (options: Connection) => {
    try {
      const hosts = await client(options).hosts();
      if (options.json) {
        process.stdout.write(`${JSON.stringify(hosts)}\n`);
        return;
      }
      for (const h of hosts) {
        process.stdout.write(
          `${h.hostId}  ${h.name}  group=${h.hostGroup ?? '-'}  certificate until ${h.certificateNotAfter}\n`,
        );
      }
      if (hosts.length === 0) process.stdout.write('no hosts registered\n');
    } catch (error) {
      fail(error, options.json);
    }
  },
);

program.showHelpAfterError();
await program.parseAsync();
