// The fsx-style checker against a plain directory: it passes where the filesystem is right,
// repeats itself for a seed, and fails with a usable report when the file changes behind it.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { runFsx } from './fsx_runner.js';

let root = '';
let n = 0;
function freshDir(): string {
  return mkdtempSync(path.join(root, `run${n++}-`));
}

before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'veil-fsx-'));
});
after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('fsx on a plain directory', { concurrency: true }, () => {
  for (const seed of [1, 0xdecafbad]) {
    test(`seed ${seed}: 2000 ops with mmap pass`, async () => {
      const dir = freshDir();
      const res = await runFsx({ dir, ops: 2000, seed, timeoutMs: 180_000 });
      assert.ok(res.ok, res.output);
      assert.match(res.output, new RegExp(`^fsx: ok: seed ${seed}, 2000 ops .*mmap-read \\d+`, 'm'));
      assert.deepEqual(readdirSync(dir), [], 'the test file is removed after a pass');
    });
  }

  test('seed 42: 2000 ops without mmap pass, with a small max size', async () => {
    const res = await runFsx({ dir: freshDir(), ops: 2000, seed: 42, maxSize: 20_000, mmap: false });
    assert.ok(res.ok, res.output);
    assert.match(res.output, /mmap off/);
    assert.doesNotMatch(res.output, /mmap-/);
  });

  test('the same seed gives the same run', async () => {
    const runs = await Promise.all(
      [0, 1].map(() => runFsx({ dir: freshDir(), ops: 300, seed: 99, timeoutMs: 180_000 })),
    );
    const digests = runs.map((r) => {
      assert.ok(r.ok, r.output);
      return /sha256 ([0-9a-f]{64})/.exec(r.output)?.[1];
    });
    assert.ok(digests[0]);
    assert.equal(digests[0], digests[1]);
  });

  test('a byte flipped behind its back is caught and reported', async () => {
    const dir = freshDir();
    const res = await runFsx({ dir, ops: 2000, seed: 7, extraArgs: ['--inject-corruption-at-op', '150'] });
    assert.equal(res.ok, false, res.output);
    assert.equal(res.code, 1, res.output);
    const injected = /injected corruption at offset (\d+)/.exec(res.output)?.[1];
    assert.ok(injected, res.output);
    assert.match(res.output, /FAILED in op #150 of 2000: seed 7/);
    assert.match(res.output, /data differs from the model/);
    assert.match(res.output, new RegExp(`first mismatching byte at offset ${injected} \\(0x`));
    assert.match(res.output, /expected: [0-9a-f]{2}/);
    assert.match(res.output, /got: [0-9a-f]{2}/);
    assert.match(
      res.output,
      /the last 20 ops \(the failing one is #150\):\n(\s+#\d+ .*\n){19}\s+#150 inject/,
    );
    assert.match(res.output, /reproduce: node --import tsx test\/fs\/fsx\.ts .*--seed 7/);
    assert.equal(readdirSync(dir).length, 1, 'the test file is kept after a failure');
  });

  test('bad arguments exit 2 with the usage', async () => {
    const res = await runFsx({ dir: freshDir(), ops: 1.5, seed: 1 });
    assert.equal(res.code, 2, res.output);
    assert.match(res.output, /--ops must be an integer/);
    assert.match(res.output, /usage: /);
  });
});
