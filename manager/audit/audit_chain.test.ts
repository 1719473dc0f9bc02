// The canonical encoding and the HMAC chain against the test vectors of docs/audit.md,
// which were checked with Python's hmac module; and checkpoint signatures that hold only
// for what they signed.
import assert from 'node:assert/strict';
import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';

import {
  GENESIS_MAC,
  canonicalDetails,
  canonicalRecord,
  chainMac,
  checkpointMessage,
  checkpointSignatureValid,
  recordMac,
  signCheckpoint,
} from './audit_chain.js';
import type { AuditRecord } from './audit_record.js';

const key = createSecretKey(Buffer.alloc(32, 0x42));
const first: Omit<AuditRecord, 'mac'> = {
  seq: 1,
  time: 1764115200000,
  actor: 'admin',
  role: 'admin,key-admin,cte-admin',
  domain: 'root',
  action: 'POST /v1/keys',
  object: '9d9f7a5a-be98-4b9a-bc80-cae4e2f1168f',
  outcome: 'success',
  reason: '',
  source: '127.0.0.1',
  details: { status: 201 },
};
const second: Omit<AuditRecord, 'mac'> = {
  ...first,
  seq: 2,
  time: 1764115201000,
  actor: 'watcher',
  role: 'auditor',
  action: 'POST /v1/keys/{keyId}/rotate',
  outcome: 'failure',
  reason: 'VEIL_AUTH_ROLE_REQUIRED',
  details: { status: 403 },
};

test('the encoding and the chain give the vectors of docs/audit.md', () => {
  assert.equal(
    canonicalRecord(first, canonicalDetails(first.details)),
    '{"seq":1,"time":1764115200000,"actor":"admin","role":"admin,key-admin,cte-admin","domain":"root",' +
      '"action":"POST /v1/keys","object":"9d9f7a5a-be98-4b9a-bc80-cae4e2f1168f","outcome":"success",' +
      '"reason":"","source":"127.0.0.1","details":{"status":201}}',
  );
  const mac1 = recordMac(key, GENESIS_MAC, first);
  assert.equal(mac1, '1b3cff040d0186933ee41ba21252a70a8b723d1ef4c4d76721c9474877395305');
  assert.equal(
    recordMac(key, mac1, second),
    'df6a7ae3784d6974ffd329a44e700b23843b091ee43eef59eae636491e06a6ca',
  );
});

test('details are sorted by name; strings are escaped as JSON; any changed byte changes the mac', () => {
  assert.equal(canonicalDetails({ b: 'x"\n\u2028', a: 2, c: true }), '{"a":2,"b":"x\\"\\n\u2028","c":true}');
  const encoding = canonicalRecord(first, canonicalDetails(first.details));
  const mac = chainMac(key, GENESIS_MAC, encoding);
  const bytes = Buffer.from(encoding, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const changed = Buffer.from(bytes);
    changed[i] = (changed[i] ?? 0) ^ 1;
    assert.notEqual(chainMac(key, GENESIS_MAC, changed.toString('latin1')), mac, `byte ${i}`);
  }
  // The same record chained to another predecessor is another mac.
  assert.notEqual(chainMac(key, mac, encoding), mac);
  // A value of another type is another encoding: a number stored as text does not pass.
  assert.notEqual(canonicalRecord({ ...first, seq: '1' }, '{}'), canonicalRecord(first, '{}'));
});

test('a checkpoint signature holds for its seq, mac and time, and for its key only', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const point = signCheckpoint(privateKey, { seq: 17, mac: 'ab'.repeat(32), time: 1764115200000 });
  assert.equal(
    checkpointMessage(point).toString(),
    `{"format":"veil-audit-checkpoint/1","seq":17,"mac":"${'ab'.repeat(32)}","time":1764115200000}`,
  );
  assert.ok(checkpointSignatureValid(publicKey, point));
  assert.equal(checkpointSignatureValid(publicKey, { ...point, seq: 18 }), false);
  assert.equal(checkpointSignatureValid(publicKey, { ...point, mac: 'cd'.repeat(32) }), false);
  assert.equal(checkpointSignatureValid(publicKey, { ...point, time: point.time + 1 }), false);
  assert.equal(checkpointSignatureValid(generateKeyPairSync('ed25519').publicKey, point), false);
  assert.equal(checkpointSignatureValid(publicKey, { ...point, signature: 'not base64 at all' }), false);
});
