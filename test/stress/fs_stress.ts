// `npm run stress`: the long runs the normal suite keeps short. For each cipher, a guard
// point served by a real veil-mount process gets the fsx-style checker for many more
// operations and seeds, then 100,000 files in one tree. Prints progress and exits non-zero
// on the first failure; always unmounts and cleans up.
import { parseArgs } from 'node:util';

import { runFsx } from '../fs/fsx_runner.js';
import { createGuardPoint, removeGuardPoints, sh } from '../fs/mount_support.js';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '50000' },
    seeds: { type: 'string', default: '4' },
    files: { type: 'string', default: '100000' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run stress -- [--ops N] [--seeds N] [--files N]');
  process.exit(0);
}
const ops = Number(values.ops);
const seeds = Number(values.seeds);
const files = Number(values.files);
for (const [name, n] of Object.entries({ ops, seeds, files })) {
  if (!Number.isInteger(n) || n < 0) {
    console.error(`stress: --${name} must be a whole number`);
    process.exit(2);
  }
}

let failed = false;
try {
  for (const cipher of ['aes-256-gcm', 'aes-256-xts'] as const) {
    const gp = await createGuardPoint(cipher);
    for (let seed = 1; seed <= seeds; seed++) {
      const started = Date.now();
      const result = await runFsx({ dir: gp.dir, ops, seed: seed * 7919, timeoutMs: 3_600_000 });
      console.log(
        `${cipher} fsx seed ${seed * 7919}: ${result.ok ? 'ok' : 'FAILED'} in ${Date.now() - started} ms`,
      );
      if (!result.ok) {
        console.log(result.output);
        failed = true;
      }
    }
    if (files > 0) {
      const started = Date.now();
      sh(`mkdir '${gp.dir}/many' && cd '${gp.dir}/many' && seq 1 ${files} | xargs touch`);
      const count = sh(`find '${gp.dir}/many' -type f | wc -l`).trim();
      const ok = count === String(files);
      console.log(
        `${cipher} ${files} files: ${ok ? 'ok' : `FAILED (found ${count})`} in ${Date.now() - started} ms`,
      );
      failed ||= !ok;
    }
    await gp.stop();
  }
} finally {
  await removeGuardPoints();
}
console.log(failed ? 'stress: FAILED' : 'stress: ok');
process.exit(failed ? 1 : 0);
