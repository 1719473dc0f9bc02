// agentctl: drives veild through its control socket (root only). It never touches keys or
// the state directory itself. Exit status: 0 done, 1 refused or failed, 2 bad usage,
// 3 veild not running.
import { readFileSync } from 'node:fs';

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import { errorReport } from '../../common/errors.js';
import { promptSecret } from '../../common/prompt.js';
import { textTable } from '../../common/text_table.js';
import { readResponse, showChallenge } from '../../manager-client/offline_codes.js';
import { callAgent } from '../control/control_client.js';
import type {
  AgentEvent,
  AgentStatus,
  Command as AgentCommand,
  GuardPointState,
  Requests,
} from '../control/protocol.js';
import { AGENT_ERRORS, AgentError, isAgentErrorCode } from '../errors.js';
import { addLdtCommands } from './ldt_commands.js';

const DEFAULT_SOCKET = '/run/veil/agent.sock';

interface Global {
  socket: string;
  json?: boolean;
}

function globals(command: Command): Global {
  return command.optsWithGlobals<Global>();
}

function fail(error: unknown, json: boolean | undefined): never {
  const { code, message } = errorReport(error);
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, code, message })}\n`);
  else process.stderr.write(`agentctl: error: ${message} (${code})\n`);
  process.exit(isAgentErrorCode(code) ? AGENT_ERRORS[code] : 1);
}

async function run<C extends AgentCommand>(
  command: Command,
  name: C,
  args: Requests[C][0],
  show: (result: Requests[C][1]) => string,
  onMore?: (result: Requests[C][1]) => void,
): Promise<void> {
  const { socket, json } = globals(command);
  try {
    const result = await callAgent(socket, name, args, onMore);
    if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      const text = show(result);
      if (text !== '') process.stdout.write(`${text}\n`);
    }
  } catch (error) {
    fail(error, json);
  }
}

function guardTable(states: GuardPointState[]): string {
  if (states.length === 0) return '  (none assigned)';
  const rows = [['PATH', 'POLICY', 'CONFIG', 'STATUS', 'KEYS']];
  for (const s of states) {
    rows.push([s.path, `${s.policy} v${s.policyVersion}`, s.config, s.status, s.keys.join(',') || '-']);
  }
  const notes = states.filter((s) => s.message).map((s) => `  ${s.path}: ${s.message}`);
  return [textTable(rows).replace(/^/gm, '  '), ...notes].join('\n');
}

function showStatus(status: AgentStatus): string {
  if (!status.registered) return 'Registered:    no (agentctl register --manager URL --token TOKEN)';
  const m = status.manager;
  const lines = [
    `Host:          ${status.hostName} (${status.hostId})`,
    m
      ? `Manager:       ${m.url} ${m.connected ? 'connected' : 'unreachable'}; last contact ${m.lastContact ?? 'never'}, last update ${m.lastUpdate ?? 'never'}`
      : 'Manager:       -',
    ...(m?.lastError && !m.connected ? [`Last error:    ${m.lastError}`] : []),
    `Certificate:   valid until ${m?.certificateNotAfter ?? 'unknown'}; private key ${status.hostKey === 'sealed' ? 'sealed to this machine (systemd-creds)' : 'in a 0600 file (systemd-creds not found)'}`,
    ...(status.locked
      ? ['Locked:        yes: guard points refuse everything (agentctl unlock, or wait for the manager)']
      : []),
    `Offline:       ${status.offline?.passwordSet ? 'password set' : 'no password'}; ${status.offline?.sealedKeys ?? 0} sealed key version${status.offline?.sealedKeys === 1 ? '' : 's'}${status.offline?.sealedAt ? ` (sealed ${status.offline.sealedAt})` : ''}`,
    `Keys:          ${status.keys} key version${status.keys === 1 ? '' : 's'} in the native key table`,
    `Reports:       ${status.reportsQueued} queued for the manager`,
    'Guard points:',
    guardTable(status.guardPoints),
  ];
  return lines.join('\n');
}

const showEvent = (event: AgentEvent): string => `${event.time} ${event.line}`;

function limit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 1000)
    throw new InvalidArgumentError('a whole number from 0 to 1000');
  return n;
}

const program = new Command('agentctl')
  .description('Drives veild, the Veil agent of this host (root only)')
  .addOption(
    new Option('--socket <file>', "veild's control socket").env('VEIL_AGENT_SOCKET').default(DEFAULT_SOCKET),
  )
  .option('--json', 'print results as JSON, one object per line')
  .showHelpAfterError()
  .exitOverride();

program
  .command('register')
  .description('registers this host with a Veil manager (pins its CA by fingerprint)')
  .requiredOption('--manager <url>', 'the manager, https://HOST:PORT')
  .requiredOption('--token <token>', 'a registration token from veil-manager token create')
  .option('--fingerprint <sha256>', "the SHA-256 fingerprint of the manager's CA (veil-manager ca show)")
  .option('--hostname <name>', "this host's name at the manager (default: the system's host name)")
  .action(
    async (
      options: { manager: string; token: string; fingerprint?: string; hostname?: string },
      command: Command,
    ) =>
      run(command, 'register', options, (r) => `registered with ${r.manager} as ${r.hostName} (${r.hostId})`),
  );

program
  .command('unregister')
  .description('forgets the registration: guard points released, keys wiped, data left encrypted')
  .action(async (_options: unknown, command: Command) =>
    run(
      command,
      'unregister',
      {},
      (r) =>
        `unregistered host ${r.hostId}: guard points released, keys wiped; the manager lists the host until an administrator removes it (veil-manager host remove ${r.hostId})`,
    ),
  );

program
  .command('status')
  .description('manager link, certificate, keys and each guard point with its policy and status')
  .action(async (_options: unknown, command: Command) => run(command, 'status', {}, showStatus));

const guard = program.command('guard').description('guard points assigned to this host');
guard
  .command('list')
  .description('every guard point the manager assigned, with its state')
  .action(async (_options: unknown, command: Command) => run(command, 'guard.list', {}, guardTable));
guard
  .command('add')
  .description('turns on a manual guard point the manager assigned')
  .argument('<path>', 'the guarded directory')
  .action(async (target: string, _options: unknown, command: Command) =>
    run(
      command,
      'guard.add',
      { path: target },
      (s) => `${s.path}: ${s.status}${s.message ? ` (${s.message})` : ''}`,
    ),
  );
guard
  .command('remove')
  .description('turns off a manual guard point: unmounted, data left encrypted')
  .argument('<path>', 'the guarded directory')
  .action(async (target: string, _options: unknown, command: Command) =>
    run(
      command,
      'guard.remove',
      { path: target },
      (s) => `${s.path}: ${s.status}${s.message ? ` (${s.message})` : ''}`,
    ),
  );

program
  .command('keys')
  .description('key versions in the native key table: ids, versions, states (never material)')
  .action(async (_options: unknown, command: Command) =>
    run(command, 'keys', {}, (list) =>
      list.length === 0
        ? '(no keys)'
        : textTable([
            ['KEY', 'VERSION', 'STATE', 'ALGORITHM', 'ROLE'],
            ...list.map((k) => [k.keyId, String(k.version), k.state, k.algorithm, k.role]),
          ]),
    ),
  );

program
  .command('policy')
  .description('policies in force')
  .command('show')
  .description('the policy of each guard point (or of one)')
  .argument('[path]', 'a guarded directory')
  .action(async (target: string | undefined, _options: unknown, command: Command) =>
    run(command, 'policy.show', target === undefined ? {} : { path: target }, (list) =>
      list.length === 0
        ? '(no guard points)'
        : list
            .map(
              (p) =>
                `# ${p.guardPoint}: policy ${p.policy} version ${p.version}\n${JSON.stringify(p.document, null, 2)}`,
            )
            .join('\n'),
    ),
  );

/** The offline password typed without echo (or piped in); Ctrl-C cancels. */
async function readPassword(): Promise<string> {
  const password = await promptSecret('Offline password: ');
  if (password === undefined) throw new InvalidArgumentError('cancelled');
  return password;
}

function readPasswordFile(file: string): string {
  try {
    return (readFileSync(file, 'utf8').split('\n')[0] ?? '').trimEnd();
  } catch (error) {
    throw new AgentError('VEIL_AGENT_BAD_REQUEST', `cannot read ${file}: ${(error as Error).message}`);
  }
}

program
  .command('challenge')
  .description('shows a challenge for an offline unlock: give it to an administrator of the manager')
  .action(async (_options: unknown, command: Command) =>
    run(
      command,
      'challenge',
      {},
      (r) =>
        `challenge: ${showChallenge(r.challenge)}\n` +
        `On the manager: veil-manager host respond ${r.hostId} ${showChallenge(r.challenge)}\n` +
        'Then here: agentctl unlock --response RESPONSE (this challenge holds until veild restarts or the next one)',
    ),
  );

program
  .command('unlock')
  .description(
    'unlocks guard points while the manager is unreachable: offline password or challenge response',
  )
  .option(
    '--password [password]',
    'the offline password set on the manager (without a value: read from standard input)',
  )
  .option('--password-file <file>', 'read the offline password from the first line of a file')
  .option('--response <response>', 'the response veil-manager host respond gave to agentctl challenge')
  .action(
    async (
      options: { password?: string | true; passwordFile?: string; response?: string },
      command: Command,
    ) => {
      const given = [options.password, options.passwordFile, options.response].filter((o) => o !== undefined);
      if (given.length !== 1) {
        process.stderr.write('agentctl: error: give one of --password, --password-file and --response\n');
        process.exit(2);
      }
      let password: string | undefined;
      try {
        if (options.passwordFile !== undefined) password = readPasswordFile(options.passwordFile);
        else if (options.password === true) password = await readPassword();
        else password = options.password;
      } catch (error) {
        fail(error, globals(command).json);
      }
      await run(
        command,
        'unlock',
        password !== undefined ? { password } : { response: readResponse(options.response ?? '') },
        (r) =>
          `unlocked: ${r.keys} key versions back in the native key table; guard points open as their policies say`,
      );
    },
  );

program
  .command('events')
  .description('recent events: deliveries, guard point changes, denials, tamper')
  .option('--follow', 'keep printing new events until interrupted')
  .option('--limit <n>', 'how many recent events to print first', limit, 50)
  .action(async (options: { follow?: boolean; limit: number }, command: Command) => {
    const { json } = globals(command);
    const print = (event: AgentEvent): void => {
      process.stdout.write(`${json ? JSON.stringify(event) : showEvent(event)}\n`);
    };
    await run(command, 'events', { follow: options.follow ?? false, limit: options.limit }, () => '', print);
  });

addLdtCommands(program, run, fail);

try {
  await program.parseAsync();
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode === 0 ? 0 : 2);
  }
  fail(error, program.opts<Global>().json);
}
