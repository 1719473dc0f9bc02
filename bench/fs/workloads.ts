// The workloads, each run by child processes in the directory under test (dd, fio, tar, find): the
// benchmark's own process never opens a file on a mount. Throughput in MB/s = 1e6 bytes/s; times in s.
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { must, sh } from './proc.js';
import { dropCaches } from './system.js';

export const WORKLOADS = [
  'seq-write',
  'seq-read',
  'rand-read-4k',
  'rand-write-4k',
  'extract-small',
  'stat-small',
] as const;
export type Workload = (typeof WORKLOADS)[number];
export const UNITS: Record<Workload, 'MBps' | 's'> = {
  'seq-write': 'MBps',
  'seq-read': 'MBps',
  'rand-read-4k': 'MBps',
  'rand-write-4k': 'MBps',
  'extract-small': 's',
  'stat-small': 's',
};

export interface Settings {
  /** Size of the big file, in MiB. */
  fileMiB: number;
  /** Length of each random-I/O run. */
  seconds: number;
  /** Files in the small-file tree. */
  files: number;
  /** False when this machine cannot drop caches (then reads may be warm). */
  dropCaches: boolean;
  /** The tarball of the small-file tree, on the backing disk outside every mount. */
  tarball: string;
}

const BIG_FILE = 'big.bin';
const TREE = 'tree';

async function cold(settings: Settings): Promise<void> {
  if (settings.dropCaches) await dropCaches();
  else await must('sync', []);
}

/** The byte count from dd's "N bytes (...) copied" line. */
function ddBytes(stderr: string): number {
  const match = /^(\d+) bytes/m.exec(stderr);
  if (match === null) throw new Error(`no byte count in dd's output:\n${stderr}`);
  return Number(match[1]);
}

/** `dd if=/dev/zero bs=1M conv=fsync`: the time includes the final fsync. */
async function seqWrite(dir: string, s: Settings): Promise<number> {
  await cold(s);
  const file = join(dir, BIG_FILE);
  const result = await must('dd', [
    'if=/dev/zero',
    `of=${file}`,
    'bs=1M',
    `count=${s.fileMiB}`,
    'conv=fsync',
  ]);
  const bytes = ddBytes(result.stderr);
  if (bytes !== s.fileMiB * 2 ** 20) throw new Error(`dd wrote ${bytes} bytes, not ${s.fileMiB} MiB`);
  return bytes / result.seconds / 1e6;
}

async function seqRead(dir: string, s: Settings): Promise<number> {
  await cold(s);
  const result = await must('dd', [`if=${join(dir, BIG_FILE)}`, 'of=/dev/null', 'bs=1M']);
  const bytes = ddBytes(result.stderr);
  if (bytes !== s.fileMiB * 2 ** 20) throw new Error(`dd read ${bytes} bytes, not ${s.fileMiB} MiB`);
  return bytes / result.seconds / 1e6;
}

interface FioSide {
  io_bytes: number;
  bw_bytes: number;
  runtime: number;
}
interface FioJob {
  error: number;
  read: FioSide;
  write: FioSide;
}

/**
 * fio, one job, synchronous 4 KiB requests (psync, queue depth 1) through the page cache (FUSE mounts need
 * not support O_DIRECT), time-based, on the big file from seq-write. fio's default fadvise_hint turns off
 * readahead. Writes end with an fsync (end_fsync), which fio counts in the job's run time and so in its
 * bandwidth.
 */
async function fio(dir: string, s: Settings, mode: 'randread' | 'randwrite'): Promise<number> {
  await cold(s);
  const file = join(dir, BIG_FILE);
  if (file.includes(':')) throw new Error(`fio cannot take a file name with ':' (${file})`);
  const args = [
    `--name=${mode}`,
    `--filename=${file}`,
    `--rw=${mode}`,
    '--bs=4k',
    `--size=${s.fileMiB}m`,
    '--ioengine=psync',
    '--iodepth=1',
    '--direct=0',
    '--time_based=1',
    `--runtime=${s.seconds}`,
    '--allow_file_create=0',
    '--fallocate=none',
    '--output-format=json',
  ];
  if (mode === 'randwrite') args.push('--end_fsync=1');
  const result = await must('fio', args, { timeoutMs: (s.seconds + 300) * 1000 });
  const json = result.stdout.slice(result.stdout.indexOf('{'));
  let job: FioJob | undefined;
  try {
    job = (JSON.parse(json) as { jobs?: FioJob[] }).jobs?.[0];
  } catch {
    throw new Error(`fio did not print JSON:\n${result.stdout.slice(0, 2000)}`);
  }
  if (job === undefined || job.error !== 0) throw new Error(`fio reported an error: ${JSON.stringify(job)}`);
  const side = mode === 'randread' ? job.read : job.write;
  if (!(side.io_bytes > 0 && side.runtime > 0)) throw new Error(`fio moved no data: ${JSON.stringify(side)}`);
  return side.bw_bytes / 1e6;
}

/** `tar -xf` of the small-file tree into the directory, then `sync`: the time until it is all on disk. */
async function extract(dir: string, s: Settings): Promise<number> {
  await cold(s);
  await sh('cat "$1" > /dev/null', [s.tarball]); // the tarball is read from the page cache for every target
  const result = await sh('tar -xf "$1" -C "$2" && sync', [s.tarball, dir]);
  return result.seconds;
}

/** `find -type f -printf` with size, mode, owner and mtime (one lstat each), caches dropped first. */
async function stat(dir: string, s: Settings): Promise<number> {
  await cold(s);
  const result = await sh(`find "$1" -type f -printf '%s %m %U %T@\\n' | wc -l`, [join(dir, TREE)]);
  const count = Number(result.stdout.trim());
  if (count !== s.files) throw new Error(`find saw ${count} files after extraction, not ${s.files}`);
  return result.seconds;
}

export function runWorkload(workload: Workload, dir: string, s: Settings): Promise<number> {
  switch (workload) {
    case 'seq-write':
      return seqWrite(dir, s);
    case 'seq-read':
      return seqRead(dir, s);
    case 'rand-read-4k':
      return fio(dir, s, 'randread');
    case 'rand-write-4k':
      return fio(dir, s, 'randwrite');
    case 'extract-small':
      return extract(dir, s);
    case 'stat-small':
      return stat(dir, s);
  }
}

/** A deterministic PRNG (mulberry32), so every run extracts the same tree. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Writes a tree of `files` small files (100 per directory, two levels, sizes log-uniform from 32 B to 32 KiB,
 * like a source tree) under `work`, packs it into `work/tree.tar` and removes the tree. Runs before any
 * mount exists and only touches the backing disk. Resolves with the tarball's path and the tree's bytes.
 */
export async function makeTarball(work: string, files: number): Promise<{ tarball: string; bytes: number }> {
  const src = join(work, 'tree-src');
  const random = prng(20_000);
  const pool = randomBytes(64 * 1024);
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const dir = join(src, TREE, `d${Math.floor(i / 1000)}`, `s${Math.floor(i / 100) % 10}`);
    if (i % 100 === 0) mkdirSync(dir, { recursive: true });
    const size = Math.floor(32 * 2 ** (10 * random()));
    const start = Math.floor(random() * (pool.length - size));
    writeFileSync(join(dir, `f${i}.dat`), pool.subarray(start, start + size));
    bytes += size;
  }
  const tarball = join(work, 'tree.tar');
  await must('tar', ['-cf', tarball, '-C', src, TREE]);
  await must('rm', ['-rf', '--one-file-system', src], { abortable: false });
  return { tarball, bytes };
}
