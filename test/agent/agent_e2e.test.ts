// The agent end to end, with real processes on loopback: a veil-manager, a veild with its
// own directories, agentctl as an operator runs it, and real users reading and writing
// under the guard point through child processes. Users, mounts and processes go away in
// after(), even when a test fails.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { constants, generateKeyPairSync, privateDecrypt } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { AgentStatus, GuardPointState, HeldKey } from '../../agent/control/protocol.js';
import { unsealHostKey } from '../../agent/state/host_key_seal.js';
import { ManagerClient } from '../../manager-client/client.js';
import { showChallenge, showResponse } from '../../manager-client/offline_codes.js';
import { isMounted, sh, shStatus } from '../fs/mount_support.js';
import { startManagerProcess, type ManagerProcess } from '../manager/support.js';
import {
  agentctl,
  agentctlJson,
  agentDirs,
  eventually,
  forceUnmount,
  registerArgs,
  notifyReceiver,
  startVeild,
  type AgentDirs,
  type VeildProcess,
} from './support.js';

const OWNER = 'veiltest_owner';
const BACKUP = 'veiltest_backup';
const OTHER = 'veiltest_other';
const USERS = [OWNER, BACKUP, OTHER];
const OFFLINE_PASSWORD = 'correct horse battery staple 2026';
const MAGIC = Buffer.from('895645494c0d0a1a', 'hex'); // docs/format.md

function removeUsers(): void {
  for (const user of USERS) spawnSync('userdel', [user], { stdio: 'ignore' });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const policyFor = (keyId: string): Record<string, unknown> => ({
  name: 'agent-e2e',
  resourceSets: { all: { include: ['**'] } },
  userSets: { owner: { users: [OWNER] }, backup: { users: [BACKUP] } },
  securityRules: [
    { userSet: 'owner', actions: ['all_ops'], effect: ['permit', 'apply_key'] },
    { userSet: 'backup', actions: ['read', 'd_rd', 'd_rd_att', 'f_rd_att'], effect: ['permit'] },
    { actions: ['d_rd', 'd_rd_att', 'f_rd_att'], effect: ['permit'] },
    { actions: ['all_ops'], effect: ['deny'] },
  ],
  keyRules: [{ resourceSet: 'all', key: { keyId } }],
});

let work: string;
let guarded: string;
let manager: ManagerProcess;
let listen: string;
let dirs: AgentDirs;
let veild: VeildProcess;
let keyId: string;
let fingerprint: string;

/** The data keys agentctl keys lists (not the host's offline key). */
const dataKeys = (): HeldKey[] => agentctlJson<HeldKey[]>(dirs, 'keys').filter((k) => k.role === 'data');
const status = (): AgentStatus => agentctlJson<AgentStatus>(dirs, 'status');
const guardState = (): GuardPointState | undefined => status().guardPoints.find((g) => g.path === guarded);

/** The stored bytes of a file, through the encrypted view the backup user has. */
const storedBytes = (name: string): Buffer =>
  Buffer.from(sh(`base64 -w0 ${path.join(guarded, name)}`, { user: BACKUP }), 'base64');

/** The key version slot A of a stored container names (docs/format.md: offset 72, u32). */
const keyVersionOf = (container: Buffer): number => container.readUInt32BE(72);

before(async () => {
  removeUsers();
  for (const user of USERS) execFileSync('useradd', ['--no-create-home', user]);
  work = mkdtempSync('/tmp/veil-agent-e2e-');
  chmodSync(work, 0o755); // the test users walk through it
  guarded = path.join(work, 'guarded');
  mkdirSync(guarded);
  execFileSync('chown', [OWNER, guarded]);
  listen = `127.0.0.1:${await freePort()}`;
  manager = await startManagerProcess(path.join(work, 'manager'), listen);
  dirs = agentDirs(path.join(work, 'agent'));
  veild = startVeild(dirs);
  await veild.waitForLog(/ready: not registered/);
  fingerprint = execFileSync(
    'openssl',
    ['x509', '-noout', '-fingerprint', '-sha256', '-in', path.join(manager.dataDir, 'ca.crt')],
    { encoding: 'utf8' },
  )
    .trim()
    .replace(/^.*Fingerprint=/i, '');
});

after(async () => {
  await veild?.stop();
  forceUnmount(guarded);
  await manager?.stop();
  removeUsers();
  if (work && !isMounted(guarded)) rmSync(work, { recursive: true, force: true });
});

describe('agent and manager end to end', () => {
  test('registration pins the manager by its CA fingerprint', async () => {
    const token = (await manager.admin().createToken({ lifetimeSeconds: 600, maxUses: 1 })).token;
    const unpinned = agentctl(dirs, ...registerArgs(manager.url, token));
    assert.equal(unpinned.status, 1);
    assert.match(unpinned.err, /VEIL_AGENT_FINGERPRINT_REQUIRED/);
    assert.ok(unpinned.err.includes(fingerprint), unpinned.err);

    const wrong = fingerprint.replace(/^[0-9A-F]/, (c) => (c === 'A' ? 'B' : 'A'));
    const mismatch = agentctl(dirs, ...registerArgs(manager.url, token, wrong));
    assert.equal(mismatch.status, 1);
    assert.match(mismatch.err, /VEIL_AGENT_FINGERPRINT_MISMATCH/);
    assert.equal((await manager.admin().hosts()).length, 0, 'nothing reached the manager');

    const registered = agentctlJson<{ hostId: string }>(
      dirs,
      ...registerArgs(manager.url, token, fingerprint.toLowerCase().replace(/:/g, '')),
    );
    const hosts = await manager.admin().hosts();
    assert.deepEqual(
      hosts.map((h) => h.hostId),
      [registered.hostId],
    );
    const again = agentctl(dirs, ...registerArgs(manager.url, token, fingerprint));
    assert.match(again.err, /VEIL_AGENT_ALREADY_REGISTERED/);
    // The host key is sealed to this machine: a copy of the state directory elsewhere (another
    // credential secret) cannot unseal it.
    assert.ok(!existsSync(path.join(dirs.state, 'host.key')));
    const sealedKey = path.join(dirs.state, 'host.key.cred');
    assert.equal(statSync(sealedKey).mode & 0o777, 0o600);
    const here = spawnSync('systemd-creds', ['decrypt', '--name=veil-host-key', sealedKey, '-'], {
      encoding: 'utf8',
    });
    assert.match(here.stdout, /BEGIN PRIVATE KEY/);
    const elsewhere = spawnSync('systemd-creds', ['decrypt', '--name=veil-host-key', sealedKey, '-'], {
      encoding: 'utf8',
      env: { ...process.env, SYSTEMD_CREDENTIAL_SECRET: path.join(work, 'another-machine.secret') },
    });
    assert.notEqual(elsewhere.status, 0);
    assert.doesNotMatch(elsewhere.stdout, /PRIVATE KEY/);
    assert.equal(status().hostKey, 'sealed');
    await eventually('the manager link', () => (status().manager?.connected ? true : undefined));
  });

  test('a guard point the manager assigns serves plaintext to its owner, ciphertext to backup, nothing to others', async () => {
    const admin = manager.admin();
    keyId = (await admin.createKey({ name: 'agent-e2e' })).keyId;
    await admin.putPolicy(policyFor(keyId));
    const hostId = status().hostId ?? '';
    await admin.addGuardPoint({ path: guarded, policy: 'agent-e2e', hostId });
    const state = await eventually('the guard point', () => {
      const g = guardState();
      return g?.status === 'guarded' ? g : undefined;
    });
    assert.deepEqual(state.keys, [`${keyId}:1`]);
    assert.ok(isMounted(guarded));

    sh(`printf 'payroll 2026' > ${guarded}/report.txt`, { user: OWNER });
    assert.equal(sh(`cat ${guarded}/report.txt`, { user: OWNER }), 'payroll 2026');
    const stored = storedBytes('report.txt');
    assert.deepEqual(stored.subarray(0, MAGIC.length), MAGIC);
    assert.ok(!stored.includes(Buffer.from('payroll')));
    const denied = shStatus(`cat ${guarded}/report.txt`, { user: OTHER });
    assert.notEqual(denied.status, 0);
    assert.match(denied.stderr, /Permission denied/);

    const held = agentctlJson<HeldKey[]>(dirs, 'keys');
    assert.deepEqual(
      held.filter((k) => k.role === 'offline').map((k) => [k.version, k.state]),
      [[1, 'active']],
      'the offline key, told apart',
    );
    const keys = dataKeys();
    assert.deepEqual(
      keys.map((k) => [k.keyId, k.version, k.state]),
      [[keyId, 1, 'active']],
    );
    assert.ok(!JSON.stringify(keys).match(/material/i));
    const shown = agentctlJson<{ policy: string; version: number }[]>(dirs, 'policy', 'show', guarded);
    assert.deepEqual(
      shown.map((p) => [p.policy, p.version]),
      [['agent-e2e', 1]],
    );
    // The denial reaches the manager as a host report, with who was refused what.
    const report = await eventually('the denial at the manager', async () => {
      const events = await admin.hostEvents(hostId, { type: 'access' });
      return events.find((e) => e.access?.effect === 'deny' && e.path === 'report.txt');
    });
    assert.equal(report.guardPoint, guarded);
    assert.equal(report.uid, Number(execFileSync('id', ['-u', OTHER], { encoding: 'utf8' })));
    // The manager shows the status the agent reported.
    await eventually('the status at the manager', () => {
      const shown = manager.cli('host', 'show', hostId);
      const host = JSON.parse(shown.out) as { guardPoints: { state: string }[] };
      return host.guardPoints[0]?.state === 'guarded' ? true : undefined;
    });
    const text = agentctl(dirs, 'status');
    assert.equal(text.status, 0);
    assert.match(
      text.out,
      new RegExp(`${guarded.replace(/[/.]/g, '\\$&')}\\s+agent-e2e v1\\s+automatic\\s+guarded`),
    );
  });

  test('a rotation reaches the agent: new files under the new version, old files rewrapped to it', async () => {
    await manager.admin().rotateKey(keyId);
    await eventually('version 2 on the host', () => {
      const keys = dataKeys();
      const states = keys.map((k) => `${k.version}:${k.state}`).sort();
      return states.join(',') === '1:deactivated,2:active' ? true : undefined;
    });
    await eventually('the policy recompiled', () =>
      guardState()?.keys.join() === `${keyId}:2` ? true : undefined,
    );
    sh(`printf 'after rotation' > ${guarded}/new.txt`, { user: OWNER });
    assert.equal(keyVersionOf(storedBytes('new.txt')), 2);
    // Live data transformation (docs/ldt.md): the older file's key is rewrapped to version 2.
    await eventually('report.txt rewrapped to version 2', () =>
      keyVersionOf(storedBytes('report.txt')) === 2 ? true : undefined,
    );
    assert.equal(sh(`cat ${guarded}/report.txt`, { user: OWNER }), 'payroll 2026');
  });

  test('a delivery veild refused, then `current` for it: veild reopens its stream and has its keys again', async () => {
    // As the host (its own key and certificate), register a transport key veild's native core does
    // not hold: the delivery the manager pushes is wrapped to it, and veild refuses it.
    const sealed = path.join(dirs.state, 'host.key.cred');
    const keyPem = existsSync(sealed)
      ? unsealHostKey(sealed)
      : readFileSync(path.join(dirs.state, 'host.key'), 'utf8');
    const asHost = new ManagerClient({
      url: manager.url,
      caPem: manager.caPem(),
      host: { keyPem, certificatePem: readFileSync(path.join(dirs.state, 'host.crt'), 'utf8') },
    });
    const foreign = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const from = veild.log().length;
    const since = (pattern: RegExp): RegExpMatchArray | undefined =>
      veild.log().slice(from).match(pattern) ?? undefined;
    await asHost.setTransportKey(String(foreign));
    const refused = await eventually('the refused delivery', () => since(/refused key delivery #(\d+)/));
    // The next sync is answered `current` for that delivery, which veild does not hold: it reopens,
    // registers its own transport key again, and the new stream's delivery is one it can open.
    const reopened = await eventually('the stream reopened', () =>
      since(new RegExp(`reopening the event stream: .*#${refused[1]}; this host holds`)),
    );
    assert.ok(reopened);
    await eventually('a delivery installed after it', () => {
      const installed = [
        ...veild
          .log()
          .slice(from)
          .matchAll(/key delivery \S+ \(#(\d+)\)/g),
      ];
      return installed.some((m) => BigInt(m[1] ?? 0) > BigInt(refused[1] ?? 0)) ? true : undefined;
    });
    assert.equal(guardState()?.status, 'guarded');
    assert.equal(sh(`cat ${guarded}/new.txt`, { user: OWNER }), 'after rotation');
  });

  test('the guard point keeps serving while the manager is down, and the link comes back', async () => {
    await manager.stop();
    await eventually('the link down', () => (status().manager?.connected === false ? true : undefined));
    assert.equal(sh(`cat ${guarded}/new.txt`, { user: OWNER }), 'after rotation');
    manager = await startManagerProcess(manager.dataDir, listen);
    await eventually('the link back', () => (status().manager?.connected ? true : undefined));
    assert.equal(guardState()?.status, 'guarded');
  });

  test('veild stops cleanly on SIGTERM and guards again when started with the manager up', async () => {
    assert.equal(await veild.stop(), 0, veild.log());
    assert.ok(!isMounted(guarded), 'released on SIGTERM');
    const raw = readFileSync(path.join(guarded, 'report.txt'));
    assert.deepEqual(raw.subarray(0, MAGIC.length), MAGIC, 'the data stays encrypted underneath');
    // Started as systemd starts it (Type=notify): READY=1 only once the guard point is up.
    const notify = await notifyReceiver(path.join(work, 'notify.sock'));
    try {
      veild = startVeild(dirs, { NOTIFY_SOCKET: notify.socket });
      const ready = await eventually('READY=1', () => notify.messages().find((m) => m.includes('READY=1')));
      assert.equal(guardState()?.status, 'guarded', 'guarded before READY=1');
      assert.match(ready, /^READY=1\nSTATUS=1 of 1 guard points guarded; manager connected$/);
    } finally {
      notify.stop();
    }
    assert.equal(sh(`cat ${guarded}/report.txt`, { user: OWNER }), 'payroll 2026');
  });

  test('no key is on disk in the clear: not in the state directory, not in the sealed key file', async () => {
    const hostId = status().hostId ?? '';
    const passwordFile = path.join(work, 'offline-password');
    writeFileSync(passwordFile, `${OFFLINE_PASSWORD}\n`);
    const set = manager.cli('host', 'offline-password', hostId, '--offline-password-file', passwordFile);
    assert.equal(set.status, 0, set.out + set.err);
    await eventually('the password wrapper and sealed keys on the host', () => {
      const offline = status().offline;
      return offline?.passwordSet && offline.sealedKeys === 2 ? true : undefined;
    });
    const wrapping = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const materials = await Promise.all(
      [1, 2].map(async (version) => {
        const exported = await manager
          .admin()
          .exportKey(keyId, version, wrapping.publicKey.export({ type: 'spki', format: 'pem' }) as string);
        return privateDecrypt(
          { key: wrapping.privateKey, oaepHash: 'sha256', padding: constants.RSA_PKCS1_OAEP_PADDING },
          Buffer.from(exported.wrapped, 'base64'),
        );
      }),
    );
    // Recursive: the rekey journals (ldt/) hold stored bytes only, never a key.
    const files = readdirSync(dirs.state, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.ok(
      files.some((e) => e.name.endsWith('.journal')),
      'a rekey journal is there to check',
    );
    for (const entry of files) {
      const name = path.relative(dirs.state, path.join(entry.parentPath, entry.name));
      const bytes = readFileSync(path.join(dirs.state, name));
      for (const material of materials) {
        for (const form of [
          material,
          Buffer.from(material.toString('base64')),
          Buffer.from(material.toString('hex')),
        ]) {
          assert.ok(!bytes.includes(form), `key material in ${name}`);
        }
      }
    }
  });

  test('restarted without its manager, the agent stays locked until the offline password unlocks it', async () => {
    await manager.stop();
    assert.equal(await veild.stop(), 0, veild.log());
    veild = startVeild(dirs);
    await eventually('the locked guard point', () => (guardState()?.status === 'locked' ? true : undefined));
    assert.ok(isMounted(guarded), 'mounted while locked: nothing lands underneath in the clear');
    assert.equal(status().locked, true);
    const refused = shStatus(`cat ${guarded}/report.txt`, { user: OWNER });
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, /Permission denied/);

    const wrongFile = path.join(work, 'wrong-password');
    writeFileSync(wrongFile, 'not the password\n');
    const wrong = agentctl(dirs, 'unlock', '--password-file', wrongFile);
    assert.equal(wrong.status, 1);
    assert.match(wrong.err, /VEIL_OFFLINE_UNLOCK_FAILED/);
    assert.equal(guardState()?.status, 'locked');

    const unlocked = agentctlJson<{ keys: number }>(
      dirs,
      'unlock',
      '--password-file',
      path.join(work, 'offline-password'),
    );
    assert.equal(unlocked.keys, 2);
    assert.equal(guardState()?.status, 'guarded');
    assert.equal(sh(`cat ${guarded}/report.txt`, { user: OWNER }), 'payroll 2026');
    sh(`printf 'written offline' > ${guarded}/offline.txt`, { user: OWNER });
    assert.equal(keyVersionOf(storedBytes('offline.txt')), 2);
    assert.match(agentctl(dirs, 'unlock', '--password-file', wrongFile).err, /VEIL_AGENT_NOT_LOCKED/);
  });

  test('a challenge answered by the manager unlocks once; the answer opens nothing after', async () => {
    assert.equal(await veild.stop(), 0, veild.log());
    veild = startVeild(dirs);
    await eventually('the locked guard point', () => (guardState()?.status === 'locked' ? true : undefined));
    // The administrator reaches the manager; the host does not (another port).
    const reachable = await startManagerProcess(manager.dataDir);
    try {
      const hostId = status().hostId ?? '';
      const respond = (challenge: string): string => {
        // As a person passes it on: the tagged form agentctl challenge prints.
        const answer = reachable.cli('host', 'respond', hostId, showChallenge(challenge));
        assert.equal(answer.status, 0, answer.err);
        return (JSON.parse(answer.out) as { response: string }).response;
      };
      const first = agentctlJson<{ challenge: string }>(dirs, 'challenge').challenge;
      const other = agentctlJson<{ challenge: string }>(dirs, 'challenge').challenge; // replaces the first
      const stale = respond(first);
      assert.match(agentctl(dirs, 'unlock', '--response', stale).err, /VEIL_OFFLINE_UNLOCK_FAILED/);
      assert.match(agentctl(dirs, 'unlock', '--response', respond(other)).err, /VEIL_OFFLINE_NO_CHALLENGE/);

      const challenge = agentctlJson<{ challenge: string }>(dirs, 'challenge').challenge;
      const response = respond(challenge);
      assert.equal(
        agentctlJson<{ keys: number }>(dirs, 'unlock', '--response', showResponse(response)).keys,
        2,
      );
      assert.equal(sh(`cat ${guarded}/offline.txt`, { user: OWNER }), 'written offline');
    } finally {
      await reachable.stop();
    }
    manager = await startManagerProcess(manager.dataDir, listen);
    await eventually('the link back', () => (status().manager?.connected ? true : undefined));
  });

  test('de-registration releases the guard point and wipes the keys; the data stays encrypted', async () => {
    const hostId = status().hostId ?? '';
    const removed = manager.cli('host', 'remove', hostId);
    assert.equal(removed.status, 0, removed.err);
    await eventually('the agent to forget', () => (status().registered ? undefined : true));
    assert.ok(!isMounted(guarded));
    assert.deepEqual(agentctlJson<HeldKey[]>(dirs, 'keys'), []);
    assert.ok(!existsSync(path.join(dirs.state, 'host.key.cred')));
    assert.deepEqual(readFileSync(path.join(guarded, 'new.txt')).subarray(0, MAGIC.length), MAGIC);
  });
});

describe('bad input', () => {
  test('a bad configuration file stops veild with a clear error', () => {
    const bad = path.join(work, 'bad.json');
    for (const [content, expected] of [
      ['{', /not JSON/],
      ['{"threads": 0}', /threads must be >= 1/],
      ['{"stateDir": "/x"}', /stateDir is not a setting/],
      ['{"stateDirectory": "relative"}', /stateDirectory must be an absolute path/],
    ] as const) {
      writeFileSync(bad, content);
      const result = spawnSync(process.execPath, [path.resolve('bin/veild.js'), '--config', bad], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(result.status, 1, content);
      assert.match(result.stderr, /VEIL_AGENT_CONFIG_INVALID/);
      assert.match(result.stderr, expected);
    }
  });

  test('agentctl without veild says so with exit status 3', () => {
    const result = agentctl({ ...dirs, socket: path.join(work, 'nowhere.sock') }, 'status');
    assert.equal(result.status, 3);
    assert.match(result.err, /VEIL_AGENT_NOT_RUNNING/);
  });

  test('agentctl guard add of a path the manager did not assign is refused', () => {
    const result = agentctl(dirs, 'guard', 'add', '/srv/nothing');
    assert.equal(result.status, 1);
    assert.match(result.err, /VEIL_AGENT_NOT_REGISTERED|VEIL_AGENT_NO_GUARD_POINT/);
  });

  test('agentctl refuses bad usage with exit status 2', () => {
    assert.equal(agentctl(dirs, 'register', '--token', 'x').status, 2);
    assert.equal(agentctl(dirs, 'frobnicate').status, 2);
    assert.equal(agentctl(dirs, '--help').status, 0);
  });
});
