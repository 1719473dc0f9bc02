// The manager's error codes: each one raised somewhere, each declared with its status, and
// docs/errors.md documenting exactly them.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { MANAGER_ERRORS } from '../../manager-client/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function typescriptUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

test('every declared manager code is raised in manager/ or manager-client/', () => {
  const declared = join(root, 'manager-client/errors.ts');
  const text = [...typescriptUnder('manager'), ...typescriptUnder('manager-client')]
    .filter((file) => file !== declared)
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
  const unused = Object.keys(MANAGER_ERRORS).filter((code) => !text.includes(`'${code}'`));
  assert.deepEqual(unused, []);
});

test('docs/errors.md documents exactly the manager codes, with their statuses', () => {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const start = doc.indexOf('## Manager');
  assert.notEqual(start, -1);
  const next = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, next === -1 ? undefined : next);
  const documented = Object.fromEntries(
    [...section.matchAll(/^\| `(VEIL_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]),
  );
  assert.deepEqual(documented, { ...MANAGER_ERRORS });
});
