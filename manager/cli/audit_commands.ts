// veil-manager audit …: the manager's tamper-evident audit trail (docs/audit.md): list its
// records, export them with a signed checkpoint, take a checkpoint to keep, and verify the
// chain, over the API (the auditor's role) or, with --offline, straight from the audit.db
// of a stopped manager's data directory with its master key.
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { type Command, InvalidArgumentError, Option } from 'commander';

import { errorReport } from '../../common/errors.js';
import { textTable } from '../../common/text_table.js';
import type { ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';
import type {
  AuditCheckpoint,
  AuditQuery,
  AuditRecordView,
  AuditVerification,
} from '../../manager-client/types.js';
import { verifyAuditFile } from '../audit/audit_log.js';
import { parseCheckpoint } from '../audit/audit_verify.js';
import { openFileMasterKey } from '../keys/master_key.js';
import type { CommandHelpers } from './command_helpers.js';

type Helpers<C> = CommandHelpers<C>;

interface Base {
  dataDir?: string;
  json?: boolean;
}

interface Filters {
  since?: string;
  until?: string;
  actor?: string;
  action?: string;
  outcome?: 'success' | 'failure';
}

const PAGE = 1000;

function isoDate(value: string): string {
  if (Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError('an ISO 8601 date, e.g. 2027-01-31T00:00:00Z');
  }
  return value;
}

function whole(value: string): number {
  const n = Number(value);
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('a whole number');
  return n;
}

function filterOptions(command: Command): Command {
  return command
    .option('--since <date>', 'only records at or after this ISO 8601 date', isoDate)
    .option('--until <date>', 'only records at or before this ISO 8601 date', isoDate)
    .option('--actor <name>', 'only records of this actor (a user, host:<id>, anonymous, system)')
    .option('--action <action>', 'only this action ("POST /v1/keys", or a prefix ending in *: "host.*")')
    .addOption(new Option('--outcome <outcome>', 'only this outcome').choices(['success', 'failure']));
}

const filtersOf = (o: Filters): AuditQuery => ({
  since: o.since,
  until: o.until,
  actor: o.actor,
  action: o.action,
  outcome: o.outcome,
});

/** Records as a table, one line each; failures with their reason. */
function table(records: AuditRecordView[]): string {
  if (records.length === 0) return 'no audit records';
  const rows = [
    ['SEQ', 'TIME', 'ACTOR', 'ROLE', 'DOMAIN', 'ACTION', 'OBJECT', 'OUTCOME', 'SOURCE'],
    ...records.map((r) => [
      String(r.seq),
      new Date(r.time).toISOString(),
      r.actor,
      r.role || '-',
      r.domain,
      r.action,
      r.object || '-',
      r.outcome === 'success' ? 'success' : `failure ${r.reason}`,
      r.source || '-',
    ]),
  ];
  return textTable(rows);
}

function describeVerification(v: AuditVerification): string {
  if (!v.ok && v.firstBad) {
    return (
      `audit trail BAD: ${v.firstBad.problem}\n` +
      `(${v.records} record(s) verified before it; the trail ends at record ${v.lastSeq})`
    );
  }
  return (
    `audit trail verified: ${v.records} record(s), ${v.checkpoints} checkpoint(s)` +
    `${v.against === undefined ? '' : `; it still reaches the given checkpoint of record ${v.against}`}\n` +
    `public key (SHA-256): ${v.publicKeyFingerprint}`
  );
}

const describeCheckpoint = (c: AuditCheckpoint): string =>
  `checkpoint of record ${c.seq} (mac ${c.mac}), signed ${new Date(c.time).toISOString()}\n` +
  `public key (SHA-256): ${c.publicKeyFingerprint}`;

/**
 * The checkpoint in a file: one as `audit checkpoint --out` writes it, or the last
 * {"checkpoint": …} line of an `audit export`.
 */
function readCheckpointFile(file: string): AuditCheckpoint {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ManagerError('VEIL_AUDIT_BAD_REQUEST', `cannot read ${file}: ${(error as Error).message}`);
  }
  const parse = (json: string): unknown => {
    try {
      return JSON.parse(json);
    } catch {
      return undefined;
    }
  };
  const whole = parse(text) as { checkpoint?: unknown } | undefined;
  if (whole !== undefined) return parseCheckpoint(whole?.checkpoint ?? whole);
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const last = parse(lines[lines.length - 1] ?? '') as { checkpoint?: unknown } | undefined;
  if (last?.checkpoint === undefined) {
    throw new ManagerError(
      'VEIL_AUDIT_BAD_REQUEST',
      `${file} holds no checkpoint: give a file of \`audit checkpoint --out\` or of \`audit export\``,
    );
  }
  return parseCheckpoint(last.checkpoint);
}

/** Prints a verification; a bad trail makes the command exit with 1. */
function printVerification(v: AuditVerification, json: boolean | undefined): void {
  process.stdout.write(`${json ? JSON.stringify(v) : describeVerification(v)}\n`);
  if (!v.ok) process.exitCode = 1;
}

function verifyOffline(options: Base & { checkpoint?: string }): void {
  try {
    if (options.dataDir === undefined) {
      throw new ManagerError('VEIL_AUDIT_BAD_REQUEST', '--offline reads the trail of --data-dir: give it');
    }
    const dataDir = path.resolve(options.dataDir);
    const master = openFileMasterKey(path.join(dataDir, 'master.key'), { create: false });
    const given = options.checkpoint === undefined ? undefined : readCheckpointFile(options.checkpoint);
    printVerification(verifyAuditFile(dataDir, master, given), options.json);
  } catch (error) {
    const { code, message } = errorReport(error);
    if (options.json) process.stdout.write(`${JSON.stringify({ ok: false, code, message })}\n`);
    else process.stderr.write(`veil-manager: error: ${message} (${code})\n`);
    process.exit(1);
  }
}

/** Writes the records up to the checkpoint as JSON Lines, the checkpoint last. */
async function exportTo(api: ManagerClient, file: string, query: AuditQuery) {
  // The checkpoint first: the export then holds exactly the records up to it.
  const checkpoint = await api.auditCheckpoint();
  const fd = openSync(file, 'w', 0o600);
  let records = 0;
  try {
    for (let after = 0; ;) {
      const page = await api.auditRecords({ ...query, after, limit: PAGE });
      const kept = page.filter((record) => record.seq <= checkpoint.seq);
      if (kept.length > 0) writeFileSync(fd, kept.map((record) => `${JSON.stringify(record)}\n`).join(''));
      records += kept.length;
      if (page.length < PAGE || kept.length < page.length) break;
      after = page[page.length - 1]?.seq ?? after;
    }
    writeFileSync(fd, `${JSON.stringify({ checkpoint })}\n`);
  } finally {
    closeSync(fd);
  }
  return { file, records, checkpoint };
}

export function addAuditCommands<C extends Base>(
  program: Command,
  { connectionOptions, act }: Helpers<C>,
): void {
  const audit = program
    .command('audit')
    .description('the tamper-evident audit trail (docs/audit.md): the auditor role');
  connectionOptions(
    filterOptions(audit.command('list').description('audit records, oldest first, as a table'))
      .addOption(new Option('--after <seq>', 'only records after this one (paging)').argParser(whole))
      .addOption(new Option('--limit <n>', 'at most this many (1 to 1000)').argParser(whole).default(100))
      .option('--newest', 'the newest --limit records instead of the oldest'),
  ).action((options: C & Filters & { after?: number; limit: number; newest?: boolean }) =>
    act(
      options,
      (api) =>
        api.auditRecords({
          ...filtersOf(options),
          after: options.after,
          limit: options.limit,
          newest: options.newest,
        }),
      table,
    ),
  );
  connectionOptions(
    filterOptions(
      audit
        .command('export')
        .description(
          'write the records as JSON Lines, with a signed checkpoint of the trail as the last line',
        )
        .requiredOption('--out <file>', 'the file to write (mode 0600)'),
    ),
  ).action((options: C & Filters & { out: string }) =>
    act(
      options,
      (api) => exportTo(api, options.out, filtersOf(options)),
      (done) => `${done.records} record(s) written to ${done.file}\n${describeCheckpoint(done.checkpoint)}`,
    ),
  );
  connectionOptions(
    audit
      .command('checkpoint')
      .description(
        "the trail's newest signed checkpoint, to keep apart: `audit verify --checkpoint` proves the trail still reaches it",
      )
      .option('--out <file>', 'write it to this file'),
  ).action((options: C & { out?: string }) =>
    act(
      options,
      async (api) => {
        const checkpoint = await api.auditCheckpoint();
        if (options.out !== undefined) writeFileSync(options.out, `${JSON.stringify(checkpoint, null, 2)}\n`);
        return checkpoint;
      },
      (c) => `${describeCheckpoint(c)}${options.out === undefined ? '' : `\nwritten to ${options.out}`}`,
    ),
  );
  connectionOptions(
    audit
      .command('verify')
      .description('recompute the whole chain and check its checkpoints; exits 1 naming the first bad record')
      .option('--checkpoint <file>', 'also prove the trail still reaches this kept checkpoint (or export)')
      .option('--offline', "read audit.db of --data-dir directly with its master key (a stopped manager's)"),
  ).action(async (options: C & { checkpoint?: string; offline?: boolean }) => {
    if (options.offline) {
      verifyOffline(options);
      return;
    }
    let verification: AuditVerification | undefined;
    await act(
      options,
      async (api) => {
        const given = options.checkpoint === undefined ? undefined : readCheckpointFile(options.checkpoint);
        verification = await api.verifyAudit(given);
        return verification;
      },
      describeVerification,
    );
    if (verification && !verification.ok) process.exitCode = 1;
  });
}
