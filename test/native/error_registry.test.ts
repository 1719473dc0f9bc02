// The native error codes: what the C++ and its TypeScript face can raise, what
// native/errors.ts declares, and what docs/errors.md documents must be the same set.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { NATIVE_ERROR_CODES } from '../../native/errors.js';
import { documentedCodes, filesUnder, ROOT } from '../support/error_docs.js';

function codesIn(text: string): Set<string> {
  return new Set(text.match(/VEIL_[A-Z_]+/g) ?? []);
}

test('every code the native core raises is declared, and every declared code is raised', () => {
  const raised = new Set<string>();
  for (const file of [...filesUnder('native/src', /\.(cc|h)$/), join(ROOT, 'native/core.ts')]) {
    for (const code of codesIn(readFileSync(file, 'utf8'))) raised.add(code);
  }
  assert.deepEqual([...raised].sort(), [...NATIVE_ERROR_CODES].sort());
});

test('docs/errors.md documents exactly the declared native codes', () => {
  assert.deepEqual([...documentedCodes('Native core').keys()].sort(), [...NATIVE_ERROR_CODES].sort());
});
