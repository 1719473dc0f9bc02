// The four filesystems the benchmark compares, all on the same backing disk: a plain directory, gocryptfs
// with its defaults, and Veil mounted by `veil-mount` with AES-256-GCM and with AES-256-XTS. Each one is
// set up, measured and torn down in turn; teardown is safe after a failed setup and unmounts whatever is
// still mounted before anything is removed (`rm --one-file-system` never descends into a mount).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { must, proc, sleep } from './proc.js';
import { isRoot, mountAt, mountsUnder } from './system.js';
import { STANDALONE_KEY } from '../../agent/mounts/standalone.js';

export const TARGET_NAMES = ['plain', 'gocryptfs', 'veil-gcm', 'veil-xts', 'veil-gcm-policy'] as const;

/** Rules of the policy the veil-gcm-policy target runs under. */
export const POLICY_RULES = 50;

/**
 * A policy of `rules` rules where every decision walks them all: each rule but the last
 * covers every action and every user, so only its resource set (two patterns) tells it
 * apart, and only the last, about every path, matches.
 */
export function costlyPolicy(rules: number): string {
  const resourceSets: Record<string, { include: string[] }> = { all: { include: ['**'] } };
  const securityRules: Record<string, unknown>[] = [];
  for (let i = 0; i < rules - 1; i++) {
    resourceSets[`dept${i}`] = { include: [`dept${i}/**`, `**/*.sealed${i}`] };
    securityRules.push({
      resourceSet: `dept${i}`,
      actions: ['all_ops'],
      effect: ['permit', 'apply_key', 'audit'],
    });
  }
  securityRules.push({ resourceSet: 'all', actions: ['all_ops'], effect: ['permit', 'apply_key'] });
  return JSON.stringify({
    name: `bench-${rules}-rules`,
    resourceSets,
    securityRules,
    keyRules: [{ resourceSet: 'all', key: STANDALONE_KEY }],
  });
}
export type TargetName = (typeof TARGET_NAMES)[number];

/** A target that cannot run here (missing tool, CLI not there yet, mount failed): its column is null. */
export class Unavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Unavailable';
  }
}

export interface Target {
  readonly name: TargetName;
  /** Prepares and mounts; resolves with the directory the workloads run in. */
  setup(): Promise<string>;
  /** Unmounts and removes everything the target made; safe to call twice or after a failed setup. */
  teardown(): Promise<void>;
  /** CPU seconds (user and system, all threads) its serving process has used so far, where it has one. */
  cpuSeconds?(): number | undefined;
}

// Clock ticks per second of /proc/<pid>/stat times (sysconf(_SC_CLK_TCK), 100 on Linux).
const CLOCK_TICKS = 100;

/** utime + stime of a process, from /proc/<pid>/stat; undefined once it is gone. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

const REPO = join(import.meta.dirname, '..', '..');
export const VEIL_MOUNT_CLI = join(REPO, 'agent', 'cli', 'veil_mount.ts');

function veilMountArgs(args: readonly string[]): string[] {
  return ['--import', 'tsx', VEIL_MOUNT_CLI, ...args];
}

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await sleep(100);
  }
  return predicate();
}

/** Tries each command in turn until nothing is mounted at `path`; the last resort is a lazy unmount. */
async function unmount(path: string, attempts: Array<[string, string[]]>): Promise<void> {
  const all: Array<[string, string[]]> = [
    ...attempts,
    isRoot() ? ['umount', [path]] : ['fusermount3', ['-u', path]],
    ['fusermount3', ['-u', path]],
    isRoot() ? ['umount', ['-l', path]] : ['fusermount3', ['-u', '-z', path]],
  ];
  for (const [command, args] of all) {
    if (mountAt(path) === undefined) return;
    await proc(command, args, { abortable: false, timeoutMs: 30_000 }).catch(() => undefined);
    await waitFor(() => mountAt(path) === undefined, 2_000);
  }
  if (mountAt(path) !== undefined) throw new Error(`could not unmount ${path}; unmount it by hand`);
}

let retired = 0;

/**
 * Puts a target's directory aside until the run ends (the benchmark removes its whole scratch directory
 * last), after deleting the big file; refuses while something is mounted under it. Deleting the
 * small-file tree here would slow down whichever target runs next: ext4 does not reuse an inode freed in
 * the last minute or more, and searches past every such inode each time it allocates one
 * (recently_deleted, the top of a profile of the extraction after a deleted tree).
 */
async function retireTree(dir: string): Promise<void> {
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`not removing ${dir}: still mounted at ${left.join(', ')}`);
  if (!existsSync(dir)) return;
  await must('find', [dir, '-xdev', '-type', 'f', '-size', '+64M', '-delete'], {
    abortable: false,
    timeoutMs: 10 * 60_000,
  });
  const spent = join(dirname(dir), 'spent');
  mkdirSync(spent, { recursive: true });
  renameSync(dir, join(spent, `${basename(dir)}-${++retired}`));
}

class Plain implements Target {
  readonly name = 'plain';
  readonly #root: string;
  constructor(work: string) {
    this.#root = join(work, 'plain');
  }
  setup(): Promise<string> {
    const data = join(this.#root, 'data');
    mkdirSync(data, { recursive: true });
    return Promise.resolve(data);
  }
  async teardown(): Promise<void> {
    await retireTree(this.#root);
  }
}

class Gocryptfs implements Target {
  readonly name = 'gocryptfs';
  readonly #root: string;
  readonly #mnt: string;
  constructor(work: string) {
    this.#root = join(work, 'gocryptfs');
    this.#mnt = join(this.#root, 'mnt');
  }
  async setup(): Promise<string> {
    const cipher = join(this.#root, 'cipher');
    const passfile = join(this.#root, 'passfile');
    mkdirSync(cipher, { recursive: true });
    mkdirSync(this.#mnt, { recursive: true });
    writeFileSync(passfile, 'veil-bench\n', { mode: 0o600 });
    await must('gocryptfs', ['-init', '-q', '-passfile', passfile, cipher], { timeoutMs: 60_000 });
    await must('gocryptfs', ['-q', '-passfile', passfile, cipher, this.#mnt], { timeoutMs: 60_000 });
    if (!(await waitFor(() => mountAt(this.#mnt)?.fsType.startsWith('fuse') === true, 10_000))) {
      throw new Error(`gocryptfs exited 0 but nothing is mounted at ${this.#mnt}`);
    }
    return this.#mnt;
  }
  async teardown(): Promise<void> {
    await unmount(this.#mnt, isRoot() ? [['umount', [this.#mnt]]] : [['fusermount', ['-u', this.#mnt]]]);
    await retireTree(this.#root);
  }
}

/**
 * `veil-mount DIR --key-file FILE --cipher C --foreground` as a child in its own process group (so that a
 * terminal ^C reaches the benchmark, which unmounts in order, not the server); mounted once DIR shows up
 * as a FUSE mount in /proc/self/mountinfo. Torn down with `veil-mount --unmount DIR`, then plain umount,
 * then signals to the server.
 */
class Veil implements Target {
  readonly name: TargetName;
  readonly #cipher: 'aes-256-gcm' | 'aes-256-xts';
  readonly #root: string;
  readonly #dir: string;
  readonly #log: string;
  #server: ChildProcess | undefined;
  #exited = false;
  readonly #policyRules: number;
  constructor(work: string, cipher: 'aes-256-gcm' | 'aes-256-xts', policyRules = 0) {
    this.#cipher = cipher;
    this.#policyRules = policyRules;
    this.name = policyRules > 0 ? 'veil-gcm-policy' : cipher === 'aes-256-gcm' ? 'veil-gcm' : 'veil-xts';
    this.#root = join(work, this.name);
    this.#dir = join(this.#root, 'data');
    this.#log = join(work, `${this.name}.log`);
  }
  async setup(): Promise<string> {
    if (!existsSync(VEIL_MOUNT_CLI)) {
      throw new Unavailable(`the veil-mount CLI (${VEIL_MOUNT_CLI}) does not exist yet`);
    }
    mkdirSync(this.#dir, { recursive: true });
    const keyFile = join(this.#root, 'key');
    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    const policy: string[] = [];
    if (this.#policyRules > 0) {
      const file = join(this.#root, 'policy.json');
      writeFileSync(file, costlyPolicy(this.#policyRules));
      policy.push('--policy', file);
    }
    const args = veilMountArgs([
      this.#dir,
      '--key-file',
      keyFile,
      '--cipher',
      this.#cipher,
      '--foreground',
      ...policy,
    ]);
    const log = openSync(this.#log, 'a');
    try {
      const server = spawn(process.execPath, args, {
        cwd: REPO,
        detached: true,
        stdio: ['ignore', log, log],
      });
      this.#server = server;
      server.on('exit', () => {
        this.#exited = true;
      });
      server.on('error', () => {
        this.#exited = true;
      });
    } finally {
      closeSync(log);
    }
    const mounted = (): boolean => mountAt(this.#dir)?.fsType.startsWith('fuse') === true;
    await waitFor(() => mounted() || this.#exited, 60_000);
    if (!mounted()) {
      const why = this.#exited ? 'veil-mount exited before mounting' : 'nothing mounted after 60 s';
      const log = tail(this.#log);
      throw new Unavailable(`${why} (${this.#cipher})${log === '' ? '' : `:\n${log}`}`);
    }
    return this.#dir;
  }
  cpuSeconds(): number | undefined {
    return processCpuSeconds(this.#server?.pid);
  }
  async teardown(): Promise<void> {
    try {
      if (existsSync(VEIL_MOUNT_CLI)) {
        await unmount(this.#dir, [[process.execPath, veilMountArgs(['--unmount', this.#dir])]]);
      }
    } finally {
      await this.#stopServer();
    }
    // A server that died without unmounting leaves a dead mount ("transport endpoint is not connected").
    await unmount(this.#dir, []);
    await retireTree(this.#root);
    rmSync(this.#log, { force: true });
  }
  async #stopServer(): Promise<void> {
    const server = this.#server;
    if (server === undefined || this.#exited) return;
    for (const signal of [null, 'SIGTERM', 'SIGKILL'] as const) {
      if (signal !== null) server.kill(signal);
      if (await waitFor(() => this.#exited, signal === null ? 10_000 : 5_000)) return;
    }
  }
}

export function makeTarget(name: TargetName, work: string): Target {
  switch (name) {
    case 'plain':
      return new Plain(work);
    case 'gocryptfs':
      return new Gocryptfs(work);
    case 'veil-gcm':
      return new Veil(work, 'aes-256-gcm');
    case 'veil-xts':
      return new Veil(work, 'aes-256-xts');
    case 'veil-gcm-policy':
      return new Veil(work, 'aes-256-gcm', POLICY_RULES);
  }
}
