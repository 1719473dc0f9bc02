// The agent's error codes: what agent/ raises, what agent/errors.ts declares with its exit
// status, and what docs/errors.md documents must agree.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { AGENT_ERRORS } from '../../agent/errors.js';
import { documentedCodes, filesUnder } from '../support/error_docs.js';

/** Names that look like codes but are environment variables (agentctl --socket). */
const ENVIRONMENT = new Set(['VEIL_AGENT_SOCKET']);

test('every agent code raised is declared, and every declared code is raised', () => {
  const raised = new Set<string>();
  for (const file of filesUnder('agent', /\.ts$/)) {
    if (file.endsWith('/errors.ts')) continue;
    for (const code of readFileSync(file, 'utf8').match(/VEIL_AGENT_[A-Z_]+/g) ?? []) {
      if (!ENVIRONMENT.has(code)) raised.add(code);
    }
  }
  assert.deepEqual([...raised].sort(), Object.keys(AGENT_ERRORS).sort());
});

test('docs/errors.md documents each agent code with its exit status', () => {
  const documented = documentedCodes('Agent');
  assert.deepEqual([...documented.keys()].sort(), Object.keys(AGENT_ERRORS).sort());
  for (const [code, status] of Object.entries(AGENT_ERRORS)) {
    assert.equal(documented.get(code)?.[0], String(status), code);
  }
});
