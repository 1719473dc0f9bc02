// The paired policy comparison's arithmetic: quantiles of the per-pair losses and the verdict on the
// median, which one odd pair must not move.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pairedVerdicts, quantile, type PairedRow } from '../../bench/fs/policy_pairs.js';

test('quantile interpolates between order statistics, whatever the input order', () => {
  assert.equal(quantile([3, 1, 2], 0.5), 2);
  assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
  assert.equal(quantile([10, 0], 0.25), 2.5);
  assert.equal(quantile([7], 0.75), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

function row(workload: PairedRow['workload'], losses: number[], cpu: number | null = null): PairedRow {
  return {
    workload,
    losses,
    medianLoss: quantile(losses, 0.5),
    lowerQuartile: quantile(losses, 0.25),
    upperQuartile: quantile(losses, 0.75),
    medianCpuRatio: cpu,
  };
}

test('the verdict is the median loss against the limit; one wild pair does not decide it', () => {
  const lines = pairedVerdicts(
    {
      pairs: 5,
      rows: [
        row('seq-write', [0.01, -0.02, 0.6, 0.03, 0.0], 1.02),
        row('rand-write-4k', [0.07, 0.06, 0.08, -0.3, 0.09]),
        row('seq-read', []),
      ],
    },
    0.05,
  );
  assert.match(lines[0] ?? '', /seq-write: median 1\.0 % loss over 5 pairs .*CPU \+2\.0 % .*met$/);
  assert.match(lines[1] ?? '', /rand-write-4k: median 7\.0 % loss .*MISSED$/);
  assert.match(lines[2] ?? '', /seq-read: n\/a/);
});
