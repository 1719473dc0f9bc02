// The agent's state directory across a certificate renewal cut short by a crash: whatever
// moment the crash comes, the next start finds a key and a certificate that go together.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { AgentState, type HostCredentials } from './agent_state.js';
import { canSeal, sealHostKey } from './host_key_seal.js';

let work: string;

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'veil-agent-state-'));
});

after(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A self-signed P-256 certificate and its key, as PEM. */
function pair(name: string): { certificatePem: string; keyPem: string } {
  const keyFile = path.join(work, `${name}.key`);
  const certificateFile = path.join(work, `${name}.crt`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      keyFile,
      '-out',
      certificateFile,
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
    ]),
    { stdio: 'ignore' },
  );
  return {
    certificatePem: readFileSync(certificateFile, 'utf8'),
    keyPem: readFileSync(keyFile, 'utf8'),
  };
}

function registered(name: string): { state: AgentState; first: HostCredentials } {
  const state = new AgentState(path.join(work, name));
  state.prepare();
  const first = { caPem: pair(`${name}-ca`).certificatePem, ...pair(`${name}-first`) };
  state.saveRegistration(
    {
      managerUrl: 'https://127.0.0.1:1',
      hostId: '0b9d8a52-4c0e-4f7e-9a55-3f1d2e6c7b80',
      hostName: name,
      caFingerprint: 'none',
      registeredAt: new Date().toISOString(),
    },
    first,
  );
  return { state, first };
}

/** The renewal's new key as saveCertificate leaves it before the certificate is written. */
function leaveNextKey(state: AgentState, keyPem: string): void {
  const file = path.join(state.directory, canSeal() ? 'host.key.next.cred' : 'host.key.next');
  writeFileSync(file, canSeal() ? sealHostKey(keyPem) : keyPem, { mode: 0o600 });
}

function assertMatching(
  credentials: HostCredentials,
  expected: { certificatePem: string; keyPem: string },
): void {
  assert.equal(credentials.certificatePem, expected.certificatePem);
  assert.equal(credentials.keyPem, expected.keyPem);
  assert.ok(
    new X509Certificate(credentials.certificatePem).checkPrivateKey(createPrivateKey(credentials.keyPem)),
  );
}

const leftovers = (state: AgentState): string[] =>
  readdirSync(state.directory).filter((name) => name.includes('.next') || name.endsWith('.new'));

test('a renewal saved whole: the new key and certificate, nothing left beside them', () => {
  const { state } = registered('whole');
  const renewed = pair('whole-renewed');
  state.saveCertificate(renewed.certificatePem, renewed.keyPem);
  assertMatching(state.credentials(), renewed);
  assert.deepEqual(leftovers(state), []);
});

test('a crash before the new certificate is written: the old pair stays, the new key is dropped', () => {
  const { state, first } = registered('before');
  leaveNextKey(state, pair('before-renewed').keyPem);
  assertMatching(state.credentials(), first);
  assert.deepEqual(leftovers(state), []);
  assertMatching(state.credentials(), first);
});

test('a crash after the new certificate is written: its key, still beside the old one, goes in', () => {
  const { state } = registered('after');
  const renewed = pair('after-renewed');
  leaveNextKey(state, renewed.keyPem);
  writeFileSync(path.join(state.directory, 'host.crt'), renewed.certificatePem, { mode: 0o600 });
  assertMatching(state.credentials(), renewed);
  assert.deepEqual(leftovers(state), []);
  assertMatching(state.credentials(), renewed);
});

test('unregistering removes a renewal key left behind', () => {
  const { state } = registered('clear');
  leaveNextKey(state, pair('clear-renewed').keyPem);
  state.clear();
  assert.deepEqual(leftovers(state), []);
});
