// `npm run bench -- rekey [--quick]`: live data transformation on a real guard point served by
// veil-mount. A data set of big files (1 GiB by default) and many small ones is written under
// key version 1; then the policy names version 2 and the rekeying worker re-encrypts it all
// (full path, uncapped: MB/s and MB per CPU-second of the serving process), then moves it
// back to version 1 by header-only rewrap (files/s), and finally re-encrypts it again capped
// at half the uncapped rate while `dd` reads a big file through the mount: foreground
// sequential read MB/s during that rekey against the same read with no rekey, side by side.
// Prints a table and, as its last line, {"bench":"rekey",...}.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

import { optionsToRun, type Parsed } from './args.js';
import { must, sh, trapSignals } from './fs/proc.js';
import { dropCaches, dropCachesProblem, mountsUnder } from './fs/system.js';
import { RekeyMount } from './rekey/rekey_mount.js';

interface Options {
  sizeMiB: number;
  bigFiles: number;
  smallFiles: number;
  capPercent: number;
  dir: string;
}

const HELP = `usage: npm run bench -- rekey [--quick] [--size MIB] [--big N] [--small N] [--cap PERCENT] [--dir PATH]

Live data transformation on one guard point (veil-mount --rekey), AES-256-GCM:
  full-rekey     every file re-encrypted under a new file key and key version (MB/s, and MB
                 per CPU-second of the serving process: "per core"), uncapped
  rewrap         every file's key rewrapped under another version, headers only (files/s)
  fg-read        dd of a big file through the mount, caches dropped: with no rekey, and while
                 a full rekey capped at --cap % of the uncapped rate runs (MB/s, ratio)
Targets (docs/ldt.md): full >= 1000 MB/s per core; rewrap >= 10000 files/s; fg-read during
the capped rekey >= 80 % of idle.

  --quick        256 MiB in 32 big files, 5,000 small files (a demo run)
  --size MIB     total size of the big files (default 1024)
  --big N        how many big files share it (default 64)
  --small N      small files (4 KiB each) beside them (default 20000)
  --cap PERCENT  rate cap of the foreground run, percent of the uncapped rate (default 50)
  --dir PATH     parent of the scratch directory, on a real disk (default /var/tmp)`;

function parseArgs(args: string[]): Parsed<Options> {
  const options: Options = {
    sizeMiB: 1024,
    bigFiles: 64,
    smallFiles: 20_000,
    capPercent: 50,
    dir: '/var/tmp',
  };
  const whole = (flag: string, raw: string | undefined, min: number, max: number): number | string => {
    const value = Number(raw);
    return Number.isInteger(value) && value >= min && value <= max
      ? value
      : `${flag} takes a whole number from ${min} to ${max}`;
  };
  const numeric: Record<string, [keyof Options, number, number]> = {
    '--size': ['sizeMiB', 16, 65_536],
    '--big': ['bigFiles', 1, 10_000],
    '--small': ['smallFiles', 0, 1_000_000],
    '--cap': ['capPercent', 1, 100],
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--quick') {
      Object.assign(options, { sizeMiB: 256, bigFiles: 32, smallFiles: 5_000 });
    } else if (arg === '--dir') {
      const dir = args[++i];
      if (dir === undefined || dir === '') return { kind: 'error', message: '--dir takes a path' };
      options.dir = dir;
    } else if (arg in numeric) {
      const [field, min, max] = numeric[arg];
      const value = whole(arg, args[++i], min, max);
      if (typeof value === 'string') return { kind: 'error', message: value };
      (options as unknown as Record<string, number>)[field] = value;
    } else {
      return { kind: 'error', message: `unknown option '${arg}'` };
    }
  }
  return { kind: 'run', options };
}

const KEY = '7e4e7000-0000-4000-8000-0000000000be';
const policy = (version: number): string =>
  JSON.stringify({
    name: `bench-rekey-v${version}`,
    securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
    keyRules: [{ key: { keyId: KEY, version } }],
  });

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

async function readThrough(file: string): Promise<number> {
  await dropCaches();
  const result = await must('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'], { timeoutMs: 30 * 60_000 });
  const match = /(\d+) bytes .* copied, ([\d.]+) s/.exec(result.stderr);
  if (!match) throw new Error(`cannot read dd's figures: ${result.stderr}`);
  return Number(match[1]) / Number(match[2]) / 1e6;
}

export async function run(args: string[]): Promise<void> {
  const options = optionsToRun(parseArgs(args), HELP);
  if (options === undefined) return;
  const cacheProblem = await dropCachesProblem();
  if (cacheProblem !== null) throw new Error(cacheProblem);
  const untrap = trapSignals();
  const work = mkdtempSync(join(realpathSync(options.dir), 'veil-bench-rekey-'));
  const dir = join(work, 'guarded');
  mkdirSync(dir, { mode: 0o755 });
  for (const version of [1, 2]) writeFileSync(join(work, `k${version}`), randomBytes(32), { mode: 0o600 });
  const policyFile = join(work, 'policy.json');
  writeFileSync(policyFile, policy(1));
  const mount = new RekeyMount(dir, [
    '--key-file',
    join(work, 'k1'),
    '--policy',
    policyFile,
    '--key',
    `${KEY}:1=${join(work, 'k1')}`,
    '--key',
    `${KEY}:2=${join(work, 'k2')}`,
    '--ldt-journal',
    join(work, 'journal'),
  ]);
  const log = (line: string) => process.stderr.write(`  ${line}\n`);
  try {
    console.log(
      `rekey: ${options.sizeMiB} MiB in ${options.bigFiles} big files + ${options.smallFiles} small files of 4 KiB; ` +
        `scratch ${work}; ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs; MB = 1e6 bytes`,
    );
    await mount.start([]);
    const bigMiB = Math.max(1, Math.floor(options.sizeMiB / options.bigFiles));
    log(`writing the data set under version 1`);
    await sh(
      'cd "$1" && mkdir big small && i=0; while [ $i -lt "$2" ]; do head -c "$3"M /dev/urandom > big/f$i; i=$((i+1)); done; ' +
        'cd small && seq 1 "$4" | xargs -r -n 1000 sh -c \'for n; do head -c 4096 /dev/urandom > s$n; done\' sh; sync',
      [dir, String(options.bigFiles), String(bigMiB), String(options.smallFiles)],
      { timeoutMs: 60 * 60_000 },
    );
    await mount.stop();

    log('full rekey to version 2, uncapped');
    writeFileSync(policyFile, policy(2));
    await mount.start(['--rekey-mode', 'full']);
    const full = await mount.pass(60 * 60_000);
    await mount.stop();
    const fullMBps = full.bytes / 1e6 / full.seconds;
    const fullPerCore = full.cpuSeconds > 0 ? full.bytes / 1e6 / full.cpuSeconds : null;
    log(
      `full: ${round(fullMBps)} MB/s, ${fullPerCore === null ? '-' : round(fullPerCore)} MB per CPU-second`,
    );

    log('rewrap back to version 1');
    writeFileSync(policyFile, policy(1));
    await mount.start(['--rekey-mode', 'rewrap']);
    const rewrap = await mount.pass(60 * 60_000);
    const rewrapFilesPerSecond = rewrap.files / rewrap.seconds;
    log(`rewrap: ${round(rewrapFilesPerSecond)} files/s`);

    // The last big file written: the read measures what the capped rekey costs the rest of
    // the system (CPU, disk) more than waiting on the one file the worker holds.
    const reader = join(dir, 'big', `f${options.bigFiles - 1}`);
    const idleMBps = await readThrough(reader);
    log(`foreground read, no rekey: ${round(idleMBps)} MB/s`);
    await mount.stop();

    const capMBps = Math.max(1, round((fullMBps * options.capPercent) / 100));
    log(`full rekey to version 2 capped at ${capMBps} MB/s, reading meanwhile`);
    writeFileSync(policyFile, policy(2));
    await mount.start(['--rekey-mode', 'full', '--rate', String(capMBps)]);
    await mount.running(60_000);
    const duringMBps = await readThrough(reader);
    log(`foreground read during the rekey: ${round(duringMBps)} MB/s`);
    await mount.stop();

    const ratio = duringMBps / idleMBps;
    const rows = [
      ['full-rekey', 'MB/s', round(fullMBps)],
      ['full-rekey per core', 'MB/CPU-s', fullPerCore === null ? null : round(fullPerCore)],
      ['rewrap', 'files/s', round(rewrapFilesPerSecond)],
      ['fg-read idle', 'MB/s', round(idleMBps)],
      [`fg-read during rekey at ${options.capPercent}% cap`, 'MB/s', round(duringMBps)],
      ['fg-read during/idle', 'ratio', round(ratio, 3)],
    ] as const;
    const width = Math.max(...rows.map((r) => r[0].length));
    console.log('');
    console.log(`${'measure'.padEnd(width)}  ${'unit'.padEnd(8)}  value`);
    for (const [name, unit, value] of rows) {
      console.log(`${name.padEnd(width)}  ${unit.padEnd(8)}  ${value === null ? '-' : value}`);
    }
    const verdict = (ok: boolean | null) => (ok === null ? 'not measured' : ok ? 'met' : 'NOT met');
    console.log('');
    console.log(
      `targets: full >= 1000 MB per CPU-second: ${verdict(fullPerCore === null ? null : fullPerCore >= 1000)}`,
    );
    console.log(`         rewrap >= 10000 files/s: ${verdict(rewrapFilesPerSecond >= 10_000)}`);
    console.log(`         foreground during the capped rekey >= 80 % of idle: ${verdict(ratio >= 0.8)}`);
    console.log(
      JSON.stringify({
        bench: 'rekey',
        sizeMiB: options.sizeMiB,
        bigFiles: options.bigFiles,
        smallFiles: options.smallFiles,
        fullMBps: round(fullMBps),
        fullSeconds: round(full.seconds, 2),
        fullCpuSeconds: round(full.cpuSeconds, 2),
        fullMBpsPerCore: fullPerCore === null ? null : round(fullPerCore),
        rewrapFiles: rewrap.files,
        rewrapSeconds: round(rewrap.seconds, 3),
        rewrapFilesPerSecond: round(rewrapFilesPerSecond),
        capMBps,
        foregroundIdleMBps: round(idleMBps),
        foregroundDuringMBps: round(duringMBps),
        foregroundRatio: round(ratio, 3),
      }),
    );
  } finally {
    await mount.stop();
    const left = mountsUnder(work);
    if (left.length === 0) await must('rm', ['-rf', '--one-file-system', work], { abortable: false });
    else console.error(`left ${work} in place: still mounted at ${left.join(', ')}`);
    untrap();
  }
}
