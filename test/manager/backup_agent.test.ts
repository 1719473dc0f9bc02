// What the backup is for, end to end with real processes: a veild registered with the
// manager guards a directory and its owner writes through it; the manager is backed up and
// then lost with its data directory; the backup restored onto a fresh directory and served
// on the same address is the manager the agent knew — the mutual TLS link comes back, a
// rotation made there reaches the agent, and the data written before the backup reads back
// in the clear, with keys the restored manager delivered to a restarted veild.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';

import type { AgentStatus, GuardPointState, HeldKey } from '../../agent/control/protocol.js';
import { isMounted, sh } from '../fs/mount_support.js';
import {
  agentctlJson,
  agentDirs,
  eventually,
  forceUnmount,
  registerArgs,
  startVeild,
  type AgentDirs,
  type VeildProcess,
} from '../agent/support.js';
import { cliJson, policyFor, veilManager } from './backup_support.js';
import { startManagerProcess, type ManagerProcess } from './support.js';

const OWNER = 'veilbk_owner';

let work: string;
let guarded: string;
let dirs: AgentDirs;
let veild: VeildProcess | undefined;
let manager: ManagerProcess | undefined;

const status = (): AgentStatus => agentctlJson<AgentStatus>(dirs, 'status');
const guardState = (): GuardPointState | undefined => status().guardPoints.find((g) => g.path === guarded);
const dataKeys = (): HeldKey[] => agentctlJson<HeldKey[]>(dirs, 'keys').filter((k) => k.role === 'data');
const guardedNow = () => (guardState()?.status === 'guarded' ? true : undefined);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(() => {
  spawnSync('userdel', [OWNER], { stdio: 'ignore' });
  execFileSync('useradd', ['--no-create-home', OWNER]);
  work = mkdtempSync('/tmp/veil-backup-agent-');
  chmodSync(work, 0o755); // the owner walks through it
  guarded = path.join(work, 'guarded');
  mkdirSync(guarded);
  execFileSync('chown', [OWNER, guarded]);
  dirs = agentDirs(path.join(work, 'agent'));
});

after(async () => {
  try {
    await veild?.stop();
    forceUnmount(guarded);
    await manager?.stop();
  } finally {
    spawnSync('userdel', [OWNER], { stdio: 'ignore' });
    if (work && !isMounted(guarded)) rmSync(work, { recursive: true, force: true });
  }
});

/** The sequence numbers of the deliveries veild installed, as its log says, after `from`. */
const deliveries = (from = 0): number[] =>
  [...(veild?.log() ?? '').slice(from).matchAll(/key delivery \S+ \(#(\d+)\)/g)].map((m) => Number(m[1]));

test('a host registered before the backup keeps working with the restored manager, and its data decrypts', async () => {
  const listen = `127.0.0.1:${await freePort()}`;
  const lost = path.join(work, 'manager-lost');
  manager = await startManagerProcess(lost, listen);
  const fingerprint = manager.caFingerprint;
  veild = startVeild(dirs);
  await veild.waitForLog(/ready: not registered/);
  const { token } = await manager.admin().createToken({ lifetimeSeconds: 600, maxUses: 1 });
  const { hostId } = agentctlJson<{ hostId: string }>(dirs, ...registerArgs(manager.url, token, fingerprint));
  await eventually('the manager link', () => (status().manager?.connected ? true : undefined));
  const admin = manager.admin();
  const { keyId } = await admin.createKey({ name: 'backed-up' });
  await admin.putPolicy(policyFor('backed-up', keyId, [OWNER]));
  await admin.addGuardPoint({ path: guarded, policy: 'backed-up', hostId });
  await eventually('the guard point', guardedNow);
  sh(`printf 'written before the backup' > ${guarded}/before.txt`, { user: OWNER });

  const passphrase = path.join(work, 'passphrase');
  writeFileSync(passphrase, 'a passphrase for the agent test\n');
  const [keyFile, backup] = [path.join(work, 'key.json'), path.join(work, 'manager.vbk')];
  cliJson(
    manager.cli(
      'backup',
      'create',
      '--out',
      backup,
      '--new-key-out',
      keyFile,
      '--passphrase-file',
      passphrase,
    ),
  );
  // Deliveries after the backup: the host holds sequence numbers the backup's manager never reached.
  const before = deliveries().length;
  for (let i = 0; i < 3; i++) await admin.putPolicy(policyFor('backed-up', keyId, [OWNER]));
  await eventually('three deliveries after the backup', () =>
    deliveries().length >= before + 3 ? true : undefined,
  );
  const heldAtLoss = Math.max(...deliveries());
  // The manager is lost, its data directory with it.
  await manager.stop();
  manager = undefined;
  rmSync(lost, { recursive: true, force: true });
  await eventually('the link down', () => (status().manager?.connected === false ? true : undefined));

  const restoredDir = path.join(work, 'manager-restored');
  const restored = veilManager(
    'backup',
    'restore',
    '--in',
    backup,
    '--key-file',
    keyFile,
    '--passphrase-file',
    passphrase,
    '--data-dir',
    restoredDir,
  );
  assert.equal(restored.status, 0, restored.err);
  const logAtRestore = veild.log().length;
  manager = await startManagerProcess(restoredDir, listen);
  assert.equal(manager.caFingerprint, fingerprint);
  await eventually('the link to the restored manager', () =>
    status().manager?.connected ? true : undefined,
  );
  // The restored manager's first delivery is numbered above what the host holds, and taken.
  await eventually('a delivery from the restored manager', () =>
    deliveries(logAtRestore).length > 0 ? true : undefined,
  );
  assert.ok(Math.min(...deliveries(logAtRestore)) > heldAtLoss);
  assert.doesNotMatch(veild.log().slice(logAtRestore), /refused key delivery/);
  assert.equal(guardState()?.status, 'guarded');

  await manager.admin().rotateKey(keyId);
  await eventually('the rotation on the host', () =>
    dataKeys()
      .map((k) => `${k.version}:${k.state}`)
      .sort()
      .join() === '1:deactivated,2:active'
      ? true
      : undefined,
  );
  // A restarted veild holds no key until a manager delivers it: this one can only be restored.
  assert.equal(await veild.stop(), 0, veild.log());
  assert.ok(!isMounted(guarded));
  veild = startVeild(dirs);
  await eventually('the guard point again', guardedNow);
  assert.equal(sh(`cat ${guarded}/before.txt`, { user: OWNER }), 'written before the backup');
  sh(`printf 'after the restore' > ${guarded}/after.txt`, { user: OWNER });
  assert.equal(sh(`cat ${guarded}/after.txt`, { user: OWNER }), 'after the restore');
  assert.deepEqual(
    (await manager.admin().hosts()).map((h) => h.hostId),
    [hostId],
  );
});
