// Path patterns: a table of cases (the native matcher is to pass the same table), the
// schema accepting every pattern of it, and a cross-check against a plain recursive
// matcher on random patterns and paths.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { selfTest } from '../../native/core.js';
import { globMatch, parsePolicy } from '../../policies/index.js';
import { inResourceSet } from '../../policies/evaluate.js';
import { basePolicy } from './support.js';

/** [pattern, path, matches] */
export const GLOB_CASES: [string, string, boolean][] = [
  ['a', 'a', true],
  ['a', 'b', false],
  ['a', 'a/b', false],
  ['a/b', 'a', false],
  ['A', 'a', false],
  ['*', 'a', true],
  ['*', '', false],
  ['*', 'a/b', false],
  ['*', '.hidden', true],
  ['*.txt', 'x.txt', true],
  ['*.txt', '.txt', true],
  ['*.txt', 'dir/x.txt', false],
  ['*.txt', 'x.txt.bak', false],
  ['a*', 'a', true],
  ['*a*b*', 'xaybz', true],
  ['*a*b*', 'xbya', false],
  ['a*a*a*a*b', `${'a'.repeat(200)}c`, false],
  ['**', '', true],
  ['**', 'a', true],
  ['**', 'a/b/c', true],
  ['**', '.git/config', true],
  ['dir/**', 'dir', true],
  ['dir/**', 'dir/a', true],
  ['dir/**', 'dir/a/b', true],
  ['dir/**', 'dirx', false],
  ['dir/**', 'dirx/a', false],
  ['dir/**', 'other/dir/a', false],
  ['**/x', 'x', true],
  ['**/x', 'a/b/x', true],
  ['**/x', 'a/x/b', false],
  ['a/**/b', 'a/b', true],
  ['a/**/b', 'a/x/y/b', true],
  ['a/**/b', 'a/x/y/c', false],
  ['a/**/b', 'b', false],
  ['a/**/b/**/c', 'a/b/c', true],
  ['a/**/b/**/c', 'a/x/b/y/c', true],
  ['a/**/b/**/c', 'a/b/b/c', true],
  ['a/**/b/**/c', 'a/c', false],
  ['**/**', '', true],
  ['**/*.log', 'x.log', true],
  ['**/*.log', 'a/b/x.log', true],
  ['**/*.log', 'a/b/x.log/y', false],
  ['*/.cache/**', 'alice/.cache', true],
  ['*/.cache/**', 'alice/.cache/x/y', true],
  ['*/.cache/**', 'alice/src/.cache', false],
  ['?', 'a', true],
  ['?', '', false],
  ['?', 'ab', false],
  ['?', 'é', true],
  ['?', '😀', true],
  ['??', 'é', false],
  ['caf?', 'café', true],
  ['a?c', 'a/c', false],
  ['?*', '', false],
  ['?*', '.x', true],
  ['my file.txt', 'my file.txt', true],
  ['My Documents/**', 'My Documents/a b/c d.txt', true],
  ['* *', 'a b', true],
  ['* *', 'ab', false],
  ['a[1]', 'a[1]', true],
  ['a[1]', 'a1', false],
  ['{a,b}', 'a', false],
  ['x\\y', 'x\\y', true],
];

test('glob table', () => {
  for (const [pattern, path, expected] of GLOB_CASES) {
    assert.equal(globMatch(pattern, path), expected, `${pattern} against "${path}"`);
  }
});

test('the schema accepts every pattern of the table', () => {
  const policy = basePolicy();
  policy.resourceSets!.data.include = [...new Set(GLOB_CASES.map(([pattern]) => pattern))];
  parsePolicy(JSON.stringify(policy), 'globs.json');
});

test('a resource set: an include matches and no exclude does', () => {
  const payroll = { include: ['payroll/**'], exclude: ['payroll/tmp/**', '**/*.swp'] };
  const cases: [string, boolean][] = [
    ['payroll', true],
    ['payroll/2024/jan.csv', true],
    ['payroll/.hidden', true],
    ['payroll/tmp', false],
    ['payroll/tmp/x', false],
    ['payroll/tmpx', true],
    ['payroll/a/.b.swp', false],
    ['other', false],
    ['', false],
  ];
  for (const [path, expected] of cases) assert.equal(inResourceSet(payroll, path), expected, path);
  // The guard point itself and nothing below it.
  const root = { include: ['**'], exclude: ['*/**'] };
  assert.deepEqual(
    ['', 'a', 'a/b'].map((path) => inResourceSet(root, path)),
    [true, false, false],
  );
});

// The definition, written as directly as possible: exponential, so only for small inputs.
function reference(pattern: string[], path: string[]): boolean {
  if (pattern.length === 0) return path.length === 0;
  const [head, ...rest] = pattern;
  if (head === '**') return reference(rest, path) || (path.length > 0 && reference(pattern, path.slice(1)));
  return path.length > 0 && segment([...head], [...path[0]]) && reference(rest, path.slice(1));
}

function segment(p: string[], s: string[]): boolean {
  if (p.length === 0) return s.length === 0;
  if (p[0] === '*') return segment(p.slice(1), s) || (s.length > 0 && segment(p, s.slice(1)));
  return s.length > 0 && (p[0] === '?' || p[0] === s[0]) && segment(p.slice(1), s.slice(1));
}

test('globMatch agrees with the recursive definition on 20,000 random cases', () => {
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = <T>(items: readonly T[]): T => items[random(items.length)];
  const segmentOf = (chars: readonly string[]): string =>
    Array.from({ length: random(4) }, () => pick(chars)).join('');
  for (let i = 0; i < 20_000; i++) {
    const pattern = Array.from({ length: 1 + random(4) }, () =>
      random(4) === 0 ? '**' : segmentOf(['a', 'b', '*', '?', 'é']) || 'a',
    );
    const path = Array.from({ length: random(5) }, () => segmentOf(['a', 'b', 'é']) || 'b');
    assert.equal(
      globMatch(pattern.join('/'), path.join('/')),
      reference(pattern, path),
      `${pattern.join('/')} against "${path.join('/')}"`,
    );
  }
});

test('the native matcher of the guard points agrees with the reference on every case', () => {
  const wrong = GLOB_CASES.filter(
    ([pattern, path, matches]) => selfTest.globMatch(pattern, path) !== matches,
  );
  assert.deepEqual(wrong, []);
});
