// Tampered, truncated and malformed containers against both decoders, the native core and
// the reference codec of docs/format.md: each must refuse with the exact code of the doc's
// Errors table (and return no bytes), or, where the doc says so, read the container.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { CIPHERS, VeilNativeError, decodeFile, encodeFile, type CipherName } from '../../native/core.js';
import {
  HEADER_SIZE,
  blockOffset,
  decodeContainer,
  encodeContainer,
  entryOffset,
  keyringOf,
  storedEnd,
  u64,
  type EncodeOptions,
  type FormatErrorCode,
} from '../reference/container_codec.js';
import {
  TestKeys,
  describeError,
  nativeError,
  nativeRejects,
  plaintext,
  referenceError,
  referenceThrows,
  type GuardKey,
} from './format_support.js';

const testKeys = new TestKeys();
let key: GuardKey; // the key of every container here, one version only
let rotated: GuardKey; // version 1 of a key that also has version 2
let rotatedV2: GuardKey;
let other: GuardKey;

before(() => {
  key = testKeys.add();
  rotated = testKeys.add();
  rotatedV2 = testKeys.add({ keyId: rotated.keyId, version: 2 });
  other = testKeys.add();
});
after(() => testKeys.removeAll());

/** Checks both decoders: `expected` is an error code, or the plaintext they must return. */
async function both(container: Buffer, expected: FormatErrorCode | Buffer, what: string): Promise<void> {
  if (Buffer.isBuffer(expected)) {
    assert.ok(decodeContainer(container, testKeys.keyring).equals(expected), `${what}: reference plaintext`);
    assert.ok((await decodeFile(container)).equals(expected), `${what}: native plaintext`);
  } else {
    referenceThrows(() => decodeContainer(container, testKeys.keyring), expected, what);
    await nativeRejects(decodeFile(container), expected, what);
  }
}

const encode = (options: Omit<EncodeOptions, 'keyring'>): Buffer =>
  encodeContainer({ keyring: testKeys.keyring, ...options });

function flipBit(data: Buffer, bit: number): Buffer {
  const copy = Buffer.from(data);
  copy[bit >> 3] ^= 1 << (bit & 7);
  return copy;
}

/** What a decoder must say about a container whose header byte `offset` has one bit flipped. */
function flippedHeaderCode(offset: number): FormatErrorCode {
  if (offset < 8) return 'VEIL_FORMAT_BAD_MAGIC';
  if (offset < 12) return 'VEIL_FORMAT_UNSUPPORTED_VERSION';
  if (offset < 16) return 'VEIL_FORMAT_UNKNOWN_FEATURE';
  if (offset >= 56 && offset < 76) return 'VEIL_KEY_NOT_FOUND'; // slot A's key id and version
  return 'VEIL_CRYPTO_AUTH_FAILED'; // slot A's wrap (its AD binds the file id) or the header MAC
}

for (const cipher of CIPHERS) {
  describe(`${cipher}: every bit of the header flipped`, () => {
    let container: Buffer;
    before(async () => {
      container = await encodeFile(key, cipher, plaintext(100));
    });

    test('native decodeFile refuses each with the code of the step that catches it', async () => {
      const wrong: string[] = [];
      for (let bit = 0; bit < HEADER_SIZE * 8; bit++) {
        const expected = flippedHeaderCode(bit >> 3);
        const error = await nativeError(decodeFile(flipBit(container, bit)));
        if (!(error instanceof VeilNativeError) || error.code !== expected) {
          wrong.push(
            `bit ${bit} (byte ${bit >> 3}): want ${expected}, got ${error ? describeError(error) : 'bytes'}`,
          );
        }
      }
      assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} of 4096 flips decoded wrongly`);
    });

    test('the reference decoder refuses each with the same code', () => {
      const wrong: string[] = [];
      for (let bit = 0; bit < HEADER_SIZE * 8; bit++) {
        const expected = flippedHeaderCode(bit >> 3);
        const error = referenceError(() => decodeContainer(flipBit(container, bit), testKeys.keyring));
        if ((error as { code?: string } | undefined)?.code !== expected) {
          wrong.push(
            `bit ${bit} (byte ${bit >> 3}): want ${expected}, got ${error ? describeError(error) : 'bytes'}`,
          );
        }
      }
      assert.deepEqual(wrong.slice(0, 20), [], `${wrong.length} of 4096 flips decoded wrongly`);
    });

    test('a container shorter than a header is not a container', async () => {
      for (const length of [0, 8, 100, HEADER_SIZE - 1]) {
        await both(container.subarray(0, length), 'VEIL_FORMAT_BAD_MAGIC', `${length} bytes`);
      }
    });
  });
}

test('every authentication failure has the same message, whatever failed', async () => {
  const container = encode({ key, cipher: 'aes-256-gcm', plaintext: plaintext(5000) });
  const tampered = [60 + 40, 300, 490, blockOffset(0) + 20, entryOffset(1) + 20].map((offset) => {
    const copy = Buffer.from(container);
    copy[offset] ^= 1;
    return copy; // slot A's wrapped key, reserved bytes, the MAC, block 0, block 1's tag
  });
  const nativeMessages = new Set<string>();
  const referenceMessages = new Set<string>();
  for (const copy of tampered) {
    const error = await nativeError(decodeFile(copy));
    assert.ok(
      error instanceof VeilNativeError && error.code === 'VEIL_CRYPTO_AUTH_FAILED',
      describeError(error),
    );
    nativeMessages.add(error.message);
    referenceMessages.add((referenceError(() => decodeContainer(copy, testKeys.keyring)) as Error).message);
  }
  assert.equal(nativeMessages.size, 1, [...nativeMessages].join(' | '));
  assert.equal(referenceMessages.size, 1, [...referenceMessages].join(' | '));
});

describe('headers with a good MAC and a bad field', () => {
  const plain = plaintext(10000); // n = 3 blocks
  const set = (offset: number, value: number) => (h: Buffer) => void (h[offset] = value);
  const unknown = { keyId: crypto.randomUUID(), version: 1 };
  const writeKeyId = (h: Buffer, at: number, k: { keyId: string }) =>
    Buffer.from(k.keyId.replaceAll('-', ''), 'hex').copy(h, at);
  const cases: { what: string; code: FormatErrorCode; cipher?: CipherName; edit: (h: Buffer) => void }[] = [
    { what: 'magic', code: 'VEIL_FORMAT_BAD_MAGIC', edit: set(3, 0x45) },
    { what: 'format version 1', code: 'VEIL_FORMAT_UNSUPPORTED_VERSION', edit: set(9, 1) },
    { what: 'format version 3', code: 'VEIL_FORMAT_UNSUPPORTED_VERSION', edit: set(9, 3) },
    { what: 'format version 0', code: 'VEIL_FORMAT_UNSUPPORTED_VERSION', edit: set(9, 0) },
    {
      what: 'header length 1024',
      code: 'VEIL_FORMAT_UNSUPPORTED_VERSION',
      edit: (h) => h.writeUInt16BE(1024, 10),
    },
    { what: 'feature flag bit 0', code: 'VEIL_FORMAT_UNKNOWN_FEATURE', edit: set(15, 1) },
    { what: 'feature flag bit 31', code: 'VEIL_FORMAT_UNKNOWN_FEATURE', edit: set(12, 0x80) },
    { what: 'cipher 0', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(16, 0) },
    { what: 'cipher 3', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(16, 3) },
    { what: 'block size 13', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(17, 13) },
    { what: 'block size 0', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(17, 0) },
    { what: 'state 2', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(18, 2) },
    { what: 'state 1 with XTS', code: 'VEIL_FORMAT_CORRUPT_HEADER', cipher: 'aes-256-xts', edit: set(18, 1) },
    { what: 'reserved byte 19', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(19, 1) },
    { what: 'reserved byte 23', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(23, 0x80) },
    { what: 'reserved byte 224', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(224, 1) },
    { what: 'reserved byte 479', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(479, 1) },
    { what: "slot A's reserved byte 76", code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(76, 1) },
    {
      what: 'logical size 2^48 + 1',
      code: 'VEIL_FORMAT_CORRUPT_HEADER',
      edit: (h) => u64(2 ** 48 + 1).copy(h, 40),
    },
    { what: 'logical size 2^64 − 1', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: (h) => h.fill(0xff, 40, 48) },
    {
      what: 'logical size 2^48 (allowed, blocks missing)',
      code: 'VEIL_FORMAT_TRUNCATED',
      edit: (h) => u64(2 ** 48).copy(h, 40),
    },
    { what: 'progress mark 1 in state 0', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(55, 1) },
    { what: 'slot B byte 140 set in state 0', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(140, 1) },
    { what: 'slot B byte 223 set in state 0', code: 'VEIL_FORMAT_CORRUPT_HEADER', edit: set(223, 1) },
    { what: 'slot A relabelled to version 2 of its key', code: 'VEIL_CRYPTO_AUTH_FAILED', edit: set(75, 2) },
    {
      what: 'slot A relabelled to another key',
      code: 'VEIL_CRYPTO_AUTH_FAILED',
      edit: (h) => writeKeyId(h, 56, other),
    },
    {
      what: 'slot A naming an unknown key',
      code: 'VEIL_KEY_NOT_FOUND',
      edit: (h) => writeKeyId(h, 56, unknown),
    },
    { what: "slot A's wrapped key", code: 'VEIL_CRYPTO_AUTH_FAILED', edit: set(100, 0) },
  ];
  for (const c of cases) {
    test(`${c.what} → ${c.code}`, async () => {
      const container = encode({
        key: rotated,
        cipher: c.cipher ?? 'aes-256-gcm',
        plaintext: plain,
        editHeader: c.edit,
      });
      await both(container, c.code, c.what);
    });
  }
});

describe('aes-256-gcm: re-encrypting headers (state 1)', () => {
  const plain = plaintext(10000); // n = 3 blocks
  const state1 = (reencrypting: EncodeOptions['reencrypting'], editHeader?: (h: Buffer) => void) =>
    encode({ key: rotated, cipher: 'aes-256-gcm', plaintext: plain, reencrypting, editHeader });

  test('progress mark 0 … n, blocks before p under slot B, the fallback after p', async () => {
    for (const [progress, written] of [
      [0, 0],
      [0, 1],
      [1, 1],
      [1, 3],
      [2, 2],
      [3, 3],
    ]) {
      await both(
        state1({ key: rotatedV2, progress, written }),
        plain,
        `p=${progress}, ${written} blocks under B`,
      );
    }
  });

  test('progress mark n + 1 → VEIL_FORMAT_CORRUPT_HEADER', async () => {
    const container = state1({ key: rotatedV2, progress: 3 }, (h) => u64(4).copy(h, 48));
    await both(container, 'VEIL_FORMAT_CORRUPT_HEADER', 'p = n + 1');
  });

  test("slot B's reserved byte → VEIL_FORMAT_CORRUPT_HEADER", async () => {
    await both(
      state1({ key: rotatedV2, progress: 1 }, (h) => void (h[160] = 1)),
      'VEIL_FORMAT_CORRUPT_HEADER',
      'slot B reserved',
    );
  });

  test('a block before the progress mark still under slot A reads (the mark went ahead of the disk)', async () => {
    const container = state1({ key: rotatedV2, progress: 2, written: 1 });
    const plain = decodeContainer(container, testKeys.keyring);
    assert.ok((await decodeFile(container)).equals(plain), 'native and reference agree');
    assert.ok(decodeContainer(state1({ key: rotatedV2, progress: 2 }), testKeys.keyring).equals(plain));
  });

  test('a block that fails under both keys', async () => {
    const container = state1({ key: rotatedV2, progress: 1, written: 2 });
    for (const block of [0, 1, 2]) {
      const tampered = Buffer.from(container);
      tampered[blockOffset(block) + 100] ^= 1;
      await both(tampered, 'VEIL_CRYPTO_AUTH_FAILED', `block ${block}`);
    }
  });

  test("slot B's key missing → VEIL_KEY_NOT_FOUND", async () => {
    const ghost = { keyId: crypto.randomUUID(), version: 1, material: crypto.randomBytes(32) };
    const container = encodeContainer({
      keyring: keyringOf([...testKeys.all, ghost]),
      key: rotated,
      cipher: 'aes-256-gcm',
      plaintext: plain,
      reencrypting: { key: ghost, progress: 1 },
    });
    await both(container, 'VEIL_KEY_NOT_FOUND', 'slot B under an unknown key');
  });

  test('slot B all zero in state 1 → VEIL_KEY_NOT_FOUND (no key has id 0, version 0)', async () => {
    await both(
      state1({ key: rotatedV2, progress: 0 }, (h) => h.fill(0, 140, 224)),
      'VEIL_KEY_NOT_FOUND',
      'zero slot B',
    );
  });

  test("slot A's wrap copied into slot B (slot index in the AD) → VEIL_CRYPTO_AUTH_FAILED", async () => {
    const container = state1({ key: rotatedV2, progress: 0 }, (h) => h.copy(h, 140, 56, 140));
    await both(container, 'VEIL_CRYPTO_AUTH_FAILED', 'slot A in slot B');
  });

  test("slot B copied from another file's header (file id in the AD) → VEIL_CRYPTO_AUTH_FAILED", async () => {
    const donor = state1({ key: rotatedV2, progress: 0 });
    const container = state1({ key: rotatedV2, progress: 0 }, (h) => donor.copy(h, 140, 140, 224));
    await both(container, 'VEIL_CRYPTO_AUTH_FAILED', "another file's slot B");
  });

  test('slot B moved into slot A → VEIL_CRYPTO_AUTH_FAILED', async () => {
    const container = state1({ key: rotatedV2, progress: 0 });
    container.copy(container, 56, 140, 224);
    await both(container, 'VEIL_CRYPTO_AUTH_FAILED', 'slot B in slot A');
  });
});

describe('aes-256-gcm: blocks', () => {
  const plain = plaintext(10000); // 3 blocks, the last holds 1808 bytes
  let container: Buffer;
  before(() => {
    container = encode({ key, cipher: 'aes-256-gcm', plaintext: plain });
  });
  /** Block i as stored: its data page and its tag entry. */
  const blockOf = (from: Buffer, i: number) => ({
    page: Buffer.from(from.subarray(blockOffset(i), blockOffset(i) + 4096)),
    entry: Buffer.from(from.subarray(entryOffset(i), entryOffset(i) + 28)),
  });
  const withBlock = (i: number, block: { page: Buffer; entry: Buffer }, into = container) => {
    const copy = Buffer.from(into);
    block.page.copy(copy, blockOffset(i));
    block.entry.copy(copy, entryOffset(i));
    return copy;
  };

  test('the untouched container reads', async () => {
    await both(container, plain, 'untouched');
  });

  test('a byte flipped in the nonce, ciphertext, padding or tag of each block', async () => {
    const kinds = {
      nonce: (i: number) => [entryOffset(i), entryOffset(i) + 11],
      tag: (i: number) => [entryOffset(i) + 12, entryOffset(i) + 27],
      ciphertext: (i: number) => [blockOffset(i), blockOffset(i) + 2048, blockOffset(i) + 4095],
      padding: (i: number) => [blockOffset(i) + 1808 + 7],
    };
    for (let i = 0; i < 3; i++) {
      for (const [kind, offsets] of Object.entries(kinds)) {
        for (const offset of offsets(i)) {
          const tampered = Buffer.from(container);
          tampered[offset] ^= 0x40;
          await both(tampered, 'VEIL_CRYPTO_AUTH_FAILED', `block ${i} ${kind} byte ${offset}`);
        }
      }
    }
  });

  test('blocks swapped, one copied over another, or a page paired with another entry', async () => {
    const [b0, b1] = [blockOf(container, 0), blockOf(container, 1)];
    await both(withBlock(0, b1, withBlock(1, b0)), 'VEIL_CRYPTO_AUTH_FAILED', 'blocks 0 and 1 swapped');
    await both(withBlock(1, b0), 'VEIL_CRYPTO_AUTH_FAILED', 'block 0 copied to 1');
    await both(
      withBlock(1, { page: b1.page, entry: b0.entry }),
      'VEIL_CRYPTO_AUTH_FAILED',
      "block 0's entry",
    );
  });

  test('a block from another file under the same key', async () => {
    const donor = encode({ key, cipher: 'aes-256-gcm', plaintext: plain });
    await both(withBlock(1, blockOf(donor, 1)), 'VEIL_CRYPTO_AUTH_FAILED', 'block 1 of another file');
  });

  test('a block of the same file under its previous file key (before a full re-encryption)', async () => {
    const fileId = container.subarray(24, 40);
    const previous = encode({ key, cipher: 'aes-256-gcm', plaintext: plain, random: { fileId } });
    assert.deepEqual(previous.subarray(24, 40), fileId);
    await both(
      withBlock(1, blockOf(previous, 1)),
      'VEIL_CRYPTO_AUTH_FAILED',
      'block 1 under the old file key',
    );
  });

  test('a block or its entry overwritten with zeros (GCM has no holes)', async () => {
    for (let i = 0; i < 3; i++) {
      const { page, entry } = blockOf(container, i);
      const zeros = { page: Buffer.alloc(4096), entry: Buffer.alloc(28) };
      await both(withBlock(i, zeros), 'VEIL_CRYPTO_AUTH_FAILED', `zero block ${i}`);
      await both(withBlock(i, { page, entry: zeros.entry }), 'VEIL_CRYPTO_AUTH_FAILED', `zero entry ${i}`);
      await both(withBlock(i, { page: zeros.page, entry }), 'VEIL_CRYPTO_AUTH_FAILED', `zero page ${i}`);
    }
  });

  test('bytes of the last block beyond the logical size are ignored', async () => {
    const longer = plaintext(12288, 'longer');
    const shortened = encode({
      key,
      cipher: 'aes-256-gcm',
      plaintext: longer,
      editHeader: (h) => u64(10000).copy(h, 40),
    });
    await both(shortened, longer.subarray(0, 10000), 'size 10000 over 3 full blocks');
  });

  test("a block in a later group: its entry is in that group's tag page", async () => {
    const big = plaintext(130 * 4096 + 1, 'two groups');
    const twoGroups = encode({ key, cipher: 'aes-256-gcm', plaintext: big });
    await both(twoGroups, big, 'untouched');
    for (const i of [127, 128, 130]) {
      const tampered = Buffer.from(twoGroups);
      tampered[entryOffset(i) + 20] ^= 1;
      await both(tampered, 'VEIL_CRYPTO_AUTH_FAILED', `block ${i}'s tag`);
    }
    const moved = Buffer.from(twoGroups);
    moved.copy(moved, entryOffset(128), entryOffset(0), entryOffset(0) + 28); // group 0's entry 0
    await both(moved, 'VEIL_CRYPTO_AUTH_FAILED', "block 0's entry as block 128's");
  });
});

for (const cipher of CIPHERS) {
  describe(`${cipher}: truncation and trailing bytes`, () => {
    const plain = plaintext(10000);
    let container: Buffer;
    before(() => {
      container = encode({ key, cipher, plaintext: plain });
    });

    test('a container cut short at a block boundary or mid-block → VEIL_FORMAT_TRUNCATED', async () => {
      for (const length of [
        HEADER_SIZE,
        HEADER_SIZE + 1,
        4095,
        storedEnd(1),
        storedEnd(1) + 100,
        storedEnd(2),
        storedEnd(3) - 1,
      ]) {
        await both(
          container.subarray(0, length),
          'VEIL_FORMAT_TRUNCATED',
          `cut to ${length} of ${container.length}`,
        );
      }
    });

    test('bytes after the last block are ignored, and so is a cut tail', async () => {
      await both(Buffer.concat([container, Buffer.from([0])]), plain, 'one byte appended');
      await both(
        Buffer.concat([container, crypto.randomBytes(4096 + 3)]),
        plain,
        'a page and more of garbage',
      );
      await both(
        Buffer.concat([container, container.subarray(blockOffset(0), blockOffset(0) + 4096)]),
        plain,
        'block 0 again',
      );
      await both(container.subarray(0, storedEnd(3)), plain, 'the zero tail cut off');
    });
  });
}

describe('aes-256-xts: blocks', () => {
  const plain = plaintext(10000);
  const at = (i: number) => blockOffset(i);
  let container: Buffer;
  before(() => {
    container = encode({ key, cipher: 'aes-256-xts', plaintext: plain });
  });

  test('an all-zero block is a hole and reads as zeros', async () => {
    for (let i = 0; i < 3; i++) {
      const holed = Buffer.from(container).fill(0, at(i), at(i) + 4096);
      const expected = Buffer.from(plain).fill(0, i * 4096, Math.min((i + 1) * 4096, plain.length));
      await both(holed, expected, `zero block ${i}`);
    }
    await both(Buffer.from(container).fill(0, HEADER_SIZE), Buffer.alloc(10000), 'every block zero');
  });

  test('a modified block decodes to other bytes (no integrity), the same in both decoders', async () => {
    const tampered = Buffer.from(container);
    tampered[at(1) + 100] ^= 1;
    const reference = decodeContainer(tampered, testKeys.keyring);
    assert.deepEqual(await decodeFile(tampered), reference);
    assert.deepEqual(reference.subarray(0, 4096), plain.subarray(0, 4096));
    assert.deepEqual(reference.subarray(8192), plain.subarray(8192));
    assert.notDeepEqual(reference.subarray(4096, 8192), plain.subarray(4096, 8192));
  });

  test('swapped blocks decode to other bytes, the same in both decoders (tweak = block index)', async () => {
    const swapped = Buffer.from(container);
    container.copy(swapped, at(0), at(1), at(1) + 4096);
    container.copy(swapped, at(1), at(0), at(0) + 4096);
    const reference = decodeContainer(swapped, testKeys.keyring);
    assert.deepEqual(await decodeFile(swapped), reference);
    assert.notDeepEqual(reference.subarray(0, 4096), plain.subarray(4096, 8192));
  });
});
