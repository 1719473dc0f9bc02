// Guard points for tests: each is served by a real `veil-mount --foreground` process, and
// every file operation runs in another child process (bash, python3), never in the test
// process. Whatever happens, the fixture unmounts and removes what it made.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { CipherName } from '../../native/core.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const VEIL_MOUNT = path.join(root, 'bin/veil-mount.js');

export interface GuardPointFixture {
  dir: string;
  keyFile: string;
  key: Buffer;
  cipher: CipherName;
  /** What the serving process wrote to stderr so far (events). */
  log(): string;
  /** Resolves once the serving process's stderr matches, or rejects after `ms`. */
  waitForLog(pattern: RegExp, ms?: number): Promise<string>;
  /** Stops the serving process with SIGTERM and waits until the mount is gone. */
  stop(): Promise<void>;
  /** Starts serving again (after stop, or after a crash). */
  start(): Promise<void>;
  /** Kills the serving process with SIGKILL, leaving the mount behind as a crash would. */
  crash(): Promise<void>;
  /** The serving process. */
  pid(): number;
  /** Asks the serving process to read its policy file again (SIGUSR1). */
  reloadPolicy(): void;
}

export function isMounted(dir: string): boolean {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[1] === dir);
}

/** Runs a bash script in a child process; returns its stdout, throws with stderr on failure. */
export function sh(script: string, options: { cwd?: string; user?: string } = {}): string {
  const argv = options.user
    ? ['runuser', ['-u', options.user, '--', 'bash', '-c', script]]
    : ['bash', ['-c', script]];
  const result = spawnSync(argv[0] as string, argv[1] as string[], {
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
  if (result.status !== 0) {
    throw new Error(`script failed (${result.status ?? result.signal}): ${script}\n${result.stderr}`);
  }
  return result.stdout;
}

/** Like sh, but returns the exit status and stderr instead of throwing. */
export function shStatus(
  script: string,
  options: { user?: string } = {},
): { status: number; stderr: string } {
  const result = options.user
    ? spawnSync('runuser', ['-u', options.user, '--', 'bash', '-c', script], {
        encoding: 'utf8',
        timeout: 60_000,
      })
    : spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status ?? -1, stderr: result.stderr };
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function createGuardPoint(
  cipher: CipherName,
  base?: string,
  options: { policyFile?: string; extraArgs?: string[] } = {},
): Promise<GuardPointFixture> {
  const work = mkdtempSync(path.join(base ?? '/var/tmp', 'veil-test-'));
  const dir = path.join(work, 'guarded');
  const keyFile = path.join(work, 'key');
  const key = randomBytes(32);
  // Other users reach the guard point through these (tests run commands as nobody).
  sh(`chmod 755 '${work}' && mkdir -m 755 -p '${dir}'`);
  writeFileSync(keyFile, key, { mode: 0o600 });
  let child: ChildProcess | undefined;
  let stderr = '';

  const start = async (): Promise<void> => {
    const proc = spawn(
      process.execPath,
      [
        VEIL_MOUNT,
        dir,
        '--key-file',
        keyFile,
        '--cipher',
        cipher,
        '--foreground',
        '--json',
        ...(options.policyFile === undefined ? [] : ['--policy', options.policyFile]),
        ...(options.extraArgs ?? []),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = proc;
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) {
          const line = JSON.parse(out.split('\n')[0] ?? '{}') as { ok?: boolean; message?: string };
          if (line.ok) resolve();
          else reject(new Error(`veil-mount refused: ${out}`));
        }
      });
      proc.once('exit', (code) =>
        reject(new Error(`veil-mount exited (${code}) before it was ready: ${stderr}`)),
      );
    });
  };

  const stop = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await waitForExit(child);
    }
    if (isMounted(dir)) spawnSync('umount', ['-l', dir]);
  };

  const crash = async (): Promise<void> => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await waitForExit(child);
    }
  };

  await start();
  const fixture: GuardPointFixture = {
    dir,
    keyFile,
    key,
    cipher,
    log: () => stderr,
    waitForLog: async (pattern, ms = 5000) => {
      const deadline = Date.now() + ms;
      while (!pattern.test(stderr)) {
        if (Date.now() > deadline) throw new Error(`no ${String(pattern)} in the log:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return stderr;
    },
    stop,
    start,
    crash,
    pid: () => child?.pid ?? -1,
    reloadPolicy: () => {
      child?.kill('SIGUSR1');
    },
  };
  cleanups.push(async () => {
    await stop();
    rmSync(work, { recursive: true, force: true });
  });
  return fixture;
}

const cleanups: (() => Promise<void>)[] = [];

/** Unmounts and removes every guard point the tests made (call from after()). */
export async function removeGuardPoints(): Promise<void> {
  for (const cleanup of cleanups.splice(0)) await cleanup();
}
