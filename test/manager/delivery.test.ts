// Key delivery end to end: the real manager process pushes, over the host event stream
// (WebSocket, mutual TLS), the keys a host's guard points need, wrapped to the host's
// transport key; the native core of this process, whose transport key the host registered,
// opens every delivery. Rotation, policy change and withdrawal each arrive as a new delivery;
// a policy naming a key without a version brings every version of it not destroyed.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ManagerClient } from '../../manager-client/client.js';
import type { HostEvent, KeyView } from '../../manager-client/types.js';
import { installDelivery, keys as nativeKeys, transportPublicKey } from '../../native/core.js';
import { compilePolicy, type Policy } from '../../policies/index.js';
import { opensslCsr, startManagerProcess, type ManagerProcess } from './support.js';

const work = mkdtempSync('/var/tmp/veil-manager-delivery-');
let manager: ManagerProcess;
let host: ManagerClient;
let hostId: string;
let payroll: KeyView;
let unrelated: KeyView;
const received: HostEvent[] = [];
let stream: ReturnType<ManagerClient['events']> | undefined;

type Delivery = Extract<HostEvent, { type: 'delivery' }>;

/** The host's offline key id, from the `offline` event (docs/protocol.md, "Offline unlock"). */
function offlineKeyId(): string {
  const offline = received.find((e) => e.type === 'offline');
  assert.ok(offline?.type === 'offline', 'the offline event came');
  return offline.offlineKeyId;
}

/** Data keys only: every delivery also carries the host's offline key, installed each time. */
const dataKeys = <T extends { keyId: string }>(entries: readonly T[]): T[] =>
  entries.filter((e) => e.keyId !== offlineKeyId());

/** Waits for the next delivery after `count` of them. */
async function delivery(count: number): Promise<Delivery> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const deliveries = received.filter((e): e is Delivery => e.type === 'delivery');
    if (deliveries.length > count) return deliveries[count];
    if (Date.now() > deadline)
      throw new Error(`no delivery number ${count + 1}: ${JSON.stringify(received)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function hrPolicy(version: number) {
  return {
    name: 'hr',
    resourceSets: { all: { include: ['**'] } },
    securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
    keyRules: [{ key: { keyId: payroll.keyId, version } }],
  };
}

before(async () => {
  manager = await startManagerProcess(path.join(work, 'data'));
  const admin = manager.admin();
  payroll = await admin.createKey({ name: 'payroll' });
  unrelated = await admin.createKey({ name: 'unrelated' });
  await admin.putPolicy(hrPolicy(1));
  const { token } = await admin.createToken({ lifetimeSeconds: 600, maxUses: 1 });
  const keyFile = path.join(work, 'host.key');
  const csr = opensslCsr(keyFile, '/CN=h');
  const registered = await new ManagerClient({ url: manager.url, caPem: manager.caPem() }).register({
    token,
    csr,
    transportPublicKey: transportPublicKey(),
    hostname: 'hr-server',
  });
  hostId = registered.hostId;
  host = new ManagerClient({
    url: manager.url,
    caPem: manager.caPem(),
    host: { keyPem: readFileSync(keyFile, 'utf8'), certificatePem: registered.certificate },
  });
  await admin.addGuardPoint({ path: '/srv/hr', policy: 'hr', hostId });
});

after(async () => {
  stream?.close();
  await manager?.stop();
  for (const key of nativeKeys.list()) nativeKeys.remove(key);
  rmSync(work, { recursive: true, force: true });
});

test('on connect: the guard points with their policies, and the keys they need (and only those)', async () => {
  stream = host.events((event) => received.push(event));
  const first = await delivery(0);
  const guardPoints = received.find((e) => e.type === 'guardpoints');
  assert.deepEqual(
    guardPoints?.type === 'guardpoints' ? guardPoints.guardPoints.map((g) => [g.path, g.policy.name]) : [],
    [['/srv/hr', 'hr']],
  );
  const opened = installDelivery(Buffer.from(first.blob, 'base64'), { hostId, afterSequence: 0n });
  assert.equal(opened.sequence, BigInt(first.sequence));
  assert.equal(received[0]?.type, 'offline', 'the offline event comes before the guard points');
  assert.deepEqual(
    opened.entries.map((e) => [e.keyId, e.version, e.state, e.action]),
    [
      [offlineKeyId(), 1, 'active', 'installed'],
      [payroll.keyId, 1, 'active', 'installed'],
    ],
  );
  assert.equal(
    opened.entries.some((e) => e.keyId === unrelated.keyId),
    false,
  );
  // A delivery is opened once: the same blob again is a replay.
  assert.throws(
    () => installDelivery(Buffer.from(first.blob, 'base64'), { hostId, afterSequence: opened.sequence }),
    /VEIL_DELIVERY_REPLAYED|already/,
  );
});

test('a rotation, then a policy naming the new version: each is a new delivery the native core opens', async () => {
  const admin = manager.admin();
  const before = received.filter((e) => e.type === 'delivery').length;
  await admin.rotateKey(payroll.keyId);
  const rotated = await delivery(before);
  const afterRotation = installDelivery(Buffer.from(rotated.blob, 'base64'), {
    hostId,
    afterSequence: BigInt(rotated.sequence) - 1n,
  });
  assert.deepEqual(
    dataKeys(afterRotation.entries).map((e) => [e.version, e.state, e.action]),
    [[1, 'deactivated', 'installed']],
    'the policy still names version 1, now deactivated: it decrypts but protects nothing new',
  );
  const count = received.filter((e) => e.type === 'delivery').length;
  await admin.putPolicy(hrPolicy(2));
  const moved = await delivery(count);
  const afterPolicy = installDelivery(Buffer.from(moved.blob, 'base64'), {
    hostId,
    afterSequence: BigInt(moved.sequence) - 1n,
  });
  assert.deepEqual(
    dataKeys(afterPolicy.entries)
      .map((e) => [e.version, e.state, e.action])
      .sort(),
    [
      [1, 'deactivated', 'withdrawn'],
      [2, 'active', 'installed'],
    ],
  );
  assert.deepEqual(
    dataKeys(nativeKeys.list()).map((k) => [k.keyId, k.version, k.state]),
    [[payroll.keyId, 2, 'active']],
  );
});

/** Installs the next delivery after `count` and returns its entries, in key and version order. */
async function installNext(count: number) {
  const next = await delivery(count);
  const opened = installDelivery(Buffer.from(next.blob, 'base64'), {
    hostId,
    afterSequence: BigInt(next.sequence) - 1n,
  });
  return dataKeys(opened.entries)
    .map((e) => [e.keyId === payroll.keyId ? 'payroll' : e.keyId, e.version, e.state, e.action])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])) || Number(a[1]) - Number(b[1]));
}

const deliveries = () => received.filter((e) => e.type === 'delivery').length;

test('a policy naming a key without a version: the host gets every version not destroyed, and each rotation', async () => {
  const admin = manager.admin();
  let count = deliveries();
  await admin.putPolicy({ ...hrPolicy(1), keyRules: [{ key: { keyId: payroll.keyId } }] });
  assert.deepEqual(
    await installNext(count),
    [
      ['payroll', 1, 'deactivated', 'installed'],
      ['payroll', 2, 'active', 'installed'],
    ],
    'version 1 comes back: files written under it before must stay readable',
  );
  // What the agent does with it: the policy compiles to the active version on the host.
  const compiled = () => {
    const event = received.filter((e) => e.type === 'guardpoints').at(-1);
    const document = event?.type === 'guardpoints' ? event.guardPoints[0]?.policy.document : undefined;
    return compilePolicy(document as Policy, { knownKeys: dataKeys(nativeKeys.list()) }).keys;
  };
  assert.deepEqual(compiled(), [{ keyId: payroll.keyId, version: 2 }]);

  count = deliveries();
  await admin.rotateKey(payroll.keyId);
  assert.deepEqual(await installNext(count), [
    ['payroll', 1, 'deactivated', 'installed'],
    ['payroll', 2, 'deactivated', 'installed'],
    ['payroll', 3, 'active', 'installed'],
  ]);
  assert.deepEqual(compiled(), [{ keyId: payroll.keyId, version: 3 }], 'new files go under version 3');
});

test("while a guard point's policy uses a key, its old versions stay until the host reports them unused", async () => {
  const admin = manager.admin();
  for (const version of [1, 2, 3]) {
    await assert.rejects(admin.destroyKey(payroll.keyId, version), (error: unknown) => {
      const { code, message } = error as { code?: string; message?: string };
      assert.equal(code, 'VEIL_KEY_IN_USE');
      assert.match(
        message ?? '',
        version === 3
          ? /\/srv\/hr, whose policy names the key without a version: it is the active version/
          : new RegExp(`host hr-server \\(${hostId}\\) has not reported /srv/hr idle without it`),
      );
      return true;
    });
  }
  const shown = await admin.key(payroll.keyId);
  assert.deepEqual(
    shown.versions.map((v) => v.state),
    ['deactivated', 'deactivated', 'active'],
  );
  // Named by its version again, the key's older versions are withdrawn and may be destroyed;
  // named without a version once more, the host gets the versions left.
  let count = deliveries();
  await admin.putPolicy(hrPolicy(3));
  assert.deepEqual(await installNext(count), [
    ['payroll', 1, 'deactivated', 'withdrawn'],
    ['payroll', 2, 'deactivated', 'withdrawn'],
    ['payroll', 3, 'active', 'installed'],
  ]);
  // The policy still uses the key: version 1 goes once the host reports no file under it.
  await assert.rejects(admin.destroyKey(payroll.keyId, 1), /has not reported \/srv\/hr idle/);
  const guardPointId = (await admin.guardPoints())[0]?.guardPointId ?? '';
  await host.reportStatus([
    {
      guardPointId,
      state: 'guarded',
      transformation: {
        state: 'idle',
        filesTotal: 2,
        filesDone: 2,
        bytesTotal: 10,
        bytesDone: 10,
        etaSeconds: null,
        keyVersions: [
          { keyId: payroll.keyId, version: 2, files: 1 },
          { keyId: payroll.keyId, version: 3, files: 1 },
        ],
        plaintextFiles: 0,
      },
    },
  ]);
  count = deliveries();
  await admin.destroyKey(payroll.keyId, 1);
  assert.deepEqual(await installNext(count), [['payroll', 3, 'active', 'installed']]);
  count = deliveries();
  await admin.putPolicy({ ...hrPolicy(3), keyRules: [{ key: { keyId: payroll.keyId } }] });
  assert.deepEqual(await installNext(count), [
    ['payroll', 2, 'deactivated', 'installed'],
    ['payroll', 3, 'active', 'installed'],
  ]);
  assert.deepEqual(
    dataKeys(nativeKeys.list())
      .map((k) => [k.version, k.state])
      .sort(),
    [
      [2, 'deactivated'],
      [3, 'active'],
    ],
  );
});

test('a policy naming without a version a key the manager lacks, or whose versions are all destroyed, is refused', async () => {
  const admin = manager.admin();
  const rejected = (keyId: string, words: RegExp) =>
    assert.rejects(
      admin.putPolicy({ ...hrPolicy(3), name: 'other', keyRules: [{ key: { keyId } }] }),
      (error: unknown) => {
        const { code, message } = error as { code?: string; message?: string };
        assert.equal(code, 'VEIL_POLICY_REJECTED');
        assert.match(message ?? '', words);
        return true;
      },
    );
  const missing = '11111111-2222-4333-8444-555555555555';
  await rejected(missing, new RegExp(`names key ${missing}, which this domain does not have`));
  const retired = await admin.createKey({ name: 'retired' });
  await admin.destroyKey(retired.keyId, 1);
  await rejected(
    retired.keyId,
    new RegExp(`names key ${retired.keyId}, every version of which is destroyed`),
  );
  assert.deepEqual(
    (await admin.policies()).map((p) => p.name),
    ['hr'],
  );
});

test('the host reports its guard points; the inventory shows the report and when it last saw the host', async () => {
  const guardPointId = (await manager.admin().guardPoints())[0]?.guardPointId ?? '';
  await host.reportStatus([{ guardPointId, state: 'guarded' }]);
  const shown = await manager.admin().host(hostId);
  assert.deepEqual(
    shown.guardPoints.map((g) => [g.guardPointId, g.state]),
    [[guardPointId, 'guarded']],
  );
  assert.ok(shown.lastSeenAt !== null && Date.parse(shown.lastSeenAt) > Date.now() - 60_000);
  await assert.rejects(
    host.reportStatus([{ guardPointId: 'nope', state: 'guarded' }]),
    (error: unknown) => (error as { code?: string }).code === 'VEIL_REGISTRATION_BAD_REQUEST',
  );
});

test('certificate renewal: a lost answer is asked again with the old certificate, which stops once the new one is used', async () => {
  const clientOf = (keyFile: string, certificatePem: string): ManagerClient =>
    new ManagerClient({
      url: manager.url,
      caPem: manager.caPem(),
      host: { keyPem: readFileSync(keyFile, 'utf8'), certificatePem },
    });
  const refusedHost = (error: unknown): boolean =>
    (error as { code?: string }).code === 'VEIL_AUTH_HOST_REQUIRED';
  // The host never gets this answer: it keeps its certificate and asks again with it.
  const lostKey = path.join(work, 'lost.key');
  const lost = await host.renewCertificate(opensslCsr(lostKey, '/CN=r'));
  assert.equal((await host.self()).hostId, hostId);
  const keyFile = path.join(work, 'renewed.key');
  const renewed = await host.renewCertificate(opensslCsr(keyFile, '/CN=r'));
  assert.equal(renewed.hostId, hostId);
  await assert.rejects(clientOf(lostKey, lost.certificate).self(), refusedHost);
  assert.equal((await host.self()).hostId, hostId);

  const old = host;
  host = clientOf(keyFile, renewed.certificate);
  assert.equal((await host.self()).hostId, hostId);
  await assert.rejects(old.self(), refusedHost);
  assert.equal(
    (await manager.admin().host(hostId)).certificateSerial,
    new X509Certificate(renewed.certificate).serialNumber.toLowerCase(),
  );
});

test('de-registration tells the host, cuts its live event stream at once, and refuses its next request', async () => {
  assert.ok(stream, 'the event stream of the first test is open');
  const closed = new Promise<number>((resolve) => stream?.once('close', (code: number) => resolve(code)));
  const removed = await manager.admin().deregisterHost(hostId);
  assert.ok(removed.deregisteredAt);
  assert.equal(await closed, 4003);
  assert.equal(received.at(-1)?.type, 'deregistered');
  await assert.rejects(
    host.self(),
    (error: unknown) => (error as { code?: string }).code === 'VEIL_AUTH_HOST_REQUIRED',
  );
  const again = await new Promise<string>((resolve) => {
    const ws = host.events(
      () => resolve('an event reached a de-registered host'),
      (error) => {
        ws.terminate();
        resolve(error.code);
      },
    );
  });
  assert.equal(again, 'VEIL_AUTH_HOST_REQUIRED');
});

test('the event stream is for registered hosts only', async () => {
  const refused = await new Promise<string>((resolve) => {
    const anonymous = new ManagerClient({ url: manager.url, caPem: manager.caPem() });
    const ws = anonymous.events(
      () => resolve('an event reached an anonymous client'),
      (error) => {
        ws.terminate();
        resolve(error.code);
      },
    );
  });
  assert.equal(refused, 'VEIL_AUTH_HOST_REQUIRED');
  // Both refusals (this one, the de-registered host's above) are in the trail.
  const watcher = { name: 'stream-watcher', password: 'stream-watcher-password' };
  await manager.admin().createUser({ ...watcher, roles: ['auditor'] });
  const auditor = new ManagerClient({ url: manager.url, caPem: manager.caPem(), admin: watcher });
  const records = await auditor.auditRecords({ action: 'GET /v1/events', limit: 1000 });
  assert.deepEqual(
    records.map((r) => [r.actor, r.role, r.outcome, r.reason, r.source, r.details.status]),
    [
      [`host:${hostId}`, 'host', 'failure', 'VEIL_AUTH_HOST_REQUIRED', '127.0.0.1', 401],
      ['anonymous', 'host', 'failure', 'VEIL_AUTH_HOST_REQUIRED', '127.0.0.1', 401],
    ],
  );
});
