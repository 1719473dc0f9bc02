// Child processes for the filesystem benchmark. Every file operation on a mount runs in a child (a process
// that serves a FUSE mount must never touch it, and the benchmark treats every mount that way), so this is
// the only way the benchmark does I/O. A first SIGINT/SIGTERM aborts the running child and lets the
// callers' finally blocks unmount and clean up; a second one exits at once.
import { spawn } from 'node:child_process';

export interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  seconds: number;
}

export interface ProcOptions {
  /** Kill the child (SIGTERM) after this long; default 15 minutes. */
  timeoutMs?: number;
  /** Cleanup commands pass false so that they still run after an interrupt. */
  abortable?: boolean;
  /** Keep at most this many characters of stdout (default 1 MiB); stderr keeps its last 16 KiB. */
  maxStdout?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

const controller = new AbortController();
let signals = 0;

function onSignal(signal: NodeJS.Signals): void {
  signals++;
  if (signals > 1) {
    console.error(`\n${signal} again: exiting without cleanup; check 'mount | grep fuse' for leftovers`);
    process.exit(130);
  }
  console.error(`\n${signal}: stopping the running step, then unmounting and cleaning up`);
  controller.abort();
}

/** Installs the SIGINT/SIGTERM handlers; returns the function that removes them. */
export function trapSignals(): () => void {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

export function interrupted(): boolean {
  return controller.signal.aborted;
}

export class Interrupted extends Error {
  constructor() {
    super('interrupted');
    this.name = 'Interrupted';
  }
}

/** Throws Interrupted if a signal arrived; call between steps. */
export function checkInterrupted(): void {
  if (interrupted()) throw new Interrupted();
}

export function quote(command: string, args: readonly string[]): string {
  return [command, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`)).join(' ');
}

/** Runs a command to completion and resolves with what it did; rejects only if it could not start. */
export function proc(
  command: string,
  args: readonly string[],
  options: ProcOptions = {},
): Promise<ProcResult> {
  const abortable = options.abortable ?? true;
  if (abortable) checkInterrupted();
  const maxStdout = options.maxStdout ?? 1 << 20;
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: options.cwd,
      env: options.env,
      timeout: options.timeoutMs ?? 15 * 60_000,
      signal: abortable ? controller.signal : undefined,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (stdout.length < maxStdout) stdout += chunk.slice(0, maxStdout - stdout.length);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-16384);
    });
    child.on('error', (error: Error) => {
      if (error.name === 'AbortError') return; // 'close' follows with the signal
      reject(new Error(`'${quote(command, args)}' could not run: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ code, signal, stdout, stderr, seconds });
    });
  });
}

/** Like proc, but a non-zero exit (or an interrupt) becomes an error with the command and its stderr. */
export async function must(
  command: string,
  args: readonly string[],
  options: ProcOptions = {},
): Promise<ProcResult> {
  const result = await proc(command, args, options);
  if ((options.abortable ?? true) && interrupted()) throw new Interrupted();
  if (result.code !== 0) {
    const how = result.signal !== null ? `was killed by ${result.signal}` : `exited with ${result.code}`;
    const tail = result.stderr.trim().split('\n').slice(-6).join('\n');
    throw new Error(`'${quote(command, args)}' ${how}${tail === '' ? '' : `:\n${tail}`}`);
  }
  return result;
}

/** Runs a shell snippet (fixed text from this benchmark; paths go in as positional parameters). */
export function sh(
  script: string,
  params: readonly string[] = [],
  options: ProcOptions = {},
): Promise<ProcResult> {
  return must('sh', ['-c', script, 'sh', ...params], options);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
