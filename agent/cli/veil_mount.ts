// veil-mount: guards a directory in place with a raw key file, without a manager (tests,
// benchmarks, air-gapped hosts). By default it detaches once the guard point is up.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';

import { Command, InvalidArgumentError, Option } from 'commander';

import { errorReport } from '../../common/errors.js';
import { CIPHERS, type CipherName, type GuardPointEvent, type KeyRef } from '../../native/core.js';
import type { DecisionTable } from '../../policies/index.js';
import { startStandaloneRekey, type StandaloneRekey } from '../ldt/standalone_rekey.js';
import type { RekeyMode } from '../ldt/plan.js';
import { loadStandalonePolicy, mountStandalone, type ExtraKey } from '../mounts/standalone.js';
import { describeEvent } from './describe_event.js';
import { numberIn } from './number_option.js';

interface Options {
  keyFile?: string;
  key: ExtraKey[];
  policy?: string;
  cipher: CipherName;
  foreground?: boolean;
  unmount?: boolean;
  threads: number;
  json?: boolean;
  notifyParent?: boolean;
  rekey?: boolean;
  encryptExisting?: boolean;
  rekeyMode: RekeyMode;
  ldtJournal?: string;
  rate?: number;
  cpu?: number;
  compromised: KeyRef[];
}

type Outcome =
  { ok: true; directory: string; message: string } | { ok: false; code: string; message: string };

function report(options: Options, outcome: Outcome): never {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
  } else if (outcome.ok) {
    process.stdout.write(`${outcome.message}\n`);
  } else {
    process.stderr.write(`veil-mount: error: ${outcome.message} (${outcome.code})\n`);
  }
  process.exit(outcome.ok ? 0 : 1);
}

function failure(error: unknown): Outcome {
  return { ok: false, ...errorReport(error) };
}

function isGuardPoint(directory: string): boolean {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n');
  return mounts.some((line) => {
    const [, target, type] = line.split(' ');
    return type === 'fuse.veil' && target?.replace(/\\040/g, ' ') === directory;
  });
}

function unmount(directory: string, options: Options): never {
  let target: string;
  try {
    target = realpathSync(directory);
  } catch {
    report(options, { ok: false, code: 'VEIL_FS_BAD_DIRECTORY', message: `${directory} does not exist` });
  }
  if (!isGuardPoint(target)) {
    report(options, { ok: false, code: 'VEIL_FS_NOT_GUARDED', message: `${target} is not a guard point` });
  }
  const result = spawnSync('umount', [target], { encoding: 'utf8' });
  if (result.status !== 0) {
    const busy = /busy/i.test(result.stderr);
    report(options, {
      ok: false,
      code: busy ? 'VEIL_FS_BUSY' : 'VEIL_FS_UNMOUNT_FAILED',
      message: busy
        ? `${target} is in use: close the files and leave the directories under it, then try again`
        : `cannot unmount ${target}: ${result.stderr.trim()}`,
    });
  }
  report(options, { ok: true, directory: target, message: `released ${target}` });
}

// Serves the guard point in this process until a signal or an outside unmount.
function serve(directory: string, options: Options): void {
  let mount: ReturnType<typeof mountStandalone>;
  let policy: DecisionTable | undefined;
  let rekey: StandaloneRekey | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await rekey?.stop();
    await mount.unmount();
    process.exit(code);
  };
  try {
    if (options.policy !== undefined) policy = loadStandalonePolicy(options.policy, options.key);
    mount = mountStandalone({
      extraKeys: options.key,
      directory,
      keyFile: options.keyFile ?? '',
      cipher: options.cipher,
      threads: options.threads,
      policy,
      compromised: options.compromised,
      ...(options.rekey || options.encryptExisting
        ? {
            ldtJournal: journalFor(directory, options.ldtJournal),
            plaintextFiles: options.encryptExisting ? ('serve' as const) : ('refuse' as const),
          }
        : {}),
      onEvent: (event: GuardPointEvent) => {
        process.stderr.write(`veil-mount: ${describeEvent(event, mount?.directory ?? directory)}\n`);
        if (event.code === 'VEIL_FS_UNMOUNTED_EXTERNALLY') void stop(0);
      },
    });
  } catch (error) {
    if (options.notifyParent && process.send) {
      process.send(failure(error), () => process.exit(1));
      return;
    }
    report(options, failure(error));
  }
  if (options.rekey || options.encryptExisting) {
    rekey = startStandaloneRekey(mount, policy, {
      mode: options.rekeyMode,
      qos: {
        ...(options.rate === undefined ? {} : { rateMBps: options.rate }),
        ...(options.cpu === undefined ? {} : { cpuShare: options.cpu }),
      },
      json: options.json === true,
    });
  }
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));
  // SIGUSR1 reads the policy file again; a bad one is reported and the policy in force stays.
  process.on('SIGUSR1', () => {
    if (options.policy === undefined) {
      process.stderr.write('veil-mount: SIGUSR1: no --policy to reload\n');
      return;
    }
    try {
      const next = loadStandalonePolicy(options.policy, options.key);
      mount.setPolicy(next);
      rekey?.setPolicy(next);
      process.stderr.write(`veil-mount: policy: now ${next.name} (sha256 ${next.digest.slice(0, 16)}…)\n`);
    } catch (error) {
      const { code, message } = failure(error) as { code: string; message: string };
      process.stderr.write(
        `veil-mount: policy: not reloaded, the one in force stays: ${message} (${code})\n`,
      );
    }
  });
  const under = policy === undefined ? '' : ` under policy ${policy.name}`;
  const message = `guarding ${mount.directory} with ${options.cipher}${under} (pid ${process.pid})`;
  if (options.notifyParent && process.send) {
    process.send({ ok: true, directory: mount.directory, message } satisfies Outcome, () =>
      process.disconnect(),
    );
  } else if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ ok: true, directory: mount.directory, message, pid: process.pid })}\n`,
    );
  } else {
    process.stdout.write(`${message}\n`);
  }
}

// Starts a detached copy in the foreground mode and waits for it to say it is ready.
function detach(options: Options, argv: string[]): void {
  const child = spawn(
    process.execPath,
    [...process.execArgv, process.argv[1] ?? '', ...argv, '--notify-parent'],
    {
      detached: true,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    },
  );
  child.once('message', (outcome: Outcome) => {
    child.disconnect();
    child.unref();
    report(options, outcome);
  });
  child.once('exit', (code) => {
    report(options, {
      ok: false,
      code: 'VEIL_INTERNAL',
      message: `the guard point process exited (${code})`,
    });
  });
}

const KEY_ARGUMENT =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):([1-9][0-9]{0,9})=(.+)$/;

function extraKey(value: string, previous: ExtraKey[]): ExtraKey[] {
  const match = KEY_ARGUMENT.exec(value);
  const version = Number(match?.[2]);
  if (!match || version > 0xffffffff) {
    throw new InvalidArgumentError(
      'expected KEY-ID:VERSION=FILE (a lower-case UUID, a version from 1, a key file)',
    );
  }
  return [...previous, { ref: { keyId: match[1], version }, file: match[3] }];
}

function keyRef(value: string, previous: KeyRef[]): KeyRef[] {
  const match = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):([1-9][0-9]{0,9})$/.exec(
    value,
  );
  if (!match || Number(match[2]) > 0xffffffff) {
    throw new InvalidArgumentError('expected KEY-ID:VERSION (a lower-case UUID, a version from 1)');
  }
  return [...previous, { keyId: match[1], version: Number(match[2]) }];
}

/** The rekey journal lives outside the guard point, one per directory. */
function journalFor(directory: string, given: string | undefined): string {
  if (given !== undefined) return path.resolve(given);
  const folder = '/var/lib/veil/mount';
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const id = createHash('sha256').update(path.resolve(directory)).digest('hex').slice(0, 32);
  return path.join(folder, `${id}.journal`);
}

function threadCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('a whole number from 1 to 64');
  return n;
}

const program = new Command()
  .name('veil-mount')
  .description('Guard a directory in place with a raw key file: files under it are stored encrypted.')
  .argument('<dir>', 'the directory to guard (or to release, with --unmount)')
  .option('--key-file <file>', 'file holding the 32-byte raw key (owned by you, mode 0600)')
  .option('--policy <file>', 'policy (docs/policy.md) deciding who may do what; SIGUSR1 reloads it')
  .option(
    '--key <id:version=file>',
    "another key for the policy's key rules, from its 32-byte raw key file (repeatable)",
    extraKey,
    [],
  )
  .addOption(new Option('--cipher <cipher>', 'cipher for new files').choices(CIPHERS).default('aes-256-gcm'))
  .option('--foreground', 'stay in the foreground until SIGINT/SIGTERM (default: detach once mounted)')
  .option('--unmount', 'release the guard point at <dir>')
  .option('--threads <n>', 'most FUSE worker threads (at least 2 run)', threadCount, 8)
  .option('--json', 'print results as JSON (and, with --rekey, progress as JSON lines)')
  .option(
    '--rekey',
    "live data transformation: move files not under the policy's keys to them in place (rotation, data transformation rules, compromised versions)",
  )
  .option(
    '--encrypt-existing',
    'serve plaintext files already in <dir> and encrypt them in place (implies --rekey)',
  )
  .addOption(
    new Option(
      '--rekey-mode <mode>',
      'for a rotation (same key, new version): rewrap headers or re-encrypt in full',
    )
      .choices(['rewrap', 'full'])
      .default('rewrap'),
  )
  .option(
    '--compromised <id:version>',
    'hold this key version as compromised: its files are fully re-encrypted (repeatable)',
    keyRef,
    [],
  )
  .option(
    '--ldt-journal <file>',
    'rekey crash journal, outside <dir> (default /var/lib/veil/mount/<hash>.journal)',
  )
  .option('--rate <MBps>', 'rekey rate cap in MB/s (0: none)', numberIn('the rate', 0, 100000))
  .option('--cpu <share>', 'fraction of one CPU rekeying may use', numberIn('the CPU share', 0.01, 1))
  .addOption(new Option('--notify-parent').hideHelp())
  .showHelpAfterError()
  .action((directory: string, options: Options) => {
    if (options.unmount) unmount(directory, options);
    if (!options.keyFile) {
      report(options, {
        ok: false,
        code: 'VEIL_USAGE',
        message: '--key-file is required to guard a directory',
      });
    }
    if (options.foreground || options.notifyParent) {
      serve(directory, options);
    } else {
      detach(options, process.argv.slice(2).concat('--foreground'));
    }
  });

program.parse();
