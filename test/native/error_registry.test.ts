// The native error codes: what the C++ and its TypeScript face can raise, what
// native/errors.ts declares, and what docs/errors.md documents must be the same set.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { NATIVE_ERROR_CODES } from '../../native/errors.js';

const root = new URL('../../', import.meta.url).pathname;

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => /\.(cc|h)$/.test(name))
    .map((name) => join(dir, name));
}

function codesIn(text: string): Set<string> {
  return new Set(text.match(/VEIL_[A-Z_]+/g) ?? []);
}

test('every code the native core raises is declared, and every declared code is raised', () => {
  const raised = new Set<string>();
  for (const file of [...sourcesUnder(join(root, 'native/src')), join(root, 'native/core.ts')]) {
    for (const code of codesIn(readFileSync(file, 'utf8'))) raised.add(code);
  }
  assert.deepEqual([...raised].sort(), [...NATIVE_ERROR_CODES].sort());
});

test('docs/errors.md documents exactly the declared native codes', () => {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const start = doc.indexOf('## Native core');
  const next = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, next === -1 ? undefined : next);
  const documented = new Set([...section.matchAll(/^\| `(VEIL_[A-Z_]+)` \|/gm)].map((m) => m[1]));
  assert.deepEqual([...documented].sort(), [...NATIVE_ERROR_CODES].sort());
});
