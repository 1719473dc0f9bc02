// `npm run stress`: the long runs the normal suite keeps short. For each cipher, a guard
// point served by a real veil-mount process gets the fsx-style checker for many more
// operations and seeds, then 100,000 files in one tree; then live data transformation with
// the serving process killed (SIGKILL) at random moments until 60 kills (by default) have
// landed while work was left. Prints progress and exits non-zero if anything failed;
// always unmounts and cleans up.
import { parseArgs } from 'node:util';

import { runFsx } from '../fs/fsx_runner.js';
import { killScenario, type KillScenario, type LdtWorkspace } from '../fs/ldt_support.js';
import { createGuardPoint, removeGuardPoints, sh } from '../fs/mount_support.js';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '50000' },
    seeds: { type: 'string', default: '4' },
    files: { type: 'string', default: '100000' },
    kills: { type: 'string', default: '60' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run stress -- [--ops N] [--seeds N] [--files N] [--kills N]');
  console.log('  --kills N  SIGKILLs of a rekeying veil-mount that land while work is left (more are');
  console.log('             sent until they have), spread over full re-encryption,');
  console.log('             header-only rewrap and initial encryption (default 60; 0 skips them)');
  process.exit(0);
}
const ops = Number(values.ops);
const seeds = Number(values.seeds);
const files = Number(values.files);
const kills = Number(values.kills);
for (const [name, n] of Object.entries({ ops, seeds, files, kills })) {
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
  // Live data transformation killed at random moments (docs/ldt.md, "Crash safety").
  const rounds: KillScenario[] = [];
  for (let i = 0; rounds.reduce((n, r) => n + r.kills, 0) < kills; i++) {
    const scenario = (['full', 'rewrap', 'encrypt'] as const)[i % 3];
    rounds.push({
      scenario,
      cipher: i % 6 === 3 ? 'aes-256-xts' : 'aes-256-gcm',
      kills: Math.min(5, kills - rounds.reduce((n, r) => n + r.kills, 0)),
      maxDelayMs: scenario === 'rewrap' ? 400 : 1500,
      files: scenario === 'rewrap' ? 2000 : 40,
      totalMiB: scenario === 'rewrap' ? 8 : 48,
      rate: scenario === 'rewrap' ? undefined : 30,
      seed: 1000 + i,
      untilLanded: true,
    });
  }
  let sentInAll = 0;
  for (const round of rounds) {
    const started = Date.now();
    const made: LdtWorkspace[] = [];
    try {
      const kills = await killScenario(round, (ws) => made.push(ws));
      sentInAll += kills.sent;
      console.log(
        `ldt ${round.scenario} ${round.cipher}: ${kills.landed} kills during the work (${kills.sent} sent): ` +
          `ok in ${Date.now() - started} ms`,
      );
      if (kills.landed < round.kills) {
        // Every kill still checked the files; too few of them hit the work itself.
        console.log(
          `  note: only ${kills.landed} of ${round.kills} landed during the work (too little work)`,
        );
      }
    } catch (error) {
      console.log(`ldt ${round.scenario} ${round.cipher}: FAILED: ${(error as Error).message}`);
      failed = true;
    } finally {
      for (const ws of made) await ws.cleanup();
    }
  }
  if (rounds.length > 0) {
    const total = rounds.reduce((n, r) => n + r.kills, 0);
    console.log(`ldt: ${total} kills landed while work was left, of ${sentInAll} sent`);
  }
} finally {
  await removeGuardPoints();
}
console.log(failed ? 'stress: FAILED' : 'stress: ok');
process.exit(failed ? 1 : 0);
