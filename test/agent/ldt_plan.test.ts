// The rekey planner and the QoS arithmetic: pure functions, checked on compiled policies.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { planGuardPoint, type RekeyMode } from '../../agent/ldt/plan.js';
import { checkQos, delayAfter, inWindow } from '../../agent/ldt/throttle.js';
import type { KeyState, LdtScanEntry } from '../../native/core.js';
import { compilePolicy, type Policy } from '../../policies/index.js';

const K = '11111111-1111-4111-8111-111111111111';
const L = '22222222-2222-4222-8222-222222222222';

const policy = (extra: Partial<Policy> = {}): Policy => ({
  name: 'p',
  resourceSets: { archive: { include: ['archive/**'] } },
  securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
  keyRules: [{ key: { keyId: K } }],
  ...extra,
});

const held = (states: [string, number, KeyState][]) =>
  states.map(([keyId, version, state]) => ({ keyId, version, state }));

const container = (path: string, keyId: string, keyVersion: number, size = 4096): LdtScanEntry => ({
  path,
  size,
  kind: 'container',
  cipher: 'aes-256-gcm',
  keyId,
  keyVersion,
});

function plan(
  entries: LdtScanEntry[],
  p: Policy,
  keyStates: ReturnType<typeof held>,
  modes: [string, RekeyMode][] = [],
) {
  const table = compilePolicy(p, { knownKeys: keyStates });
  return planGuardPoint(entries, table, keyStates, new Map(modes));
}

describe('rekey planner', () => {
  const afterRotation = held([
    [K, 1, 'deactivated'],
    [K, 2, 'active'],
  ]);

  it('rewraps files of an older version of the key after a rotation, by default', () => {
    const p = plan([container('a', K, 1), container('b', K, 2)], policy(), afterRotation);
    assert.deepEqual(p.jobs, [
      { path: 'a', op: 'rewrap', target: { keyId: K, version: 2 }, bytes: 0, reason: 'rotation' },
    ]);
    assert.deepEqual(p.keyVersions, [
      { keyId: K, version: 1, files: 1 },
      { keyId: K, version: 2, files: 1 },
    ]);
  });

  it('re-encrypts in full when the rotation says so', () => {
    const p = plan([container('a', K, 1, 10_000)], policy(), afterRotation, [[`${K}:2`, 'full']]);
    assert.deepEqual(
      p.jobs.map((j) => [j.op, j.bytes, j.reason]),
      [['reencrypt', 10_000, 'rotation']],
    );
  });

  it('forces the full path for files under a compromised version, and only for those', () => {
    const keyStates = held([
      [K, 1, 'deactivated'],
      [K, 2, 'compromised'],
      [K, 3, 'active'],
    ]);
    const p = plan(
      [container('old', K, 1), container('bad', K, 2), container('new', K, 3)],
      policy(),
      keyStates,
    );
    assert.deepEqual(
      p.jobs.map((j) => [j.path, j.op, j.reason]),
      [
        ['old', 'rewrap', 'rotation'],
        ['bad', 'reencrypt', 'compromised'],
      ],
    );
  });

  it('follows a data transformation rule in full, only where its resource set and current key hold', () => {
    const keyStates = held([
      [K, 1, 'active'],
      [L, 1, 'active'],
    ]);
    const p = plan(
      [container('archive/x', K, 1), container('other', K, 1)],
      policy({
        keyRules: [{ key: { keyId: K, version: 1 } }],
        dataTransformationRules: [
          {
            resourceSet: 'archive',
            currentKey: { keyId: K, version: 1 },
            transformationKey: { keyId: L, version: 1 },
          },
        ],
      }),
      keyStates,
    );
    assert.deepEqual(
      p.jobs.map((j) => [j.path, j.op, j.target.keyId, j.reason]),
      [['archive/x', 'reencrypt', L, 'transformation-rule']],
    );
  });

  it('encrypts plaintext files, leaves clear_key files alone, and puts interrupted files first', () => {
    const p = plan(
      [
        { path: 'plain', size: 5, kind: 'plaintext' },
        { path: 'archive/clear', size: 5, kind: 'plaintext' },
        {
          ...container('half', K, 1, 8192),
          kind: 'reencrypting',
          targetKeyId: K,
          targetKeyVersion: 2,
          progress: 1,
        },
      ],
      policy({ keyRules: [{ resourceSet: 'archive', key: 'clear_key' }, { key: { keyId: K } }] }),
      afterRotation,
    );
    assert.deepEqual(
      p.jobs.map((j) => [j.path, j.op, j.reason]),
      [
        ['half', 'reencrypt', 'interrupted'],
        ['plain', 'encrypt', 'initial-encryption'],
      ],
    );
    assert.equal(p.plaintextFiles, 2);
  });

  it('moves files to another key in full when the key rule names another key', () => {
    const keyStates = held([
      [K, 1, 'active'],
      [L, 1, 'active'],
    ]);
    const p = plan([container('a', K, 1)], policy({ keyRules: [{ key: { keyId: L } }] }), keyStates);
    assert.deepEqual(
      p.jobs.map((j) => [j.op, j.reason]),
      [['reencrypt', 'key-changed']],
    );
  });
});

describe('rekey QoS', () => {
  it('rests long enough for the rate cap and the CPU share', () => {
    assert.ok(Math.abs(delayAfter({ rateMBps: 100, cpuShare: 1, windows: [] }, 50e6, 100) - 400) < 1e-6);
    assert.ok(Math.abs(delayAfter({ rateMBps: 0, cpuShare: 0.25, windows: [] }, 50e6, 100) - 300) < 1e-6);
    assert.equal(delayAfter({ rateMBps: 0, cpuShare: 1, windows: [] }, 50e6, 100), 0);
  });

  it('knows its time windows, across midnight too', () => {
    const at = (h: number, m: number) => new Date(2026, 10, 26, h, m);
    assert.equal(inWindow([], at(12, 0)), true);
    assert.equal(inWindow(['22:00-06:00'], at(23, 30)), true);
    assert.equal(inWindow(['22:00-06:00'], at(5, 59)), true);
    assert.equal(inWindow(['22:00-06:00'], at(6, 0)), false);
    assert.equal(inWindow(['09:00-10:00', '13:00-14:00'], at(13, 15)), true);
  });

  it('refuses settings it cannot use, with a sentence', () => {
    assert.match(checkQos({ rateMBps: -1 }) ?? '', /rate cap/);
    assert.match(checkQos({ cpuShare: 0 }) ?? '', /CPU share/);
    assert.match(checkQos({ windows: ['25:00-01:00'] }) ?? '', /not a time window/);
    assert.match(checkQos({ windows: ['01:00-01:00'] }) ?? '', /not a time window/);
    assert.equal(checkQos({ rateMBps: 50, cpuShare: 0.5, windows: ['22:00-06:00'] }), null);
  });
});
