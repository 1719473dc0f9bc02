// Key deliveries (docs/protocol.md) from the TypeScript sender into the native core: the
// transport key, installs and withdrawals, and every refusal, which must change nothing.
// The native core keeps a process-wide highest accepted sequence: `accepted` mirrors it.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { test } from 'node:test';

import {
  createContainer,
  decodeFile,
  encodeFile,
  installDelivery,
  keys,
  transportPublicKey,
  type DeliveryResult,
  type KeyInfo,
  type KeyRef,
  type NativeErrorCode,
  type VeilNativeError,
} from '../../native/core.js';
import {
  buildDelivery,
  decodePayload,
  DELIVERY_MAGIC,
  encodePayload,
  openDelivery,
  parseDeliveryHeader,
  sealDelivery,
  STATE_CODES,
  type DeliveryEntryInput,
  type DeliveryRegions,
  type PayloadEntry,
  type PayloadTamper,
  type SealOptions,
} from '../../manager/delivery/delivery_blob.js';
import { assertNoKeyBytes, expectNativeError, expectNativeRejection } from '../support/no_key_bytes.js';

const HOST = randomUUID();
const pem = transportPublicKey();
const plain = randomBytes(9000);

/** The highest sequence this process has accepted. */
let accepted = 0n;

function newRef(version = 1): KeyRef {
  return { keyId: randomUUID(), version };
}

function entry(
  ref: KeyRef,
  state: DeliveryEntryInput['state'],
  algorithm: DeliveryEntryInput['algorithm'] = 'aes-256',
  withMaterial = true,
): DeliveryEntryInput {
  const material = withMaterial ? randomBytes(algorithm === 'aes-256' ? 32 : 16) : undefined;
  return {
    keyId: ref.keyId,
    version: ref.version,
    state,
    algorithm,
    ...(material === undefined ? {} : { material }),
  };
}

function withdrawal(ref: KeyRef, state: DeliveryEntryInput['state'] = 'deactivated'): DeliveryEntryInput {
  return entry(ref, state, 'aes-256', false);
}

function materialsOf(entries: readonly { material?: Buffer }[]): Buffer[] {
  return entries.flatMap((e) => (e.material === undefined || e.material.length === 0 ? [] : [e.material]));
}

function sorted<T extends KeyInfo>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => `${a.keyId}/${a.version}`.localeCompare(`${b.keyId}/${b.version}`));
}

function entryOf(ref: KeyRef): KeyInfo | undefined {
  return keys.list().find((info) => info.keyId === ref.keyId && info.version === ref.version);
}

/** Builds and installs a delivery with the next sequence number; checks the result. */
function deliver(entries: DeliveryEntryInput[], deliveryId = randomUUID()): DeliveryResult {
  const sequence = accepted + 1n;
  const blob = buildDelivery({ transportPublicKeyPem: pem, hostId: HOST, deliveryId, sequence, entries });
  const result = installDelivery(blob, { hostId: HOST, afterSequence: accepted });
  accepted = sequence;
  assert.equal(result.deliveryId, deliveryId);
  assert.equal(typeof result.sequence, 'bigint');
  assert.equal(result.sequence, sequence);
  assert.deepEqual(
    sorted(result.entries),
    sorted(
      entries.map(({ keyId, version, state, algorithm, material }) => ({
        keyId,
        version,
        state,
        algorithm,
        action: material === undefined ? 'withdrawn' : 'installed',
      })),
    ),
  );
  assertNoKeyBytes(result, materialsOf(entries), 'the delivery result');
  return result;
}

/** A blob that is valid except for what the options change, at the next sequence by default. */
function seal(payload: Buffer, options: Partial<SealOptions> = {}): Buffer {
  return sealDelivery({
    transportPublicKeyPem: pem,
    hostId: HOST,
    sequence: accepted + 1n,
    payload,
    ...options,
  });
}

function malformed(entries: PayloadEntry[], tamper: PayloadTamper = {}): Buffer {
  return seal(encodePayload(entries, tamper));
}

/** Expects `code`, a message free of `secrets`, and an unchanged key table. */
function refuse(
  blob: Buffer,
  code: NativeErrorCode,
  secrets: readonly Buffer[] = [],
  expected: { hostId?: string; afterSequence?: bigint } = {},
): VeilNativeError {
  const before = sorted(keys.list());
  const error = expectNativeError(
    () =>
      installDelivery(blob, {
        hostId: expected.hostId ?? HOST,
        afterSequence: expected.afterSequence ?? accepted,
      }),
    code,
    secrets,
  );
  assert.deepEqual(sorted(keys.list()), before, `a refused delivery (${code}) changed the key table`);
  return error;
}

/** A refused delivery must not have advanced the sequence: the next one is still accepted. */
function assertSequenceNotConsumed(): void {
  deliver([]);
}

function removeAll(entries: readonly KeyRef[]): void {
  for (const ref of entries) keys.remove(ref);
}

test('transportPublicKey is an RSA-3072 SubjectPublicKeyInfo PEM, stable across calls', () => {
  assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n?$/);
  const key = createPublicKey(pem);
  assert.equal(key.type, 'public');
  assert.equal(key.asymmetricKeyType, 'rsa');
  assert.equal(key.asymmetricKeyDetails?.modulusLength, 3072);
  for (let i = 0; i < 3; i++) assert.equal(transportPublicKey(), pem);
});

test('the sender lays the blob out as docs/protocol.md says', () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  const deliveryId = randomUUID();
  const entries = [
    entry(newRef(), 'active'),
    entry(newRef(4), 'compromised', 'aes-128'),
    withdrawal(newRef()),
  ];
  const blob = buildDelivery({
    transportPublicKeyPem: publicKey,
    hostId: HOST,
    deliveryId,
    sequence: 0x0102030405060708n,
    createdAt: 1_700_000_000_123,
    entries,
  });
  const header = parseDeliveryHeader(blob);
  assert.ok(header.magic.equals(DELIVERY_MAGIC));
  assert.equal(blob.subarray(0, 8).toString('latin1'), '\x89VEILKD1');
  assert.deepEqual(
    [header.version, header.reserved, header.hostId, header.deliveryId, header.sequence, header.createdAt],
    [1, 0, HOST, deliveryId, 0x0102030405060708n, 1_700_000_000_123n],
  );
  assert.equal(header.wrappedKeyLength, 384);
  assert.ok(blob.subarray(44, 52).equals(Buffer.from('0102030405060708', 'hex')));
  const payloadLength = 2 + 3 * 24 + 32 + 16;
  assert.equal(blob.length, 62 + 384 + 12 + payloadLength + 16);
  const { payload } = openDelivery(blob, privateKey);
  assert.deepEqual(
    decodePayload(payload),
    entries.map((e) => ({
      keyId: e.keyId,
      version: e.version,
      state: STATE_CODES[e.state],
      algorithm: e.algorithm === 'aes-256' ? 1 : 2,
      material: e.material ?? Buffer.alloc(0),
    })),
  );
  // The checked sender refuses what the protocol forbids.
  const ref = newRef();
  const bad: DeliveryEntryInput[][] = [
    [entry(ref, 'destroyed')],
    [entry(ref, 'active'), entry(ref, 'suspended')],
    [{ ...entry(ref, 'active'), material: randomBytes(16) }],
    [{ ...entry(ref, 'active'), version: 0 }],
  ];
  for (const entries of bad) {
    assert.throws(() =>
      buildDelivery({ transportPublicKeyPem: publicKey, hostId: HOST, sequence: 1n, entries }),
    );
  }
  assert.throws(() =>
    buildDelivery({ transportPublicKeyPem: publicKey, hostId: HOST, sequence: 0n, entries: [] }),
  );
});

test('a delivery installs keys, a redelivery changes their state, a withdrawal removes them', async () => {
  const a1 = entry(newRef(1), 'active');
  const a2 = entry({ keyId: a1.keyId, version: 2 }, 'pre-activation', 'aes-128');
  const b1 = entry(newRef(1), 'active', 'aes-128');
  const b3 = entry({ keyId: b1.keyId, version: 3 }, 'suspended');
  const c1 = entry(newRef(1), 'deactivated');
  const c2 = entry({ keyId: c1.keyId, version: 2 }, 'compromised', 'aes-128');
  const all = [a1, a2, b1, b3, c1, c2];
  const materials = materialsOf(all).map((m) => Buffer.from(m));
  try {
    deliver(all);
    for (const e of all) {
      assert.deepEqual(entryOf(e), {
        keyId: e.keyId,
        version: e.version,
        state: e.state,
        algorithm: e.algorithm,
      });
    }
    assertNoKeyBytes(keys.list(), materials, 'keys.list()');
    const underA1 = await encodeFile(a1, 'aes-256-gcm', plain);
    const underB1 = await encodeFile(b1, 'aes-256-xts', plain);
    assert.ok((await decodeFile(underA1)).equals(plain));
    assert.ok((await decodeFile(underB1)).equals(plain));
    for (const e of [a2, b3, c1, c2]) {
      expectNativeError(() => createContainer(e, 'aes-256-gcm'), 'VEIL_KEY_NOT_ACTIVE', materials);
    }

    // A state change is a redelivery of the same version.
    deliver([{ ...a1, state: 'deactivated' }]);
    assert.equal(entryOf(a1)?.state, 'deactivated');
    assert.ok((await decodeFile(underA1)).equals(plain));
    expectNativeError(() => createContainer(a1, 'aes-256-gcm'), 'VEIL_KEY_NOT_ACTIVE', materials);

    // Withdrawals, one of them as destroyed.
    deliver([withdrawal(a1), withdrawal(b1, 'destroyed')]);
    assert.equal(entryOf(a1), undefined);
    assert.equal(entryOf(b1), undefined);
    assert.notEqual(entryOf(a2), undefined);
    await expectNativeRejection(() => decodeFile(underA1), 'VEIL_KEY_NOT_FOUND', materials);
    await expectNativeRejection(() => decodeFile(underB1), 'VEIL_KEY_NOT_FOUND', materials);

    // What was installed was exactly the material sent: the same bytes imported raw decode.
    keys.importRaw(a1, 'deactivated', Buffer.from(a1.material!));
    keys.importRaw(b1, 'deactivated', Buffer.from(b1.material!));
    assert.ok((await decodeFile(underA1)).equals(plain));
    assert.ok((await decodeFile(underB1)).equals(plain));
  } finally {
    removeAll(all);
  }
});

test('a redelivery with other material for a version replaces it', async () => {
  const first = entry(newRef(), 'active');
  const second = entry(first, 'active');
  try {
    deliver([first]);
    const before = await encodeFile(first, 'aes-256-gcm', plain);
    deliver([second]);
    await expectNativeRejection(
      () => decodeFile(before),
      'VEIL_CRYPTO_AUTH_FAILED',
      materialsOf([first, second]),
    );
    assert.ok((await decodeFile(await encodeFile(second, 'aes-256-gcm', plain))).equals(plain));
  } finally {
    keys.remove(first);
  }
});

test('withdrawing a version the host does not hold is accepted', () => {
  const ref = newRef(9);
  deliver([withdrawal(ref)]);
  assert.equal(entryOf(ref), undefined);
});

test('a delivery of the maximum 1024 entries is accepted, 1025 are refused', () => {
  const refs = Array.from({ length: 1024 }, (_, i) => ({ keyId: randomUUID(), version: i + 1 }));
  const entries = refs.map((ref, i) => entry(ref, 'active', i % 2 === 0 ? 'aes-256' : 'aes-128'));
  try {
    const extra = entry(newRef(), 'active');
    refuse(malformed([...entries, extra]), 'VEIL_DELIVERY_REJECTED', materialsOf([...entries, extra]));
    deliver(entries);
    assert.equal(keys.list().filter((info) => refs.some((r) => r.keyId === info.keyId)).length, 1024);
    deliver(refs.map((ref) => withdrawal(ref)));
    assert.equal(keys.list().filter((info) => refs.some((r) => r.keyId === info.keyId)).length, 0);
  } finally {
    removeAll(refs);
  }
});

test('refused: a blob for another host', () => {
  const e = entry(newRef(), 'active');
  const other = randomUUID();
  refuse(
    buildDelivery({ transportPublicKeyPem: pem, hostId: HOST, sequence: accepted + 1n, entries: [e] }),
    'VEIL_DELIVERY_WRONG_HOST',
    [e.material!],
    { hostId: other },
  );
  refuse(
    buildDelivery({ transportPublicKeyPem: pem, hostId: other, sequence: accepted + 1n, entries: [e] }),
    'VEIL_DELIVERY_WRONG_HOST',
    [e.material!],
  );
  assert.equal(entryOf(e), undefined);
  assertSequenceNotConsumed();
});

test('refused: replays and sequence numbers not above both the agent one and the process one', () => {
  const e = entry(newRef(), 'active');
  const secrets = [Buffer.from(e.material!)];
  const sequence = accepted + 1n;
  const blob = buildDelivery({ transportPublicKeyPem: pem, hostId: HOST, sequence, entries: [e] });
  try {
    installDelivery(blob, { hostId: HOST, afterSequence: accepted });
    accepted = sequence;
    keys.remove(e);
    // The same blob again, whatever the agent says it accepted last.
    refuse(blob, 'VEIL_DELIVERY_REPLAYED', secrets);
    refuse(blob, 'VEIL_DELIVERY_REPLAYED', secrets, { afterSequence: 0n });
    // The host check comes first.
    refuse(blob, 'VEIL_DELIVERY_WRONG_HOST', secrets, { hostId: randomUUID() });
    // The sequence check comes before decryption.
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 1] ^= 1;
    refuse(tampered, 'VEIL_DELIVERY_REPLAYED', secrets, { afterSequence: 0n });
    // Fresh blobs with a low sequence.
    const fresh = (seq: bigint): Buffer => seal(encodePayload([e]), { sequence: seq });
    refuse(fresh(accepted), 'VEIL_DELIVERY_REPLAYED', secrets, { afterSequence: 0n });
    refuse(fresh(accepted - 1n), 'VEIL_DELIVERY_REPLAYED', secrets, { afterSequence: 0n });
    refuse(fresh(0n), 'VEIL_DELIVERY_REPLAYED', secrets, { afterSequence: 0n });
    // Above the process one but not above the agent's.
    refuse(fresh(accepted + 1n), 'VEIL_DELIVERY_REPLAYED', secrets, { afterSequence: accepted + 1n });
    refuse(fresh(accepted + 1n), 'VEIL_DELIVERY_REPLAYED', secrets, { afterSequence: accepted + 100n });
    assert.equal(entryOf(e), undefined);
    assertSequenceNotConsumed();
  } finally {
    keys.remove(e);
  }
});

test('sequence numbers count per host id: a process registered again as another host starts anew', () => {
  const e = entry(newRef(), 'active');
  const other = randomUUID();
  try {
    assert.ok(accepted >= 1n, 'HOST has accepted deliveries in this process');
    const first = buildDelivery({ transportPublicKeyPem: pem, hostId: other, sequence: 1n, entries: [e] });
    assert.equal(installDelivery(first, { hostId: other, afterSequence: 0n }).sequence, 1n);
    refuse(first, 'VEIL_DELIVERY_REPLAYED', [Buffer.from(e.material!)], { hostId: other, afterSequence: 0n });
    // HOST's own count is untouched by the other host's.
    assertSequenceNotConsumed();
  } finally {
    keys.remove(e);
  }
});

test('refused: a blob encrypted to another key, or with another OAEP, or a one-time key of another size', () => {
  const e = entry(newRef(), 'active');
  const payload = encodePayload([e]);
  const secrets = [Buffer.from(e.material!)];
  const messages = new Set<string>();
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
  messages.add(
    refuse(seal(payload, { transportPublicKeyPem: publicKey }), 'VEIL_DELIVERY_REJECTED', secrets).message,
  );
  // A 2048-bit key makes w 256: a layout failure (step 1), whose message may differ.
  const small = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  refuse(seal(payload, { transportPublicKeyPem: small }), 'VEIL_DELIVERY_REJECTED', secrets);
  messages.add(refuse(seal(payload, { oaepHash: 'sha1' }), 'VEIL_DELIVERY_REJECTED', secrets).message);
  messages.add(refuse(seal(payload, { oaepHash: 'sha512' }), 'VEIL_DELIVERY_REJECTED', secrets).message);
  messages.add(
    refuse(seal(payload, { oaepLabel: Buffer.from('veil') }), 'VEIL_DELIVERY_REJECTED', secrets).message,
  );
  for (const length of [0, 16, 31, 33, 64]) {
    const oneTimeKey = randomBytes(length);
    const blob = seal(payload, { oneTimeKey });
    messages.add(
      refuse(blob, 'VEIL_DELIVERY_REJECTED', [...secrets, ...(length ? [oneTimeKey] : [])]).message,
    );
  }
  assert.equal(messages.size, 1, `decryption failures give different messages: ${[...messages].join(' | ')}`);
  assertSequenceNotConsumed();
});

test('refused: one flipped byte anywhere in the blob', () => {
  const entries = [entry(newRef(), 'active'), entry(newRef(), 'suspended', 'aes-128')];
  const oneTimeKey = randomBytes(32);
  const secrets = [...materialsOf(entries).map((m) => Buffer.from(m)), oneTimeKey];
  const blob = seal(encodePayload(entries), { oneTimeKey });
  const { regions, sequence } = parseDeliveryHeader(blob);
  const cryptoMessages = new Set<string>();
  const tried = new Map<string, number>();
  for (const [region, [start, end]] of Object.entries(regions) as [
    keyof DeliveryRegions,
    [number, number],
  ][]) {
    for (let at = start; at < end; at++) {
      for (const mask of region === 'sequence' ? [0x01, 0x80] : [0x01]) {
        const flipped = Buffer.from(blob);
        flipped[at] ^= mask;
        let code: NativeErrorCode = 'VEIL_DELIVERY_REJECTED';
        if (region === 'hostId') code = 'VEIL_DELIVERY_WRONG_HOST';
        if (region === 'sequence' && flipped.readBigUInt64BE(44) <= accepted) code = 'VEIL_DELIVERY_REPLAYED';
        const error = refuse(flipped, code, secrets);
        const authenticatedOnly = [
          'deliveryId',
          'createdAt',
          'sequence',
          'wrappedKey',
          'nonce',
          'ciphertext',
          'tag',
        ];
        if (code === 'VEIL_DELIVERY_REJECTED' && authenticatedOnly.includes(region))
          cryptoMessages.add(error.message);
        tried.set(region, (tried.get(region) ?? 0) + 1);
      }
    }
  }
  assert.equal(tried.get('wrappedKey'), 384);
  assert.equal(tried.get('tag'), 16);
  assert.equal(
    cryptoMessages.size,
    1,
    `decryption failures give different messages: ${[...cryptoMessages].join(' | ')}`,
  );
  // The untouched blob is still good: none of the refusals consumed its sequence number.
  assert.equal(sequence, accepted + 1n);
  try {
    installDelivery(blob, { hostId: HOST, afterSequence: accepted });
    accepted = sequence;
    for (const e of entries) assert.equal(entryOf(e)?.state, e.state);
  } finally {
    removeAll(entries);
  }
});

test('refused: truncated, empty, extended and oversized blobs', () => {
  const e = entry(newRef(), 'active');
  const secrets = [Buffer.from(e.material!)];
  const blob = seal(encodePayload([e]));
  const w = 384;
  const cuts = [
    0,
    1,
    8,
    12,
    27,
    28,
    44,
    52,
    61,
    62,
    62 + w - 1,
    62 + w,
    74 + w - 1,
    74 + w,
    74 + w + 15,
    74 + w + 16,
  ];
  for (const length of [...cuts, blob.length - 16, blob.length - 1]) {
    refuse(blob.subarray(0, length), 'VEIL_DELIVERY_REJECTED', secrets);
  }
  refuse(Buffer.alloc(0), 'VEIL_DELIVERY_REJECTED');
  refuse(Buffer.concat([blob, Buffer.alloc(1)]), 'VEIL_DELIVERY_REJECTED', secrets);
  for (const size of [1024 * 1024 + 1, 16 * 1024 * 1024]) {
    refuse(Buffer.concat([blob, Buffer.alloc(size - blob.length)]), 'VEIL_DELIVERY_REJECTED', secrets);
  }
  // A header claiming no wrapped key at all.
  const noKey = Buffer.from(blob.subarray(0, 62 + 12 + 16));
  noKey.writeUInt16BE(0, 60);
  refuse(noKey, 'VEIL_DELIVERY_REJECTED');
  assertSequenceNotConsumed();
});

test('refused: malformed payloads install nothing and withdraw nothing', () => {
  const kept = entry(newRef(), 'active');
  deliver([kept]);
  const fresh = entry(newRef(), 'active');
  const fresh128 = entry(newRef(), 'deactivated', 'aes-128');
  const good: PayloadEntry[] = [fresh, fresh128, withdrawal(kept)];
  const dup = entry(newRef(), 'active');
  const cases: [string, PayloadEntry[], PayloadTamper?][] = [
    ['destroyed with material', [...good, entry(newRef(), 'destroyed')]],
    ['duplicate key version', [...good, dup, { ...dup, state: 'suspended' }]],
    ['duplicate: install and withdraw', [...good, dup, withdrawal(dup)]],
    ['duplicate withdrawal', [...good, withdrawal(dup), withdrawal(dup)]],
    ['count above the entries', good, { count: good.length + 1 }],
    ['count below the entries', good, { count: good.length - 1 }],
    ['count zero with entries', good, { count: 0 }],
    ['one trailing byte', good, { trailing: Buffer.alloc(1) }],
    ['a trailing entry header', good, { trailing: Buffer.alloc(24) }],
    ['algorithm 0', [...good, { ...entry(newRef(), 'active'), algorithm: 0 }]],
    ['algorithm 3', [...good, { ...entry(newRef(), 'active'), algorithm: 3 }]],
    ['algorithm 3, withdrawing', [...good, { ...withdrawal(newRef()), algorithm: 3 }]],
    ['state 0', [...good, { ...entry(newRef(), 'active'), state: 0 }]],
    ['state 7', [...good, { ...entry(newRef(), 'active'), state: 7 }]],
    ['version 0', [...good, { ...entry(newRef(), 'active'), version: 0 }]],
    ['aes-256 with 16 bytes', [...good, { ...entry(newRef(), 'active'), material: randomBytes(16) }]],
    [
      'aes-128 with 32 bytes',
      [...good, { ...entry(newRef(), 'active', 'aes-128'), material: randomBytes(32) }],
    ],
    ['aes-256 with 31 bytes', [...good, { ...entry(newRef(), 'active'), material: randomBytes(31) }]],
    [
      'material shorter than its length',
      [...good, { ...entry(newRef(), 'active'), material: randomBytes(16), materialLength: 32 }],
    ],
    ['count above 1024', good, { count: 1025 }],
  ];
  for (const [name, entries, tamper] of cases) {
    const error = refuse(malformed(entries, tamper), 'VEIL_DELIVERY_REJECTED', materialsOf(entries));
    assert.ok(error.message.length > 0, name);
  }
  refuse(seal(Buffer.alloc(0)), 'VEIL_DELIVERY_REJECTED');
  refuse(seal(Buffer.alloc(1)), 'VEIL_DELIVERY_REJECTED');
  assert.notEqual(entryOf(kept), undefined);
  assert.equal(entryOf(fresh), undefined);
  // Without the bad entry the same delivery is accepted.
  try {
    deliver([fresh, fresh128, withdrawal(kept)]);
    assert.equal(entryOf(kept), undefined);
    assert.equal(entryOf(fresh)?.state, 'active');
  } finally {
    removeAll([kept, fresh, fresh128]);
  }
});
