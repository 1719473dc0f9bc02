// The manager's side of live data transformation, with the real manager process on loopback
// and real TLS: the rekey mode of a rotation (API and CLI) and how hosts hear of it on their
// event stream; the hosts' progress reports (checked field by field, shown by `host show`,
// state changes recorded in the audit trail); and an old key version destroyable only once
// every host guarding a directory under a policy that uses the key reports no file under it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type WebSocket from 'ws';

import { ManagerClient } from '../../manager-client/client.js';
import type {
  GuardPointStatus,
  GuardPointTransformation,
  HostEvent,
  HostView,
  KeyView,
} from '../../manager-client/types.js';
import {
  failure,
  hostClient,
  MANAGER_CLI,
  registerHostByHand,
  startManagerProcess,
  type HandRegisteredHost,
  type ManagerProcess,
} from './support.js';

const work = mkdtempSync('/var/tmp/veil-manager-rekey-');
const AUDITOR = { name: 'watcher', password: 'watcher-password-1' };
let manager: ManagerProcess;
let key: KeyView;
let alpha: HandRegisteredHost;
let beta: HandRegisteredHost;
let guardPointId: string;
const streams: WebSocket[] = [];
const events: HostEvent[] = [];

/** veil-manager as an operator types it: human output unless the arguments say --json. */
function cli(...args: string[]): { status: number; out: string; err: string } {
  const result = spawnSync(
    process.execPath,
    [MANAGER_CLI, ...args, '--manager', manager.url, '--data-dir', manager.dataDir],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return { status: result.status ?? -1, out: result.stdout, err: result.stderr };
}

async function eventually<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(events)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

type GuardPointsEvent = Extract<HostEvent, { type: 'guardpoints' }>;
const guardPointsEvents = () => events.filter((e): e is GuardPointsEvent => e.type === 'guardpoints');

function transformation(over: Partial<GuardPointTransformation> = {}): GuardPointTransformation {
  return {
    state: 'running',
    filesTotal: 5000,
    filesDone: 1234,
    bytesTotal: 5 * 1024 ** 3,
    bytesDone: 1.25 * 1024 ** 3,
    etaSeconds: 200,
    keyVersions: [
      { keyId: key.keyId, version: 1, files: 1200 },
      { keyId: key.keyId, version: 2, files: 3800 },
    ],
    plaintextFiles: 0,
    ...over,
  };
}

const report = (host: HandRegisteredHost, t?: GuardPointTransformation): Promise<HostView> =>
  hostClient(manager, host).reportStatus([
    { guardPointId, state: 'guarded', ...(t ? { transformation: t } : {}) },
  ]);

const auditor = () => new ManagerClient({ url: manager.url, caPem: manager.caPem(), admin: { ...AUDITOR } });

before(async () => {
  manager = await startManagerProcess(path.join(work, 'data'));
  const admin = manager.admin();
  await admin.createUser({ ...AUDITOR, roles: ['auditor'] });
  key = await admin.createKey({ name: 'ledger' });
  await admin.createHostGroup('ledgers');
  const transport = () =>
    generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({ type: 'spki', format: 'pem' });
  alpha = await registerHostByHand(
    manager,
    path.join(work, 'alpha.key'),
    'alpha',
    transport().toString(),
    admin,
    'ledgers',
  );
  beta = await registerHostByHand(
    manager,
    path.join(work, 'beta.key'),
    'beta',
    transport().toString(),
    admin,
    'ledgers',
  );
  await admin.putPolicy({
    name: 'ledger',
    securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
    keyRules: [{ key: { keyId: key.keyId } }],
  });
  guardPointId = (await admin.addGuardPoint({ path: '/srv/ledger', policy: 'ledger', hostGroup: 'ledgers' }))
    .guardPointId;
  streams.push(hostClient(manager, alpha).events((event) => events.push(event)));
  await eventually('the first guard points event', () => guardPointsEvents()[0]);
});

after(async () => {
  for (const ws of streams) ws.close();
  await manager?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the rekey mode of a rotation', () => {
  test('version 1 and a rotation without a mode rewrap; the event stream tells each version its mode', async () => {
    assert.deepEqual(guardPointsEvents()[0]?.rekey, [{ keyId: key.keyId, version: 1, mode: 'rewrap' }]);
    const seen = guardPointsEvents().length;
    const rotated = await manager.admin().rotateKey(key.keyId);
    assert.deepEqual(
      rotated.versions.map((v) => [v.version, v.state, v.rekey]),
      [
        [1, 'deactivated', 'rewrap'],
        [2, 'active', 'rewrap'],
      ],
    );
    const next = await eventually('the guard points after the rotation', () => guardPointsEvents()[seen]);
    assert.deepEqual(next.rekey, [
      { keyId: key.keyId, version: 1, mode: 'rewrap' },
      { keyId: key.keyId, version: 2, mode: 'rewrap' },
    ]);
  });

  test('veil-manager key rotate --rekey full: stored on the version, shown, and sent to the hosts', async () => {
    const seen = guardPointsEvents().length;
    const full = cli('key', 'rotate', key.keyId, '--rekey', 'full', '--json');
    assert.equal(full.status, 0, full.err);
    assert.deepEqual(
      (JSON.parse(full.out) as KeyView).versions.map((v) => v.rekey),
      ['rewrap', 'rewrap', 'full'],
    );
    const next = await eventually(
      'the guard points after the full rotation',
      () => guardPointsEvents()[seen],
    );
    assert.deepEqual(
      next.rekey.map((r) => [r.version, r.mode]),
      [
        [1, 'rewrap'],
        [2, 'rewrap'],
        [3, 'full'],
      ],
    );
    const shown = cli('key', 'show', key.keyId);
    assert.equal(shown.status, 0, shown.err);
    assert.match(shown.out, /version 3: active, rekey full/);
    assert.match(shown.out, /version 2: deactivated, rekey rewrap/);
    // And by the API, explicitly rewrap.
    const rewrap = await manager.admin().rotateKey(key.keyId, undefined, 'rewrap');
    assert.equal(rewrap.versions.at(-1)?.rekey, 'rewrap');
    assert.equal((await manager.admin().key(key.keyId)).versions[2]?.rekey, 'full');
  });

  test('a bad mode is refused, by the API and by the CLI, and makes no version', async () => {
    const refused = await failure(manager.admin().rotateKey(key.keyId, undefined, 'sideways' as never));
    assert.equal(refused.code, 'VEIL_KEY_BAD_REQUEST');
    assert.match(refused.message, /rekey is "rewrap" .* or "full" .*, not "sideways"/);
    const bad = cli('key', 'rotate', key.keyId, '--rekey', 'partial');
    assert.notEqual(bad.status, 0);
    assert.match(bad.err, /--rekey <mode>' argument 'partial' is invalid\. Allowed choices are rewrap, full/);
    // The help text, its lines joined (commander wraps it to the terminal's width).
    const help = cli('key', 'rotate', '--help').out.replace(/\s+/g, ' ');
    assert.ok(
      help.includes(
        "rewrap = header-only rewrap of each file's key under the new version, O(files); " +
          'full = every file re-encrypted under a new file key. A compromised version always forces full on the host',
      ),
      help,
    );
    assert.equal((await manager.admin().key(key.keyId)).versions.length, 4);
  });
});

describe('progress reports', () => {
  test('a transformation is taken, kept with the status, and shown by host show (human and --json)', async () => {
    const shown = await report(alpha, transformation());
    assert.deepEqual(shown.guardPoints[0]?.transformation, transformation());
    const human = cli('host', 'show', alpha.id);
    assert.equal(human.status, 0, human.err);
    const prefix = key.keyId.slice(0, 8);
    assert.ok(
      human.out.includes(
        `    /srv/ledger: guarded; rekey running 1,234/5,000 files, 1.3/5.0 GiB (25%), ETA 3m20s; ` +
          `files under ${prefix}…:1 (1,200), ${prefix}…:2 (3,800)`,
      ),
      human.out,
    );
    assert.match(human.out, new RegExp(`guard point ${guardPointId}, reported \\d{4}-`));
    const json = cli('host', 'show', alpha.id, '--json');
    assert.equal(json.status, 0, json.err);
    assert.deepEqual((JSON.parse(json.out) as HostView).guardPoints[0]?.transformation, transformation());
  });

  test('bad fields are refused with their JSON pointer, and change nothing', async () => {
    const host = hostClient(manager, alpha);
    const before = (await manager.admin().host(alpha.id)).guardPoints;
    const cases: [unknown, RegExp][] = [
      [
        { filesDone: -1 },
        /\/guardPoints\/0\/transformation\/filesDone: must be a number of files from 0 to 9007199254740992/,
      ],
      [
        { bytesTotal: 2 ** 53 + 2 },
        /\/guardPoints\/0\/transformation\/bytesTotal: must be a number of bytes from 0/,
      ],
      [{ filesTotal: 1.5 }, /\/guardPoints\/0\/transformation\/filesTotal: must be a whole number/],
      [{ etaSeconds: '3m' }, /\/guardPoints\/0\/transformation\/etaSeconds: must be a whole number or null/],
      [{ state: 'sleeping' }, /\/guardPoints\/0\/transformation\/state: must be one of idle, scanning/],
      [{ speed: 3 }, /\/guardPoints\/0\/transformation\/speed: is not a field here/],
      [
        { message: 'x'.repeat(1001) },
        /\/guardPoints\/0\/transformation\/message: must be at most 1000 characters/,
      ],
      [
        { keyVersions: [{ keyId: 'nope', version: 1, files: 1 }] },
        /\/guardPoints\/0\/transformation\/keyVersions\/0\/keyId: must be a UUID/,
      ],
      [
        { keyVersions: [{ keyId: key.keyId, version: 0, files: 1 }] },
        /\/guardPoints\/0\/transformation\/keyVersions\/0\/version: must be a key version from 1/,
      ],
      [
        { keyVersions: [{ keyId: key.keyId, version: 1, files: 1, path: '/x' }] },
        /\/guardPoints\/0\/transformation\/keyVersions\/0\/path: is not a field here/,
      ],
      [
        {
          keyVersions: [
            { keyId: key.keyId, version: 1, files: 1 },
            { keyId: key.keyId.toUpperCase(), version: 1, files: 2 },
          ],
        },
        /\/guardPoints\/0\/transformation\/keyVersions\/1: .* is counted twice/,
      ],
      [
        {
          keyVersions: Array.from({ length: 10_001 }, (_, i) => ({
            keyId: key.keyId,
            version: i + 1,
            files: 1,
          })),
        },
        /\/guardPoints\/0\/transformation\/keyVersions: must hold at most 10,000 entries/,
      ],
    ];
    for (const [change, expected] of cases) {
      const refused = await failure(
        host.reportStatus([
          { guardPointId, state: 'guarded', transformation: { ...transformation(), ...(change as object) } },
        ]),
      );
      assert.equal(refused.code, 'VEIL_REGISTRATION_BAD_REQUEST', JSON.stringify(change).slice(0, 100));
      assert.match(refused.message, expected);
    }
    const missing = { ...transformation() } as Partial<GuardPointTransformation>;
    delete missing.keyVersions;
    assert.match(
      (
        await failure(
          host.reportStatus([{ guardPointId, state: 'guarded', transformation: missing as never }]),
        )
      ).message,
      /\/guardPoints\/0\/transformation\/keyVersions: is missing/,
    );
    assert.match(
      (await failure(host.reportStatus([{ guardPointId, state: 'guarded', extra: 1 } as GuardPointStatus])))
        .message,
      /\/guardPoints\/0\/extra: is not a field here/,
    );
    assert.deepEqual((await manager.admin().host(alpha.id)).guardPoints, before);
  });

  test('the audit trail records a rekey starting, changing state and finishing; not each tick', async () => {
    const records = async () =>
      (await auditor().auditRecords({ action: 'host.rekey-progress', limit: 1000 })).filter(
        (r) => r.object === beta.id,
      );
    await report(beta, transformation({ state: 'scanning', filesDone: 0 }));
    await report(beta, transformation({ filesDone: 10 }));
    await report(beta, transformation({ filesDone: 20 }));
    await report(beta, transformation({ filesDone: 30 }));
    await report(beta, transformation({ state: 'paused', filesDone: 40, message: 'paused by agentctl' }));
    await report(beta, transformation({ state: 'failed', filesDone: 40, message: 'disk full' }));
    await report(
      beta,
      transformation({
        state: 'idle',
        filesDone: 5000,
        bytesDone: 5 * 1024 ** 3,
        etaSeconds: null,
        keyVersions: [{ keyId: key.keyId, version: 4, files: 5000 }],
      }),
    );
    await report(
      beta,
      transformation({ state: 'idle', keyVersions: [{ keyId: key.keyId, version: 4, files: 5000 }] }),
    );
    const got = await records();
    assert.deepEqual(
      got.map((r) => [r.details.from, r.details.to, r.details.filesDone, r.outcome, r.reason]),
      [
        ['', 'scanning', 0, 'success', ''],
        ['scanning', 'running', 10, 'success', ''],
        ['running', 'paused', 40, 'success', ''],
        ['paused', 'failed', 40, 'failure', 'rekey-failed'],
        ['failed', 'idle', 5000, 'success', ''],
      ],
    );
    const done = got.at(-1);
    assert.deepEqual(
      [
        done?.actor,
        done?.role,
        done?.details.guardPointId,
        done?.details.guardPoint,
        done?.details.keyVersions,
      ],
      [`host:${beta.id}`, 'host', guardPointId, '/srv/ledger', `${key.keyId}:4=5000`],
    );
    assert.equal(got[2]?.details.message, 'paused by agentctl');
    // The guard point's own state: once, when first reported; the calls themselves are not recorded.
    const status = (await auditor().auditRecords({ action: 'host.guardpoint-status', limit: 1000 })).filter(
      (r) => r.object === beta.id,
    );
    assert.deepEqual(
      status.map((r) => [r.details.from, r.details.to]),
      [['', 'guarded']],
    );
    const calls = await auditor().auditRecords({ action: 'POST /v1/hosts/self/status', limit: 1000 });
    assert.ok(
      calls.every((r) => r.outcome === 'failure'),
      'only refused reports are recorded as calls',
    );
    assert.ok(calls.some((r) => r.reason === 'VEIL_REGISTRATION_BAD_REQUEST'));
  });
});

describe('retiring an old version', () => {
  const destroy = (version: number) => failure(manager.admin().destroyKey(key.keyId, version));
  const versionUsage = async (version: number) =>
    (await manager.admin().key(key.keyId)).versions.find((v) => v.version === version)?.usage;

  before(async () => {
    // Fresh reports: neither host has said anything of the current versions yet.
    const admin = manager.admin();
    await admin.removeGuardPoint(guardPointId);
    guardPointId = (await admin.addGuardPoint({ path: '/srv/books', policy: 'ledger', hostGroup: 'ledgers' }))
      .guardPointId;
  });

  test('refused, naming the hosts, while one has files under it and the other has not reported', async () => {
    // Version 4 is active; 1 to 3 are deactivated.
    await report(alpha, transformation({ keyVersions: [{ keyId: key.keyId, version: 3, files: 5 }] }));
    const refused = await destroy(3);
    assert.equal(refused.code, 'VEIL_KEY_IN_USE');
    assert.match(refused.message, new RegExp(`host alpha \\(${alpha.id}\\) still has 5 files under it`));
    assert.match(
      refused.message,
      new RegExp(
        `host beta \\(${beta.id}\\) has not reported /srv/books idle without it \\(no report yet\\)`,
      ),
    );
    assert.deepEqual(await versionUsage(3), {
      hostsUsing: [{ hostId: alpha.id, files: 5 }],
      hostsPending: [alpha.id, beta.id],
      destroyable: false,
      reason: refused.message,
    });
    const shown = cli('key', 'show', key.keyId);
    assert.match(
      shown.out,
      /version 3: deactivated, rekey full; in use on 1 host \(5 files\), not yet reported unused by 1 host/,
    );
    assert.match(shown.out, /version 4: active, rekey rewrap\n/);
  });

  test('still refused while a host is not idle, even with no file under it; then named alone', async () => {
    await report(alpha, transformation({ keyVersions: [{ keyId: key.keyId, version: 4, files: 5 }] }));
    await report(
      beta,
      transformation({ state: 'idle', keyVersions: [{ keyId: key.keyId, version: 4, files: 9 }] }),
    );
    const refused = await destroy(3);
    assert.match(
      refused.message,
      new RegExp(
        `host alpha \\(${alpha.id}\\) has not reported /srv/books idle without it \\(rekey running\\)`,
      ),
    );
    assert.doesNotMatch(refused.message, /beta/);
  });

  test('accepted once every host reports it unused and idle; the active version stays refused', async () => {
    await report(
      alpha,
      transformation({ state: 'idle', keyVersions: [{ keyId: key.keyId, version: 4, files: 5 }] }),
    );
    const usage = await versionUsage(3);
    assert.deepEqual(usage, { hostsUsing: [], hostsPending: [], destroyable: true, reason: null });
    const shown = cli('key', 'show', key.keyId);
    assert.match(shown.out, /version 3: deactivated, rekey full; unused on every host: may be destroyed/);
    const destroyed = await manager.admin().destroyKey(key.keyId, 3);
    assert.equal(destroyed.versions[2]?.state, 'destroyed');
    const active = await destroy(4);
    assert.equal(active.code, 'VEIL_KEY_IN_USE');
    assert.match(
      active.message,
      /\/srv\/books, whose policy names the key without a version: it is the active version/,
    );
  });

  test('a version a policy in use names exactly is refused whatever the hosts report', async () => {
    const admin = manager.admin();
    await admin.putPolicy({
      name: 'pinned',
      securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
      keyRules: [{ key: { keyId: key.keyId, version: 2 } }],
    });
    await admin.addGuardPoint({ path: '/srv/pinned', policy: 'pinned', hostId: alpha.id });
    const refused = await destroy(2);
    assert.match(refused.message, /protects the guard point \/srv\/pinned: change its policy first/);
  });

  test('a de-registered host no longer holds a version back', async () => {
    // Version 1: beta has reported the books guard point idle without it, alpha has not yet reported /srv/pinned.
    assert.match(
      (await destroy(1)).message,
      new RegExp(`host alpha \\(${alpha.id}\\) has not reported /srv/pinned`),
    );
    await manager.admin().deregisterHost(alpha.id);
    assert.equal((await manager.admin().destroyKey(key.keyId, 1)).versions[0]?.state, 'destroyed');
  });
});
