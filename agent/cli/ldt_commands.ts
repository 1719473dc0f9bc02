// agentctl ldt: live data transformation on this host — progress with a bar and an ETA,
// pause and resume (all guard points or one), and the QoS settings.
import { Command } from 'commander';

import { callAgent } from '../control/control_client.js';
import { numberIn } from './number_option.js';
import type { Command as AgentCommand, LdtStatus, Requests } from '../control/protocol.js';
import type { RekeyProgress } from '../ldt/rekeyer.js';

type Run = <C extends AgentCommand>(
  command: Command,
  name: C,
  args: Requests[C][0],
  show: (result: Requests[C][1]) => string,
) => Promise<void>;

const BAR = 30;

export function bytesText(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function durationText(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** One guard point's line: `[#####-----]  42%  12/30 files  1.2 GiB/3.0 GiB  ETA 3m20s  running`. */
export function progressLine(p: RekeyProgress): string {
  const fraction =
    p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : p.filesTotal > 0 ? p.filesDone / p.filesTotal : 1;
  const filled = Math.round(Math.min(1, fraction) * BAR);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(BAR - filled)}]`;
  const eta = p.etaSeconds === null ? '' : `  ETA ${durationText(p.etaSeconds)}`;
  const bytes = p.bytesTotal > 0 ? `  ${bytesText(p.bytesDone)}/${bytesText(p.bytesTotal)}` : '';
  const failed = p.failedFiles > 0 ? `  ${p.failedFiles} failed` : '';
  return `${bar} ${String(Math.floor(fraction * 100)).padStart(3)}%  ${p.filesDone}/${p.filesTotal} files${bytes}${eta}  ${p.state}${failed}`;
}

export function showLdt(status: LdtStatus): string {
  const q = status.qos;
  const qos = [
    q.rateMBps > 0 ? `rate cap ${q.rateMBps} MB/s` : 'no rate cap',
    `CPU share ${Math.round(q.cpuShare * 100)}%`,
    q.windows.length > 0 ? `windows ${q.windows.join(', ')}` : 'any time',
  ].join('; ');
  const lines = [`QoS: ${qos}`];
  if (status.guardPoints.length === 0) lines.push('  (no guard points)');
  for (const g of status.guardPoints) {
    const t = g.transformation;
    lines.push(`${g.path} (${g.status}${g.paused ? ', paused' : ''})`);
    if (t === null) {
      lines.push('  not mounted: no rekeying');
      continue;
    }
    lines.push(`  ${progressLine(t)}`);
    const versions = t.keyVersions.map((k) => `${k.keyId}:${k.version} (${k.files})`).join(', ');
    lines.push(
      `  files under: ${versions || 'no key'}${t.plaintextFiles > 0 ? `; ${t.plaintextFiles} still plaintext` : ''}`,
    );
    if (t.message) lines.push(`  ${t.message}`);
  }
  return lines.join('\n');
}

/** Redraws the status until every guard point is idle (or the user stops it). */
async function watch(socket: string, json: boolean | undefined): Promise<void> {
  const tty = process.stdout.isTTY;
  let drawn = 0;
  for (;;) {
    const status = await callAgent(socket, 'ldt.status', {});
    if (json) process.stdout.write(`${JSON.stringify(status)}\n`);
    else {
      const text = showLdt(status);
      if (tty && drawn > 0) process.stdout.write(`\x1b[${drawn}A\x1b[J`);
      process.stdout.write(`${text}\n`);
      drawn = text.split('\n').length;
    }
    const busy = status.guardPoints.some(
      (g) => g.transformation !== null && !['idle', 'failed'].includes(g.transformation.state),
    );
    if (!busy) return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

export function addLdtCommands(
  program: Command,
  run: Run,
  fail: (error: unknown, json?: boolean) => never,
): void {
  const ldt = program
    .command('ldt')
    .description('live data transformation: rekeying and initial encryption of guarded files in place');
  ldt
    .command('status')
    .description('per guard point: files and bytes done, ETA, key versions the files are under')
    .option('--watch', 'redraw every second until every guard point is idle')
    .action(async (options: { watch?: boolean }, command: Command) => {
      if (!options.watch) return run(command, 'ldt.status', {}, showLdt);
      const { socket, json } = command.optsWithGlobals<{ socket: string; json?: boolean }>();
      try {
        await watch(socket, json);
      } catch (error) {
        fail(error, json);
      }
    });
  for (const [name, verb] of [
    ['pause', 'pauses'],
    ['resume', 'resumes'],
  ] as const) {
    ldt
      .command(name)
      .description(`${verb} rekeying of one guard point, or of all (kept across restarts)`)
      .argument('[path]', 'the guard point (default: every one)')
      .action(async (target: string | undefined, _options: unknown, command: Command) =>
        run(command, `ldt.${name}`, target === undefined ? {} : { path: target }, showLdt),
      );
  }
  ldt
    .command('set')
    .description('quality of service for rekeying (kept across restarts; overrides agent.json "rekey")')
    .option('--rate <MBps>', 'cap on MB/s transformed, 0 for none', numberIn('the rate', 0, 100000))
    .option(
      '--cpu <share>',
      'fraction of one CPU the worker may use, 0.01 to 1',
      numberIn('the CPU share', 0.01, 1),
    )
    .option(
      '--window <HH:MM-HH:MM...>',
      'local-time windows it may run in (repeat; "always" for any time)',
      (v: string, all: string[] = []) => [...all, v],
    )
    .action(async (options: { rate?: number; cpu?: number; window?: string[] }, command: Command) => {
      const args: Requests['ldt.set'][0] = {};
      if (options.rate !== undefined) args.rateMBps = options.rate;
      if (options.cpu !== undefined) args.cpuShare = options.cpu;
      if (options.window !== undefined) args.windows = options.window.filter((w) => w !== 'always');
      return run(command, 'ldt.set', args, showLdt);
    });
}
