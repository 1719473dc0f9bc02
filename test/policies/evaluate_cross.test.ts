// The guard points' native evaluator held to the reference evaluator: random decision
// tables and random callers, the same verdict from both, rule for rule.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { selfTest } from '../../native/core.js';
import { Rng } from '../fs/fsx_util.js';
import {
  ACTION_BITS,
  FINE_ACTIONS,
  decide,
  type DecisionTable,
  type FineAction,
} from '../../policies/index.js';

const PATTERNS = ['**', 'a/**', 'a/*', '*.txt', '**/*.txt', 'a/**/c', 'b/?', '*/x/**', 'é/**', 'a'];
const PATHS = ['', 'a', 'a/b', 'a/b/c', 'a/c', 'x.txt', 'a/x.txt', 'b/1', 'b/12', 'q/x/y', 'é/z'];
const EXES = ['/usr/bin/cat', '/usr/bin/tar', '/opt/app'];
const HASHES = ['11'.repeat(32), '22'.repeat(32)];

function randomTable(random: () => number): DecisionTable {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const some = <T>(list: readonly T[], max: number): T[] =>
    Array.from({ length: Math.floor(random() * (max + 1)) }, () => pick(list));
  const sorted = (ids: number[]): number[] => [...new Set(ids)].sort((x, y) => x - y);
  const resources = Array.from({ length: 4 }, () => ({
    include: some(PATTERNS, 3),
    exclude: some(PATTERNS, 1),
  }));
  const users = Array.from({ length: 3 }, () => ({
    uids: sorted(some([0, 1, 2, 3], 2)),
    gids: sorted(some([10, 11, 12], 2)),
  }));
  const processes = Array.from({ length: 3 }, () => ({
    executables: some(EXES, 2),
    sha256: random() < 0.5 ? null : [...new Set(some(HASHES, 2))].sort(),
  }));
  const rules = Array.from({ length: 1 + Math.floor(random() * 8) }, (_, ruleIndex) => {
    const permit = random() < 0.6;
    return {
      resource: Math.floor(random() * 5) - 1,
      user: Math.floor(random() * 4) - 1,
      process: Math.floor(random() * 4) - 1,
      negate: Math.floor(random() * 8),
      actions: Math.floor(random() * 2 ** 18),
      permit,
      applyKey: permit && random() < 0.7,
      audit: !permit || random() < 0.3,
      ruleIndex,
    };
  });
  return {
    format: 1,
    name: 'random',
    digest: '00'.repeat(32),
    learnMode: random() < 0.2,
    resources,
    users,
    processes,
    rules,
    keys: [],
    keyRules: [],
    transformations: [],
  };
}

test('native and reference evaluators agree on random tables and callers', () => {
  const rng = new Rng(5); // the same tables every run
  const random = (): number => rng.next();
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  let compared = 0;
  for (let t = 0; t < 300; t++) {
    const table = randomTable(random);
    for (let r = 0; r < 40; r++) {
      const gids = [pick([10, 11, 12, 13]), ...(random() < 0.5 ? [pick([10, 11, 12])] : [])];
      const exe = random() < 0.15 ? null : pick(EXES);
      const sha256 = exe === null || random() < 0.2 ? null : pick(HASHES);
      const action: FineAction = pick(FINE_ACTIONS);
      const request = { path: pick(PATHS), uid: pick([0, 1, 2, 3, 4]), gids, exe, exeSha256: sha256, action };
      const reference = decide(table, request);
      const native = selfTest.evaluatePolicy(table, {
        uid: request.uid,
        gid: gids[0] ?? 0,
        groups: gids.slice(1),
        exe,
        sha256,
        action: ACTION_BITS[action],
        path: request.path,
      });
      assert.deepEqual(native, reference, `table ${t}, request ${JSON.stringify(request)}`);
      compared++;
    }
  }
  assert.equal(compared, 12_000);
});
