// The paired policy comparison's arithmetic: quantiles of the per-pair losses and the verdict on the
// median, which one odd pair must not move.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { blockLosses, pairedRow, pairedVerdicts, quantile } from '../../bench/fs/policy_pairs.js';

test('quantile interpolates between order statistics, whatever the input order', () => {
  assert.equal(quantile([3, 1, 2], 0.5), 2);
  assert.equal(quantile([4, 1, 3, 2], 0.5), 2.5);
  assert.equal(quantile([10, 0], 0.25), 2.5);
  assert.equal(quantile([7], 0.75), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('a block combines two pairs of opposite order, so an order effect cancels', () => {
  // The second runner 25 % faster: ratios 1.25 and 0.8 alternate around no policy cost at all.
  const blocks = blockLosses([-0.25, 0.2, -0.25, 0.2, 0.5]);
  assert.equal(blocks.length, 2); // the fifth pair has no partner
  for (const loss of blocks) assert.ok(Math.abs(loss) < 1e-12);
  assert.deepEqual(blockLosses([0.1]), [0.1]);
  assert.deepEqual(blockLosses([]), []);
});

test('the verdict is the median block loss against the limit; one wild block does not decide it', () => {
  const lines = pairedVerdicts(
    {
      pairs: 6,
      rows: [
        pairedRow('seq-write', [0.01, 0.01, 0.6, 0.6, 0.0, 0.0], 1.02),
        pairedRow('rand-write-4k', [0.07, 0.07, -0.3, -0.3, 0.09, 0.09], null),
        pairedRow('seq-read', [], null),
      ],
    },
    0.05,
  );
  assert.match(lines[0] ?? '', /seq-write: median 1\.0 % loss over 6 pairs \(3 blocks .*CPU \+2\.0 % .*met$/);
  assert.match(lines[1] ?? '', /rand-write-4k: median 7\.0 % loss .*MISSED$/);
  assert.match(lines[2] ?? '', /seq-read: n\/a/);
});
