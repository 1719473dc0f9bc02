// Offline unlock (docs/protocol.md, "Offline unlock") through native/core.ts: the sealed key
// file read back with node:crypto, unlocks by password and by challenge-response built with
// node:crypto as the manager builds them (test/native/offline_support.ts), and every
// refusal, which must install nothing and say nothing about why.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, test } from 'node:test';

import {
  decodeFile,
  encodeFile,
  keys,
  offline,
  type CipherName,
  type KeyInfo,
  type KeyRef,
  type KeyState,
  type NativeErrorCode,
  type OfflinePasswordWrapper,
  type VeilNativeError,
} from '../../native/core.js';
import { STATE_CODES } from '../../manager/delivery/delivery_blob.js';
import { assertNoKeyBytes, expectNativeError, expectNativeRejection } from '../support/no_key_bytes.js';
import { flipBit } from './kat_support.js';
import {
  managerPair,
  openSealed,
  passwordWrapper,
  respond,
  SEALED_MAGIC,
  sealedRegions,
  uuidBytes,
} from './offline_support.js';

const HOST = randomUUID();
const PASSWORD = 'correct horse battery staple';
const plain = randomBytes(6000);

function newRef(version = 1): KeyRef {
  return { keyId: randomUUID(), version };
}

function sorted<T extends KeyInfo>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => `${a.keyId}/${a.version}`.localeCompare(`${b.keyId}/${b.version}`));
}

interface Held {
  ref: KeyRef;
  state: KeyState;
  material: Buffer;
  /** A container made under it while it was active, and its cipher. */
  container: Buffer;
  cipher: CipherName;
}

/** A host as the manager left it: O and data key versions in the table, their sealed file. */
interface Scene {
  offlineRef: KeyRef;
  /** O, as the manager keeps it. */
  offlineKey: Buffer;
  /** A container under O itself: O is an active key like any other. */
  offlineContainer: Buffer;
  held: Held[];
  sealed: Buffer;
  secrets: Buffer[];
}

const scenes: Scene[] = [];

async function makeScene(): Promise<Scene> {
  const offlineRef = newRef();
  const offlineKey = randomBytes(32);
  keys.importRaw(offlineRef, 'active', Buffer.from(offlineKey));
  const specs: [KeyRef, KeyState, number, CipherName][] = [
    [newRef(), 'active', 32, 'aes-256-gcm'],
    [newRef(2), 'deactivated', 16, 'aes-256-xts'],
    [newRef(7), 'compromised', 32, 'aes-256-gcm'],
    [newRef(), 'suspended', 32, 'aes-256-xts'],
    [newRef(3), 'pre-activation', 16, 'aes-256-gcm'],
  ];
  const held: Held[] = [];
  for (const [ref, state, length, cipher] of specs) {
    const material = randomBytes(length);
    keys.importRaw(ref, 'active', Buffer.from(material));
    const container = await encodeFile(ref, cipher, plain);
    keys.setState(ref, state);
    held.push({ ref, state, material, container, cipher });
  }
  const offlineContainer = await encodeFile(offlineRef, 'aes-256-gcm', plain);
  const sealed = offline.seal(HOST, offlineRef);
  const scene = {
    offlineRef,
    offlineKey,
    offlineContainer,
    held,
    sealed,
    secrets: [offlineKey, ...held.map((h) => h.material)],
  };
  scenes.push(scene);
  return scene;
}

function refsOf(scene: Scene): KeyRef[] {
  return [scene.offlineRef, ...scene.held.map((h) => h.ref)];
}

/** What a restart leaves: none of the scene's versions in the table. */
function lock(scene: Scene): void {
  for (const ref of refsOf(scene)) keys.remove(ref);
  assert.deepEqual(keys.list(), [], 'the table is not empty');
}

afterEach(() => {
  for (const scene of scenes.splice(0)) for (const ref of refsOf(scene)) keys.remove(ref);
});

function expectedInstalled(scene: Scene): KeyInfo[] {
  return sorted([
    { ...scene.offlineRef, state: 'active', algorithm: 'aes-256' },
    ...scene.held.map((h) => ({
      ...h.ref,
      state: h.state,
      algorithm: h.material.length === 32 ? ('aes-256' as const) : ('aes-128' as const),
    })),
  ]);
}

/** The table holds the scene's versions with their states, and the same material: old containers open. */
async function assertUnlocked(scene: Scene, installed: KeyInfo[]): Promise<void> {
  assert.deepEqual(sorted(installed), expectedInstalled(scene));
  assertNoKeyBytes(installed, scene.secrets, 'the unlock result');
  assert.deepEqual(sorted(keys.list()), expectedInstalled(scene));
  assert.ok((await decodeFile(scene.offlineContainer)).equals(plain), 'the container under O');
  for (const h of scene.held) {
    if (h.state === 'pre-activation') {
      // Held but used for nothing: activated, its container opens, so the material is the same.
      await expectNativeRejection(() => decodeFile(h.container), 'VEIL_KEY_NOT_ACTIVE', scene.secrets);
      keys.setState(h.ref, 'active');
    }
    assert.ok((await decodeFile(h.container)).equals(plain), `the ${h.state} ${h.cipher} container`);
  }
}

const unlockMessages = new Set<string>();

/** Expects `code` free of key bytes, and an unchanged key table. */
function refuse(fn: () => unknown, code: NativeErrorCode, scene: Scene, what: string): VeilNativeError {
  const before = sorted(keys.list());
  const error = expectNativeError(fn, code, scene.secrets);
  assert.deepEqual(sorted(keys.list()), before, `${what}: a refused unlock changed the key table`);
  if (code === 'VEIL_OFFLINE_UNLOCK_FAILED') {
    unlockMessages.add(error.message);
    assert.equal(unlockMessages.size, 1, `${what}: another message (${[...unlockMessages].join(' | ')})`);
  }
  return error;
}

function unlockPassword(
  scene: Scene,
  wrapper: OfflinePasswordWrapper,
  password = PASSWORD,
  sealed = scene.sealed,
  hostId = HOST,
  ref = scene.offlineRef,
): KeyInfo[] {
  return offline.unlockPassword(sealed, hostId, ref, wrapper, Buffer.from(password, 'utf8'));
}

/** A fresh challenge answered by `manager`, then unlockResponse with what the options change. */
function unlockByChallenge(
  scene: Scene,
  options: {
    sealed?: Buffer;
    hostId?: string;
    ref?: KeyRef;
    tamper?: (response: Buffer) => Buffer;
    managerKey?: Buffer;
  } = {},
): KeyInfo[] {
  const manager = managerPair();
  const response = respond(offline.challenge(), manager, scene.offlineKey, HOST, scene.offlineRef);
  return offline.unlockResponse(
    options.sealed ?? scene.sealed,
    options.hostId ?? HOST,
    options.ref ?? scene.offlineRef,
    options.managerKey ?? manager.publicKey,
    options.tamper ? options.tamper(response) : response,
  );
}

test('seal: the file reads back with node:crypto as docs/protocol.md lays it out, every version but O', async () => {
  const scene = await makeScene();
  const { sealed } = scene;
  assert.ok(sealed.subarray(0, 8).equals(SEALED_MAGIC));
  assert.equal(sealed.subarray(0, 8).toString('latin1'), '\x89VEILSK1');
  const opened = openSealed(sealed, scene.offlineKey);
  assert.equal(opened.format, 1);
  assert.equal(opened.reserved, 0);
  assert.ok(opened.hostId.equals(uuidBytes(HOST)));
  assert.deepEqual(opened.ref, scene.offlineRef);
  const payloadLength = 2 + scene.held.reduce((n, h) => n + 24 + h.material.length, 0);
  assert.equal(sealed.length, 60 + payloadLength + 16);
  const key = (e: { keyId: string; version: number }): string => `${e.keyId}/${e.version}`;
  assert.deepEqual(
    [...opened.entries].sort((a, b) => key(a).localeCompare(key(b))),
    [...scene.held]
      .sort((a, b) => key(a.ref).localeCompare(key(b.ref)))
      .map((h) => ({
        ...h.ref,
        state: STATE_CODES[h.state],
        algorithm: h.material.length === 32 ? 1 : 2,
        material: h.material,
      })),
  );
  assertNoKeyBytes(sealed, scene.secrets, 'the sealed key file');
  // A new nonce each time: two seals of the same table differ, and both open.
  const again = offline.seal(HOST, scene.offlineRef);
  assert.ok(!again.subarray(48, 60).equals(sealed.subarray(48, 60)));
  assert.deepEqual(openSealed(again, scene.offlineKey).entries.length, scene.held.length);
  // The key table is unchanged by sealing.
  assert.deepEqual(sorted(keys.list()), expectedInstalled(scene));
});

test('seal of an empty table but O holds no entry', () => {
  const offlineRef = newRef(4);
  const offlineKey = randomBytes(32);
  keys.importRaw(offlineRef, 'active', Buffer.from(offlineKey));
  try {
    const sealed = offline.seal(HOST, offlineRef);
    assert.equal(sealed.length, 60 + 2 + 16);
    assert.deepEqual(openSealed(sealed, offlineKey).entries, []);
  } finally {
    keys.remove(offlineRef);
  }
});

test('seal refuses an offline key not in the table (VEIL_KEY_NOT_FOUND) or not AES-256 (VEIL_KEY_INVALID)', () => {
  const material = randomBytes(32);
  const data = newRef();
  keys.importRaw(data, 'active', Buffer.from(material));
  const short = newRef();
  const shortMaterial = randomBytes(16);
  keys.importRaw(short, 'active', Buffer.from(shortMaterial));
  try {
    const secrets = [material, shortMaterial];
    expectNativeError(() => offline.seal(HOST, newRef()), 'VEIL_KEY_NOT_FOUND', secrets);
    expectNativeError(() => offline.seal(HOST, { ...data, version: 2 }), 'VEIL_KEY_NOT_FOUND', secrets);
    expectNativeError(() => offline.seal(HOST, short), 'VEIL_KEY_INVALID', secrets);
    expectNativeError(() => offline.seal('not-a-host', data), 'VEIL_INVALID_ARGUMENT');
    expectNativeError(() => offline.seal(HOST, { keyId: data.keyId, version: 0 }), 'VEIL_INVALID_ARGUMENT');
  } finally {
    keys.remove(data);
    keys.remove(short);
  }
});

test('unlockPassword: a wrapper made with node:crypto installs every version and O at once, the same material', async () => {
  const scene = await makeScene();
  const wrapper = passwordWrapper(scene.offlineKey, PASSWORD, HOST, scene.offlineRef);
  lock(scene);
  for (const h of scene.held.slice(0, 2)) {
    await expectNativeRejection(() => decodeFile(h.container), 'VEIL_KEY_NOT_FOUND');
  }
  const password = Buffer.from(PASSWORD, 'utf8');
  const installed = offline.unlockPassword(scene.sealed, HOST, scene.offlineRef, wrapper, password);
  assert.ok(password.equals(Buffer.alloc(password.length)), 'the password buffer was not wiped');
  await assertUnlocked(scene, installed);
  // The host seals again after an unlock: the same versions.
  const resealed = offline.seal(HOST, scene.offlineRef);
  assert.equal(openSealed(resealed, scene.offlineKey).entries.length, scene.held.length);
});

test('unlockResponse: a response made with node:crypto to the challenge installs the same keys', async () => {
  const scene = await makeScene();
  lock(scene);
  const manager = managerPair();
  const challenge = offline.challenge();
  assert.equal(challenge.length, 32);
  const response = respond(challenge, manager, scene.offlineKey, HOST, scene.offlineRef);
  assert.equal(response.length, 48);
  const installed = offline.unlockResponse(scene.sealed, HOST, scene.offlineRef, manager.publicKey, response);
  await assertUnlocked(scene, installed);
});

test('challenges are fresh X25519 public keys', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const challenge = offline.challenge();
    assert.equal(challenge.length, 32);
    seen.add(challenge.toString('hex'));
  }
  assert.equal(seen.size, 20);
});

test('a wrong password, a changed wrapper, another host or offline key: VEIL_OFFLINE_UNLOCK_FAILED, nothing installed', async () => {
  const scene = await makeScene();
  const wrapper = passwordWrapper(scene.offlineKey, PASSWORD, HOST, scene.offlineRef);
  lock(scene);
  const failed = 'VEIL_OFFLINE_UNLOCK_FAILED';
  const cases: [string, () => unknown][] = [
    ['a wrong password', () => unlockPassword(scene, wrapper, 'correct horse battery stable')],
    ['the password with a trailing space', () => unlockPassword(scene, wrapper, `${PASSWORD} `)],
    ['another N', () => unlockPassword(scene, { ...wrapper, N: 2 ** 15 })],
    ['another r', () => unlockPassword(scene, { ...wrapper, r: 9 })],
    ['another p', () => unlockPassword(scene, { ...wrapper, p: 2 })],
    ['another host id', () => unlockPassword(scene, wrapper, PASSWORD, scene.sealed, randomUUID())],
    ['another offline key id', () => unlockPassword(scene, wrapper, PASSWORD, scene.sealed, HOST, newRef())],
    [
      'another offline key version',
      () => unlockPassword(scene, wrapper, PASSWORD, scene.sealed, HOST, { ...scene.offlineRef, version: 2 }),
    ],
    [
      'a wrapper made for another host',
      () =>
        unlockPassword(scene, passwordWrapper(scene.offlineKey, PASSWORD, randomUUID(), scene.offlineRef)),
    ],
    [
      'a wrapper made for another offline key id',
      () =>
        unlockPassword(
          scene,
          passwordWrapper(scene.offlineKey, PASSWORD, HOST, {
            ...newRef(),
            version: scene.offlineRef.version,
          }),
        ),
    ],
    [
      'a wrapper of another O',
      () => unlockPassword(scene, passwordWrapper(randomBytes(32), PASSWORD, HOST, scene.offlineRef)),
    ],
  ];
  for (const field of ['salt', 'nonce', 'ciphertext'] as const) {
    const bytes = wrapper[field];
    for (const index of [0, bytes.length - 1, ...(field === 'ciphertext' ? [31, 32] : [])]) {
      cases.push([
        `wrapper ${field} byte ${index} flipped`,
        () => unlockPassword(scene, { ...wrapper, [field]: flipBit(bytes, index * 8) }),
      ]);
    }
  }
  // One byte of each region of the sealed file (every byte: the challenge-response test).
  for (const [region, [start, end]] of Object.entries(sealedRegions(scene.sealed))) {
    for (const index of new Set([start, end - 1])) {
      cases.push([
        `sealed ${region} byte ${index} flipped`,
        () => unlockPassword(scene, wrapper, PASSWORD, flipBit(scene.sealed, index * 8 + 3)),
      ]);
    }
  }
  for (const length of [0, 1, 60, 77, scene.sealed.length - 1]) {
    cases.push([
      `the sealed file cut to ${length} bytes`,
      () => unlockPassword(scene, wrapper, PASSWORD, scene.sealed.subarray(0, length)),
    ]);
  }
  cases.push([
    'a byte after the sealed file',
    () => unlockPassword(scene, wrapper, PASSWORD, Buffer.concat([scene.sealed, Buffer.alloc(1)])),
  ]);
  // A sealed file of another host under the same O: its header names that host.
  keys.importRaw(scene.offlineRef, 'active', Buffer.from(scene.offlineKey));
  const foreign = offline.seal(randomUUID(), scene.offlineRef);
  keys.remove(scene.offlineRef);
  cases.push(['the sealed file of another host', () => unlockPassword(scene, wrapper, PASSWORD, foreign)]);
  for (const [what, fn] of cases) refuse(fn, failed, scene, what);
  // Nothing was used up: the right password still unlocks.
  await assertUnlocked(scene, unlockPassword(scene, wrapper));
});

test('every byte of the sealed file and of the response is checked (challenge-response)', async () => {
  const scene = await makeScene();
  lock(scene);
  for (let index = 0; index < scene.sealed.length; index++) {
    const sealed = flipBit(scene.sealed, index * 8 + (index % 8));
    refuse(
      () => unlockByChallenge(scene, { sealed }),
      'VEIL_OFFLINE_UNLOCK_FAILED',
      scene,
      `sealed byte ${index}`,
    );
  }
  for (let index = 0; index < 48; index++) {
    const tamper = (response: Buffer): Buffer => flipBit(response, index * 8 + (index % 8));
    refuse(
      () => unlockByChallenge(scene, { tamper }),
      'VEIL_OFFLINE_UNLOCK_FAILED',
      scene,
      `response byte ${index}`,
    );
  }
  for (const [what, options] of [
    ['another host id', { hostId: randomUUID() }],
    ['another offline key id', { ref: { ...newRef(), version: scene.offlineRef.version } }],
    ['another offline key version', { ref: { ...scene.offlineRef, version: 9 } }],
    ["another manager's public key", { managerKey: managerPair().publicKey }],
  ] as const) {
    refuse(() => unlockByChallenge(scene, options), 'VEIL_OFFLINE_UNLOCK_FAILED', scene, what);
  }
  await assertUnlocked(scene, unlockByChallenge(scene));
});

test('a challenge is used once: replay, a response to an earlier challenge, a failure all use it up', async () => {
  const scene = await makeScene();
  lock(scene);
  const manager = managerPair();
  const answer = (challenge: Buffer): Buffer =>
    respond(challenge, manager, scene.offlineKey, HOST, scene.offlineRef);
  const unlock = (response: Buffer): KeyInfo[] =>
    offline.unlockResponse(scene.sealed, HOST, scene.offlineRef, manager.publicKey, response);

  // A new challenge replaces (and wipes) the one before: its response no longer opens anything.
  const first = offline.challenge();
  const second = offline.challenge();
  refuse(
    () => unlock(answer(first)),
    'VEIL_OFFLINE_UNLOCK_FAILED',
    scene,
    'a response to the replaced challenge',
  );
  // That failure used up the second challenge too.
  refuse(() => unlock(answer(second)), 'VEIL_OFFLINE_NO_CHALLENGE', scene, 'the challenge after a failure');

  // A failure for any other reason uses it up as well.
  const third = offline.challenge();
  refuse(
    () =>
      offline.unlockResponse(scene.sealed, randomUUID(), scene.offlineRef, manager.publicKey, answer(third)),
    'VEIL_OFFLINE_UNLOCK_FAILED',
    scene,
    'another host id',
  );
  refuse(() => unlock(answer(third)), 'VEIL_OFFLINE_NO_CHALLENGE', scene, 'the right response, too late');

  // A success uses it up: replaying the same response opens nothing.
  const fourth = offline.challenge();
  const response = answer(fourth);
  await assertUnlocked(scene, unlock(response));
  lock(scene);
  refuse(() => unlock(response), 'VEIL_OFFLINE_NO_CHALLENGE', scene, 'a replayed response');
  // ... and against a new challenge it is a response to another one.
  offline.challenge();
  refuse(() => unlock(response), 'VEIL_OFFLINE_UNLOCK_FAILED', scene, 'a replay against a new challenge');
});

test('a manager public key of low order (all-zero shared secret) fails and uses up the challenge', async () => {
  const scene = await makeScene();
  lock(scene);
  const p = Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex');
  const lowOrder: [string, Buffer][] = [
    ['all zero', Buffer.alloc(32)],
    ['one', Buffer.concat([Buffer.from([1]), Buffer.alloc(31)])],
    ['p (zero, not reduced)', p],
    ['p + 1 (one, not reduced)', Buffer.from(`ee${p.toString('hex').slice(2)}`, 'hex')],
  ];
  for (const [what, managerKey] of lowOrder) {
    offline.challenge();
    refuse(
      () => offline.unlockResponse(scene.sealed, HOST, scene.offlineRef, managerKey, randomBytes(48)),
      'VEIL_OFFLINE_UNLOCK_FAILED',
      scene,
      `manager key ${what}`,
    );
    refuse(
      () => offline.unlockResponse(scene.sealed, HOST, scene.offlineRef, managerKey, randomBytes(48)),
      'VEIL_OFFLINE_NO_CHALLENGE',
      scene,
      `manager key ${what}, again`,
    );
  }
});

test('bad arguments: VEIL_INVALID_ARGUMENT before anything, the challenge kept, the password wiped', async () => {
  const scene = await makeScene();
  const wrapper = passwordWrapper(scene.offlineKey, PASSWORD, HOST, scene.offlineRef);
  lock(scene);
  const invalid = 'VEIL_INVALID_ARGUMENT';
  const badWrappers: [string, Partial<OfflinePasswordWrapper>][] = [
    ['N not a power of two', { N: 3 * 2 ** 13 }],
    ['N 2^13', { N: 2 ** 13 }],
    ['N 2^21', { N: 2 ** 21 }],
    ['N 1.5', { N: 1.5 }],
    ['N a string', { N: '16384' as unknown as number }],
    ['r 0', { r: 0 }],
    ['r 33', { r: 33 }],
    ['r 8.5', { r: 8.5 }],
    ['p 0', { p: 0 }],
    ['p 17', { p: 17 }],
    ['N 2^16 with r 1 (RFC 7914: N < 2^(16 r))', { N: 2 ** 16, r: 1 }],
    ['N 2^20 with r 16 (2 GiB)', { N: 2 ** 20, r: 16 }],
    ['a 15-byte salt', { salt: randomBytes(15) }],
    ['a 17-byte salt', { salt: randomBytes(17) }],
    ['an 11-byte nonce', { nonce: randomBytes(11) }],
    ['a 47-byte ciphertext', { ciphertext: randomBytes(47) }],
    ['a 49-byte ciphertext', { ciphertext: randomBytes(49) }],
    ['a string salt', { salt: 'AAAAAAAAAAAAAAAAAAAAAA==' as unknown as Buffer }],
  ];
  const passwordCases: [string, () => Buffer, (password: Buffer) => unknown][] = [
    ...badWrappers.map(([what, change]): [string, () => Buffer, (password: Buffer) => unknown] => [
      what,
      () => Buffer.from(PASSWORD),
      (password) =>
        offline.unlockPassword(scene.sealed, HOST, scene.offlineRef, { ...wrapper, ...change }, password),
    ]),
    [
      'no wrapper',
      () => Buffer.from(PASSWORD),
      (password) =>
        offline.unlockPassword(
          scene.sealed,
          HOST,
          scene.offlineRef,
          null as unknown as OfflinePasswordWrapper,
          password,
        ),
    ],
    [
      'an empty password',
      () => Buffer.alloc(0),
      (password) => offline.unlockPassword(scene.sealed, HOST, scene.offlineRef, wrapper, password),
    ],
    [
      'a 1025-byte password',
      () => Buffer.alloc(1025, 0x61),
      (password) => offline.unlockPassword(scene.sealed, HOST, scene.offlineRef, wrapper, password),
    ],
    [
      'a bad host id',
      () => Buffer.from(PASSWORD),
      (password) =>
        offline.unlockPassword(scene.sealed, HOST.toUpperCase(), scene.offlineRef, wrapper, password),
    ],
    [
      'a bad offline key version',
      () => Buffer.from(PASSWORD),
      (password) =>
        offline.unlockPassword(scene.sealed, HOST, { ...scene.offlineRef, version: 0 }, wrapper, password),
    ],
    [
      'a sealed file that is no Buffer',
      () => Buffer.from(PASSWORD),
      (password) =>
        offline.unlockPassword(
          scene.sealed.toString('base64') as unknown as Buffer,
          HOST,
          scene.offlineRef,
          wrapper,
          password,
        ),
    ],
  ];
  for (const [what, makePassword, call] of passwordCases) {
    const password = makePassword();
    refuse(() => call(password), invalid, scene, what);
    assert.ok(password.equals(Buffer.alloc(password.length)), `${what}: the password was not wiped`);
  }
  // A password that is a Uint8Array but no Buffer is refused, and wiped all the same.
  const bytes = new Uint8Array(Buffer.from(PASSWORD));
  refuse(
    () => offline.unlockPassword(scene.sealed, HOST, scene.offlineRef, wrapper, bytes as Buffer),
    invalid,
    scene,
    'a Uint8Array password',
  );
  assert.ok(
    bytes.every((b) => b === 0),
    'the Uint8Array password was not wiped',
  );

  // Refused arguments do not use up the challenge.
  const manager = managerPair();
  const response = respond(offline.challenge(), manager, scene.offlineKey, HOST, scene.offlineRef);
  const responseCases: [string, () => unknown][] = [
    [
      'a 31-byte manager key',
      () => offline.unlockResponse(scene.sealed, HOST, scene.offlineRef, randomBytes(31), response),
    ],
    [
      'a 33-byte manager key',
      () => offline.unlockResponse(scene.sealed, HOST, scene.offlineRef, randomBytes(33), response),
    ],
    [
      'a 47-byte response',
      () =>
        offline.unlockResponse(scene.sealed, HOST, scene.offlineRef, manager.publicKey, response.subarray(1)),
    ],
    [
      'a 64-character response text',
      () =>
        offline.unlockResponse(
          scene.sealed,
          HOST,
          scene.offlineRef,
          manager.publicKey,
          response.toString('base64url') as unknown as Buffer,
        ),
    ],
    [
      'a bad host id',
      () => offline.unlockResponse(scene.sealed, 'host', scene.offlineRef, manager.publicKey, response),
    ],
    [
      'a bad offline key id',
      () =>
        offline.unlockResponse(scene.sealed, HOST, { keyId: 'k', version: 1 }, manager.publicKey, response),
    ],
  ];
  for (const [what, call] of responseCases) refuse(call, invalid, scene, what);
  await assertUnlocked(
    scene,
    offline.unlockResponse(scene.sealed, HOST, scene.offlineRef, manager.publicKey, response),
  );
});

test('the largest scrypt cost the protocol allows (N = 2^20, r = 8) unlocks', async () => {
  const scene = await makeScene();
  const wrapper = passwordWrapper(scene.offlineKey, PASSWORD, HOST, scene.offlineRef, {
    N: 2 ** 20,
    r: 8,
    p: 1,
  });
  lock(scene);
  await assertUnlocked(scene, unlockPassword(scene, wrapper));
});

test('an unlock over versions already in the table takes their states and keeps them working', async () => {
  const scene = await makeScene();
  const wrapper = passwordWrapper(scene.offlineKey, PASSWORD, HOST, scene.offlineRef);
  // Only some versions are lost, and one has another state now.
  const [lost, changed] = scene.held;
  keys.remove(lost.ref);
  keys.setState(changed.ref, 'compromised');
  await assertUnlocked(scene, unlockPassword(scene, wrapper));
});
