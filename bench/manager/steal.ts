// The share of the machine's CPU time that its hypervisor gave to others ("steal" in /proc/stat): on a
// shared virtual machine it varies from run to run and slows everything measured here alike, so the
// report shows it next to the figures it explains.
import { readFileSync } from 'node:fs';

export interface CpuTimes {
  steal: number;
  total: number;
}

/** The machine's CPU times so far (jiffies, all CPUs), or undefined where /proc/stat cannot be read. */
export function cpuTimes(): CpuTimes | undefined {
  let line: string | undefined;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  } catch {
    return undefined;
  }
  const fields = line?.trim().split(/\s+/) ?? [];
  if (fields[0] !== 'cpu' || fields.length < 9) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already counted in user and nice).
  const values = fields.slice(1, 9).map(Number);
  if (values.some((v) => !Number.isFinite(v))) return undefined;
  return { steal: values[7] ?? 0, total: values.reduce((sum, v) => sum + v, 0) };
}

/** The share (0 to 1) of CPU time stolen between the two readings, or null if either is missing. */
export function stealShare(from: CpuTimes | undefined, to: CpuTimes | undefined): number | null {
  if (from === undefined || to === undefined || to.total <= from.total) return null;
  return (to.steal - from.steal) / (to.total - from.total);
}
