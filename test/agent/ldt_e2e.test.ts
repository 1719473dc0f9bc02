// Live data transformation end to end, with real processes on loopback: a veil-manager, a
// veild guarding a directory that already holds plaintext, agentctl as an operator runs
// it. Initial encryption, a rotation re-encrypted in full while paused and resumed, the
// old version destroyable only once the host reports it unused, and a compromised middle
// version re-encrypting exactly its files. File contents are checked in child processes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { AgentStatus, LdtStatus } from '../../agent/control/protocol.js';
import type { RekeyProgress } from '../../agent/ldt/rekeyer.js';
import { isMounted, sh } from '../fs/mount_support.js';
import { startManagerProcess, type ManagerProcess } from '../manager/support.js';
import {
  agentctl,
  agentctlJson,
  agentDirs,
  eventually,
  forceUnmount,
  registerArgs,
  startVeild,
  type AgentDirs,
  type VeildProcess,
} from './support.js';

let work: string;
let guarded: string;
let manager: ManagerProcess;
let dirs: AgentDirs;
let veild: VeildProcess;
let keyId: string;
let hostId: string;
let expected: string;

const FILES = 12;

/** sha256 of every file under the guard point, read through it by root (a child process). */
const hashes = (): string =>
  sh(`cd '${guarded}' && find . -type f -print0 | sort -z | xargs -0 -r sha256sum`);

const progress = (): RekeyProgress | null =>
  agentctlJson<LdtStatus>(dirs, 'ldt', 'status').guardPoints.find((g) => g.path === guarded)
    ?.transformation ?? null;

/** Waits until the worker is idle with every file under exactly `versions` of the key. */
async function settledOn(versions: number[], what: string): Promise<RekeyProgress> {
  return await eventually(
    what,
    () => {
      const p = progress();
      const under = p?.keyVersions.map((k) => `${k.keyId}:${k.version}`).join();
      return p?.state === 'idle' &&
        p.plaintextFiles === 0 &&
        under === versions.map((v) => `${keyId}:${v}`).join()
        ? p
        : undefined;
    },
    60_000,
  );
}

const destroy = (version: number) => manager.cli('key', 'destroy', keyId, String(version));

before(async () => {
  work = mkdtempSync('/tmp/veil-ldt-e2e-');
  chmodSync(work, 0o755);
  guarded = path.join(work, 'guarded');
  mkdirSync(guarded);
  // A directory that holds data before Veil guards it.
  sh(
    `cd '${guarded}' && mkdir -p a/b && for i in $(seq 1 ${FILES}); do head -c $((i * 37000)) /dev/urandom > a/b/f$i; done`,
  );
  expected = hashes();
  manager = await startManagerProcess(path.join(work, 'manager'));
  dirs = agentDirs(path.join(work, 'agent'));
  veild = startVeild(dirs);
  await veild.waitForLog(/ready: not registered/);
  const token = (await manager.admin().createToken({ lifetimeSeconds: 600, maxUses: 1 })).token;
  const registered = agentctlJson<{ hostId: string }>(
    dirs,
    ...registerArgs(manager.url, token, manager.caFingerprint),
  );
  hostId = registered.hostId;
  await eventually('the manager link', () =>
    agentctlJson<AgentStatus>(dirs, 'status').manager?.connected ? true : undefined,
  );
});

after(async () => {
  await veild?.stop();
  forceUnmount(guarded);
  await manager?.stop();
  if (work && !isMounted(guarded)) rmSync(work, { recursive: true, force: true });
});

describe('live data transformation with a manager', () => {
  test('plaintext already in a new guard point is encrypted in place, and reads the same', async () => {
    const admin = manager.admin();
    keyId = (await admin.createKey({ name: 'ldt-e2e' })).keyId;
    await admin.putPolicy({
      name: 'ldt-e2e',
      securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
      keyRules: [{ key: { keyId } }],
    });
    await admin.addGuardPoint({ path: guarded, policy: 'ldt-e2e', hostId });
    const done = await settledOn([1], 'initial encryption');
    assert.equal(done.keyVersions[0]?.files, FILES);
    assert.equal(hashes(), expected);
    // The manager shows what the host reported.
    await eventually('the progress at the manager', () => {
      const host = JSON.parse(manager.cli('host', 'show', hostId).out) as {
        guardPoints: { transformation?: { state: string; plaintextFiles: number } }[];
      };
      const t = host.guardPoints[0]?.transformation;
      return t?.state === 'idle' && t.plaintextFiles === 0 ? true : undefined;
    });
  });

  test('a rotation re-encrypts in full; the old version is destroyable only once no file uses it', async () => {
    const paused = agentctlJson<LdtStatus>(dirs, 'ldt', 'pause');
    assert.equal(paused.guardPoints[0]?.paused, true);
    const rotated = manager.cli('key', 'rotate', keyId, '--rekey', 'full');
    assert.equal(rotated.status, 0, rotated.err);
    await eventually('the rekey paused with files under version 1', () => {
      const p = progress();
      return p?.state === 'paused' && p.keyVersions.some((k) => k.version === 1) ? true : undefined;
    });
    await eventually('the manager knows version 1 is in use', () => {
      const host = JSON.parse(manager.cli('host', 'show', hostId).out) as {
        guardPoints: { transformation?: { state: string } }[];
      };
      return host.guardPoints[0]?.transformation?.state === 'paused' ? true : undefined;
    });
    const refused = destroy(1);
    assert.notEqual(refused.status, 0);
    assert.match(refused.out + refused.err, /VEIL_KEY_IN_USE/);

    const shown = agentctl(dirs, 'ldt', 'status');
    assert.match(shown.out, /paused/);
    assert.match(shown.out, /files under: .*:1 \(12\)/);

    agentctlJson<LdtStatus>(dirs, 'ldt', 'resume');
    await settledOn([2], 'the full re-encryption');
    await veild.waitForLog(new RegExp(`${FILES} × reencrypt to ${keyId}:2 \\(rotation\\)`), 10_000);
    assert.equal(hashes(), expected);
    await eventually('version 1 destroyable', () => (destroy(1).status === 0 ? true : undefined));
    assert.equal(hashes(), expected, 'nothing needs version 1 any more');
  });

  test('a compromised middle version re-encrypts exactly the files under it', async () => {
    agentctlJson<LdtStatus>(dirs, 'ldt', 'pause');
    assert.equal(manager.cli('key', 'rotate', keyId).status, 0);
    await eventually('version 3 on the host', () =>
      agentctlJson<AgentStatus>(dirs, 'status').guardPoints[0]?.keys.join() === `${keyId}:3`
        ? true
        : undefined,
    );
    sh(`printf 'written under version 3' > '${guarded}/fresh'`);
    const revoked = manager.cli('key', 'revoke', keyId, '2', '--reason', 'key-compromise');
    assert.equal(revoked.status, 0, revoked.err);
    await eventually('version 2 compromised on the host', () =>
      agentctlJson<{ version: number; state: string; role: string }[]>(dirs, 'keys').some(
        (k) => k.version === 2 && k.state === 'compromised',
      )
        ? true
        : undefined,
    );
    agentctlJson<LdtStatus>(dirs, 'ldt', 'resume');
    await settledOn([3], 'the files of the compromised version moved');
    await veild.waitForLog(new RegExp(`${FILES} × reencrypt to ${keyId}:3 \\(compromised\\)`), 10_000);
    const lines = veild.log().split('\n');
    const since = lines.findIndex((line) => /:2 installed compromised/.test(line));
    assert.ok(since !== -1);
    assert.deepEqual(
      lines.slice(since).filter((line) => /rekey: .* to /.test(line)),
      lines.slice(since).filter((line) => line.includes(`${FILES} × reencrypt to ${keyId}:3 (compromised)`)),
      'after the compromise, only the full path',
    );
    assert.equal(sh(`cat '${guarded}/fresh'`), 'written under version 3');
    assert.equal(
      hashes()
        .split('\n')
        .filter((line) => !line.endsWith('./fresh'))
        .join('\n')
        .trimEnd(),
      expected.trimEnd(),
    );
  });

  test('agentctl ldt refuses bad settings and unknown guard points', () => {
    const bad = agentctl(dirs, 'ldt', 'set', '--cpu', '2');
    assert.equal(bad.status, 2);
    assert.match(bad.err, /CPU share is a number from 0.01 to 1/);
    const window = agentctl(dirs, 'ldt', 'set', '--window', '25:00-01:00');
    assert.notEqual(window.status, 0);
    assert.match(window.err, /not a time window/);
    const unknown = agentctl(dirs, 'ldt', 'pause', path.join(work, 'elsewhere'));
    assert.equal(unknown.status, 1);
    assert.match(unknown.err, /VEIL_AGENT_NO_GUARD_POINT/);
    const set = agentctlJson<LdtStatus>(dirs, 'ldt', 'set', '--rate', '50', '--window', '00:00-23:59');
    assert.deepEqual(set.qos, { rateMBps: 50, cpuShare: 1, windows: ['00:00-23:59'] });
    assert.match(
      execFileSync('cat', [path.join(dirs.state, 'ldt.json')], { encoding: 'utf8' }),
      /"rateMBps": 50/,
    );
  });
});
