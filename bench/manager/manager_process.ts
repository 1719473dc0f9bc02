// The manager under test: a real `veil-manager serve` process on a free loopback port, its data directory
// in a fresh temporary folder. `stop()` ends it (SIGTERM, then SIGKILL) and removes the folder; it also
// runs on SIGINT/SIGTERM of the benchmark and, for the process only, when the benchmark exits at all.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { ManagerClient } from '../../manager-client/client.js';
import { processCpuSeconds } from './proc_cpu.js';

const MANAGER_CLI = path.join(import.meta.dirname, '..', '..', 'bin', 'veil-manager.js');
const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 5_000;

/** Resident memory of a process, from /proc/<pid>/status, in KiB. */
export interface Memory {
  /** VmRSS: resident now. */
  rssKiB: number;
  /** VmHWM: the most it was ever resident. */
  hwmKiB: number;
}

export interface ManagerUnderTest {
  readonly url: string;
  readonly pid: number;
  readonly caPem: string;
  readonly dataDir: string;
  /**
   * A client of the first administrator, on a fresh session: a password costs a scrypt on every request,
   * which would be counted in the rotation's time; a session token does not.
   */
  admin(): Promise<ManagerClient>;
  memory(): Memory;
  /** CPU seconds the process has used (user + system), from /proc/<pid>/stat. */
  cpuSeconds(): number;
  /** What the process wrote to stderr (its log), the last 64 KiB. */
  log(): string;
  stop(): Promise<void>;
}

export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (match === null) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(match[1]);
  };
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** Starts the manager; `nodeArgs` go to node before the script (e.g. --cpu-prof). */
export async function startManager(options: { nodeArgs?: string[] } = {}): Promise<ManagerUnderTest> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'veil-bench-manager-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      MANAGER_CLI,
      'serve',
      '--data-dir',
      path.join(dataDir, 'data'),
      '--listen',
      '127.0.0.1:0',
      '--json',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], cwd: dataDir },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-65536);
  });
  const killNow = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(killNow, STOP_GRACE_MS);
        await exited;
        clearTimeout(timer);
      }
      process.off('exit', killNow);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      rmSync(dataDir, { recursive: true, force: true });
    })());
  function onSignal(signal: NodeJS.Signals): void {
    console.error(`\n${signal}: stopping the manager and removing ${dataDir}`);
    void stop().finally(() => process.exit(130));
  }
  process.on('exit', killNow);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`veil-manager did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)),
        START_TIMEOUT_MS,
      );
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (!out.includes('\n')) return;
        clearTimeout(timer);
        try {
          const line = JSON.parse(out.split('\n')[0] ?? '') as { ok?: boolean; url?: string };
          if (line.ok === true && typeof line.url === 'string') resolve(line.url);
          else reject(new Error(`veil-manager refused to start: ${out}`));
        } catch {
          reject(new Error(`veil-manager printed no JSON start line: ${out}`));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`veil-manager exited (${code ?? signal ?? '?'}): ${stderr}`));
      });
    });
    const data = path.join(dataDir, 'data');
    const caPem = readFileSync(path.join(data, 'ca.crt'), 'utf8');
    const password = readFileSync(path.join(data, 'admin-password'), 'utf8').trim();
    const pid = child.pid as number;
    return {
      url,
      pid,
      caPem,
      dataDir,
      admin: async () => {
        const session = await new ManagerClient({ url, caPem }).login('admin', password);
        return new ManagerClient({ url, caPem, bearer: session.token, timeoutMs: 120_000 });
      },
      memory: () => memoryOf(pid),
      cpuSeconds: () => processCpuSeconds(pid),
      log: () => stderr,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
