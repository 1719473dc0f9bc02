// What the filesystem benchmark needs from the machine: packages (installed with apt-get when missing,
// never at the cost of fuse3), a way to drop the page cache, and the mount table.
import { readFileSync } from 'node:fs';

import { interrupted, must, proc, quote } from './proc.js';

const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

async function onPath(binary: string): Promise<boolean> {
  const result = await proc('sh', ['-c', 'command -v "$1"', 'sh', binary], { timeoutMs: 10_000 });
  return result.code === 0;
}

async function installed(pkg: string): Promise<boolean> {
  const result = await proc('dpkg-query', ['-W', '-f=${Status}', pkg], { timeoutMs: 10_000 });
  return result.code === 0 && result.stdout.includes('install ok installed');
}

async function hasCandidate(pkg: string): Promise<boolean> {
  const result = await proc('apt-cache', ['policy', pkg], { timeoutMs: 60_000 });
  const candidate = /Candidate:\s*(\S+)/.exec(result.stdout)?.[1];
  return result.code === 0 && candidate !== undefined && candidate !== '(none)';
}

/**
 * Makes sure `binary` is on PATH, installing the Debian package `pkg` without recommends if needed. The
 * install is simulated first and refused if apt would remove anything (Debian's `fuse` and `fuse3`
 * conflict, and Veil needs fuse3); afterwards fuse3 must still be installed if it was before.
 */
export async function ensurePackage(pkg: string, binary: string, log: (line: string) => void): Promise<void> {
  if (await onPath(binary)) return;
  if (!isRoot()) throw new Error(`'${binary}' is not installed and installing '${pkg}' needs root`);
  if (!(await onPath('apt-get'))) throw new Error(`'${binary}' is not installed and there is no apt-get`);
  if (!(await hasCandidate(pkg))) {
    log(`${pkg}: not in the package lists; running apt-get update`);
    await must('apt-get', ['update', '-q'], { env: APT_ENV, timeoutMs: 10 * 60_000 });
    if (!(await hasCandidate(pkg))) throw new Error(`apt has no package '${pkg}' even after apt-get update`);
  }
  const install = ['install', '-y', '-q', '--no-install-recommends', pkg];
  const simulation = await must('apt-get', ['-s', ...install], { env: APT_ENV, timeoutMs: 5 * 60_000 });
  const removals = simulation.stdout
    .split('\n')
    .filter((line) => line.startsWith('Remv '))
    .map((line) => line.split(' ')[1] ?? line);
  if (removals.length > 0) {
    const fuse3 = removals.some((name) => name === 'fuse3' || name.startsWith('libfuse3'));
    throw new Error(
      `'${quote('apt-get', install)}' would remove ${removals.join(', ')}` +
        `${fuse3 ? ' (Veil needs fuse3; never install the `fuse` package)' : ''}; not installing ${pkg}`,
    );
  }
  const fuse3Before = await installed('fuse3');
  log(`${pkg}: installing with '${quote('apt-get', install)}'`);
  await must('apt-get', install, { env: APT_ENV, timeoutMs: 10 * 60_000 });
  if (fuse3Before && !(await installed('fuse3'))) {
    throw new Error(
      `installing ${pkg} removed fuse3; reinstall it with 'apt-get install fuse3 libfuse3-dev'`,
    );
  }
  if (!(await onPath(binary))) throw new Error(`installed ${pkg} but '${binary}' is still not on PATH`);
}

/** `sync; echo 3 > /proc/sys/vm/drop_caches`: page cache, dentries and inodes, for cold reads. */
export async function dropCaches(): Promise<void> {
  await must('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { timeoutMs: 5 * 60_000 });
}

/** Null if caches can be dropped here, else why not. */
export async function dropCachesProblem(): Promise<string | null> {
  if (interrupted()) return null;
  const result = await proc('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], {
    timeoutMs: 5 * 60_000,
  });
  if (result.code === 0) return null;
  const why = result.stderr.trim().split('\n').pop() ?? `exit ${result.code}`;
  return `cannot drop caches (${why}${isRoot() ? '' : '; needs root'}): reads may be served from the page cache`;
}

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
}

function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The mount table, from /proc/self/mountinfo (reading it does not touch any mount). */
export function mounts(): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const mountPoint = left.split(' ')[4];
    const [fsType, source] = right.split(' ');
    if (mountPoint === undefined || fsType === undefined) continue;
    entries.push({ mountPoint: unescapeMount(mountPoint), fsType, source: unescapeMount(source ?? '') });
  }
  return entries;
}

/** The topmost mount at exactly this path, if any. */
export function mountAt(path: string): MountEntry | undefined {
  return mounts()
    .filter((m) => m.mountPoint === path)
    .pop();
}

/** Mount points at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  return mounts()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}
