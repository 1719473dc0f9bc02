// What the manager benchmark reports: its figures, the table (metric, value, target, met?), the notes and,
// last, the one JSON line.
import type { PhaseResult } from './fleet.js';
import type { Memory } from './manager_process.js';
import type { RsaSpeed } from './rsa_reference.js';

export const TARGETS = { connectedHosts: 1000, registrationsPerSecond: 100, fanoutP99Ms: 2000 };

export interface ReportOptions {
  hosts: number;
  concurrency: number;
  transportKeys: number;
  openers: number;
}

export interface Measured {
  registration: PhaseResult;
  connect: PhaseResult & { connected: number; firstDeliveries: number; allOpenSeconds: number };
  rotateAnswerMs: number;
  fanoutHosts: number;
  /** Per host that got the new version: ms from just before the rotate request. */
  openedMs: number[];
  receivedMs: number[];
  /** Per host that got it: how long its own opening took (RSA unwrap and GCM), waiting not counted. */
  unwrapMs: number[];
  /** The same openings again with the manager idle, all asked at once: ms from the start to each. */
  aloneMs: number[];
  /** openssl speed of RSA private-key operations on all CPUs, or why it could not run. */
  rsa: RsaSpeed | { bits: number; error: string };
  cpus: number;
  idle: Memory;
  afterFanout: Memory;
  managerCpu: { registration: number; connect: number; fanout: number };
  /**
   * This process during the fan-out: CPU seconds (all threads), those of the opener threads (null when
   * not told apart), and how busy its main thread was (0 to 1).
   */
  benchFanout: { cpuSeconds: number; openersCpuSeconds: number | null; mainThreadBusy: number };
  /** This process during the registrations: CPU seconds (all threads). */
  benchRegistrationCpuSeconds: number;
  /** The machine's 1-minute load average when the manager started and at the end: others' work shows. */
  load: { start: number; end: number };
  /** The share of the machine's CPU time its hypervisor gave to others in each phase (steal), if known. */
  steal: { registration: number | null; fanout: number | null };
  problems: string[];
}

/** Nearest-rank percentile (p from 0 to 100) of `values`, or null when there are none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

export function round(x: number, digits: number): number;
export function round(x: number | null, digits: number): number | null;
export function round(x: number | null, digits: number): number | null {
  if (x === null) return null;
  const scale = 10 ** digits;
  return Math.round(x * scale) / scale;
}

/** Columns padded to their widest cell; the first column left-aligned, the others right-aligned. */
export function table(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** Prints the table and the notes, then the JSON line last. */
export function report(options: ReportOptions, m: Measured, notes: string[]): void {
  const registrationsPerSecond = m.registration.succeeded / m.registration.seconds;
  const fanoutP99Ms = m.openedMs.length === 0 ? null : percentile(m.openedMs, 99);
  const aloneP99Ms = percentile(m.aloneMs, 99);
  const figures = {
    hosts: options.hosts,
    concurrency: options.concurrency,
    transportKeys: options.transportKeys,
    openers: options.openers,
    registered: m.registration.succeeded,
    registrationFailures: m.registration.failed,
    registrationSeconds: round(m.registration.seconds, 3),
    registrationsPerSecond: round(registrationsPerSecond, 1),
    connectedHosts: m.connect.connected,
    firstDeliveriesOpened: m.connect.firstDeliveries,
    connectSeconds: round(m.connect.allOpenSeconds, 3),
    rotateAnswerMs: round(m.rotateAnswerMs, 1),
    fanoutHosts: m.fanoutHosts,
    fanoutOpened: m.openedMs.length,
    fanoutP50Ms: round(percentile(m.openedMs, 50), 1),
    fanoutP95Ms: round(percentile(m.openedMs, 95), 1),
    fanoutP99Ms: round(fanoutP99Ms, 1),
    fanoutMaxMs: round(percentile(m.openedMs, 100), 1),
    fanoutReceivedP50Ms: round(percentile(m.receivedMs, 50), 1),
    fanoutReceivedP99Ms: round(percentile(m.receivedMs, 99), 1),
    fanoutUnwrapP50Ms: round(percentile(m.unwrapMs, 50), 2),
    fanoutUnwrapP99Ms: round(percentile(m.unwrapMs, 99), 2),
    fanoutOwnCpuP99Ms: round(
      percentile(
        m.receivedMs.map((ms, i) => ms + (m.unwrapMs[i] ?? 0)),
        99,
      ),
      1,
    ),
    fanoutOpeningsAloneP50Ms: round(percentile(m.aloneMs, 50), 1),
    fanoutOpeningsAloneP99Ms: round(aloneP99Ms, 1),
    fanoutP99ToOpeningsAlone:
      fanoutP99Ms === null || aloneP99Ms === null || aloneP99Ms === 0
        ? null
        : round(fanoutP99Ms / aloneP99Ms, 2),
    managerIdleRssKiB: m.idle.rssKiB,
    managerIdleHwmKiB: m.idle.hwmKiB,
    managerAfterFanoutRssKiB: m.afterFanout.rssKiB,
    managerAfterFanoutHwmKiB: m.afterFanout.hwmKiB,
    managerCpuSeconds: {
      registration: round(m.managerCpu.registration, 2),
      connect: round(m.managerCpu.connect, 2),
      fanout: round(m.managerCpu.fanout, 2),
    },
    managerCpuMsPerRegistration: round(
      (m.managerCpu.registration * 1000) / Math.max(1, m.registration.succeeded),
      2,
    ),
    benchCpuMsPerRegistration: round(
      (m.benchRegistrationCpuSeconds * 1000) / Math.max(1, m.registration.succeeded),
      2,
    ),
    benchFanoutCpuSeconds: round(m.benchFanout.cpuSeconds, 2),
    cpus: m.cpus,
    // Where the fan-out's CPU went, against what the target leaves: with p99 <= 2 s, the whole fan-out
    // (manager, hosts' openings, the rest of this process) has about 2 s on each CPU.
    fanoutCpuSeconds: {
      manager: round(m.managerCpu.fanout, 2),
      openers: round(m.benchFanout.openersCpuSeconds, 2),
      benchRest: round(
        m.benchFanout.openersCpuSeconds === null
          ? null
          : m.benchFanout.cpuSeconds - m.benchFanout.openersCpuSeconds,
        2,
      ),
      all: round(m.managerCpu.fanout + m.benchFanout.cpuSeconds, 2),
      targetAllows: round((TARGETS.fanoutP99Ms / 1000) * m.cpus, 2),
    },
    rsaReference:
      'error' in m.rsa
        ? null
        : {
            command: m.rsa.command,
            privateOpsPerSecond: round(m.rsa.privateOpsPerSecond, 1),
            // The least time the fan-out's openings take on this machine's CPUs, manager or not.
            hostsUnwrapMs: round((options.hosts / m.rsa.privateOpsPerSecond) * 1000, 1),
          },
    benchFanoutMainThreadBusy: round(m.benchFanout.mainThreadBusy, 2),
    loadAverage1m: { start: round(m.load.start, 2), end: round(m.load.end, 2) },
    stealShare: { registration: round(m.steal.registration, 3), fanout: round(m.steal.fanout, 3) },
  };
  const met = {
    connectedHosts: m.connect.connected >= TARGETS.connectedHosts && m.connect.connected === options.hosts,
    registrationsPerSecond:
      m.registration.failed === 0 && registrationsPerSecond >= TARGETS.registrationsPerSecond,
    fanoutP99Ms:
      fanoutP99Ms !== null && m.openedMs.length === options.hosts && fanoutP99Ms <= TARGETS.fanoutP99Ms,
  };
  for (const problem of [...m.registration.errors, ...m.connect.errors].slice(0, 5)) notes.push(problem);
  if ('error' in m.rsa) notes.push(`no RSA reference: ${m.rsa.error}`);
  if (m.problems.length > 0)
    notes.push(`${m.problems.length} host problem(s), e.g. ${m.problems.slice(0, 3).join('; ')}`);
  const verdict = (ok: boolean): string => (ok ? 'met' : 'MISSED');
  const ms = (x: number | null): string => (x === null ? '-' : `${x.toFixed(0)} ms`);
  const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
  console.log('');
  console.log(
    table(
      ['metric', 'value', 'target', 'met?'],
      [
        ['hosts registered', `${figures.registered} of ${options.hosts}`, '', ''],
        [
          'registrations per second',
          figures.registrationsPerSecond.toFixed(1) + '/s',
          `>= ${TARGETS.registrationsPerSecond}/s`,
          verdict(met.registrationsPerSecond),
        ],
        [
          'hosts connected (mTLS WebSocket)',
          String(figures.connectedHosts),
          `${TARGETS.connectedHosts}, all asked`,
          verdict(met.connectedHosts),
        ],
        ['connect + first delivery, all hosts', `${figures.connectSeconds.toFixed(2)} s`, '', ''],
        ['rotate request answered', ms(figures.rotateAnswerMs), '', ''],
        ['hosts with the new version', `${figures.fanoutOpened} of ${figures.fanoutHosts}`, 'all', ''],
        ['fan-out opened p50', ms(figures.fanoutP50Ms), '', ''],
        ['fan-out opened p95', ms(figures.fanoutP95Ms), '', ''],
        [
          'fan-out opened p99',
          ms(figures.fanoutP99Ms),
          `<= ${TARGETS.fanoutP99Ms} ms`,
          verdict(met.fanoutP99Ms),
        ],
        ['fan-out opened max', ms(figures.fanoutMaxMs), '', ''],
        [
          'fan-out received p50 / p99',
          `${ms(figures.fanoutReceivedP50Ms)} / ${ms(figures.fanoutReceivedP99Ms)}`,
          '',
          '',
        ],
        [
          'unwrap per host p50 / p99',
          `${figures.fanoutUnwrapP50Ms ?? '-'} / ${figures.fanoutUnwrapP99Ms ?? '-'} ms`,
          '',
          '',
        ],
        ['fan-out p99 had each host its own CPU', ms(figures.fanoutOwnCpuP99Ms), '', ''],
        [
          'the same openings alone p50 / p99',
          `${ms(figures.fanoutOpeningsAloneP50Ms)} / ${ms(figures.fanoutOpeningsAloneP99Ms)}`,
          '',
          '',
        ],
        [
          'fan-out p99 / openings alone p99',
          figures.fanoutP99ToOpeningsAlone === null ? '-' : `${figures.fanoutP99ToOpeningsAlone.toFixed(2)}x`,
          '',
          '',
        ],
        ['manager VmRSS idle, connected', mib(figures.managerIdleRssKiB), '', ''],
        ['manager VmRSS after fan-out', mib(figures.managerAfterFanoutRssKiB), '', ''],
        ['manager VmHWM (peak)', mib(figures.managerAfterFanoutHwmKiB), '', ''],
        [
          'manager CPU: register/connect/fan-out',
          `${figures.managerCpuSeconds.registration} / ${figures.managerCpuSeconds.connect} / ${figures.managerCpuSeconds.fanout} s`,
          '',
          '',
        ],
        [
          'CPU per registration: manager / benchmark',
          `${figures.managerCpuMsPerRegistration} / ${figures.benchCpuMsPerRegistration} ms`,
          '',
          '',
        ],
        [
          'benchmark in fan-out: CPU / main thread',
          `${figures.benchFanoutCpuSeconds} s / ${(figures.benchFanoutMainThreadBusy * 100).toFixed(0)} % busy`,
          '',
          '',
        ],
        [
          'fan-out CPU: manager / openings / rest of benchmark',
          [
            figures.fanoutCpuSeconds.manager,
            figures.fanoutCpuSeconds.openers,
            figures.fanoutCpuSeconds.benchRest,
          ]
            .map((x) => (x === null ? '-' : x.toFixed(2)))
            .join(' / ') + ' s',
          '',
          '',
        ],
        [
          `fan-out CPU, all / ${TARGETS.fanoutP99Ms / 1000} s x ${m.cpus} CPUs`,
          `${figures.fanoutCpuSeconds.all.toFixed(2)} / ${figures.fanoutCpuSeconds.targetAllows.toFixed(2)} s`,
          '',
          '',
        ],
        [
          `RSA-${m.rsa.bits} private ops, ${m.cpus} CPUs (openssl speed)`,
          figures.rsaReference === null ? '-' : `${figures.rsaReference.privateOpsPerSecond.toFixed(0)}/s`,
          '',
          '',
        ],
        [`${options.hosts} unwraps at that rate`, ms(figures.rsaReference?.hostsUnwrapMs ?? null), '', ''],
        [
          'CPU stolen by the hypervisor: registration / fan-out',
          [figures.stealShare.registration, figures.stealShare.fanout]
            .map((share) => (share === null ? 'unknown' : `${(share * 100).toFixed(1)} %`))
            .join(' / '),
          '',
          '',
        ],
        [
          'load average (1 min), start / end',
          `${figures.loadAverage1m.start} / ${figures.loadAverage1m.end}`,
          '',
          '',
        ],
      ],
    ),
  );
  console.log('');
  console.log(`notes:\n${notes.map((n) => `  ${n}`).join('\n')}`);
  console.log(
    JSON.stringify({ benchmark: 'manager', bench: 'manager', ...figures, targets: TARGETS, met, notes }),
  );
}
