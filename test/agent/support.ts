// A real veild for tests: its own configuration, state and runtime directories under a
// temporary folder, started as a child process and stopped with SIGTERM; agentctl run
// as a person would, against that veild's socket.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const VEILD = path.join(root, 'bin/veild.js');
export const AGENTCTL = path.join(root, 'bin/agentctl.js');

export interface AgentDirs {
  config: string;
  state: string;
  runtime: string;
  socket: string;
}

/** Directories and an agent.json for one test agent under `base`. */
export function agentDirs(base: string, settings: Record<string, unknown> = {}): AgentDirs {
  mkdirSync(base, { recursive: true });
  const dirs = {
    config: path.join(base, 'agent.json'),
    state: path.join(base, 'state'),
    runtime: path.join(base, 'run'),
    socket: path.join(base, 'run', 'agent.sock'),
  };
  writeFileSync(
    dirs.config,
    JSON.stringify({
      stateDirectory: dirs.state,
      runtimeDirectory: dirs.runtime,
      threads: 4,
      syncIntervalSeconds: 5,
      reportIntervalSeconds: 1,
      maxBackoffSeconds: 2,
      ...settings,
    }),
  );
  return dirs;
}

export interface VeildProcess {
  readonly child: ChildProcess;
  log(): string;
  /** Resolves once the log has a line matching `pattern` (rejects after `ms`). */
  waitForLog(pattern: RegExp, ms?: number): Promise<void>;
  stop(): Promise<number | null>;
}

export function startVeild(dirs: AgentDirs, env: NodeJS.ProcessEnv = {}): VeildProcess {
  let output = '';
  const child = spawn(process.execPath, [VEILD, '--config', dirs.config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, JOURNAL_STREAM: '', ...env },
  });
  const waiters = new Set<() => void>();
  const collect = (chunk: string): void => {
    output += chunk;
    for (const waiter of waiters) waiter();
  };
  child.stdout?.setEncoding('utf8').on('data', collect);
  child.stderr?.setEncoding('utf8').on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    log: () => output,
    waitForLog: (pattern, ms = 60_000) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (!pattern.test(output)) return;
          cleanup();
          resolve();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`veild did not log ${pattern} within ${ms} ms:\n${output}`));
        }, ms);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return child.exitCode;
    },
  };
}

export interface CliResult {
  status: number;
  out: string;
  err: string;
}

/** Runs agentctl against the agent's socket. */
export function agentctl(dirs: AgentDirs, ...args: string[]): CliResult {
  const result = spawnSync(process.execPath, [AGENTCTL, '--socket', dirs.socket, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: result.status ?? -1, out: result.stdout, err: result.stderr };
}

/** agentctl --json …, expected to succeed: its parsed answer. */
export function agentctlJson<T>(dirs: AgentDirs, ...args: string[]): T {
  const result = agentctl(dirs, '--json', ...args);
  if (result.status !== 0)
    throw new Error(`agentctl ${args.join(' ')} failed (${result.status}): ${result.out}${result.err}`);
  return JSON.parse(result.out) as T;
}

/** Polls `probe` until it returns a value other than undefined (rejects after `ms`). */
export async function eventually<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 60_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Unmounts whatever is still mounted at `dir` (after a failed test). */
export function forceUnmount(dir: string): void {
  spawnSync('umount', ['-l', dir], { stdio: 'ignore' });
}

export interface NotifyReceiver {
  readonly socket: string;
  /** Every datagram so far, in order. */
  messages(): string[];
  stop(): void;
}

/**
 * A stand-in for systemd's notify socket: a python3 child bound to a Unix datagram socket
 * (Node has none) printing each datagram as one JSON string per line.
 */
export async function notifyReceiver(socket: string): Promise<NotifyReceiver> {
  const child = spawn(
    'python3',
    [
      '-c',
      'import json, socket, sys\n' +
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n' +
        's.bind(sys.argv[1])\n' +
        'print("bound", flush=True)\n' +
        'while True:\n' +
        '    print(json.dumps(s.recv(8192).decode()), flush=True)\n',
      socket,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines: string[] = [];
  let buffered = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        if (line === 'bound') resolve();
        else lines.push(JSON.parse(line) as string);
      }
    });
    child.once('exit', (code) => reject(new Error(`the notify receiver exited (${code})`)));
  });
  return { socket, messages: () => [...lines], stop: () => child.kill('SIGKILL') };
}

/** agentctl's arguments to register with `url` (a fingerprint only when given). */
export function registerArgs(url: string, token: string, fingerprint?: string): string[] {
  return [
    'register',
    '--manager',
    url,
    '--token',
    token,
    ...(fingerprint ? ['--fingerprint', fingerprint] : []),
  ];
}
