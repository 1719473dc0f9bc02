// veil-manager backup …: encrypted backups of the whole manager (docs/backup.md). Keys and
// backups are made by the running manager over its API; `show`, `verify` and `restore`
// work offline on files, `restore` into the data directory of a stopped manager. A
// passphrase comes from a file (--passphrase-file) or a prompt, never the command line.
// Key files and backups are written 0600, atomically, and never over an existing file.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { writeNewFileAtomically } from '../../common/files.js';
import { errorReport } from '../../common/errors.js';
import { promptSecret } from '../../common/prompt.js';
import { ManagerError } from '../../manager-client/errors.js';
import type { BackupKeyFile, BackupKeyView } from '../../manager-client/types.js';
import { headerLength, parseHeader, PREFIX_BYTES } from '../backup/backup_file.js';
import { checkPassphrase } from '../backup/key_file.js';
import { restoreBackup, showBackup, type RestoreResult } from '../backup/restore.js';
import type { CommandHelpers } from './command_helpers.js';

type Helpers<C> = CommandHelpers<C>;

interface PassphraseOptions {
  passphraseFile?: string;
}

interface Offline extends PassphraseOptions {
  in: string;
  keyFile?: string;
  json?: boolean;
}

const badRequest = (message: string) => new ManagerError('VEIL_BACKUP_BAD_REQUEST', message);

/** The passphrase: the file's text without its final line break, or typed (twice for a new key). */
async function passphrase(options: PassphraseOptions, confirm: boolean): Promise<string> {
  if (options.passphraseFile !== undefined) {
    try {
      return checkPassphrase(readFileSync(options.passphraseFile, 'utf8').replace(/\r?\n$/, ''));
    } catch (error) {
      if (error instanceof ManagerError) throw error;
      throw badRequest(
        `cannot read ${options.passphraseFile}: ${(error as NodeJS.ErrnoException).code ?? ''}`,
      );
    }
  }
  const typed = await promptSecret('backup key passphrase (12 to 1,024 characters): ');
  if (typed === undefined) throw badRequest('cancelled');
  if (confirm && process.stdin.isTTY && (await promptSecret('again: ')) !== typed) {
    throw badRequest('the two passphrases differ');
  }
  return checkPassphrase(typed);
}

/** Writes a key file or a backup: 0600, whole or not at all, never over another file. */
function writeOut(file: string, data: Buffer | string, what: string): void {
  try {
    writeNewFileAtomically(path.resolve(file), data, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw badRequest(
      code === 'EEXIST'
        ? `${file} exists already: the ${what} goes to a new file (choose another name)`
        : `cannot write the ${what} ${file}: ${code}`,
    );
  }
}

/** Refuses an output file that exists before anything is asked of the manager. */
function mustBeNew(file: string, what: string): void {
  if (existsSync(file)) {
    throw badRequest(`${file} exists already: the ${what} goes to a new file (choose another name)`);
  }
}

function keyFileWritten(file: string, key: BackupKeyFile): string {
  writeOut(file, `${JSON.stringify(key, null, 2)}\n`, 'key file');
  return path.resolve(file);
}

/** Offline commands print like the others: the result, or the error and exit status 1. */
async function offline<T>(json: boolean | undefined, run: () => Promise<T> | T, human: (r: T) => string) {
  try {
    const result = await run();
    process.stdout.write(`${json ? JSON.stringify({ ok: true, ...result }) : human(result)}\n`);
  } catch (error) {
    const { code, message } = errorReport(error);
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, code, message })}\n`);
    else process.stderr.write(`veil-manager: error: ${message} (${code})\n`);
    process.exit(1);
  }
}

const describeKey = (k: BackupKeyView): string => `${k.backupKeyId}  made ${k.createdAt}`;

const describeRestore = (r: RestoreResult): string =>
  [
    `${r.dataDir ? 'restored' : 'verified'}: the backup made ${r.createdAt} under backup key ${r.backupKeyId}`,
    `manager CA fingerprint (SHA-256): ${r.caFingerprint}`,
    `${r.files} files, ${r.bytes} bytes, each checked; every database passes its integrity check`,
    ...(r.dataDir
      ? [
          `into ${r.dataDir}${r.replaced ? ' (the data there before is replaced)' : ''}`,
          `the restored audit trail records it: record ${r.auditSeq} (backup.restore)`,
          ...(r.destroyedVersionsBack?.length
            ? [
                `warning: ${r.destroyedVersionsBack.length} key version(s) the replaced manager had destroyed ` +
                  `are back with their material: ${r.destroyedVersionsBack.join(' ')}; destroy each again ` +
                  '(veil-manager key destroy KEY-ID VERSION)',
              ]
            : []),
          ...(r.leftOver ? [`the replaced data could not be removed: remove ${r.leftOver}`] : []),
          `start the manager: veil-manager serve --data-dir ${r.dataDir}`,
        ]
      : []),
  ].join('\n');

export function addBackupCommands<C>(program: Command, { connectionOptions, act }: Helpers<C>): void {
  const backup = program
    .command('backup')
    .description('encrypted backups of the whole manager and their restore (docs/backup.md)');
  const key = backup
    .command('key')
    .description('backup keys: the manager keeps them, you keep their key files');
  connectionOptions(
    key
      .command('create')
      .description('make a backup key; its key file (wrapped under your passphrase) is handed out this once')
      .requiredOption('--out <keyfile>', 'where to write the key file (a new file, 0600)')
      .option(
        '--passphrase-file <file>',
        'a file holding the passphrase (12 to 1,024 characters); else a prompt',
      ),
  ).action((options: C & PassphraseOptions & { out: string }) =>
    act(
      options,
      async (api) => {
        mustBeNew(options.out, 'key file');
        const made = await api.createBackupKey(await passphrase(options, true));
        return {
          backupKeyId: made.backupKeyId,
          createdAt: made.createdAt,
          keyFile: keyFileWritten(options.out, made),
        };
      },
      (k) =>
        `backup key ${k.backupKeyId} made; its key file is ${k.keyFile}\n` +
        '(the manager does not hand it out again: keep it, and its passphrase, apart from the backups)',
    ),
  );
  connectionOptions(key.command('list').description('the backup keys the manager keeps')).action(
    (options: C) =>
      act(
        options,
        (api) => api.backupKeys(),
        (keys) => (keys.length === 0 ? 'no backup keys' : keys.map(describeKey).join('\n')),
      ),
  );

  connectionOptions(
    backup
      .command('create')
      .description(
        'back up the whole manager into one encrypted file, under a backup key it keeps or a new one',
      )
      .requiredOption('--out <file>', 'where to write the backup (a new file, 0600)')
      .option('--backup-key <id>', 'an existing backup key (veil-manager backup key list)')
      .option('--new-key-out <keyfile>', 'make a new backup key and write its key file here first')
      .option('--passphrase-file <file>', "the new key's passphrase; else a prompt"),
  ).action((options: C & PassphraseOptions & { out: string; backupKey?: string; newKeyOut?: string }) =>
    act(
      options,
      async (api) => {
        if ((options.backupKey === undefined) === (options.newKeyOut === undefined)) {
          throw badRequest('give --backup-key ID, or --new-key-out KEYFILE for a new key (one of them)');
        }
        mustBeNew(options.out, 'backup');
        let backupKeyId = options.backupKey ?? '';
        let keyFile: string | undefined;
        if (options.newKeyOut !== undefined) {
          mustBeNew(options.newKeyOut, 'key file');
          const made = await api.createBackupKey(await passphrase(options, true));
          // The key file first: a backup nobody holds the key of would be worth nothing.
          keyFile = keyFileWritten(options.newKeyOut, made);
          backupKeyId = made.backupKeyId;
        }
        const bytes = await api.createBackup(backupKeyId);
        const header = parseHeader(bytes.subarray(0, headerLength(bytes.subarray(0, PREFIX_BYTES))));
        writeOut(options.out, bytes, 'backup');
        return {
          file: path.resolve(options.out),
          bytes: bytes.length,
          backupKeyId,
          createdAt: header.createdAt,
          caFingerprint: header.caFingerprint,
          files: header.files,
          ...(keyFile ? { keyFile } : {}),
        };
      },
      (b) =>
        `${b.keyFile ? `new backup key ${b.backupKeyId}: key file ${b.keyFile}\n` : ''}` +
        `backup of the manager (CA ${b.caFingerprint}) written to ${b.file}: ${b.files} files, ${b.bytes} bytes, ` +
        `under backup key ${b.backupKeyId}`,
    ),
  );

  backup
    .command('show')
    .description("a backup's header, without its key: which backup key, when, of which manager")
    .requiredOption('--in <file>', 'the backup')
    .option('--json', 'print as JSON')
    .action((options: Offline) =>
      offline(
        options.json,
        () => showBackup(options.in),
        (h) =>
          [
            `backup made ${h.createdAt}`,
            `backup key: ${h.backupKeyId}`,
            `manager CA fingerprint (SHA-256): ${h.caFingerprint}`,
            `${h.files} files, ${h.size} bytes`,
          ].join('\n'),
      ),
    );

  const keyed = (command: Command): Command =>
    command
      .requiredOption('--in <file>', 'the backup')
      .requiredOption('--key-file <keyfile>', "the backup key's key file")
      .option('--passphrase-file <file>', "a file holding the key file's passphrase; else a prompt")
      .option('--json', 'print as JSON');

  keyed(
    backup
      .command('verify')
      .description('check a backup whole, as a restore would, without restoring it (offline)'),
  ).action((options: Offline) =>
    offline(
      options.json,
      async () =>
        restoreBackup({
          backupFile: options.in,
          keyFile: options.keyFile ?? '',
          passphrase: await passphrase(options, false),
        }),
      describeRestore,
    ),
  );

  keyed(
    backup
      .command('restore')
      .description(
        'restore a backup into the data directory of a stopped manager (offline): everything is ' +
          'checked first, then the directory is swapped in place; on any failure it is left as it was',
      )
      .requiredOption(
        '--data-dir <dir>',
        'the data directory: new, empty, or (with --force) the same manager’s',
      )
      .option('--force', 'replace the data of the same manager in a non-empty --data-dir'),
  ).action((options: Offline & { dataDir: string; force?: boolean }) =>
    offline(
      options.json,
      async () =>
        restoreBackup({
          backupFile: options.in,
          keyFile: options.keyFile ?? '',
          passphrase: await passphrase(options, false),
          dataDir: options.dataDir,
          force: options.force,
        }),
      describeRestore,
    ),
  );
}
