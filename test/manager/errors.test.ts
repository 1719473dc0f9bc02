// The manager's error codes: each one raised somewhere, each declared with its status, and
// docs/errors.md documenting exactly them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { MANAGER_ERRORS } from '../../manager-client/errors.js';
import { documentedCodes, filesUnder, ROOT } from '../support/error_docs.js';

const typescriptUnder = (dir: string): string[] => filesUnder(dir, /\.ts$/);

test('every declared manager code is raised in manager/ or manager-client/', () => {
  const declared = join(ROOT, 'manager-client/errors.ts');
  const text = [...typescriptUnder('manager'), ...typescriptUnder('manager-client')]
    .filter((file) => file !== declared)
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
  const unused = Object.keys(MANAGER_ERRORS).filter((code) => !text.includes(`'${code}'`));
  assert.deepEqual(unused, []);
});

test('docs/errors.md documents exactly the manager codes, with their statuses', () => {
  const documented = Object.fromEntries(
    [...documentedCodes('Manager')].map(([code, [status]]) => [code, Number(status)]),
  );
  assert.deepEqual(documented, { ...MANAGER_ERRORS });
});
