// Offline unlock on the manager's side (docs/protocol.md, "Offline unlock"), against the real
// manager process over TLS: every delivery carries the host's offline key O, the `offline`
// event comes before the guard points, the password wrapper and the response to a challenge
// each open to exactly that O with node:crypto as the protocol says, bad requests change
// nothing, a restart keeps O, and de-registration destroys it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomUUID,
  scryptSync,
  type KeyObject,
} from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import Database from 'better-sqlite3';
import type { WebSocket } from 'ws';

import { ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';
import type { HostEvent, OfflineEvent, OfflinePasswordWrapper } from '../../manager-client/types.js';
import { decodePayload, openDelivery, uuidToBytes } from '../../manager/delivery/delivery_blob.js';
import { readResponse, showChallenge } from '../../manager-client/offline_codes.js';
import {
  hostClient,
  MANAGER_CLI,
  registerHostByHand,
  startManagerProcess,
  type ManagerProcess,
} from './support.js';

const work = mkdtempSync('/var/tmp/veil-manager-offline-');
const dataDir = path.join(work, 'data');
let manager: ManagerProcess;
let payrollKeyId: string;

type Delivery = Extract<HostEvent, { type: 'delivery' }>;

interface TestHost {
  id: string;
  keyPem: string;
  certificatePem: string;
  transport: KeyObject;
  /** A client of the manager as it runs now (its port changes with a restart). */
  client(): ManagerClient;
}

async function registerHost(name: string): Promise<TestHost> {
  const pair = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const publicPem = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const host = await registerHostByHand(manager, path.join(work, `${name}.key`), name, publicPem);
  return { ...host, transport: pair.privateKey, client: () => hostClient(manager, host) };
}

let hr: TestHost;

interface Stream {
  ws: WebSocket;
  events: HostEvent[];
}

const streams: Stream[] = [];

function openStream(host: TestHost): Stream {
  const events: HostEvent[] = [];
  const stream = { ws: host.client().events((event) => events.push(event)), events };
  streams.push(stream);
  return stream;
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

/** The stream's events from `from` on, once it has `count` of them. */
const received = (stream: Stream, count: number, from = 0): Promise<HostEvent[]> =>
  eventually(`${count} events`, () =>
    stream.events.length >= from + count ? stream.events.slice(from, from + count) : undefined,
  );

function asOffline(event: HostEvent | undefined): OfflineEvent {
  assert.equal(event?.type, 'offline');
  return event;
}

function asDelivery(event: HostEvent | undefined): Delivery {
  assert.equal(event?.type, 'delivery');
  return event;
}

/** The entries of a delivery, opened with the host's transport private key. */
function entriesOf(delivery: Delivery, host: TestHost) {
  return decodePayload(openDelivery(Buffer.from(delivery.blob, 'base64'), host.transport).payload);
}

/** The offline key O a delivery carries, checked to be an active AES-256 entry. */
function offlineKeyIn(delivery: Delivery, host: TestHost, offline: OfflineEvent): Buffer {
  const entry = entriesOf(delivery, host).find((e) => e.keyId === offline.offlineKeyId);
  assert.ok(entry, 'the delivery carries the offline key');
  assert.deepEqual([entry.version, entry.state, entry.algorithm], [1, 2, 1], 'version 1, active, AES-256');
  assert.equal(entry.material.length, 32);
  return entry.material;
}

/** label || host id || offlineKeyId || u32 version, as the protocol binds them. */
function binding(label: string, hostId: string, offline: OfflineEvent): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(offline.offlineKeyVersion);
  return Buffer.concat([Buffer.from(label), uuidToBytes(hostId), uuidToBytes(offline.offlineKeyId), version]);
}

/** Opens a password wrapper the way a host would: scrypt, then AES-256-GCM with the AD of the spec. */
function openWrapper(
  wrapper: OfflinePasswordWrapper,
  password: string,
  hostId: string,
  offline: OfflineEvent,
): Buffer {
  const salt = Buffer.from(wrapper.salt, 'base64');
  const nonce = Buffer.from(wrapper.nonce, 'base64');
  const sealed = Buffer.from(wrapper.ciphertext, 'base64');
  assert.deepEqual([salt.length, nonce.length, sealed.length], [16, 12, 48]);
  const kek = scryptSync(Buffer.from(password, 'utf8'), salt, 32, {
    N: wrapper.N,
    r: wrapper.r,
    p: wrapper.p,
    maxmem: 64 * 1024 * 1024,
  });
  const decipher = createDecipheriv('aes-256-gcm', kek, nonce);
  decipher.setAAD(binding('veil/offline-password/v1', hostId, offline));
  decipher.setAuthTag(sealed.subarray(32));
  return Buffer.concat([decipher.update(sealed.subarray(0, 32)), decipher.final()]);
}

/** A challenge as a host's native core makes it: a fresh X25519 pair, its public half base64url. */
function makeChallenge(): { challenge: string; privateKey: KeyObject; raw: Buffer } {
  const pair = generateKeyPairSync('x25519');
  const raw = pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { challenge: raw.toString('base64url'), privateKey: pair.privateKey, raw };
}

/** Opens a response with the challenge's private half, the test's own HKDF as the spec says. */
function openResponse(
  response: string,
  made: ReturnType<typeof makeChallenge>,
  hostId: string,
  offline: OfflineEvent,
): Buffer {
  assert.match(response, /^[A-Za-z0-9_-]{64}$/);
  const sealed = Buffer.from(response, 'base64url');
  assert.equal(sealed.length, 48);
  const managerRaw = Buffer.from(offline.managerPublicKey, 'base64');
  const managerKey = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: managerRaw.toString('base64url') },
    format: 'jwk',
  });
  const shared = diffieHellman({ privateKey: made.privateKey, publicKey: managerKey });
  const key = Buffer.from(
    hkdfSync(
      'sha256',
      shared,
      Buffer.concat([made.raw, managerRaw]),
      binding('veil/offline-response/v1', hostId, offline),
      32,
    ),
  );
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.alloc(12));
  decipher.setAuthTag(sealed.subarray(32));
  return Buffer.concat([decipher.update(sealed.subarray(0, 32)), decipher.final()]);
}

function refusedWith(code: string, text?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof ManagerError, String(error));
    assert.equal(error.code, code, error.message);
    if (text) assert.match(error.message, text);
    return true;
  };
}

/** An administrator request with a body the typed client would not send. */
function rawAdminRequest(urlPath: string, body: string): Promise<{ status: number; code: string }> {
  const password = readFileSync(path.join(dataDir, 'admin-password'), 'utf8').trim();
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(urlPath, manager.url),
      {
        method: 'POST',
        ca: [manager.caPem()],
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`,
        },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          const parsed = JSON.parse(text) as { error?: { code: string } };
          resolve({ status: res.statusCode ?? 0, code: parsed.error?.code ?? '' });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Every byte the manager keeps in its data directory (store, its write-ahead log, keys). */
const dataDirBytes = (): Buffer =>
  Buffer.concat(readdirSync(dataDir).map((name) => readFileSync(path.join(dataDir, name))));

// What the first connection of the host showed: its offline event and its O.
let offline: OfflineEvent;
let offlineKey: Buffer;

before(async () => {
  manager = await startManagerProcess(dataDir);
  const admin = manager.admin();
  payrollKeyId = (await admin.createKey({ name: 'payroll' })).keyId;
  await admin.putPolicy({
    name: 'hr',
    resourceSets: { all: { include: ['**'] } },
    securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
    keyRules: [{ key: { keyId: payrollKeyId } }],
  });
  hr = await registerHost('hr-server');
  await admin.addGuardPoint({ path: '/srv/hr', policy: 'hr', hostId: hr.id });
});

after(async () => {
  for (const stream of streams) stream.ws.terminate();
  await manager?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the offline key reaches the host', () => {
  test('on connect: `offline` before `guardpoints`, and the delivery carries O beside the data keys', async () => {
    const stream = openStream(hr);
    const [first, guardPoints, delivery] = await received(stream, 3);
    offline = asOffline(first);
    assert.equal(guardPoints?.type, 'guardpoints');
    assert.match(
      offline.offlineKeyId,
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    assert.equal(offline.offlineKeyVersion, 1);
    assert.equal(offline.passwordWrapper, null);
    assert.equal(Buffer.from(offline.managerPublicKey, 'base64').length, 32);
    // M's public half is a usable X25519 key.
    createPublicKey({
      key: {
        kty: 'OKP',
        crv: 'X25519',
        x: Buffer.from(offline.managerPublicKey, 'base64').toString('base64url'),
      },
      format: 'jwk',
    });
    assert.deepEqual(Object.keys(offline).sort(), [
      'managerPublicKey',
      'offlineKeyId',
      'offlineKeyVersion',
      'passwordWrapper',
      'type',
    ]);
    offlineKey = offlineKeyIn(asDelivery(delivery), hr, offline);
    const entries = entriesOf(asDelivery(delivery), hr);
    assert.deepEqual(
      entries.map((e) => [e.keyId, e.version]).sort(),
      [
        [payrollKeyId, 1],
        [offline.offlineKeyId, 1],
      ].sort(),
    );
  });

  test('O is no data key: not listed, not in the inventory, never withdrawn, the same in every delivery', async () => {
    const admin = manager.admin();
    assert.equal(
      (await admin.keys()).some((k) => k.keyId === offline.offlineKeyId),
      false,
    );
    assert.equal(
      (await admin.inventory()).keys.some((k) => k.keyId === offline.offlineKeyId),
      false,
    );
    const stream = openStream(hr);
    await received(stream, 3);
    // A rotation and then a policy that names another version: both reach the host, without the
    // offline event again (the stream has it, unchanged).
    await admin.rotateKey(payrollKeyId);
    const [rotatedGuardPoints, rotated] = await received(stream, 2, 3);
    assert.equal(rotatedGuardPoints?.type, 'guardpoints', 'a change sends no offline event again');
    assert.deepEqual(offlineKeyIn(asDelivery(rotated), hr, offline), offlineKey);
    await admin.putPolicy({
      name: 'hr',
      resourceSets: { all: { include: ['**'] } },
      securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
      keyRules: [{ key: { keyId: payrollKeyId, version: 2 } }],
    });
    const [, moved] = await received(stream, 2, 5);
    const entries = entriesOf(asDelivery(moved), hr);
    assert.deepEqual(
      entries.map((e) => [e.keyId === payrollKeyId ? 'payroll' : 'O', e.version, e.material.length]).sort(),
      [
        ['O', 1, 32],
        ['payroll', 1, 0],
        ['payroll', 2, 32],
      ],
      'version 1 of payroll is withdrawn; O stays',
    );
    assert.deepEqual(offlineKeyIn(asDelivery(moved), hr, offline), offlineKey);
    // A resync on that stream: it has the last delivery, and nothing changed since.
    stream.ws.send(JSON.stringify({ type: 'sync' }));
    const [current] = await received(stream, 1, 7);
    assert.deepEqual(current, { type: 'current', sequence: asDelivery(moved).sequence });
  });
});

describe('the offline password', () => {
  test('set by an administrator: only its wrapper is kept and pushed, and it opens to exactly O', async () => {
    const stream = openStream(hr);
    await received(stream, 3);
    const password = 'correct horse battery staple';
    const set = await manager.admin().setOfflinePassword(hr.id, password);
    assert.equal(set.hostId, hr.id);
    assert.equal(set.password, undefined, 'a password given is not answered back');
    assert.ok(Math.abs(Date.parse(set.setAt) - Date.now()) < 60_000);
    const [pushed] = await received(stream, 1, 3);
    const event = asOffline(pushed);
    assert.equal(event.offlineKeyId, offline.offlineKeyId);
    assert.equal(event.managerPublicKey, offline.managerPublicKey);
    const wrapper = event.passwordWrapper;
    assert.ok(wrapper);
    assert.deepEqual([wrapper.kdf, wrapper.N, wrapper.r, wrapper.p], ['scrypt', 32768, 8, 1]);
    assert.deepEqual(openWrapper(wrapper, password, hr.id, event), offlineKey);
    assert.throws(() => openWrapper(wrapper, `${password}!`, hr.id, event), 'another password opens nothing');
    assert.throws(() => openWrapper(wrapper, password, randomUUID(), event), 'bound to the host id (AD)');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(stream.events.length, 4, 'only the offline event');
    // Kept: a new connection gets it; the manager's files hold neither the password nor O.
    const again = openStream(hr);
    const [reconnected] = await received(again, 3);
    assert.deepEqual(asOffline(reconnected).passwordWrapper, wrapper);
    const stored = dataDirBytes();
    assert.equal(stored.includes(Buffer.from(password)), false);
    assert.equal(stored.includes(offlineKey), false);
    assert.equal(stored.includes(Buffer.from(wrapper.ciphertext, 'base64')), false);
  });

  test('made by the manager when none is given: answered once, and it opens to exactly O', async () => {
    const stream = openStream(hr);
    await received(stream, 3);
    const admin = manager.admin();
    const made = await admin.setOfflinePassword(hr.id);
    const word = '[23456789abcdefghjkmnpqrstuvwxyz]{5}';
    assert.match(made.password ?? '', new RegExp(`^(${word}-){4}${word}$`));
    const password = made.password ?? '';
    const event = asOffline((await received(stream, 1, 3))[0]);
    assert.ok(event.passwordWrapper);
    assert.deepEqual(openWrapper(event.passwordWrapper, password, hr.id, event), offlineKey);
    // Shown once: the manager keeps neither it nor anything that names it.
    assert.equal(dataDirBytes().includes(Buffer.from(password)), false);
    assert.equal(JSON.stringify(await admin.host(hr.id)).includes(password), false);
    // Another one replaces it: the old password opens nothing the manager now sends.
    const next = await admin.setOfflinePassword(hr.id);
    assert.notEqual(next.password, password);
    const replaced = asOffline((await received(stream, 1, 4))[0]);
    assert.ok(replaced.passwordWrapper);
    assert.notEqual(replaced.passwordWrapper.salt, event.passwordWrapper.salt);
    assert.throws(() => openWrapper(replaced.passwordWrapper!, password, hr.id, replaced));
    assert.deepEqual(openWrapper(replaced.passwordWrapper, next.password ?? '', hr.id, replaced), offlineKey);
  });

  test('a bad password or body is refused with 400 and changes nothing; an unknown host is 404', async () => {
    const stream = openStream(hr);
    const [connected] = await received(stream, 3);
    const admin = manager.admin();
    for (const bad of [
      'x'.repeat(11),
      'x'.repeat(257),
      '🔑'.repeat(11),
      42,
      null,
      ['long enough password'],
    ]) {
      await assert.rejects(
        admin.setOfflinePassword(hr.id, bad as never),
        refusedWith('VEIL_HOST_BAD_REQUEST', /password must be a string of 12 to 256 characters/),
      );
    }
    const url = `/v1/hosts/${hr.id}/offline-password`;
    assert.deepEqual(await rawAdminRequest(url, '[]'), { status: 400, code: 'VEIL_HOST_BAD_REQUEST' });
    assert.deepEqual(await rawAdminRequest(url, '"password"'), {
      status: 400,
      code: 'VEIL_HOST_BAD_REQUEST',
    });
    assert.deepEqual(await rawAdminRequest(url, '{"passwd":"long enough password"}'), {
      status: 400,
      code: 'VEIL_HOST_BAD_REQUEST',
    });
    assert.deepEqual(await rawAdminRequest(url, '{"password":"\\ud800 long enough password"}'), {
      status: 400,
      code: 'VEIL_HOST_BAD_REQUEST',
    });
    await assert.rejects(admin.setOfflinePassword(randomUUID()), refusedWith('VEIL_HOST_UNKNOWN'));
    await assert.rejects(hr.client().setOfflinePassword(hr.id), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(stream.events.length, 3, 'nothing was pushed');
    // The lengths are characters: 12 and 256 of them are taken.
    for (const good of ['🔑'.repeat(12), 'y'.repeat(256)]) {
      const count = stream.events.length;
      await admin.setOfflinePassword(hr.id, good);
      const event = asOffline((await received(stream, 1, count))[0]);
      assert.deepEqual(openWrapper(event.passwordWrapper!, good, hr.id, event), offlineKey);
    }
    assert.deepEqual(asOffline(connected).offlineKeyId, offline.offlineKeyId);
  });
});

describe('challenge and response', () => {
  test('the response to a challenge opens, with the challenge private half and HKDF, to exactly O', async () => {
    const made = makeChallenge();
    assert.equal(made.challenge.length, 43);
    const answer = await manager.admin().offlineResponse(hr.id, made.challenge);
    assert.equal(answer.hostId, hr.id);
    assert.deepEqual(openResponse(answer.response, made, hr.id, offline), offlineKey);
    // Another challenge, another response; both open to O, each only with its own private half.
    const other = makeChallenge();
    const second = await manager.admin().offlineResponse(hr.id, other.challenge);
    assert.notEqual(second.response, answer.response);
    assert.deepEqual(openResponse(second.response, other, hr.id, offline), offlineKey);
    assert.throws(() =>
      openResponse(second.response, { ...other, privateKey: made.privateKey }, hr.id, offline),
    );
  });

  test('bad challenges are refused with 400; an unknown host is 404; only an administrator asks', async () => {
    const admin = manager.admin();
    const good = makeChallenge().challenge;
    // The last character of 43 carries 2 spare bits, which must be zero.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const spare = good.slice(0, 42) + alphabet[alphabet.indexOf(good.slice(42)) | 1];
    const lowOrder = Buffer.alloc(32);
    lowOrder[0] = 1;
    const bad: [string, unknown][] = [
      ['42 characters', good.slice(0, 42)],
      ['44 characters', `${good}A`],
      ['padding', `${good}=`],
      ['standard base64', `+/${good.slice(2)}`],
      ['spaces', ` ${good.slice(1)}`],
      ['a non-canonical last character', spare],
      ['33 bytes', Buffer.alloc(33, 7).toString('base64url')],
      ['the all-zero point', Buffer.alloc(32).toString('base64url')],
      ['a point of low order', lowOrder.toString('base64url')],
      ['a number', 42],
      ['nothing', undefined],
    ];
    for (const [what, challenge] of bad) {
      await assert.rejects(
        admin.offlineResponse(hr.id, challenge as string),
        refusedWith('VEIL_HOST_BAD_REQUEST', /challenge/),
        what,
      );
    }
    const url = `/v1/hosts/${hr.id}/offline-response`;
    assert.deepEqual(await rawAdminRequest(url, JSON.stringify({ challenge: good, hostId: hr.id })), {
      status: 400,
      code: 'VEIL_HOST_BAD_REQUEST',
    });
    assert.deepEqual(await rawAdminRequest(url, JSON.stringify([good])), {
      status: 400,
      code: 'VEIL_HOST_BAD_REQUEST',
    });
    await assert.rejects(admin.offlineResponse(randomUUID(), good), refusedWith('VEIL_HOST_UNKNOWN'));
    await assert.rejects(hr.client().offlineResponse(hr.id, good), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
    // The challenge made at the top still gets its response.
    assert.equal((await admin.offlineResponse(hr.id, good)).response.length, 64);
  });
});

describe('the CLI', () => {
  const human = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [MANAGER_CLI, 'host', ...args, '--manager', manager.url, '--data-dir', dataDir],
      { encoding: 'utf8' },
    );

  test('`host respond HOST-ID CHALLENGE` prints the response', () => {
    // Untagged, a challenge that begins with '-' is taken for an option (1 time in 64): the
    // tagged form below is the one that carries such a challenge.
    let made = makeChallenge();
    while (made.challenge.startsWith('-')) made = makeChallenge();
    const json = manager.cli('host', 'respond', hr.id, made.challenge);
    assert.equal(json.status, 0, json.err);
    const answer = JSON.parse(json.out) as { hostId: string; response: string };
    assert.equal(answer.hostId, hr.id);
    assert.deepEqual(openResponse(answer.response, made, hr.id, offline), offlineKey);
    // As people pass them on: tagged (agentctl challenge prints vc1.…), which also keeps a
    // challenge that begins with '-' from being taken for an option.
    let other = makeChallenge();
    while (!other.challenge.startsWith('-')) other = makeChallenge();
    const plain = human('respond', hr.id, showChallenge(other.challenge));
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /^vr1\.[A-Za-z0-9_-]{64}\n$/);
    assert.deepEqual(openResponse(readResponse(plain.stdout), other, hr.id, offline), offlineKey);
    const refused = human('respond', hr.id, 'not-a-challenge');
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /challenge must be base64url .*\(VEIL_HOST_BAD_REQUEST\)/);
    const unknown = manager.cli('host', 'respond', randomUUID(), made.challenge);
    assert.equal(unknown.status, 1);
    assert.equal((JSON.parse(unknown.out) as { code: string }).code, 'VEIL_HOST_UNKNOWN');
  });

  test('`host offline-password HOST-ID` prints a made password once; with a file, the one in it', async () => {
    const stream = openStream(hr);
    await received(stream, 3);
    const json = manager.cli('host', 'offline-password', hr.id);
    assert.equal(json.status, 0, json.err);
    const set = JSON.parse(json.out) as { hostId: string; password: string; setAt: string };
    assert.equal(set.hostId, hr.id);
    let event = asOffline((await received(stream, 1, 3))[0]);
    assert.deepEqual(openWrapper(event.passwordWrapper!, set.password, hr.id, event), offlineKey);

    const plain = human('offline-password', hr.id);
    assert.equal(plain.status, 0, plain.stderr);
    const [password, note] = plain.stdout.split('\n');
    assert.match(password ?? '', /^([2-9a-z]{5}-){4}[2-9a-z]{5}$/);
    assert.match(note ?? '', /shown once, the manager does not keep it/);
    event = asOffline((await received(stream, 1, 4))[0]);
    assert.deepEqual(openWrapper(event.passwordWrapper!, password ?? '', hr.id, event), offlineKey);

    const file = path.join(work, 'offline-password');
    writeFileSync(file, 'a password from a file\n', { mode: 0o600 });
    const given = human('offline-password', hr.id, '--offline-password-file', file);
    assert.equal(given.status, 0, given.stderr);
    assert.equal(given.stdout.includes('a password from a file'), false);
    assert.match(given.stdout, /^offline password of host \S+ set at \S+/);
    event = asOffline((await received(stream, 1, 5))[0]);
    assert.deepEqual(openWrapper(event.passwordWrapper!, 'a password from a file', hr.id, event), offlineKey);

    writeFileSync(file, 'too short\n');
    const short = manager.cli('host', 'offline-password', hr.id, '--offline-password-file', file);
    assert.equal(short.status, 1);
    assert.equal((JSON.parse(short.out) as { code: string }).code, 'VEIL_HOST_BAD_REQUEST');
    const missing = manager.cli('host', 'offline-password', hr.id, '--offline-password-file', `${file}.none`);
    assert.equal(missing.status, 1);
    assert.match((JSON.parse(missing.out) as { message: string }).message, /cannot read/);
  });
});

describe('across restarts and de-registration', () => {
  const dbFile = () => path.join(dataDir, 'manager.db');

  test('a restart keeps O, M and the password wrapper', async () => {
    const current = openStream(hr);
    const [lastEvent] = await received(current, 3);
    const wrapper = asOffline(lastEvent).passwordWrapper;
    assert.ok(wrapper);
    await manager.stop();
    manager = await startManagerProcess(dataDir);
    const stream = openStream(hr);
    const [first, , delivery] = await received(stream, 3);
    const event = asOffline(first);
    assert.deepEqual(event, { ...offline, passwordWrapper: wrapper });
    assert.deepEqual(offlineKeyIn(asDelivery(delivery), hr, event), offlineKey);
    const made = makeChallenge();
    const answer = await manager.admin().offlineResponse(hr.id, made.challenge);
    assert.deepEqual(openResponse(answer.response, made, hr.id, event), offlineKey);
  });

  const DOMAIN_TABLES = [
    'keys',
    'hosts',
    'host_groups',
    'policies',
    'registration_tokens',
    'guard_points',
    'administrators',
  ];
  test('a host registered before offline unlock gets its material on first use (store migrated)', async () => {
    // The store as a manager before offline unlock left it: schema version 9, no table
    // (and administrators without roles, which came later).
    await manager.stop();
    const db = new Database(dbFile());
    // Domains came later too: every table back without its domain column.
    db.pragma('foreign_keys = OFF');
    for (const table of DOMAIN_TABLES) {
      const columns = (db.pragma(`table_info(${table})`) as { name: string }[])
        .map((c) => c.name)
        .filter((name) => name !== 'domain');
      db.exec(
        `CREATE TABLE old_${table} AS SELECT ${columns.join(', ')} FROM ${table};
         DROP TABLE ${table}; ALTER TABLE old_${table} RENAME TO ${table};`,
      );
      // What other tables refer to stays a key.
      if (columns.includes('id')) db.exec(`CREATE UNIQUE INDEX ${table}_id ON ${table} (id)`);
    }
    db.exec('DROP TABLE domains');
    db.exec('DROP TABLE host_offline; DROP TABLE admin_sessions; DROP TABLE api_keys');
    db.exec(
      'ALTER TABLE administrators DROP COLUMN roles; ALTER TABLE administrators DROP COLUMN disabled_at',
    );
    // So did the rekey mode of key versions.
    db.exec('ALTER TABLE key_versions DROP COLUMN rekey');
    db.pragma('user_version = 9');
    db.close();
    manager = await startManagerProcess(dataDir);
    const stream = openStream(hr);
    const [first, guardPoints, delivery] = await received(stream, 3);
    const fresh = asOffline(first);
    assert.equal(guardPoints?.type, 'guardpoints');
    assert.notEqual(fresh.offlineKeyId, offline.offlineKeyId);
    assert.equal(fresh.passwordWrapper, null);
    const freshKey = offlineKeyIn(asDelivery(delivery), hr, fresh);
    assert.notDeepEqual(freshKey, offlineKey);
    const made = makeChallenge();
    const answer = await manager.admin().offlineResponse(hr.id, made.challenge);
    assert.deepEqual(openResponse(answer.response, made, hr.id, fresh), freshKey);
    // Made once: the next connection sees the same.
    const again = openStream(hr);
    const [next, , nextDelivery] = await received(again, 3);
    assert.deepEqual(asOffline(next), fresh);
    assert.deepEqual(offlineKeyIn(asDelivery(nextDelivery), hr, fresh), freshKey);
    offline = fresh;
    offlineKey = freshKey;
  });

  test('de-registration destroys the offline material: no response, no password, nothing stored', async () => {
    const other = await registerHost('hr-backup');
    const admin = manager.admin();
    const made = makeChallenge();
    assert.equal((await admin.offlineResponse(other.id, made.challenge)).response.length, 64);
    await admin.setOfflinePassword(other.id, 'a password for the backup');
    await admin.deregisterHost(other.id);
    await assert.rejects(admin.offlineResponse(other.id, made.challenge), refusedWith('VEIL_HOST_UNKNOWN'));
    await assert.rejects(admin.setOfflinePassword(other.id), refusedWith('VEIL_HOST_UNKNOWN'));
    const db = new Database(dbFile(), { readonly: true });
    try {
      const rows = db.prepare('SELECT count(*) AS n FROM host_offline WHERE host_id = ?').get(other.id) as {
        n: number;
      };
      assert.equal(rows.n, 0, 'the row is gone, not only refused');
      const kept = db.prepare('SELECT count(*) AS n FROM host_offline WHERE host_id = ?').get(hr.id) as {
        n: number;
      };
      assert.equal(kept.n, 1, "the other host's stays");
    } finally {
      db.close();
    }
    // Not made again lazily after a restart either.
    await manager.stop();
    manager = await startManagerProcess(dataDir);
    await assert.rejects(
      manager.admin().offlineResponse(other.id, made.challenge),
      refusedWith('VEIL_HOST_UNKNOWN'),
    );
    assert.equal((await manager.admin().offlineResponse(hr.id, made.challenge)).response.length, 64);
  });
});
