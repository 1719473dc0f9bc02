// `npm run bench -- fs [--quick]`: the filesystem side by side in one run, on one backing disk: a plain
// directory, gocryptfs (defaults: AES-256-GCM, 4 KiB blocks), Veil with AES-256-GCM and Veil with
// AES-256-XTS (mounted with `veil-mount`). Workloads: sequential write (with fsync) and read of a big
// file with caches dropped between, random 4 KiB reads and writes on it (fio), extracting a tarball of
// ~20,000 small files, and stat-ing them all. All I/O on the mounts is done by child processes.
// Prints a table and the Veil-GCM/gocryptfs ratios against the targets, then as its last line one JSON
// object: {"bench":"fs","rows":[...]}. A target that cannot run here gets null, with a note.
import { mkdtempSync, realpathSync, statfsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import { optionsToRun, type Parsed as ParsedArgs } from './args.js';
import { Interrupted, checkInterrupted, must, trapSignals } from './fs/proc.js';
import { dropCachesProblem, ensurePackage, mountsUnder } from './fs/system.js';
import { STANDALONE_KEY } from '../agent/mounts/standalone.js';
import { selfTest } from '../native/core.js';
import { actionBit, compilePolicy, parsePolicy } from '../policies/index.js';
import { PAIRED_WORKLOADS, type PairedRun, pairedVerdicts, policyPairs } from './fs/policy_pairs.js';
import { costlyPolicy, POLICY_RULES, TARGET_NAMES, type TargetName, makeTarget } from './fs/targets.js';
import { type Settings, UNITS, WORKLOADS, type Workload, makeTarball, runWorkload } from './fs/workloads.js';

interface Options {
  rounds: number;
  fileMiB: number;
  seconds: number;
  files: number;
  dir: string;
  targets: TargetName[];
  policyPairs: number;
}

export type FsRow = { workload: Workload; unit: 'MBps' | 's' } & Record<TargetName, number | null>;

/** Veil-GCM against gocryptfs, from the issue. */
const GOALS: ReadonlyArray<{ workload: Workload; label: string; op: '>=' | '<='; ratio: number }> = [
  { workload: 'seq-write', label: 'sequential write', op: '>=', ratio: 1.25 },
  { workload: 'seq-read', label: 'sequential read', op: '>=', ratio: 1.1 },
  { workload: 'rand-write-4k', label: 'random 4 KiB write', op: '>=', ratio: 2 },
  { workload: 'extract-small', label: 'small-file extract time', op: '<=', ratio: 0.8 },
];

const HELP = `usage: npm run bench -- fs [--quick] [--rounds N] [--size MIB] [--seconds N] [--files N]
                           [--dir PATH] [--targets LIST] [--policy-pairs N]

Runs the same workloads on a plain directory, gocryptfs, Veil AES-256-GCM, Veil
AES-256-XTS and Veil AES-256-GCM under a policy of ${POLICY_RULES} rules that every decision
walks through (veil-gcm-policy), all on the disk holding --dir, one target after the other:
  seq-write      dd 1 MiB blocks from /dev/zero, fsync included (MB/s)
  seq-read       dd the same file back, caches dropped first (MB/s)
  rand-read-4k   fio random 4 KiB reads on that file (MB/s)
  rand-write-4k  fio random 4 KiB writes on that file, final fsync included (MB/s)
  extract-small  tar -xf of a tree of small files, then sync (s)
  stat-small     find -type f -printf with size, mode, owner, mtime over that tree (s)
Caches are dropped before each workload. Each target's small-file tree is kept until
the run ends (ext4 allocates inodes slowly for minutes after a mass deletion, which
would slow whichever target ran next): about 200 MB per target and round. Installs
gocryptfs and fio with apt-get if missing (never the 'fuse' package, which would
remove fuse3). Needs root.

The policy's cost is shown four ways. The target (at most 5 % throughput lost) is judged
on pairs: after the rounds, veil-gcm and veil-gcm-policy are mounted side by side and each
MB/s workload runs on both back to back, the order swapped every pair. Two pairs, one in
each order, make a block (the target run second is often favoured; in a block that
cancels); the median of the block losses is the verdict, with the middle half of them as
its spread. The best-of-
rounds columns compare runs minutes apart, which a drifting disk can hide or inflate. Also
shown: the CPU time veil-mount spends on the fixed-work workloads with and without it, and
what the native evaluator takes for one decision walking every rule, set against the time
an extracted file took.

  --quick          128 MiB file, 3 s random runs, 5,000 files (a demo run)
  --rounds N       repeat every target N times (each remounted), keep the best (default 1);
                   each round starts with the next target, so 4 rounds put each one first once
  --size MIB       size of the big file (default 1024)
  --seconds N      length of each random-I/O run (default 5)
  --files N        files in the small-file tree (default 20000)
  --dir PATH       parent of the scratch directory; not tmpfs (default /var/tmp)
  --targets LIST   comma-separated subset of ${TARGET_NAMES.join(',')} (default all)
  --policy-pairs N pairs of veil-gcm and veil-gcm-policy runs after the rounds, when both are
                   targets (default 6; 0 skips them; each pair takes about a minute)`;

type Parsed = ParsedArgs<Options>;

function parseArgs(args: string[]): Parsed {
  const options: Options = {
    rounds: 1,
    fileMiB: 1024,
    seconds: 5,
    files: 20_000,
    dir: '/var/tmp',
    targets: [...TARGET_NAMES],
    policyPairs: 6,
  };
  const whole = (flag: string, raw: string | undefined, min: number, max: number): number | string => {
    const value = Number(raw);
    return Number.isInteger(value) && value >= min && value <= max
      ? value
      : `${flag} takes a whole number from ${min} to ${max}`;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let value: number | string;
    switch (arg) {
      case '--help':
      case '-h':
        return { kind: 'help' };
      case '--quick':
        Object.assign(options, { fileMiB: 128, seconds: 3, files: 5_000 });
        continue;
      case '--size':
        value = whole(arg, args[++i], 16, 65_536);
        if (typeof value === 'string') return { kind: 'error', message: value };
        options.fileMiB = value;
        continue;
      case '--rounds':
        value = whole(arg, args[++i], 1, 10);
        if (typeof value === 'string') return { kind: 'error', message: value };
        options.rounds = value;
        continue;
      case '--policy-pairs':
        value = whole(arg, args[++i], 0, 50);
        if (typeof value === 'string') return { kind: 'error', message: value };
        options.policyPairs = value;
        continue;
      case '--seconds':
        value = whole(arg, args[++i], 1, 600);
        if (typeof value === 'string') return { kind: 'error', message: value };
        options.seconds = value;
        continue;
      case '--files':
        value = whole(arg, args[++i], 100, 1_000_000);
        if (typeof value === 'string') return { kind: 'error', message: value };
        options.files = value;
        continue;
      case '--dir': {
        const dir = args[++i];
        if (dir === undefined || dir === '') return { kind: 'error', message: '--dir takes a path' };
        options.dir = dir;
        continue;
      }
      case '--targets': {
        const names = (args[++i] ?? '').split(',').filter((n) => n !== '');
        const bad = names.filter((n) => !(TARGET_NAMES as readonly string[]).includes(n));
        if (names.length === 0 || bad.length > 0) {
          return { kind: 'error', message: `--targets takes a list of ${TARGET_NAMES.join(', ')}` };
        }
        options.targets = TARGET_NAMES.filter((n) => names.includes(n));
        continue;
      }
      default:
        return { kind: 'error', message: `unknown option '${String(arg)}'` };
    }
  }
  return { kind: 'run', options };
}

/** Filesystems that live in memory, where the comparison would say nothing about a disk. */
const MEMORY_FS: Record<number, string> = { 0x01021994: 'tmpfs', 0x858458f6: 'ramfs' };

function scratchParent(dir: string): string {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    throw new Error(`--dir ${dir} does not exist`);
  }
  const kind = MEMORY_FS[statfsSync(real).type];
  if (kind !== undefined) throw new Error(`--dir ${dir} is on ${kind}; the benchmark needs a real disk`);
  return real;
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
const firstLine = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

function table(rows: FsRow[], targets: readonly TargetName[]): string {
  const head = ['workload', 'unit', ...targets];
  const body = rows.map((r) => [
    r.workload,
    r.unit,
    ...targets.map((t) => {
      const value = r[t];
      return value === null ? '-' : value.toFixed(r.unit === 's' ? 3 : 1);
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function verdicts(rows: FsRow[]): string[] {
  return GOALS.map((goal) => {
    const row = rows.find((r) => r.workload === goal.workload);
    const veil = row?.['veil-gcm'] ?? null;
    const base = row?.gocryptfs ?? null;
    const want = `${goal.op} ${goal.ratio}x`;
    if (veil === null || base === null || base === 0) return `  ${goal.label} ${want}: n/a (no result)`;
    const ratio = veil / base;
    const met = goal.op === '>=' ? ratio >= goal.ratio : ratio <= goal.ratio;
    return `  ${goal.label} ${want}: ${ratio.toFixed(2)}x ${met ? 'met' : 'MISSED'}`;
  });
}

/** The policy issue's target: a policy of POLICY_RULES rules costs at most 5 % of Veil-GCM's throughput. */
const POLICY_LOSS_LIMIT = 0.05;

/** Best of rounds against best of rounds; the verdict is theirs only when no pairs ran. */
function policyVerdicts(rows: FsRow[], judged: boolean): string[] {
  const lines = rows.map((row) => {
    const bare = row['veil-gcm'];
    const ruled = row['veil-gcm-policy'];
    if (bare === null || ruled === null || bare === 0) return `  ${row.workload}: n/a (no result)`;
    // Throughput falls when MB/s fall; for times, when seconds grow.
    const loss = row.unit === 'MBps' ? 1 - ruled / bare : 1 - bare / ruled;
    const verdict =
      row.unit !== 'MBps' ? ' (no target)' : !judged ? '' : loss <= POLICY_LOSS_LIMIT ? ' met' : ' MISSED';
    return `  ${row.workload}: ${(loss * 100).toFixed(1)} % loss${verdict}`;
  });
  return lines;
}

// Workloads that do the same work whatever their speed: their serving-process CPU compares
// directly between targets (the random ones run for a fixed time instead).
const FIXED_WORK: readonly Workload[] = ['seq-write', 'seq-read', 'extract-small', 'stat-small'];

/** The policy's cost as the serving process's CPU, which the disk's noise moves less than time. */
function policyCpu(cpu: Map<Workload, Partial<Record<TargetName, number>>>): string[] {
  return FIXED_WORK.map((workload) => {
    const bare = cpu.get(workload)?.['veil-gcm'];
    const ruled = cpu.get(workload)?.['veil-gcm-policy'];
    if (bare === undefined || ruled === undefined || bare <= 0) return `  ${workload}: n/a (no result)`;
    const extra = ruled / bare - 1;
    // As for throughput, the target is on the MB/s workloads; the small-file ones are shown.
    const verdict = UNITS[workload] === 'MBps' ? (extra <= 0.05 ? 'met' : 'MISSED') : '(no target)';
    return `  ${workload}: ${bare.toFixed(2)} s -> ${ruled.toFixed(2)} s CPU, ${(extra * 100).toFixed(1)} % more ${verdict}`;
  });
}

// Decisions a small file costs when it is extracted: create (f_cre and the open's f_wr),
// the chmod and utimens that follow (f_chg_att), and a stat (f_rd_att). Reads and writes
// ask none: they use the descriptor's decisions from its open.
const DECISIONS_PER_FILE = 4;

/**
 * The policy's cost without the disk's noise: the native evaluator times one decision
 * that walks all POLICY_RULES rules, and that is set against the time a small file took.
 */
function decisionCost(rows: FsRow[], files: number): { ns: number; lines: string[] } {
  const table = compilePolicy(parsePolicy(costlyPolicy(POLICY_RULES), 'bench'), {
    knownKeys: [STANDALONE_KEY],
  });
  const probe = {
    uid: 1000,
    gid: 1000,
    groups: [],
    exe: null,
    sha256: null,
    path: 'lib/node_modules/pkg/index.js',
  };
  const ns = Math.min(
    ...[0, 1, 2].map(() => selfTest.timePolicy(table, { ...probe, action: actionBit('f_cre') }, 200_000)),
  );
  const lines = [`  one decision, all ${POLICY_RULES} rules walked (native evaluator): ${ns.toFixed(0)} ns`];
  const extract = rows.find((row) => row.workload === 'extract-small')?.['veil-gcm'];
  if (typeof extract === 'number' && extract > 0) {
    const perFile = (extract / files) * 1e9;
    const share = (DECISIONS_PER_FILE * ns) / perFile;
    lines.push(
      `  per extracted file: ${DECISIONS_PER_FILE} decisions = ${((DECISIONS_PER_FILE * ns) / 1000).toFixed(1)} µs ` +
        `of ${(perFile / 1000).toFixed(0)} µs: ${(share * 100).toFixed(2)} % ${share <= 0.05 ? 'met' : 'MISSED'}`,
    );
  }
  return { ns, lines };
}

export async function run(args: string[]): Promise<void> {
  const options = optionsToRun(parseArgs(args), HELP);
  if (options === undefined) return;
  const parent = scratchParent(options.dir);
  const notes: string[] = [];
  const note = (line: string): void => {
    notes.push(line);
    process.stderr.write(`  note: ${line}\n`);
  };
  const progress = (line: string): void => {
    process.stderr.write(`  ${line}\n`);
  };
  const results = new Map<Workload, Partial<Record<TargetName, number>>>();
  // CPU seconds the serving process used per fixed-work workload (least of the rounds).
  const cpu = new Map<Workload, Partial<Record<TargetName, number>>>();
  const untrap = trapSignals();
  let paired: PairedRun | undefined;
  let work: string | undefined;
  let settings: Settings | undefined;
  try {
    const unavailable = new Map<TargetName, string>();
    let fio = true;
    if (options.targets.includes('gocryptfs')) {
      await ensurePackage('gocryptfs', 'gocryptfs', progress).catch((error: unknown) => {
        checkInterrupted();
        unavailable.set('gocryptfs', firstLine(error));
      });
    }
    await ensurePackage('fio', 'fio', progress).catch((error: unknown) => {
      checkInterrupted();
      fio = false;
      note(`random I/O not measured: ${firstLine(error)}`);
    });
    const cacheProblem = await dropCachesProblem();
    if (cacheProblem !== null) note(cacheProblem);

    work = mkdtempSync(join(parent, 'veil-bench-fs-'));
    console.log(
      `fs: ${options.rounds} round(s), best kept; ${options.fileMiB} MiB file, ${options.seconds} s random runs, ${options.files} small files; ` +
        `scratch ${work}; caches ${cacheProblem === null ? 'dropped before each workload' : 'NOT dropped'}`,
    );
    console.log(`${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs; MB/s = 1e6 bytes/s`);
    progress(`making a tarball of ${options.files} small files`);
    const tree = await makeTarball(work, options.files);
    progress(`tree: ${(tree.bytes / 1e6).toFixed(1)} MB in ${options.files} files`);
    settings = { ...options, dropCaches: cacheProblem === null, tarball: tree.tarball };

    for (const name of TARGET_NAMES.filter((n) => !options.targets.includes(n))) {
      note(`${name}: not selected (--targets)`);
    }
    for (let round = 1; round <= options.rounds; round++) {
      const tag = options.rounds > 1 ? `round ${round}/${options.rounds} ` : '';
      // Each round starts with another target: on ext4, creating files right after many
      // were deleted is slower (inode allocation skips recently deleted inodes), which
      // would otherwise always burden the targets measured last.
      const shift = (round - 1) % options.targets.length;
      const order = [...options.targets.slice(shift), ...options.targets.slice(0, shift)];
      for (const name of order) {
        const skip = unavailable.get(name);
        if (skip !== undefined) {
          if (round === 1) note(`${name}: not measured: ${skip}`);
          continue;
        }
        const target = makeTarget(name, work);
        try {
          progress(`${tag}${name}: setting up`);
          const dir = await target.setup();
          for (const workload of WORKLOADS) {
            if (!fio && workload.startsWith('rand-')) continue;
            checkInterrupted();
            try {
              const cpuBefore = target.cpuSeconds?.();
              const value = await runWorkload(workload, dir, settings);
              const cpuAfter = target.cpuSeconds?.();
              if (FIXED_WORK.includes(workload) && cpuBefore !== undefined && cpuAfter !== undefined) {
                const used = cpuAfter - cpuBefore;
                const least = cpu.get(workload)?.[name];
                if (least === undefined || used < least)
                  cpu.set(workload, { ...cpu.get(workload), [name]: used });
              }
              const unit = UNITS[workload];
              progress(`${tag}${name} ${workload}: ${value.toFixed(unit === 's' ? 3 : 1)} ${unit}`);
              const best = results.get(workload)?.[name];
              const better = best === undefined || (unit === 's' ? value < best : value > best);
              if (better) results.set(workload, { ...results.get(workload), [name]: value });
            } catch (error) {
              if (error instanceof Interrupted) throw error;
              note(`${tag}${name} ${workload} failed: ${firstLine(error)}`);
            }
          }
        } catch (error) {
          if (error instanceof Interrupted) throw error;
          const message = error instanceof Error ? error.message : String(error);
          note(`${tag}${name}: not measured: ${message.replace(/\n/g, '\n        ')}`);
        } finally {
          progress(`${tag}${name}: tearing down`);
          await target.teardown().catch((error: unknown) => note(`${name}: teardown: ${firstLine(error)}`));
        }
      }
    }
    const pairable = (['veil-gcm', 'veil-gcm-policy'] as const).every(
      (name) => options.targets.includes(name) && !unavailable.has(name),
    );
    if (pairable && options.policyPairs > 0) {
      const workloads = PAIRED_WORKLOADS.filter((w) => fio || !w.startsWith('rand-'));
      try {
        paired = await policyPairs(work, settings, options.policyPairs, workloads, progress);
      } catch (error) {
        if (error instanceof Interrupted) throw error;
        note(`policy pairs not measured: ${firstLine(error)}`);
      }
    }
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    console.error('interrupted; nothing reported');
    process.exitCode = 130;
    return;
  } finally {
    if (work !== undefined) {
      const left = mountsUnder(work);
      if (left.length > 0) {
        console.error(`left ${work} in place: still mounted at ${left.join(', ')}`);
      } else {
        await must('rm', ['-rf', '--one-file-system', work], { abortable: false }).catch((error: unknown) =>
          console.error(`could not remove ${work}: ${firstLine(error)}`),
        );
      }
    }
    untrap();
  }

  const rows: FsRow[] = WORKLOADS.map((workload) => {
    const unit = UNITS[workload];
    const row = { workload, unit } as FsRow;
    for (const name of TARGET_NAMES) {
      const value = results.get(workload)?.[name];
      row[name] = value === undefined ? null : round(value, unit === 's' ? 3 : 1);
    }
    return row;
  });
  console.log('');
  console.log(table(rows, TARGET_NAMES));
  console.log('');
  console.log('targets, Veil AES-256-GCM against gocryptfs:');
  console.log(verdicts(rows).join('\n'));
  if (paired !== undefined) {
    console.log(
      `policy of ${POLICY_RULES} rules against none (veil-gcm), throughput loss <= 5 %, ` +
        `${paired.pairs} pairs side by side:`,
    );
    console.log(pairedVerdicts(paired, POLICY_LOSS_LIMIT).join('\n'));
  }
  console.log(
    `policy of ${POLICY_RULES} rules against none, best of rounds` +
      (paired === undefined ? ', throughput loss <= 5 %:' : ' (runs minutes apart, for information):'),
  );
  console.log(policyVerdicts(rows, paired === undefined).join('\n'));
  const cost = decisionCost(rows, options.files);
  console.log("policy's cost in veil-mount's CPU time (least of the rounds), <= 5 % more:");
  console.log(policyCpu(cpu).join('\n'));
  console.log('policy decision cost, free of disk noise (reads and writes decide nothing: open did):');
  console.log(cost.lines.join('\n'));
  if (notes.length > 0) console.log(`notes:\n${notes.map((n) => `  ${n}`).join('\n')}`);
  console.log(
    JSON.stringify({
      bench: 'fs',
      rows,
      rounds: options.rounds,
      fileMiB: options.fileMiB,
      seconds: options.seconds,
      files: options.files,
      cachesDropped: settings?.dropCaches ?? false,
      policyDecisionNs: Math.round(cost.ns),
      policyPairs:
        paired === undefined
          ? null
          : {
              pairs: paired.pairs,
              rows: paired.rows.map((row) => ({
                workload: row.workload,
                medianLoss: round(row.medianLoss, 4),
                blockLosses: row.blockLosses.map((loss) => round(loss, 4)),
                lowerQuartile: round(row.lowerQuartile, 4),
                upperQuartile: round(row.upperQuartile, 4),
                medianCpuRatio: row.medianCpuRatio === null ? null : round(row.medianCpuRatio, 3),
                losses: row.losses.map((loss) => round(loss, 4)),
                met: row.medianLoss <= POLICY_LOSS_LIMIT,
              })),
            },
      serverCpuSeconds: Object.fromEntries(
        [...cpu].map(([workload, byTarget]) => [
          workload,
          Object.fromEntries(Object.entries(byTarget).map(([name, seconds]) => [name, round(seconds, 2)])),
        ]),
      ),
      notes,
    }),
  );
}
