// Quality of service for the rekeying worker: a rate cap in MB/s, a share of one CPU, and
// time windows in which it may run at all. The worker asks `delayAfter` how long to rest
// after each step, and `inWindow` whether it may start the next.

export interface QosSettings {
  /** Cap on plaintext bytes transformed per second, in MB (10^6 bytes); 0: none. */
  rateMBps: number;
  /** Fraction of one CPU the worker may keep busy, 0.01 to 1. */
  cpuShare: number;
  /** Local-time windows "HH:MM-HH:MM" (may wrap past midnight); empty: always. */
  windows: string[];
}

export const DEFAULT_QOS: QosSettings = { rateMBps: 0, cpuShare: 1, windows: [] };

/** "HH:MM-HH:MM", 24-hour local time (also the agent configuration schema's pattern). */
export const TIME_WINDOW = '^([01]\\d|2[0-3]):([0-5]\\d)-([01]\\d|2[0-3]):([0-5]\\d)$';
const WINDOW = new RegExp(TIME_WINDOW);

/** A clear sentence for a setting that cannot be used, or null. */
export function checkQos(qos: Partial<QosSettings>): string | null {
  if (
    qos.rateMBps !== undefined &&
    (!Number.isFinite(qos.rateMBps) || qos.rateMBps < 0 || qos.rateMBps > 100_000)
  ) {
    return 'the rate cap is a number of MB/s from 0 (no cap) to 100000';
  }
  if (
    qos.cpuShare !== undefined &&
    (!Number.isFinite(qos.cpuShare) || qos.cpuShare < 0.01 || qos.cpuShare > 1)
  ) {
    return 'the CPU share is a fraction from 0.01 to 1';
  }
  for (const window of qos.windows ?? []) {
    if (!WINDOW.test(window) || window.slice(0, 5) === window.slice(6)) {
      return `${JSON.stringify(window)} is not a time window: HH:MM-HH:MM, 24-hour local time, start and end different`;
    }
  }
  return null;
}

const minutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

export function inWindow(windows: readonly string[], at: Date = new Date()): boolean {
  if (windows.length === 0) return true;
  const now = at.getHours() * 60 + at.getMinutes();
  return windows.some((window) => {
    const start = minutes(window.slice(0, 5));
    const end = minutes(window.slice(6));
    return start < end ? now >= start && now < end : now >= start || now < end;
  });
}

/**
 * Rest, in ms, after a step that moved `bytes` in `busyMs` of worker time: long enough
 * that neither the rate cap nor the CPU share is exceeded over the step.
 */
export function delayAfter(qos: QosSettings, bytes: number, busyMs: number): number {
  const forRate = qos.rateMBps > 0 ? (bytes / (qos.rateMBps * 1e6)) * 1000 - busyMs : 0;
  const forCpu = qos.cpuShare < 1 ? busyMs * (1 / qos.cpuShare - 1) : 0;
  return Math.max(0, forRate, forCpu);
}
