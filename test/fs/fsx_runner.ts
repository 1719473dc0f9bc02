// Runs the fsx-style checker (test/fs/fsx.ts) in a child process, as a test serving a FUSE
// mount must: the serving process never does file I/O on its own mount.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const FSX = path.join(here, 'fsx.ts');

export interface FsxRunOptions {
  /** The directory to test in (absolute, or relative to the repository root). */
  dir: string;
  ops: number;
  seed: number;
  /** Largest file size the checker makes; it defaults to 1 MiB. */
  maxSize?: number;
  /** mmap reads and writes (through python3); on unless false. */
  mmap?: boolean;
  /** Kill the checker after this long (default 120 s); a hung mount then reads as a failure. */
  timeoutMs?: number;
  /** More arguments for fsx.ts, e.g. ['--keep']. */
  extraArgs?: string[];
}

export interface FsxRunResult {
  ok: boolean;
  /** stdout and stderr of the checker, interleaved as they came (the failure report on failure). */
  output: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
}

export function runFsx(opts: FsxRunOptions): Promise<FsxRunResult> {
  const args = ['--import', 'tsx', FSX, '--dir', path.resolve(root, opts.dir)];
  args.push('--ops', String(opts.ops), '--seed', String(opts.seed));
  if (opts.maxSize !== undefined) args.push('--max-size', String(opts.maxSize));
  if (opts.mmap === false) args.push('--no-mmap');
  args.push(...(opts.extraArgs ?? []));
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // the checker is not a node:test child
  const timeoutMs = opts.timeoutMs ?? 120_000;

  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (result: Omit<FsxRunResult, 'output'>, extra = ''): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, output: Buffer.concat(chunks).toString('utf8') + extra });
    };
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', (err) =>
      finish({ ok: false, code: null, signal: null, timedOut: false }, `fsx_runner: ${err.message}\n`),
    );
    child.on('close', (code, signal) => finish({ ok: code === 0, code, signal, timedOut: false }));
    // A checker stuck in a hung mount may not die at once: resolve without waiting for it.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(
        { ok: false, code: null, signal: 'SIGKILL', timedOut: true },
        `fsx_runner: killed after ${timeoutMs} ms: ${process.execPath} ${args.join(' ')}\n`,
      );
    }, timeoutMs);
  });
}
