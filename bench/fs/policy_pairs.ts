// The policy's throughput cost, measured in pairs: Veil-GCM without a policy and under the costly one are
// mounted side by side, and each throughput workload runs on both back to back, the order swapped every
// pair. On a shared disk whose speed drifts by ±25 % between minutes, comparing the best of separate
// rounds measures the drift; the loss within one pair, taken over many pairs, measures the policy.
import { must } from './proc.js';
import { type Target, makeTarget } from './targets.js';
import { type Settings, UNITS, type Workload, runWorkload } from './workloads.js';

/** The workloads the policy issue's target is on (MB/s); the small-file ones are costed per decision. */
export const PAIRED_WORKLOADS: readonly Workload[] = [
  'seq-write',
  'seq-read',
  'rand-read-4k',
  'rand-write-4k',
];

/** What the policy costs one workload, over all pairs. */
export interface PairedRow {
  workload: Workload;
  /** Per pair: 1 - ruled/bare MB/s (negative when the policy run was the faster). */
  losses: number[];
  /**
   * Per two pairs, one in each order: 1 - the geometric mean of their two ratios. Whichever target runs
   * second in a pair may be favoured (seq-read was up to 40 % faster second); in a block that cancels.
   */
  blockLosses: number[];
  /** The verdict's figure: the median of the block losses (of the single loss when only one pair ran). */
  medianLoss: number;
  /** The middle half of the block losses: a spread that one odd block cannot move. */
  lowerQuartile: number;
  upperQuartile: number;
  /** Median over pairs of the serving process's CPU seconds under the policy over without (fixed-work workloads). */
  medianCpuRatio: number | null;
}

export interface PairedRun {
  pairs: number;
  rows: PairedRow[];
}

/** Losses of consecutive pairs (AB, BA) combined; a last pair without its partner is left out. */
export function blockLosses(losses: readonly number[]): number[] {
  if (losses.length === 1) return [...losses];
  const blocks: number[] = [];
  for (let i = 0; i + 1 < losses.length; i += 2) {
    blocks.push(1 - Math.sqrt((1 - losses[i]) * (1 - losses[i + 1])));
  }
  return blocks;
}

/** A workload's row from its per-pair losses and the median CPU ratio (null where it says nothing). */
export function pairedRow(workload: Workload, losses: number[], medianCpuRatio: number | null): PairedRow {
  const blocks = blockLosses(losses);
  return {
    workload,
    losses,
    blockLosses: blocks,
    medianLoss: quantile(blocks, 0.5),
    lowerQuartile: quantile(blocks, 0.25),
    upperQuartile: quantile(blocks, 0.75),
    medianCpuRatio,
  };
}

/** The q-quantile of `values` (linear between order statistics). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const below = Math.floor(at);
  const above = Math.ceil(at);
  const low = sorted[below];
  const high = sorted[above];
  return low + (high - low) * (at - below);
}

interface Sample {
  value: number;
  cpu: number | undefined;
}

async function measure(target: Target, dir: string, workload: Workload, settings: Settings): Promise<Sample> {
  const before = target.cpuSeconds?.();
  const value = await runWorkload(workload, dir, settings);
  const after = target.cpuSeconds?.();
  return { value, cpu: before === undefined || after === undefined ? undefined : after - before };
}

/**
 * Mounts veil-gcm and veil-gcm-policy together under `work` and runs `pairs` pairs of each of
 * `workloads` (seq-write first: the others use its file); both are torn down before it returns,
 * also after a failure.
 */
export async function policyPairs(
  work: string,
  settings: Settings,
  pairs: number,
  workloads: readonly Workload[],
  progress: (line: string) => void,
): Promise<PairedRun> {
  const bare = makeTarget('veil-gcm', work);
  const ruled = makeTarget('veil-gcm-policy', work);
  const samples = new Map<Workload, Array<{ bare: Sample; ruled: Sample }>>();
  try {
    progress('policy pairs: mounting veil-gcm and veil-gcm-policy side by side');
    const dirs = new Map<Target, string>([
      [bare, await bare.setup()],
      [ruled, await ruled.setup()],
    ]);
    for (let pair = 0; pair < pairs; pair++) {
      for (const workload of workloads) {
        // Swapped every pair: the order favours one side (blockLosses).
        const order = pair % 2 === 0 ? [bare, ruled] : [ruled, bare];
        const got = new Map<Target, Sample>();
        for (const target of order) {
          got.set(target, await measure(target, dirs.get(target) as string, workload, settings));
        }
        const one = { bare: got.get(bare) as Sample, ruled: got.get(ruled) as Sample };
        samples.set(workload, [...(samples.get(workload) ?? []), one]);
        const loss = 1 - one.ruled.value / one.bare.value;
        progress(
          `policy pair ${pair + 1}/${pairs} ${workload}: ${one.bare.value.toFixed(1)} -> ` +
            `${one.ruled.value.toFixed(1)} ${UNITS[workload]} (${(loss * 100).toFixed(1)} % loss)`,
        );
      }
    }
  } finally {
    progress('policy pairs: tearing down');
    for (const target of [bare, ruled]) await target.teardown();
  }
  await must('sync', [], { abortable: false });
  const rows = workloads.map((workload): PairedRow => {
    const all = samples.get(workload) ?? [];
    const cpuRatios = all.flatMap((s) =>
      s.bare.cpu !== undefined && s.ruled.cpu !== undefined && s.bare.cpu > 0
        ? [s.ruled.cpu / s.bare.cpu]
        : [],
    );
    // Random runs last a fixed time, not a fixed amount of work: their CPU says nothing alone.
    const fixedWork = workload === 'seq-write' || workload === 'seq-read';
    return pairedRow(
      workload,
      all.map((s) => 1 - s.ruled.value / s.bare.value),
      fixedWork && cpuRatios.length > 0 ? quantile(cpuRatios, 0.5) : null,
    );
  });
  return { pairs, rows };
}

/** The verdict lines: the target (loss <= 5 %) is judged on the median loss over the pairs. */
export function pairedVerdicts(run: PairedRun, limit: number): string[] {
  return run.rows.map((row) => {
    if (row.losses.length === 0) return `  ${row.workload}: n/a (no result)`;
    const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
    const change = row.medianCpuRatio === null ? 0 : row.medianCpuRatio - 1;
    const cpu =
      row.medianCpuRatio === null ? '' : `; veil-mount CPU ${change >= 0 ? '+' : ''}${pct(change)} (median)`;
    return (
      `  ${row.workload}: median ${pct(row.medianLoss)} loss over ${row.losses.length} pairs ` +
      `(${row.blockLosses.length} blocks of both orders) ` +
      `middle half ${pct(row.lowerQuartile)} to ${pct(row.upperQuartile)}${cpu} ` +
      (row.medianLoss <= limit ? 'met' : 'MISSED')
    );
  });
}
