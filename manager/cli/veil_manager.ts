// veil-manager: runs the key manager (`serve`) and administers it over its API (`token`,
// `host`). Administration reaches the manager over HTTPS like any client; on the
// manager's own machine `--data-dir` finds its CA certificate and first password there
// (`ca show` reads only that directory).
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { Command, InvalidArgumentError, Option } from 'commander';

import { ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';
import { readChallenge, showResponse } from '../../manager-client/offline_codes.js';
import {
  HOST_REPORT_TYPES,
  KEY_ALGORITHMS,
  REVOCATION_REASONS,
  REKEY_MODES,
  type GuardPointTransformation,
  type HostReportRecord,
  type HostView,
  type KeyVersionView,
  type RekeyMode,
  type HostReportType,
  type KeyAlgorithm,
  type KeyState,
  type KeyView,
  type RevocationReason,
  type Settings,
} from '../../manager-client/types.js';
import { errorReport } from '../../common/errors.js';
import { ADMIN_PASSWORD_FILE, FIRST_ADMIN } from '../admins.js';
import { readCaCertificate } from '../ca/authority.js';
import { startManager } from '../server/server.js';
import { addAuditCommands } from './audit_commands.js';
import { addBackupCommands } from './backup_commands.js';
import { addDomainCommands } from './domain_commands.js';
import { addSiemCommands } from './siem_commands.js';
import { addUserCommands } from './user_commands.js';

const DEFAULT_LISTEN = '127.0.0.1:8443';

interface Connection {
  manager: string;
  dataDir?: string;
  caFile?: string;
  admin: string;
  passwordFile?: string;
  apiKeyFile?: string;
  domain?: string;
  json?: boolean;
}

function fail(error: unknown, json: boolean | undefined): never {
  const { code, message } = errorReport(error);
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
  if (options.apiKeyFile !== undefined) {
    return new ManagerClient({
      url: options.manager,
      caPem: readText(caFile, 'CA certificate'),
      bearer: readText(options.apiKeyFile, 'API key file').trim(),
      domain: options.domain,
    });
  }
  return new ManagerClient({
    url: options.manager,
    caPem: readText(caFile, 'CA certificate'),
    admin: passwordFile
      ? { name: options.admin, password: readText(passwordFile, 'password file').trim() }
      : undefined,
    domain: options.domain,
  });
}

/** Runs a call against the manager and prints its answer: as JSON with --json, else `human`. */
async function act<T>(
  options: Connection,
  call: (api: ManagerClient) => Promise<T>,
  human: (result: T) => string,
) {
  try {
    const result = await call(client(options));
    process.stdout.write(`${options.json ? JSON.stringify(result) : human(result)}\n`);
  } catch (error) {
    fail(error, options.json);
  }
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
    .option('--api-key-file <file>', 'a file holding an API key, used instead of --admin and a password')
    .option(
      '--domain <name>',
      "the domain to work in (a root domain administrator's choice; default: one's own)",
    )
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
            `${JSON.stringify({ ok: true, url: manager.url, port: manager.port, caFile, caFingerprint: manager.caFingerprint, adminPasswordFile: manager.adminPasswordFile ?? null })}\n`,
          );
        } else {
          process.stdout.write(`veil-manager: listening on ${manager.url} (CA certificate: ${caFile})\n`);
          process.stdout.write(`veil-manager: CA fingerprint (SHA-256): ${manager.caFingerprint}\n`);
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

const ca = program.command('ca').description("the manager's certificate authority");
ca.command('show')
  .description('the CA fingerprint (what hosts pin), subject and validity, read from the data directory')
  .requiredOption('--data-dir <dir>', "the manager's data directory")
  .option('--json', 'print as JSON')
  .action((options: { dataDir: string; json?: boolean }) => {
    try {
      const info = readCaCertificate(path.resolve(options.dataDir));
      process.stdout.write(
        options.json
          ? `${JSON.stringify(info)}\n`
          : `fingerprint (SHA-256): ${info.fingerprint}\nsubject: ${info.subject}\nserial: ${info.serial}\n` +
              `valid from ${info.notBefore} until ${info.notAfter}\ncertificate: ${info.file}\n`,
      );
    } catch (error) {
      fail(error, options.json);
    }
  });

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
          `${h.hostId}  ${h.name}  group=${h.hostGroup ?? '-'}  ` +
            `${h.deregisteredAt ? `de-registered ${h.deregisteredAt}` : `certificate until ${h.certificateNotAfter}`}\n`,
        );
      }
      if (hosts.length === 0) process.stdout.write('no hosts registered\n');
    } catch (error) {
      fail(error, options.json);
    }
  },
);

const count = (n: number, one: string, many = `${one}s`): string =>
  `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** Done and total bytes in the total's unit: "1.2/4.8 GiB". */
function byteRange(done: number, total: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let unit = 0;
  while (unit < units.length - 1 && total >= 1024 ** (unit + 1)) unit++;
  const show = (n: number) => (unit === 0 ? String(n) : (n / 1024 ** unit).toFixed(1));
  return `${show(done)}/${show(total)} ${units[unit]}`;
}

/** 200 -> "3m20s". */
function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

/** "rekey running 1,234/5,000 files, 1.2/4.8 GiB (25%), ETA 3m20s; files under 3f2a9c1e…:1 (1,200)" */
function describeTransformation(t: GuardPointTransformation): string {
  const percent =
    t.bytesTotal > 0
      ? Math.floor((100 * t.bytesDone) / t.bytesTotal)
      : t.filesTotal > 0
        ? Math.floor((100 * t.filesDone) / t.filesTotal)
        : null;
  const parts = [
    `rekey ${t.state} ${t.filesDone.toLocaleString('en-US')}/${t.filesTotal.toLocaleString('en-US')} files, ` +
      `${byteRange(t.bytesDone, t.bytesTotal)}${percent === null ? '' : ` (${percent}%)`}` +
      `${t.etaSeconds === null ? '' : `, ETA ${duration(t.etaSeconds)}`}` +
      `${t.plaintextFiles > 0 ? `, ${count(t.plaintextFiles, 'plaintext file')}` : ''}` +
      `${t.message ? ` (${t.message})` : ''}`,
    t.keyVersions.length === 0
      ? 'no encrypted files'
      : 'files under ' +
        t.keyVersions
          .map((k) => `${k.keyId.slice(0, 8)}…:${k.version} (${k.files.toLocaleString('en-US')})`)
          .join(', '),
  ];
  return parts.join('; ');
}

/** A host in full: certificate, group, last contact and the guard point status it reported. */
function describeHost(h: HostView, paths: ReadonlyMap<string, string> = new Map()): string {
  const lines = [
    `host ${h.hostId}: ${h.name}`,
    `  group:        ${h.hostGroup ?? '-'}`,
    `  registered:   ${h.registeredAt}`,
    `  certificate:  serial ${h.certificateSerial}, valid until ${h.certificateNotAfter}`,
    `  last seen:    ${h.lastSeenAt ?? 'never'}`,
    ...(h.deregisteredAt ? [`  de-registered ${h.deregisteredAt}: certificate revoked`] : []),
    `  guard points: ${h.guardPoints.length === 0 ? 'none reported' : ''}`,
    ...h.guardPoints.flatMap((g) => [
      `    ${paths.get(g.guardPointId) ?? g.guardPointId}: ${g.state}${g.message ? ` (${g.message})` : ''}` +
        `${g.transformation ? `; ${describeTransformation(g.transformation)}` : ''}`,
      `      guard point ${g.guardPointId}${g.reportedAt ? `, reported ${g.reportedAt}` : ''}`,
    ]),
  ];
  return lines.join('\n');
}

connectionOptions(
  host
    .command('show <host-id>')
    .description('one host: certificate, group, last seen, guard points and their live data transformation'),
).action((id: string, options: Connection) => {
  let paths = new Map<string, string>();
  return act(
    options,
    async (api) => {
      const shown = await api.host(id);
      // The guard points' paths, for the human form (the JSON form is the host as the API answers).
      if (!options.json) paths = new Map((await api.guardPoints()).map((g) => [g.guardPointId, g.path]));
      return shown;
    },
    (shown) => describeHost(shown, paths),
  );
});
connectionOptions(
  host
    .command('remove <host-id>')
    .description('de-register a host: certificate revoked, connections closed, its guard points released'),
).action((id: string, options: Connection) =>
  act(
    options,
    (api) => api.deregisterHost(id),
    (h) => `host ${h.hostId} de-registered; it releases its guard points (the data stays encrypted)`,
  ),
);

/** An offline password from a file: the file's text without its final line break. */
function readPasswordFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ManagerError('VEIL_HOST_BAD_REQUEST', `cannot read ${file}: ${(error as Error).message}`);
  }
  return text.replace(/\r?\n$/, '');
}

connectionOptions(
  host
    .command('offline-password <host-id>')
    .description(
      "set a host's offline password (for `agentctl unlock --password` while the manager is unreachable); " +
        'without --offline-password-file the manager makes one, shown once',
    )
    .option(
      '--offline-password-file <file>',
      'a file holding the password (12 to 256 characters; its final line break is not part of it)',
    ),
).action((id: string, options: Connection & { offlinePasswordFile?: string }) =>
  act(
    options,
    (api) =>
      api.setOfflinePassword(
        id,
        options.offlinePasswordFile === undefined ? undefined : readPasswordFile(options.offlinePasswordFile),
      ),
    (set) =>
      set.password === undefined
        ? `offline password of host ${set.hostId} set at ${set.setAt}; the host gets it when connected`
        : `${set.password}\n(offline password of host ${set.hostId}, set at ${set.setAt}: shown once, ` +
          'the manager does not keep it; the host gets its wrapper when connected)',
  ),
);
connectionOptions(
  host
    .command('respond <host-id> <challenge>')
    .description(
      'answer the challenge `agentctl challenge` shows on a host that cannot reach the manager; ' +
        'the host unlocks with `agentctl unlock --response`',
    ),
).action((id: string, challenge: string, options: Connection) =>
  act(
    options,
    (api) => api.offlineResponse(id, readChallenge(challenge)),
    (answer) => showResponse(answer.response),
  ),
);

/** A field of a log line: as it is when plain, else quoted (JSON) so that a line stays one line. */
function logField(value: string | number | null | undefined): string {
  if (value === undefined || value === null) return '-';
  const text = String(value);
  return text === '' || /[\s"\\\p{C}]/u.test(text) ? JSON.stringify(text) : text;
}

/** One reported event as a line: access events in the shape of an access log. */
function describeReport(e: HostReportRecord): string {
  const where = `${logField(e.guardPoint)} ${logField(e.path)}`;
  if (e.access) {
    const a = e.access;
    return (
      `${e.time} access ${where} uid=${logField(e.uid)} pid=${logField(e.pid)} action=${a.action} ` +
      `effect=${a.effect}${a.learned ? ' (learned)' : ''} rule=${a.rule ?? 'none'} ` +
      `policy=${logField(a.policy)} exe=${logField(a.executable)}`
    );
  }
  return `${e.time} ${e.type} ${where}${e.code ? ` ${e.code}` : ''}: ${logField(e.message)}`;
}

connectionOptions(
  host
    .command('events <host-id>')
    .description("a host's reported events, newest first: access records, tamper, key problems, failures")
    .addOption(
      new Option('--limit <n>', 'at most this many (1 to 1000)').argParser(positiveInteger).default(100),
    )
    .addOption(new Option('--type <type>', 'only events of this type').choices(HOST_REPORT_TYPES)),
).action((id: string, options: Connection & { limit: number; type?: HostReportType }) =>
  act(
    options,
    (api) => api.hostEvents(id, { limit: options.limit, type: options.type }),
    (events) => (events.length === 0 ? 'no events' : events.map(describeReport).join('\n')),
  ),
);

const key = program
  .command('key')
  .description('keys and their versions (NIST SP 800-57 lifecycle, docs/keys.md)');

function isoDate(value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new InvalidArgumentError('an ISO 8601 date, e.g. 2027-01-31T00:00:00Z');
  return new Date(ms).toISOString();
}

/** Where a version that is not active is still in use, and whether it may be destroyed now. */
function describeUsage(v: KeyVersionView): string {
  if (v.state === 'active' || v.state === 'destroyed') return '';
  const { hostsUsing, hostsPending, destroyable, reason } = v.usage;
  if (destroyable) return '; unused on every host: may be destroyed';
  const files = hostsUsing.reduce((sum, h) => sum + h.files, 0);
  const waiting = hostsPending.length - hostsUsing.length;
  const parts = [
    ...(hostsUsing.length > 0
      ? [`in use on ${count(hostsUsing.length, 'host')} (${count(files, 'file')})`]
      : []),
    ...(waiting > 0 ? [`not yet reported unused by ${count(waiting, 'host')}`] : []),
  ];
  return `; ${parts.length > 0 ? parts.join(', ') : `kept: ${reason ?? 'in use'}`}`;
}

function describeKey(k: KeyView): string {
  const versions = k.versions.map(
    (v) =>
      `  version ${v.version}: ${v.state}${v.deactivationDate ? `, deactivates ${v.deactivationDate}` : ''}` +
      `${v.revocationReason ? `, revoked (${v.revocationReason}, compromised ${v.compromiseDate ?? '?'})` : ''}` +
      `${v.hasMaterial ? '' : ', material destroyed'}${v.version > 1 ? `, rekey ${v.rekey}` : ''}` +
      describeUsage(v),
  );
  return [`${k.keyId}  ${k.name}  ${k.algorithm}`, ...versions].join('\n');
}

/** Runs an administrator call and prints the key (or keys) it answers with. */
function showKeys(options: Connection, call: (api: ManagerClient) => Promise<KeyView | KeyView[]>) {
  return act(options, call, (result) => {
    const all = Array.isArray(result) ? result : [result];
    return all.length === 0 ? 'no keys' : all.map(describeKey).join('\n');
  });
}

type Dates = { activation?: string; deactivation?: string };

connectionOptions(
  key
    .command('create <name>')
    .description('make a key; version 1 becomes active at --activation (default now)')
    .addOption(
      new Option('--algorithm <algorithm>', "key algorithm (default: the settings')").choices(KEY_ALGORITHMS),
    )
    .option('--activation <date>', 'when version 1 becomes active (ISO 8601)', isoDate)
    .option('--deactivation <date>', 'when it is deactivated: its cryptoperiod ends (ISO 8601)', isoDate),
).action((name: string, options: Connection & Dates & { algorithm?: KeyAlgorithm }) =>
  showKeys(options, (api) =>
    api.createKey({
      name,
      algorithm: options.algorithm,
      activationDate: options.activation,
      deactivationDate: options.deactivation,
    }),
  ),
);
connectionOptions(key.command('list').description('every key and its versions')).action(
  (options: Connection) => showKeys(options, (api) => api.keys()),
);
connectionOptions(key.command('show <key-id>').description('one key and its versions')).action(
  (id: string, options: Connection) => showKeys(options, (api) => api.key(id)),
);
connectionOptions(
  key
    .command('rotate <key-id>')
    .description('a new active version; the versions active until now are deactivated')
    .option('--deactivation <date>', "when the new version's cryptoperiod ends (ISO 8601)", isoDate)
    .addOption(
      new Option(
        '--rekey <mode>',
        "how hosts move files to the new version: rewrap = header-only rewrap of each file's key under " +
          'the new version, O(files); full = every file re-encrypted under a new file key. ' +
          'A compromised version always forces full on the host',
      )
        .choices(REKEY_MODES)
        .default('rewrap'),
    ),
).action((id: string, options: Connection & Dates & { rekey: RekeyMode }) =>
  showKeys(options, (api) => api.rotateKey(id, options.deactivation, options.rekey)),
);
connectionOptions(
  key
    .command('state <key-id> <version> <state>')
    .description(
      'move a version: active, suspended or deactivated (revoke and destroy have their own commands)',
    ),
).action((id: string, version: string, state: string, options: Connection) =>
  showKeys(options, (api) => api.setKeyState(id, positiveInteger(version), state as KeyState)),
);
connectionOptions(
  key
    .command('revoke <key-id> <version>')
    .description('mark a version compromised')
    .addOption(
      new Option('--reason <reason>', 'KMIP revocation reason')
        .choices(REVOCATION_REASONS)
        .default('key-compromise'),
    )
    .option('--compromise-date <date>', 'when the compromise happened (ISO 8601; default now)', isoDate),
).action(
  (
    id: string,
    version: string,
    options: Connection & { reason: RevocationReason; compromiseDate?: string },
  ) =>
    showKeys(options, (api) =>
      api.revokeKey(id, positiveInteger(version), options.reason, options.compromiseDate),
    ),
);
connectionOptions(
  key.command('destroy <key-id> <version>').description("destroy a version's material (its metadata stays)"),
).action((id: string, version: string, options: Connection) =>
  showKeys(options, (api) => api.destroyKey(id, positiveInteger(version))),
);

connectionOptions(
  key.command('import-key').description("print the manager's import public key (PEM): wrap material to it"),
).action((options: Connection) =>
  act(
    options,
    (api) => api.importKeyInfo(),
    (info) => info.publicKey.trimEnd(),
  ),
);
connectionOptions(
  key
    .command('import <name>')
    .description('make a key from material wrapped to the import key (RSA-OAEP, SHA-256), read from a file')
    .requiredOption('--wrapped-file <file>', 'the wrapped material (binary)')
    .addOption(new Option('--algorithm <algorithm>', 'key algorithm').choices(KEY_ALGORITHMS))
    .option('--activation <date>', 'when version 1 becomes active (ISO 8601)', isoDate)
    .option('--deactivation <date>', 'when it is deactivated (ISO 8601)', isoDate),
).action((name: string, options: Connection & Dates & { wrappedFile: string; algorithm?: KeyAlgorithm }) =>
  showKeys(options, (api) => {
    let wrapped: Buffer;
    try {
      wrapped = readFileSync(options.wrappedFile);
    } catch (error) {
      throw new ManagerError(
        'VEIL_KEY_BAD_REQUEST',
        `cannot read ${options.wrappedFile}: ${(error as Error).message}`,
      );
    }
    return api.importKey({
      name,
      algorithm: options.algorithm,
      wrapped: wrapped.toString('base64'),
      activationDate: options.activation,
      deactivationDate: options.deactivation,
    });
  }),
);
connectionOptions(
  key
    .command('export <key-id> <version>')
    .description("print a version's material encrypted to your RSA public key (base64; RSA-OAEP, SHA-256)")
    .requiredOption('--wrapping-key <file>', 'your RSA public key (PEM, 3072 bits or more)'),
).action((id: string, version: string, options: Connection & { wrappingKey: string }) =>
  act(
    options,
    (api) => api.exportKey(id, positiveInteger(version), readText(options.wrappingKey, 'wrapping key')),
    (exported) => exported.wrapped,
  ),
);

connectionOptions(
  program.command('inventory').description('every key version and certificate: type, usage, state, dates'),
).action((options: Connection) =>
  act(
    options,
    (api) => api.inventory(),
    (inv) =>
      [
        ...inv.keys.map(
          (k) => `key ${k.keyId} v${k.version} (${k.name})  ${k.algorithm}  ${k.state}  since ${k.createdAt}`,
        ),
        ...inv.certificates.map(
          (c) => `certificate ${c.serial}  ${c.usage}  ${c.state}  until ${c.notAfter}`,
        ),
      ].join('\n'),
  ),
);

const settings = program
  .command('settings')
  .description("the domain's key algorithm and the manager's settings");
const describeSettings = (s: Settings): string =>
  [
    `domain: ${s.domain}`,
    `key algorithm: ${s.keyAlgorithm}`,
    `separate auditor: ${s.separateAuditor ? 'on' : 'off'}`,
    `session lifetime: ${s.sessionLifetimeSeconds} s`,
  ].join('\n');
connectionOptions(settings.command('show').description('the settings')).action((options: Connection) =>
  act(options, (api) => api.settings(), describeSettings),
);
connectionOptions(
  settings
    .command('set')
    .description("change the settings (the manager's own only in the root domain)")
    .addOption(
      new Option('--key-algorithm <algorithm>', "the domain's algorithm of new keys").choices(KEY_ALGORITHMS),
    )
    .addOption(
      new Option('--separate-auditor <on|off>', 'whether an auditor may hold no other role').choices([
        'on',
        'off',
      ]),
    ),
).action((options: Connection & { keyAlgorithm?: KeyAlgorithm; separateAuditor?: 'on' | 'off' }) =>
  act(
    options,
    (api) =>
      api.changeSettings({
        keyAlgorithm: options.keyAlgorithm,
        separateAuditor: options.separateAuditor === undefined ? undefined : options.separateAuditor === 'on',
      }),
    describeSettings,
  ),
);

const hostGroup = program
  .command('hostgroup')
  .description('host groups: guard points can be given to a whole group');
connectionOptions(hostGroup.command('create <name>').description('make a host group')).action(
  (name: string, options: Connection) =>
    act(
      options,
      (api) => api.createHostGroup(name),
      (g) => `made ${g.name}`,
    ),
);
connectionOptions(hostGroup.command('list').description('every host group and its hosts')).action(
  (options: Connection) =>
    act(
      options,
      (api) => api.hostGroups(),
      (groups) =>
        groups.length === 0
          ? 'no host groups'
          : groups
              .map((g) => `${g.name}: ${g.hostIds.length === 0 ? 'no hosts' : g.hostIds.join(', ')}`)
              .join('\n'),
    ),
);
connectionOptions(hostGroup.command('assign <host-id> <group>').description('put a host in a group')).action(
  (id: string, group: string, options: Connection) =>
    act(
      options,
      (api) => api.setHostGroup(id, group),
      (h) => `${h.name} is in ${h.hostGroup ?? 'no group'}`,
    ),
);
connectionOptions(hostGroup.command('unassign <host-id>').description('take a host out of its group')).action(
  (id: string, options: Connection) =>
    act(
      options,
      (api) => api.setHostGroup(id, null),
      (h) => `${h.name} is in no group`,
    ),
);

const policy = program.command('policy').description('policies (docs/policy.md)');
connectionOptions(
  policy.command('put <file>').description('add a policy from a JSON file, or replace the one of its name'),
).action((file: string, options: Connection) =>
  act(
    options,
    (api) => {
      let document: unknown;
      try {
        document = JSON.parse(readText(file, 'policy file'));
      } catch (error) {
        if (error instanceof ManagerError) throw error;
        throw new ManagerError('VEIL_POLICY_REJECTED', `${file} is not JSON: ${(error as Error).message}`);
      }
      return api.putPolicy(document);
    },
    (p) => `policy ${p.name} is at version ${p.version}`,
  ),
);
connectionOptions(policy.command('list').description('every policy')).action((options: Connection) =>
  act(
    options,
    (api) => api.policies(),
    (all) =>
      all.length === 0 ? 'no policies' : all.map((p) => `${p.name}  version ${p.version}`).join('\n'),
  ),
);
connectionOptions(policy.command('show <name>').description('one policy, with its document')).action(
  (name: string, options: Connection) =>
    act(
      options,
      (api) => api.policy(name),
      (p) => JSON.stringify(p, null, 2),
    ),
);

const guardPoint = program
  .command('guardpoint')
  .description('guard points: a policy on a directory of hosts');
connectionOptions(
  guardPoint
    .command('add <path>')
    .description('guard an absolute directory on one host or on every host of a group')
    .requiredOption('--policy <name>', 'the policy')
    .option('--host <host-id>', 'one host')
    .option('--host-group <group>', 'every host of a group')
    .option('--manual', 'the agent guards it only when told to (default: at once)'),
).action(
  (
    dir: string,
    options: Connection & { policy: string; host?: string; hostGroup?: string; manual?: boolean },
  ) =>
    act(
      options,
      (api) =>
        api.addGuardPoint({
          path: dir,
          policy: options.policy,
          hostId: options.host,
          hostGroup: options.hostGroup,
          automatic: !options.manual,
        }),
      (g) => `guard point ${g.guardPointId}: ${g.path} under ${g.policy}`,
    ),
);
connectionOptions(guardPoint.command('list').description('every guard point')).action((options: Connection) =>
  act(
    options,
    (api) => api.guardPoints(),
    (all) =>
      all.length === 0
        ? 'no guard points'
        : all
            .map(
              (g) =>
                `${g.guardPointId}  ${g.path}  policy=${g.policy}  ${g.hostId ? `host=${g.hostId}` : `group=${g.hostGroup ?? '-'}`}` +
                `${g.automatic ? '' : '  manual'}`,
            )
            .join('\n'),
  ),
);
connectionOptions(guardPoint.command('remove <guard-point-id>').description('remove a guard point')).action(
  (id: string, options: Connection) =>
    act(
      options,
      (api) => api.removeGuardPoint(id),
      () => `removed ${id}`,
    ),
);

addUserCommands<Connection>(program, { connectionOptions, act });
addDomainCommands<Connection>(program, { connectionOptions, act });
addAuditCommands<Connection>(program, { connectionOptions, act });
addBackupCommands<Connection>(program, { connectionOptions, act });
addSiemCommands<Connection>(program, { connectionOptions, act });

program.showHelpAfterError();
await program.parseAsync();
