// A veil-mount process rekeying a guard point for the rekey benchmark: started with the
// policy file's key and `--rekey --json`, it prints one JSON progress line per change on
// stdout, which this reads to time the passes (and /proc for the CPU it used).
import { spawn, type ChildProcess } from 'node:child_process';

import type { RekeyProgress } from '../../agent/ldt/rekeyer.js';
import { mountAt } from '../fs/system.js';
import { processCpuSeconds, VEIL_MOUNT_CLI } from '../fs/targets.js';
import { proc, sleep } from '../fs/proc.js';

export interface PassTiming {
  seconds: number;
  cpuSeconds: number;
  bytes: number;
  files: number;
}

export class RekeyMount {
  #child: ChildProcess | undefined;
  #lines: { at: number; progress: RekeyProgress }[] = [];
  #stderr = '';

  constructor(
    readonly dir: string,
    private readonly args: readonly string[],
  ) {}

  async start(extra: readonly string[]): Promise<void> {
    this.#lines = [];
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        VEIL_MOUNT_CLI,
        this.dir,
        '--foreground',
        '--json',
        '--rekey',
        ...this.args,
        ...extra,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-8192);
    });
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        for (let at = buffered.indexOf('\n'); at !== -1; at = buffered.indexOf('\n')) {
          const line = buffered.slice(0, at);
          buffered = buffered.slice(at + 1);
          const value = JSON.parse(line) as { ok?: boolean; rekey?: RekeyProgress; message?: string };
          if (value.rekey) this.#lines.push({ at: performance.now(), progress: value.rekey });
          else if (value.ok === true) resolve();
          else reject(new Error(`veil-mount refused: ${line}`));
        }
      });
      child.once('exit', (code) => reject(new Error(`veil-mount exited (${code}): ${this.#stderr}`)));
    });
  }

  pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Waits for a pass that did work and then found nothing left; its wall and CPU time. */
  async pass(timeoutMs: number): Promise<PassTiming> {
    const deadline = Date.now() + timeoutMs;
    let started: { at: number; cpu: number; progress: RekeyProgress } | undefined;
    for (;;) {
      const running = this.#lines.find((l) => l.progress.state === 'running');
      if (running && started === undefined) {
        started = { at: running.at, cpu: processCpuSeconds(this.pid()) ?? 0, progress: running.progress };
      }
      const last = this.#lines.at(-1);
      if (started && last && last.progress.state === 'idle' && last.at > started.at) {
        const cpu = processCpuSeconds(this.pid()) ?? started.cpu;
        // The work ends where the scan that finds nothing left begins.
        const from = started.at;
        const ended = this.#lines.find((l) => l.at > from && l.progress.state === 'scanning') ?? last;
        return {
          seconds: (ended.at - started.at) / 1000,
          cpuSeconds: cpu - started.cpu,
          bytes: started.progress.bytesTotal,
          files: started.progress.filesTotal,
        };
      }
      const failed = this.#lines.find((l) => l.progress.state === 'failed');
      if (failed) throw new Error(`the rekey failed: ${failed.progress.message ?? ''}`);
      if (Date.now() > deadline)
        throw new Error(`no rekey pass finished in ${timeoutMs / 1000} s: ${this.#stderr}`);
      await sleep(20);
    }
  }

  /** Resolves once the worker is running (a pass with work has started). */
  async running(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#lines.some((l) => l.progress.state === 'running')) {
      if (Date.now() > deadline) throw new Error(`the rekey did not start: ${this.#stderr}`);
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
    }
    if (mountAt(this.dir) !== undefined) await proc('umount', ['-l', this.dir], { abortable: false });
    this.#child = undefined;
  }
}
