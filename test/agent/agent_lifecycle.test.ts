// The agent over a host's life, with real processes: certificate renewal, manual guard
// points turned on and off with agentctl, a guard point the manager withdraws, events
// followed live, a crash (SIGKILL) and the stale mount it leaves, unregistering, and a
// caller who is not root. Users, mounts and processes go away in after().
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import type { AgentStatus, GuardPointState, HeldKey } from '../../agent/control/protocol.js';
import { isMounted, sh, shStatus } from '../fs/mount_support.js';
import { startManagerProcess, type ManagerProcess } from '../manager/support.js';
import {
  AGENTCTL,
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

const OWNER = 'veiltest_lc_owner';
const OTHER = 'veiltest_lc_other';
const MAGIC = Buffer.from('895645494c0d0a1a', 'hex'); // docs/format.md

let work: string;
let automatic: string;
let manual: string;
let manager: ManagerProcess;
let dirs: AgentDirs;
let veild: VeildProcess;
let hostId: string;
let automaticId: string;

function removeUsers(): void {
  for (const user of [OWNER, OTHER]) spawnSync('userdel', [user], { stdio: 'ignore' });
}

const list = (): GuardPointState[] => agentctlJson<GuardPointState[]>(dirs, 'guard', 'list');
const stateOf = (dir: string): GuardPointState | undefined => list().find((g) => g.path === dir);
const waitFor = (dir: string, status: GuardPointState['status']): Promise<true> =>
  eventually(`${dir} ${status}`, () => (stateOf(dir)?.status === status ? true : undefined));

before(async () => {
  removeUsers();
  for (const user of [OWNER, OTHER]) execFileSync('useradd', ['--no-create-home', user]);
  work = mkdtempSync('/tmp/veil-agent-life-');
  chmodSync(work, 0o755);
  automatic = path.join(work, 'automatic');
  manual = path.join(work, 'manual');
  for (const dir of [automatic, manual]) {
    mkdirSync(dir);
    execFileSync('chown', [OWNER, dir]);
  }
  manager = await startManagerProcess(path.join(work, 'manager'));
  // Renewal due at once: a fresh certificate has 365 days.
  dirs = agentDirs(path.join(work, 'agent'), { certificateRenewalDays: 400 });
  veild = startVeild(dirs);
  await veild.waitForLog(/ready: not registered/);
  const admin = manager.admin();
  const { token } = await admin.createToken({ lifetimeSeconds: 600, maxUses: 1 });
  hostId = agentctlJson<{ hostId: string }>(
    dirs,
    ...registerArgs(manager.url, token, manager.caFingerprint),
  ).hostId;
  const { keyId } = await admin.createKey({ name: 'life' });
  await admin.putPolicy({
    name: 'life',
    resourceSets: { all: { include: ['**'] } },
    userSets: { owner: { users: [OWNER] } },
    securityRules: [
      { userSet: 'owner', actions: ['all_ops'], effect: ['permit', 'apply_key'] },
      { actions: ['all_ops'], effect: ['deny'] },
    ],
    keyRules: [{ resourceSet: 'all', key: { keyId } }],
  });
  automaticId = (await admin.addGuardPoint({ path: automatic, policy: 'life', hostId })).guardPointId;
  await admin.addGuardPoint({ path: manual, policy: 'life', hostId, automatic: false });
  await waitFor(automatic, 'guarded');
});

after(async () => {
  await veild?.stop();
  for (const dir of [automatic, manual]) if (dir) forceUnmount(dir);
  await manager?.stop();
  removeUsers();
  if (work && ![automatic, manual].some(isMounted)) rmSync(work, { recursive: true, force: true });
});

test('the host certificate is renewed when due, and the manager knows the new one', async () => {
  await veild.waitForLog(/renewed the host certificate/);
  // Read each time: renewal is due at every connection here, so a reconnect under load
  // renews again, and the manager must know whichever certificate the host holds now.
  let seen = '';
  await eventually('the new serial at the manager', async () => {
    const onHost = new X509Certificate(
      readFileSync(path.join(dirs.state, 'host.crt')),
    ).serialNumber.toLowerCase();
    const host = await manager.admin().host(hostId);
    seen = `host ${onHost}, manager ${host.certificateSerial}`;
    return host.certificateSerial === onHost ? true : undefined;
  }).catch((error: Error) => {
    throw new Error(`${error.message} (last seen: ${seen})\nveild's log:\n${veild.log()}`);
  });
  assert.equal(agentctlJson<AgentStatus>(dirs, 'status').manager?.connected, true);
});

test('a manual guard point waits for agentctl guard add, and goes with guard remove', () => {
  assert.deepEqual([stateOf(manual)?.config, stateOf(manual)?.status], ['off', 'released']);
  assert.ok(!isMounted(manual));
  const added = agentctlJson<GuardPointState>(dirs, 'guard', 'add', manual);
  assert.equal(added.status, 'guarded');
  assert.ok(isMounted(manual));
  sh(`printf 'by hand' > ${manual}/note.txt`, { user: OWNER });
  assert.equal(sh(`cat ${manual}/note.txt`, { user: OWNER }), 'by hand');

  const automaticRefused = agentctl(dirs, 'guard', 'remove', automatic);
  assert.equal(automaticRefused.status, 1);
  assert.match(automaticRefused.err, /VEIL_AGENT_GUARD_AUTOMATIC/);

  const removed = agentctlJson<GuardPointState>(dirs, 'guard', 'remove', manual);
  assert.deepEqual([removed.config, removed.status], ['off', 'released']);
  assert.ok(!isMounted(manual));
  assert.deepEqual(readFileSync(path.join(manual, 'note.txt')).subarray(0, 8), MAGIC);
  agentctlJson(dirs, 'guard', 'add', manual); // on again, for the crash below
});

test('a policy changed on the manager takes effect on the host at once, files already there included', async () => {
  // Open to all by its mode: what is refused below, the policy refuses.
  sh(`printf 'shared later' > ${automatic}/shared.txt && chmod 666 ${automatic}/shared.txt`, { user: OWNER });
  assert.match(shStatus(`cat ${automatic}/shared.txt`, { user: OTHER }).stderr, /Permission denied/);
  const admin = manager.admin();
  const policy = (await admin.policy('life')).document as { securityRules: unknown[]; userSets: object };
  await admin.putPolicy({
    ...policy,
    userSets: { ...policy.userSets, other: { users: [OTHER] } },
    securityRules: [
      { userSet: 'other', actions: ['read'], effect: ['permit', 'apply_key'] },
      ...policy.securityRules,
    ],
  });
  await eventually('version 2 of the policy on the host', () =>
    stateOf(automatic)?.policyVersion === 2 ? true : undefined,
  );
  assert.equal(sh(`cat ${automatic}/shared.txt`, { user: OTHER }), 'shared later');
  assert.match(shStatus(`printf x >> ${automatic}/shared.txt`, { user: OTHER }).stderr, /Permission denied/);
});

test('agentctl events --follow prints a denial as it happens', async () => {
  const follower = spawn(
    process.execPath,
    [AGENTCTL, '--socket', dirs.socket, 'events', '--follow', '--limit', '0'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    let out = '';
    follower.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    // --limit 0: nothing from before; so each try is refused anew until the follower,
    // once subscribed (its start takes a moment), prints one as it happens.
    await eventually('the denial line', () => {
      if (/access: .*user=veiltest_lc_other .*effect=deny/.test(out)) return true;
      assert.notEqual(shStatus(`printf x >> ${automatic}/shared.txt`, { user: OTHER }).status, 0);
      return undefined;
    });
  } finally {
    follower.kill();
  }
});

test('after a crash (SIGKILL) the next start clears the stale mounts and guards again', async () => {
  sh(`printf 'before the crash' > ${automatic}/kept.txt`, { user: OWNER });
  veild.child.kill('SIGKILL');
  await eventually('veild gone', () =>
    veild.child.exitCode !== null || veild.child.signalCode !== null ? true : undefined,
  );
  const stale = shStatus(`ls ${automatic}`);
  assert.notEqual(stale.status, 0, 'the mount is left behind, its server dead');
  veild = startVeild(dirs);
  await waitFor(automatic, 'guarded');
  await waitFor(manual, 'guarded');
  assert.equal(sh(`cat ${automatic}/kept.txt`, { user: OWNER }), 'before the crash');
  assert.equal(sh(`cat ${manual}/note.txt`, { user: OWNER }), 'by hand');
});

test('a guard point the manager withdraws is released', async () => {
  await manager.admin().removeGuardPoint(automaticId);
  await eventually('the withdrawal', () => (stateOf(automatic) === undefined ? true : undefined));
  assert.ok(!isMounted(automatic));
  assert.deepEqual(readFileSync(path.join(automatic, 'kept.txt')).subarray(0, 8), MAGIC);
  assert.ok(isMounted(manual), 'the other guard point stays');
});

test('only root drives veild', () => {
  const result = spawnSync(
    'runuser',
    ['-u', OTHER, '--', process.execPath, AGENTCTL, '--socket', dirs.socket, 'status'],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /VEIL_AGENT_PERMISSION_DENIED/);
});

test('a copy of the state directory on another machine unlocks nothing', async () => {
  assert.equal(await veild.stop(), 0, veild.log());
  const copy = agentDirs(path.join(work, 'copy'));
  cpSync(dirs.state, copy.state, { recursive: true });
  // Another machine: another credential secret, so the host key does not unseal there.
  const elsewhere = startVeild(copy, { SYSTEMD_CREDENTIAL_SECRET: path.join(work, 'other-machine.secret') });
  try {
    const status = await eventually('the copy locked', () => {
      const s = agentctlJson<AgentStatus>(copy, 'status');
      return s.guardPoints.find((g) => g.path === manual)?.status === 'locked' ? s : undefined;
    });
    assert.equal(status.locked, true);
    assert.equal(status.manager?.connected, false);
    assert.match(status.manager?.lastError ?? '', /does not unseal with this machine's credential secret/);
    const refused = shStatus(`cat ${manual}/note.txt`, { user: OWNER });
    assert.match(refused.stderr, /Permission denied/);
    assert.match(agentctl(copy, 'unlock', '--password', 'guess').err, /VEIL_AGENT_NO_OFFLINE_PASSWORD/);
  } finally {
    await elsewhere.stop();
  }
  veild = startVeild(dirs);
  await waitFor(manual, 'guarded');
  assert.equal(sh(`cat ${manual}/note.txt`, { user: OWNER }), 'by hand');
});

test('agentctl unregister releases the guard points and wipes the keys (the data stays encrypted); the host may register again', async () => {
  const result = agentctl(dirs, 'unregister');
  assert.equal(result.status, 0, result.err);
  assert.match(result.out, /veil-manager host remove/);
  const status = agentctlJson<AgentStatus>(dirs, 'status');
  assert.equal(status.registered, false);
  assert.equal(status.keys, 0);
  assert.deepEqual(agentctlJson(dirs, 'keys'), []);
  assert.ok(!isMounted(manual));
  assert.deepEqual(readFileSync(path.join(manual, 'note.txt')).subarray(0, 8), MAGIC);
  assert.deepEqual(agentctlJson(dirs, 'guard', 'list'), []);

  // The same machine registers again, as a new host, from a clean slate.
  const { token } = await manager.admin().createToken({ lifetimeSeconds: 600, maxUses: 1 });
  const again = agentctlJson<{ hostId: string }>(
    dirs,
    ...registerArgs(manager.url, token, manager.caFingerprint),
    '--hostname',
    'life-again',
  );
  assert.notEqual(again.hostId, hostId);
  // At once: the old host's delivery count does not hold the new host's first deliveries back.
  const held = await eventually(
    'the new host offline key',
    () => {
      const keys = agentctlJson<HeldKey[]>(dirs, 'keys');
      return keys.length > 0 ? keys : undefined;
    },
    15_000,
  );
  assert.deepEqual(
    held.map((k) => k.role),
    ['offline'],
  );
  await eventually('the new link', () =>
    agentctlJson<AgentStatus>(dirs, 'status').manager?.connected ? true : undefined,
  );
});
