// An fsx-style randomized file operation checker. It runs seeded random writes (holes past EOF,
// block-crossing, 1 byte to 256 KiB), reads, truncates, appends, fsyncs, reopens, size checks
// and mmap reads and writes on one file in DIR, keeps a model of what the file must hold, and
// compares every read with it. It must run in its own process: the process serving a FUSE
// mount must never do I/O on it. Exits 0 when all checks pass, 1 with a report on a mismatch
// or a failed call, 2 on bad arguments.
//
//   node --import tsx test/fs/fsx.ts --dir DIR --ops N --seed S [--max-size BYTES] [--no-mmap]
//                                    [--file NAME] [--keep]
import { createHash } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Checker } from './fsx_ops.js';
import { FsxFailure } from './fsx_util.js';

const USAGE =
  'usage: node --import tsx test/fs/fsx.ts --dir DIR --ops N [--seed S] [--max-size BYTES] [--no-mmap]' +
  ' [--file NAME] [--keep]';

function usage(message: string): never {
  process.stderr.write(`fsx: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function intArg(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
  fallback?: number,
): number {
  if (value === undefined) {
    if (fallback === undefined) usage(`--${name} is required`);
    return fallback;
  }
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    usage(`--${name} must be an integer in [${min}, ${max}]`);
  return n;
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      dir: { type: 'string' },
      ops: { type: 'string' },
      seed: { type: 'string' },
      'max-size': { type: 'string' },
      'no-mmap': { type: 'boolean', default: false },
      file: { type: 'string' },
      keep: { type: 'boolean', default: false },
      // Hidden, for the checker's own test: corrupt the file behind its back at this op.
      'inject-corruption-at-op': { type: 'string' },
    },
  }).values;
} catch (err) {
  usage((err as Error).message);
}
const dir = parsed.dir ?? usage('--dir is required');
const ops = intArg('ops', parsed.ops, 0, 1e9);
const seed = intArg('seed', parsed.seed, 0, 0xffffffff, Math.floor(Math.random() * 0x100000000));
const maxSize = intArg('max-size', parsed['max-size'], 1, 1 << 30, 1 << 20);
const mmap = !parsed['no-mmap'];
const injectArg = parsed['inject-corruption-at-op'];
const injectAtOp = injectArg === undefined ? undefined : intArg('inject-corruption-at-op', injectArg, 1, ops);
const file = parsed.file ?? `fsx-${seed}.dat`;
if (file.includes('/') || file === '.' || file === '..') usage('--file must be a plain file name');

const reproduce =
  `node --import tsx test/fs/fsx.ts --dir ${dir} --ops ${ops} --seed ${seed} --max-size ${maxSize}` +
  (mmap ? '' : ' --no-mmap') +
  (injectAtOp === undefined ? '' : ` --inject-corruption-at-op ${injectAtOp}`);

let checker: Checker | undefined;
let phase: 'setup' | 'ops' | 'final' = 'setup';
try {
  checker = new Checker({ dir, file, seed, maxSize, mmap, injectAtOp });
  phase = 'ops';
  while (checker.opNum < ops) checker.step(ops - checker.opNum);
  phase = 'final';
  checker.finish();
  checker.end();
} catch (err) {
  const failure = err instanceof FsxFailure ? err : undefined;
  const failedOp = failure?.op ?? checker?.opNum;
  const where = {
    setup: 'setup (opening the test file)',
    ops: `op #${failedOp} of ${ops}`,
    final: `the final checks after ${ops} ops`,
  }[phase];
  const e = err as NodeJS.ErrnoException;
  const lines = [
    `fsx: FAILED in ${where}: seed ${seed}, file ${checker?.path ?? `${dir}/${file}`}`,
    failure || !e.code || e.message.startsWith(e.code) ? `  ${e.message}` : `  ${e.code}: ${e.message}`,
    ...(failure?.details ?? []).map((line) => `  ${line}`),
  ];
  if (checker) {
    lines.push(
      `  model size ${checker.model.size}; the last ${checker.recentOps().length} ops` +
        (phase === 'ops' ? ` (the failing one is #${failedOp}):` : ':'),
    );
    lines.push(...checker.recentOps().map((op) => `    ${op}`));
  }
  lines.push(`  reproduce: ${reproduce}`);
  if (checker) lines.push('  the file is kept for inspection');
  process.stderr.write(lines.join('\n') + '\n');
  process.exit(1);
}

const { model } = checker;
const digest = createHash('sha256').update(model.buf.subarray(0, model.size)).digest('hex');
const counts = [...checker.counts].map(([name, n]) => `${name} ${n}`).join(', ');
process.stdout.write(
  `fsx: ok: seed ${seed}, ${ops} ops (${counts}), mmap ${mmap ? 'on' : 'off'}, ` +
    `final size ${model.size}, sha256 ${digest}\n`,
);
if (!parsed.keep) unlinkSync(checker.path);
