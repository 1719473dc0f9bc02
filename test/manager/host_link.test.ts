// What the host agent needs of the manager, against the real manager process over TLS: the
// CA fetched before anything is trusted (and its fingerprint as openssl prints it), a new
// transport key at every agent start, a resync asked for on the event stream, and the
// events a host reports, stored once each and read back by an administrator.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import Database from 'better-sqlite3';
import type { WebSocket } from 'ws';

import { fetchManagerCa, ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';
import type { HostEvent, HostReport, HostReportRecord } from '../../manager-client/types.js';
import { decodePayload, openDelivery, STATE_CODES } from '../../manager/delivery/delivery_blob.js';
import {
  MAX_STREAM_OPENS_PER_MINUTE,
  MAX_STREAMS_PER_HOST,
  MIN_RESYNC_INTERVAL_MS,
} from '../../manager/server/events.js';
import {
  hostClient,
  MANAGER_CLI,
  registerHostByHand,
  startManagerProcess,
  type ManagerProcess,
} from './support.js';

const work = mkdtempSync('/var/tmp/veil-manager-host-link-');
const dataDir = path.join(work, 'data');
let manager: ManagerProcess;
let host: ManagerClient;
let hostId: string;
let hostKeyPem: string;
let hostCertificatePem: string;

type Delivery = Extract<HostEvent, { type: 'delivery' }>;

function transportPair(bits = 3072): { publicPem: string; privateKey: KeyObject } {
  const pair = generateKeyPairSync('rsa', { modulusLength: bits });
  return {
    publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    privateKey: pair.privateKey,
  };
}

const firstTransport = transportPair();

function refusedWith(code: string, text?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ManagerError, String(error));
    assert.equal(error.code, code, error.message);
    if (text) assert.match(error.message, text);
    return true;
  };
}

/** An event stream of the host, with what it received and how it closed. */
interface Stream {
  ws: WebSocket;
  events: HostEvent[];
  closed: Promise<{ code: number; reason: string }>;
}

function openStream(client = host): Stream {
  const events: HostEvent[] = [];
  const ws = client.events((event) => events.push(event));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') })),
  );
  return { ws, events, closed };
}

async function eventually<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits until the stream has received `count` events. */
const received = (stream: Stream, count: number): Promise<HostEvent[]> =>
  eventually(`${count} events`, () =>
    stream.events.length >= count ? stream.events.slice(0, count) : undefined,
  );

const asDelivery = (event: HostEvent | undefined): Delivery => {
  assert.equal(event?.type, 'delivery');
  return event;
};

const opensWith = (delivery: Delivery, key: KeyObject): boolean => {
  try {
    openDelivery(Buffer.from(delivery.blob, 'base64'), key);
    return true;
  } catch {
    return false;
  }
};

/** A host request with a body the typed client would not send. */
function rawHostRequest(
  method: string,
  urlPath: string,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(urlPath, manager.url),
      {
        method,
        ca: [manager.caPem()],
        key: hostKeyPem,
        cert: hostCertificatePem,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface RegisteredHost {
  client: ManagerClient;
  id: string;
  keyPem: string;
  certificatePem: string;
}

async function registerHost(name: string, transportPublicKey: string): Promise<RegisteredHost> {
  const host = await registerHostByHand(manager, path.join(work, `${name}.key`), name, transportPublicKey);
  return { ...host, client: hostClient(manager, host) };
}

before(async () => {
  manager = await startManagerProcess(dataDir);
  const admin = manager.admin();
  const key = await admin.createKey({ name: 'payroll' });
  await admin.putPolicy({
    name: 'hr',
    resourceSets: { all: { include: ['**'] } },
    securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
    keyRules: [{ key: { keyId: key.keyId, version: 1 } }],
  });
  const registered = await registerHost('hr-server', firstTransport.publicPem);
  ({ client: host, id: hostId, keyPem: hostKeyPem, certificatePem: hostCertificatePem } = registered);
  await admin.addGuardPoint({ path: '/srv/hr', policy: 'hr', hostId });
});

after(async () => {
  await manager?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the CA, before anything is trusted', () => {
  test('GET /v1/ca answers the CA and its fingerprint exactly as openssl prints it', async () => {
    const caFile = path.join(dataDir, 'ca.crt');
    const openssl = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', caFile], {
      encoding: 'utf8',
    })
      .trim()
      .replace(/^sha256 Fingerprint=/i, '');
    assert.match(openssl, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const fetched = await fetchManagerCa(manager.url);
    assert.equal(fetched.fingerprint, openssl);
    assert.equal(fetched.certificate.trim(), readFileSync(caFile, 'utf8').trim());
    assert.equal(manager.caFingerprint, openssl, 'the startup line carries it too');
    // Pinned: the right fingerprint in any spelling is taken, another one refused.
    const plain = openssl.replaceAll(':', '').toLowerCase();
    assert.equal((await fetchManagerCa(manager.url, { expectedFingerprint: plain })).fingerprint, openssl);
    await assert.rejects(
      fetchManagerCa(manager.url, { expectedFingerprint: 'AB'.repeat(32) }),
      refusedWith('VEIL_MANAGER_CA_MISMATCH', /not the one expected/),
    );
    // A client that already trusts the CA gets the same answer.
    assert.deepEqual(await new ManagerClient({ url: manager.url, caPem: manager.caPem() }).ca(), {
      certificate: manager.caPem(),
      fingerprint: openssl,
    });
  });

  test('`ca show` reads only the data directory; `serve` prints the fingerprint on start', async () => {
    // Only ca.crt, no store, no master key, no server: what `ca show` needs.
    const copy = path.join(work, 'ca-only');
    mkdirSync(copy);
    copyFileSync(path.join(dataDir, 'ca.crt'), path.join(copy, 'ca.crt'));
    const shown = spawnSync(process.execPath, [MANAGER_CLI, 'ca', 'show', '--data-dir', copy, '--json'], {
      encoding: 'utf8',
    });
    assert.equal(shown.status, 0, shown.stderr);
    const info = JSON.parse(shown.stdout) as { fingerprint: string; subject: string; notAfter: string };
    assert.equal(info.fingerprint, manager.caFingerprint);
    assert.match(info.subject, /^CN=Veil manager CA [0-9a-f]{8}, O=Veil$/);
    assert.ok(Date.parse(info.notAfter) > Date.now());
    const human = spawnSync(process.execPath, [MANAGER_CLI, 'ca', 'show', '--data-dir', copy], {
      encoding: 'utf8',
    });
    assert.match(human.stdout, new RegExp(`^fingerprint \\(SHA-256\\): ${manager.caFingerprint}$`, 'm'));
    assert.match(human.stdout, /^valid from \S+ until \S+$/m);
    const missing = spawnSync(process.execPath, [MANAGER_CLI, 'ca', 'show', '--data-dir', work], {
      encoding: 'utf8',
    });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /VEIL_CA_UNUSABLE/);

    const other = path.join(work, 'other-manager');
    const serve = spawn(
      process.execPath,
      [MANAGER_CLI, 'serve', '--data-dir', other, '--listen', '127.0.0.1:0'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    try {
      let out = '';
      serve.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      await eventually('the startup lines', () => (out.split('\n').length > 3 ? out : undefined));
      const fingerprint = execFileSync(
        'openssl',
        ['x509', '-noout', '-fingerprint', '-sha256', '-in', path.join(other, 'ca.crt')],
        { encoding: 'utf8' },
      )
        .trim()
        .replace(/^.*Fingerprint=/, '');
      assert.match(out, /^veil-manager: listening on https:\/\/127\.0\.0\.1:\d+ /);
      assert.ok(out.includes(`\nveil-manager: CA fingerprint (SHA-256): ${fingerprint}\n`), out);
    } finally {
      const exited = new Promise((resolve) => serve.once('exit', resolve));
      serve.kill('SIGTERM');
      await exited;
    }
  });
});

describe('a new transport key at every agent start', () => {
  test('checked as at registration; the open stream gets a delivery wrapped to it; the sequence keeps growing', async () => {
    const stream = openStream();
    const [offline, guardPoints, first] = await received(stream, 3);
    assert.equal(offline?.type, 'offline', 'the offline unlock data comes first');
    assert.equal(guardPoints?.type, 'guardpoints');
    const firstDelivery = asDelivery(first);
    assert.ok(opensWith(firstDelivery, firstTransport.privateKey));

    // Refused exactly as registration refuses them, and nothing changes.
    const weak = transportPair(2048);
    await assert.rejects(
      host.setTransportKey(weak.publicPem),
      refusedWith('VEIL_REGISTRATION_BAD_TRANSPORT_KEY'),
    );
    await assert.rejects(host.setTransportKey('garbage'), refusedWith('VEIL_REGISTRATION_BAD_TRANSPORT_KEY'));
    await assert.rejects(host.setTransportKey(42 as never), refusedWith('VEIL_REGISTRATION_BAD_REQUEST'));
    await assert.rejects(host.setTransportKey(''), refusedWith('VEIL_REGISTRATION_BAD_REQUEST'));
    const array = await rawHostRequest('PUT', '/v1/hosts/self/transport-key', '[]');
    assert.equal(array.status, 400);
    assert.match(array.text, /VEIL_REGISTRATION_BAD_REQUEST/);
    await assert.rejects(
      new ManagerClient({ url: manager.url, caPem: manager.caPem() }).setTransportKey(
        firstTransport.publicPem,
      ),
      refusedWith('VEIL_AUTH_HOST_REQUIRED'),
    );
    assert.equal(stream.events.length, 3, 'a refused key sends nothing');

    const next = transportPair();
    const view = await host.setTransportKey(next.publicPem);
    assert.equal(view.hostId, hostId);
    const [, , , pushed] = await received(stream, 4);
    const delivery = asDelivery(pushed);
    assert.equal(BigInt(delivery.sequence), BigInt(firstDelivery.sequence) + 1n);
    assert.ok(opensWith(delivery, next.privateKey), 'wrapped to the new key');
    assert.ok(!opensWith(delivery, firstTransport.privateKey), 'and not to the old one');

    // Stored: a new stream (as after the agent's restart) gets deliveries for the new key.
    stream.ws.close();
    const again = openStream();
    const [, , reconnected] = await received(again, 3);
    assert.equal(BigInt(asDelivery(reconnected).sequence), BigInt(delivery.sequence) + 1n);
    assert.ok(opensWith(asDelivery(reconnected), next.privateKey));
    again.ws.close();
    // Back to the first key, for the tests that follow.
    await host.setTransportKey(firstTransport.publicPem);
  });
});

let auditing: ManagerClient | undefined;

/** A client of an administrator with the auditor role (made on first use). */
async function auditorClient(): Promise<ManagerClient> {
  if (auditing) return auditing;
  const watcher = { name: 'stream-watcher', password: 'stream-watcher-password' };
  await manager.admin().createUser({ ...watcher, roles: ['auditor'] });
  auditing = new ManagerClient({ url: manager.url, caPem: manager.caPem(), admin: watcher });
  return auditing;
}

describe('resync on the event stream', () => {
  test('{"type":"sync"}: everything again on a stream behind the last delivery, `current` on one that has it', async () => {
    const auditor = await auditorClient();
    const stream = openStream();
    const [, , first] = await received(stream, 3);
    // The second stream's connect makes a newer delivery, which the first stream has not had.
    const other = openStream();
    const [, , second] = await received(other, 3);
    assert.ok(BigInt(asDelivery(second).sequence) > BigInt(asDelivery(first).sequence));
    stream.ws.send(JSON.stringify({ type: 'sync' }));
    const [, , , offline, guardPoints, delivery] = await received(stream, 6);
    assert.equal(offline?.type, 'offline');
    assert.equal(guardPoints?.type, 'guardpoints');
    assert.deepEqual(guardPoints?.type === 'guardpoints' ? guardPoints.guardPoints.map((g) => g.path) : [], [
      '/srv/hr',
    ]);
    assert.ok(BigInt(asDelivery(delivery).sequence) > BigInt(asDelivery(second).sequence));
    assert.ok(opensWith(asDelivery(delivery), firstTransport.privateKey));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(other.events.length, 3, 'only the stream that asked');
    // Now the stream has the host's last delivery, and nothing changed: `current`, no delivery.
    const [newest] = await auditor.auditRecords({ newest: true, limit: 1 });
    stream.ws.send(JSON.stringify({ type: 'sync' }));
    const [, , , , , , current] = await received(stream, 7);
    assert.deepEqual(current, { type: 'current', sequence: asDelivery(delivery).sequence });
    // The other stream is behind now: everything again.
    other.ws.send(JSON.stringify({ type: 'sync' }));
    const [, , , , , otherDelivery] = await received(other, 6);
    assert.ok(BigInt(asDelivery(otherDelivery).sequence) > BigInt(asDelivery(delivery).sequence));
    const deliveries = await auditor.auditRecords({ after: newest?.seq ?? 0, action: 'host.delivery' });
    assert.equal(deliveries.length, 1, 'the `current` answer records no delivery');
    stream.ws.close();
    other.ws.close();
  });

  test('a change the stream was not sent (a lost push) makes the next sync bring everything again', async () => {
    const [payroll] = await manager.admin().keys();
    // Changed in the store under the manager, as a push that could not be recorded would leave it.
    const underTheManager = (sql: string, ...values: unknown[]): void => {
      const db = new Database(path.join(dataDir, 'manager.db'));
      try {
        db.prepare(sql).run(...values);
      } finally {
        db.close();
      }
    };
    const changes: {
      what: string;
      make: () => void;
      undo: () => void;
      seen: (events: HostEvent[]) => void;
    }[] = [
      {
        what: 'a key version suspended',
        make: () =>
          underTheManager(
            "UPDATE key_versions SET state = 'suspended' WHERE key_id = ? AND version = 1",
            payroll?.keyId,
          ),
        undo: () =>
          underTheManager(
            "UPDATE key_versions SET state = 'active' WHERE key_id = ? AND version = 1",
            payroll?.keyId,
          ),
        seen: ([, , delivery]) => {
          const opened = openDelivery(
            Buffer.from(asDelivery(delivery).blob, 'base64'),
            firstTransport.privateKey,
          );
          assert.deepEqual(
            decodePayload(opened.payload)
              .filter((e) => e.keyId === payroll?.keyId)
              .map((e) => [e.version, e.state]),
            [[1, STATE_CODES.suspended]],
          );
        },
      },
      {
        what: 'a guard point moved',
        make: () => underTheManager("UPDATE guard_points SET path = '/srv/hr-moved' WHERE path = '/srv/hr'"),
        undo: () => underTheManager("UPDATE guard_points SET path = '/srv/hr' WHERE path = '/srv/hr-moved'"),
        seen: ([, guardPoints]) =>
          assert.deepEqual(
            guardPoints?.type === 'guardpoints' ? guardPoints.guardPoints.map((g) => g.path) : [],
            ['/srv/hr-moved'],
          ),
      },
    ];
    const stream = openStream();
    await received(stream, 3);
    const sync = async (): Promise<HostEvent[]> => {
      const from = stream.events.length;
      stream.ws.send(JSON.stringify({ type: 'sync' }));
      await received(stream, from + 1);
      const first = stream.events[from];
      return first?.type === 'current' ? [first] : (await received(stream, from + 3)).slice(from);
    };
    assert.equal((await sync())[0]?.type, 'current');
    for (const change of changes) {
      change.make();
      try {
        const answer = await sync();
        assert.deepEqual(
          answer.map((e) => e.type),
          ['offline', 'guardpoints', 'delivery'],
          change.what,
        );
        change.seen(answer);
      } finally {
        change.undo();
      }
      assert.equal((await sync()).length, 3, `${change.what}, undone: everything again`);
      assert.equal((await sync())[0]?.type, 'current', `${change.what}, undone`);
    }
    stream.ws.close();
  });

  test('a flood of syncs is answered once a second, and the last one is not lost', async () => {
    const auditor = await auditorClient();
    const [newest] = await auditor.auditRecords({ newest: true, limit: 1 });
    const audited = async (): Promise<number> =>
      (await auditor.auditRecords({ after: newest?.seq ?? 0, action: 'host.delivery', limit: 1000 })).length;
    const stream = openStream();
    const [, , delivery] = await received(stream, 3);
    const current = { type: 'current', sequence: asDelivery(delivery).sequence };
    // Within a second of the connect: all answered together, at its end.
    for (let i = 0; i < 50; i++) stream.ws.send(JSON.stringify({ type: 'sync' }));
    assert.deepEqual((await received(stream, 4))[3], current);
    await new Promise((resolve) => setTimeout(resolve, MIN_RESYNC_INTERVAL_MS * 1.5));
    assert.equal(stream.events.length, 4, 'one answer for the 50 syncs');
    // Later than a second after it: the first is answered at once, the 49 after it together.
    for (let i = 0; i < 50; i++) stream.ws.send(JSON.stringify({ type: 'sync' }));
    await received(stream, 5);
    await new Promise((resolve) => setTimeout(resolve, MIN_RESYNC_INTERVAL_MS * 2));
    assert.equal(stream.events.length, 6);
    assert.deepEqual(stream.events.slice(4), [current, current]);
    assert.equal(await audited(), 1, 'the connect alone made a delivery');
    stream.ws.close();
  });

  for (const [what, message] of [
    ['not JSON', 'sync please'],
    ['an unknown type', JSON.stringify({ type: 'resend' })],
    ['a sync with more fields', JSON.stringify({ type: 'sync', since: 3 })],
    ['JSON that is not an object', '"sync"'],
    ['more than 1 KiB', JSON.stringify({ type: 'sync', padding: 'x'.repeat(1100) })],
    ['a binary message', Buffer.from(JSON.stringify({ type: 'sync' }))],
  ] as const) {
    test(`${what} closes the stream with 1008 and a reason`, async () => {
      const stream = openStream();
      await received(stream, 3);
      stream.ws.send(message);
      const closed = await stream.closed;
      assert.equal(closed.code, 1008);
      assert.ok(closed.reason.length > 0);
      assert.equal(stream.events.length, 3);
    });
  }
});

describe('event streams per host', () => {
  test('at most 4 at once (the oldest is closed), at most 30 opened a minute (then 429, recorded once)', async () => {
    const flooder = await registerHost('stream-flooder', firstTransport.publicPem);
    const held: Stream[] = [];
    for (let i = 0; i <= MAX_STREAMS_PER_HOST; i++) {
      const stream = openStream(flooder.client);
      await received(stream, 3);
      held.push(stream);
    }
    const oldest = await held[0]?.closed;
    assert.equal(oldest?.code, 4008, oldest?.reason);
    assert.ok(held.slice(1).every((stream) => stream.ws.readyState === stream.ws.OPEN));
    for (const stream of held) stream.ws.close();

    for (let i = held.length; i < MAX_STREAM_OPENS_PER_MINUTE; i++) {
      const stream = openStream(flooder.client);
      await received(stream, 3);
      stream.ws.close();
    }
    const refusal = (): Promise<string> =>
      new Promise((resolve) => {
        const ws = flooder.client.events(
          () => resolve('an event reached a host past its streams of the minute'),
          (error) => {
            ws.terminate();
            resolve(error.code);
          },
        );
      });
    assert.equal(await refusal(), 'VEIL_HOST_TOO_MANY_STREAMS');
    assert.equal(await refusal(), 'VEIL_HOST_TOO_MANY_STREAMS');
    // The refusal says when the minute is over (Retry-After, in seconds).
    const retryAfter = await new Promise<string | undefined>((resolve, reject) => {
      const req = request(new URL('/v1/events', manager.url), {
        ca: [manager.caPem()],
        key: flooder.keyPem,
        cert: flooder.certificatePem,
        agent: false,
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': randomBytes(16).toString('base64'),
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode === 429 ? res.headers['retry-after'] : `status ${res.statusCode}`);
      });
      req.on('upgrade', () => reject(new Error('upgraded past the streams of the minute')));
      req.on('error', reject);
      req.end();
    });
    assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, retryAfter);
    const records = await (
      await auditorClient()
    ).auditRecords({ action: 'GET /v1/events', outcome: 'failure', limit: 1000 });
    assert.deepEqual(
      records.filter((r) => r.actor === `host:${flooder.id}`).map((r) => [r.reason, r.details.status]),
      [['VEIL_HOST_TOO_MANY_STREAMS', 429]],
    );
    // Other hosts are not held back.
    const other = openStream();
    await received(other, 3);
    other.ws.close();
  });
});

describe('events reported by hosts', () => {
  const at = (seconds: number) => new Date(Date.parse('2026-11-26T12:00:00Z') + seconds * 1000).toISOString();
  const denial = (seconds: number, overrides: Partial<HostReport> = {}): HostReport => ({
    eventId: randomUUID(),
    time: at(seconds),
    type: 'access',
    guardPoint: '/srv/hr',
    path: 'payroll/march 2026.txt',
    message: 'no rule matched',
    uid: 1001,
    pid: 4242,
    access: {
      policy: 'hr',
      digest: 'ab'.repeat(32),
      rule: null,
      action: 'read',
      effect: 'deny',
      applyKey: false,
      learned: false,
      gid: 1001,
      executable: '/usr/bin/cat',
    },
    ...overrides,
  });
  const tamper = (seconds: number): HostReport => ({
    eventId: randomUUID(),
    time: at(seconds),
    type: 'tamper',
    guardPoint: '/srv/hr',
    path: 'ledger.db',
    code: 'VEIL_CRYPTO_AUTH_FAILED',
    message: 'block 3 did not authenticate',
    uid: 0,
    pid: 77,
  });
  const stored = async (): Promise<HostReportRecord[]> => manager.admin().hostEvents(hostId, { limit: 1000 });

  test('a batch is stored, each event once by its id; the admin reads them newest first', async () => {
    const batch = [
      denial(1),
      tamper(3),
      { ...tamper(2), type: 'key-unavailable' as const, code: 'VEIL_KEY_NOT_FOUND' },
    ];
    assert.deepEqual(await host.reportEvents(batch), { accepted: 3, duplicates: 0 });
    assert.deepEqual(await host.reportEvents(batch), { accepted: 0, duplicates: 3 }, 'a batch sent again');
    const upper = { ...denial(4), eventId: batch[0]?.eventId.toUpperCase() ?? '' };
    const fresh = denial(5, { path: 'a.txt', access: { ...batch[0].access!, effect: 'permit', rule: 2 } });
    assert.deepEqual(await host.reportEvents([upper, fresh]), { accepted: 1, duplicates: 1 });

    const all = await stored();
    assert.deepEqual(
      all.map((e) => e.time),
      [at(5), at(3), at(2), at(1)],
    );
    assert.ok(all.every((e) => e.hostId === hostId && Date.parse(e.receivedAt) > Date.now() - 60_000));
    assert.deepEqual(all[3], { ...batch[0], hostId, receivedAt: all[3]?.receivedAt });
    const admin = manager.admin();
    assert.deepEqual(
      (await admin.hostEvents(hostId, { limit: 2 })).map((e) => e.time),
      [at(5), at(3)],
    );
    assert.deepEqual(
      (await admin.hostEvents(hostId, { type: 'tamper' })).map((e) => e.code),
      ['VEIL_CRYPTO_AUTH_FAILED'],
    );

    // Another host's event of the same id is its own.
    const second = await registerHost('hr-backup', transportPair().publicPem);
    assert.deepEqual(await second.client.reportEvents([batch[1]]), { accepted: 1, duplicates: 0 });
    assert.equal((await admin.hostEvents(second.id)).length, 1);
    assert.equal((await stored()).length, 4);
  });

  test('a bad batch is refused whole with the first bad field by JSON pointer, and stores nothing', async () => {
    const before = (await stored()).length;
    const good = denial(10);
    const cases: [unknown, RegExp][] = [
      [{ events: [good, { ...denial(11), message: 'x'.repeat(1025) }] }, /\/events\/1\/message: .*1024/],
      [{ events: [good, { ...denial(11), uid: -1 }] }, /\/events\/1\/uid: /],
      [{ events: [good, { ...denial(11), pid: 1.5 }] }, /\/events\/1\/pid: must be a whole number/],
      [{ events: [{ ...good, time: '2026-02-30T00:00:00Z' }] }, /\/events\/0\/time: .*ISO 8601/],
      [{ events: [{ ...good, eventId: 'not-a-uuid' }] }, /\/events\/0\/eventId: must be a UUID/],
      [{ events: [{ ...good, type: 'denied' }] }, /\/events\/0\/type: must be one of access, tamper/],
      [{ events: [{ ...good, guardPoint: 'srv/hr' }] }, /\/events\/0\/guardPoint: must be an absolute path/],
      [{ events: [{ ...good, path: '/etc/passwd' }] }, /\/events\/0\/path: must be a path relative/],
      [{ events: [{ ...good, path: 'x'.repeat(4097) }] }, /\/events\/0\/path: .*4096/],
      [{ events: [{ ...good, extra: true }] }, /\/events\/0\/extra: is not a field here/],
      [
        { events: [{ ...good, access: { ...good.access, rule: 'first' } }] },
        /\/events\/0\/access\/rule: .*or null/,
      ],
      [{ events: [{ ...good, access: undefined }] }, /\/events\/0\/access: is missing/],
      [{ events: [{ ...tamper(1), access: good.access }] }, /\/events\/0\/access: only an access event/],
      [{ events: [{ ...good, message: undefined }] }, /\/events\/0\/message: is missing/],
      [{ events: [] }, /\/events: must hold 1 to 500 events/],
      [{ events: Array.from({ length: 501 }, () => denial(1)) }, /\/events: must hold 1 to 500 events/],
      [{ events: [good], more: 1 }, /\/more: is not a field here/],
      [[good], /\/: must be an object/],
    ];
    for (const [body, message] of cases) {
      const answer = await rawHostRequest('POST', '/v1/hosts/self/events', JSON.stringify(body));
      assert.equal(answer.status, 400, answer.text);
      const { error } = JSON.parse(answer.text) as { error: { code: string; message: string } };
      assert.equal(error.code, 'VEIL_HOST_REPORT_BAD_REQUEST');
      assert.match(error.message, message);
    }
    // A batch of 4 MiB or more is too large for the manager to read.
    const huge = Array.from({ length: 500 }, () =>
      denial(1, { path: 'é'.repeat(4096), message: 'x'.repeat(1024) }),
    );
    const tooLarge = await rawHostRequest('POST', '/v1/hosts/self/events', JSON.stringify({ events: huge }));
    assert.equal(tooLarge.status, 413);
    assert.match(tooLarge.text, /VEIL_REQUEST_TOO_LARGE/);
    // But 500 events of the usual size are one batch.
    const full = Array.from({ length: 500 }, (_, i) => denial(100 + i));
    assert.deepEqual(await host.reportEvents(full), { accepted: 500, duplicates: 0 });
    assert.equal((await stored()).length, before + 500);
    assert.equal(
      (await stored()).some((e) => e.eventId === good.eventId),
      false,
    );
  });

  test('only a registered host reports; only an administrator reads; queries are checked', async () => {
    await assert.rejects(
      new ManagerClient({ url: manager.url, caPem: manager.caPem() }).reportEvents([denial(1)]),
      refusedWith('VEIL_AUTH_HOST_REQUIRED'),
    );
    await assert.rejects(host.hostEvents(hostId), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
    const admin = manager.admin();
    await assert.rejects(admin.hostEvents(randomUUID()), refusedWith('VEIL_HOST_UNKNOWN'));
    await assert.rejects(
      admin.hostEvents(hostId, { limit: 0 }),
      refusedWith('VEIL_HOST_REPORT_BAD_REQUEST', /limit/),
    );
    await assert.rejects(
      admin.hostEvents(hostId, { limit: 1001 }),
      refusedWith('VEIL_HOST_REPORT_BAD_REQUEST', /from 1 to 1000/),
    );
    await assert.rejects(
      admin.hostEvents(hostId, { type: 'denied' as never }),
      refusedWith('VEIL_HOST_REPORT_BAD_REQUEST', /type is one of/),
    );
    assert.equal((await admin.hostEvents(hostId)).length, 100, 'the default limit');
    assert.equal((await admin.hostEvents(hostId, { limit: 1000 })).length, 504);
  });

  test('`host events` prints access events as an access log, the others as readable lines', () => {
    const run = (...args: string[]) =>
      spawnSync(
        process.execPath,
        [MANAGER_CLI, 'host', 'events', hostId, ...args, '--manager', manager.url, '--data-dir', dataDir],
        { encoding: 'utf8' },
      );
    const access = run('--type', 'access', '--limit', '600');
    assert.equal(access.status, 0, access.stderr);
    const lines = access.stdout.trim().split('\n');
    assert.equal(lines.length, 502);
    assert.equal(
      lines.at(-1),
      `${at(1)} access /srv/hr "payroll/march 2026.txt" uid=1001 pid=4242 action=read effect=deny ` +
        'rule=none policy=hr exe=/usr/bin/cat',
    );
    assert.match(
      lines.at(-2) ?? '',
      / access \/srv\/hr a\.txt uid=1001 pid=4242 action=read effect=permit rule=2 /,
    );
    const other = run('--type', 'tamper');
    assert.equal(
      other.stdout,
      `${at(3)} tamper /srv/hr ledger.db VEIL_CRYPTO_AUTH_FAILED: "block 3 did not authenticate"\n`,
    );
    const json = run('--type', 'key-unavailable', '--json');
    assert.deepEqual(
      (JSON.parse(json.stdout) as HostReportRecord[]).map((e) => [e.type, e.code]),
      [['key-unavailable', 'VEIL_KEY_NOT_FOUND']],
    );
    const bad = run('--type', 'nonsense');
    assert.notEqual(bad.status, 0);
  });
});
