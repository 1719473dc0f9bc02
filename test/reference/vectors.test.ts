// The golden containers of docs/format.md: the reference decoder reads each one, the
// reference encoder rebuilds each one byte for byte from its fixed inputs, and the hex
// printed in docs/format.md is the bytes of the files.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { describe, test } from 'node:test';

import {
  HEADER_SIZE,
  PAGE,
  TAG_ENTRIES_OFFSET,
  TAG_ENTRY,
  blockOffset,
  containerLength,
  decodeContainer,
  entryOffset,
  keyringOf,
  readHeader,
  sizeFromLength,
  storedEnd,
} from './container_codec.js';
import {
  FIXTURE_DIR,
  FORMAT_DOC,
  SHOWN,
  VECTORS,
  blockNonce,
  describeVector,
  encodeVector,
  fixturePath,
  keyring,
  plaintextOf,
} from './vectors.js';

const isZero = (bytes: Buffer): boolean => !bytes.some((b) => b !== 0);

describe('golden containers (test/fixtures/format-v2)', () => {
  test('the fixture directory holds exactly the listed vectors and vectors.json', () => {
    const expected = [...VECTORS.map((v) => v.file), 'vectors.json'].sort();
    assert.deepEqual(fs.readdirSync(FIXTURE_DIR).sort(), expected);
  });

  test('vectors.json lists the inputs the encoder uses and each file hash', () => {
    const json = JSON.parse(fs.readFileSync(fixturePath('vectors.json'), 'utf8')) as {
      vectors: (ReturnType<typeof describeVector> & { sha256: string })[];
    };
    assert.equal(json.vectors.length, VECTORS.length);
    for (const [i, v] of VECTORS.entries()) {
      const { sha256, ...inputs } = json.vectors[i];
      assert.deepEqual(inputs, JSON.parse(JSON.stringify(describeVector(v))));
      assert.equal(
        sha256,
        crypto
          .createHash('sha256')
          .update(fs.readFileSync(fixturePath(v.file)))
          .digest('hex'),
      );
    }
  });

  for (const v of VECTORS) {
    describe(v.file, () => {
      const container = fs.readFileSync(fixturePath(v.file));

      test('the reference decoder returns the plaintext', () => {
        assert.deepEqual(decodeContainer(container, keyring), plaintextOf(v.size));
      });

      test('re-encoding the fixed inputs reproduces the file exactly', () => {
        assert.equal(encodeVector(v).toString('hex'), container.toString('hex'));
      });

      test('the container is length(size) long and its length carries the size', () => {
        assert.equal(container.length, containerLength(v.size));
        assert.equal(sizeFromLength(container.length), v.size);
      });

      test('the bytes outside the header, tag entries and data pages are zero', () => {
        const used = Buffer.alloc(container.length); // 1 where the layout puts something
        used.fill(1, 0, HEADER_SIZE);
        const n = Math.ceil(v.size / PAGE);
        for (let i = 0; i < n; i++) {
          used.fill(1, blockOffset(i), blockOffset(i) + PAGE);
          if (v.cipher === 'aes-256-gcm') used.fill(1, entryOffset(i), entryOffset(i) + TAG_ENTRY);
        }
        assert.ok(container.every((b, k) => b === 0 || used[k] === 1));
      });

      test('the header fields are the documented ones', () => {
        const h = readHeader(container, keyring);
        assert.equal(h.cipher, v.cipher);
        assert.equal(h.size, v.size);
        assert.equal(h.state, v.reencrypting ? 1 : 0);
        assert.equal(h.progress, v.reencrypting?.progress ?? 0);
        assert.equal(h.fileId.toString('hex'), 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
      });
    });
  }

  test('the re-encrypting vector needs both key versions', () => {
    const container = fs.readFileSync(fixturePath('gcm-reencrypting.veil'));
    const onlyV1 = keyringOf([
      { keyId: VECTORS[0].key.keyId, version: 1, material: keyring(VECTORS[0].key.keyId, 1)! },
    ]);
    assert.throws(() => decodeContainer(container, onlyV1), { code: 'VEIL_KEY_NOT_FOUND' });
  });
});

describe('docs/format.md test vectors', () => {
  const doc = fs.readFileSync(FORMAT_DOC, 'utf8');

  for (const file of SHOWN) {
    test(`the hex shown for ${file} is the fixture: header, tag entries, data page, length`, () => {
      const start = doc.indexOf(`### \`${file}\``);
      assert.ok(start >= 0, `docs/format.md has no section for ${file}`);
      const end = doc.indexOf('\n### ', start + 1);
      const section = doc.slice(start, end < 0 ? undefined : end);
      const blocks = [...section.matchAll(/```\n([0-9a-f\n]+)```/g)].map((m) => m[1]);
      const gcm = file.startsWith('gcm-');
      assert.equal(blocks.length, gcm ? 3 : 2, 'hex for the header, (GCM) the tag entries, block 0');
      assert.ok(
        blocks.every((b) =>
          b
            .trimEnd()
            .split('\n')
            .every((line) => line.length <= 64),
        ),
        'hex is wrapped at 64 characters',
      );
      const hex = (b: string): Buffer => Buffer.from(b.replaceAll('\n', ''), 'hex');
      const length = /The container is (\d+) bytes/.exec(section);
      assert.ok(length, 'the section gives the container length');
      const rebuilt = Buffer.alloc(Number(length[1]));
      hex(blocks[0]).copy(rebuilt, 0);
      if (gcm) hex(blocks[1]).copy(rebuilt, TAG_ENTRIES_OFFSET);
      hex(blocks[blocks.length - 1]).copy(rebuilt, PAGE);
      assert.equal(rebuilt.toString('hex'), fs.readFileSync(fixturePath(file)).toString('hex'));
    });
  }

  test('every fixture is listed with its length and the start of its SHA-256', () => {
    for (const v of VECTORS) {
      const bytes = fs.readFileSync(fixturePath(v.file));
      const digest = crypto.createHash('sha256').update(bytes).digest('hex');
      assert.match(
        doc,
        new RegExp(
          `\\| \`${v.file.replaceAll('.', '\\.')}\` \\| ${v.cipher} \\| ${v.size} \\| ${bytes.length} \\|` +
            `.*\`${digest.slice(0, 16)}…\` \\|`,
        ),
      );
    }
  });
});

describe('layout helpers', () => {
  test('documented offsets: data pages, tag entries, storedEnd', () => {
    assert.equal(blockOffset(0), PAGE);
    assert.equal(blockOffset(127), 128 * PAGE);
    assert.equal(blockOffset(128), 130 * PAGE); // page 129 is group 1's tag page
    assert.equal(blockOffset(256), 259 * PAGE);
    assert.equal(storedEnd(0), PAGE);
    assert.equal(storedEnd(1), 2 * PAGE);
    assert.equal(storedEnd(128), 129 * PAGE);
    assert.equal(storedEnd(129), 131 * PAGE);
    assert.equal(entryOffset(0), 512);
    assert.equal(entryOffset(127), 512 + 28 * 127);
    assert.equal(entryOffset(127) + TAG_ENTRY, PAGE); // 128 entries fill the tag page
    assert.equal(entryOffset(128), 129 * PAGE + 512);
    assert.equal(entryOffset(300), 2 * 129 * PAGE + 512 + 28 * 44);
    assert.equal(sizeFromLength(13192), 5000);
    assert.throws(() => blockOffset(-1), RangeError);
  });

  const sizes = [0, 1, 4095, 4096, 4097, 128 * 4096, 128 * 4096 + 1, 129 * 4096, 300 * 4096 + 7];
  {
    test('sizeFromLength(containerLength(size)) is size', () => {
      for (const size of sizes) {
        assert.equal(sizeFromLength(containerLength(size)), size, `size ${size}`);
      }
      assert.equal(containerLength(0), 4096);
      assert.equal(containerLength(5), 8192 + 5);
      assert.equal(containerLength(128 * 4096 + 1), 131 * 4096 + 1); // 129 blocks: page 129 is a tag page
    });

    test('malformed lengths have no size', () => {
      for (const length of [
        0,
        1,
        4095, // under one page
        4096 + 5, // a tail with no block
        130 * 4096, // ends in group 1's bare tag page
        130 * 4096 + 9, // a tail after a bare tag page
        259 * 4096, // ends in group 2's bare tag page
        -4096,
        4096.5,
      ]) {
        assert.equal(sizeFromLength(length), undefined, `length ${length}`);
      }
    });

    test('every well-formed length is length(size) for the size it carries', () => {
      for (let p = 0; p <= 400; p++) {
        for (const r of [0, 1, 2048, 4095]) {
          const length = p * PAGE + r;
          const size = sizeFromLength(length);
          if (size !== undefined) assert.equal(containerLength(size), length, `length ${length}`);
        }
      }
    });
  }

  describe('gcm-524293.veil: a second group', () => {
    const v = VECTORS.find((x) => x.file === 'gcm-524293.veil')!;
    const container = fs.readFileSync(fixturePath(v.file));

    test('decodes, and block 128 is in group 1: tag entry on page 129, data on page 130', () => {
      assert.equal(v.size, 128 * 4096 + 5);
      assert.deepEqual(decodeContainer(container, keyring), plaintextOf(v.size));
      assert.equal(Math.floor(entryOffset(128) / PAGE), 129);
      assert.equal(entryOffset(128) % PAGE, TAG_ENTRIES_OFFSET);
      assert.equal(blockOffset(128) / PAGE, 130);
      assert.ok(isZero(container.subarray(129 * PAGE, 129 * PAGE + TAG_ENTRIES_OFFSET)), 'no header there');
      const entry = container.subarray(entryOffset(128), entryOffset(128) + TAG_ENTRY);
      assert.deepEqual(entry.subarray(0, 12), blockNonce(128));
      assert.ok(isZero(container.subarray(entryOffset(128) + TAG_ENTRY, 130 * PAGE)), 'unused entries');
    });

    test('a zeroed tag entry or data page of block 128 fails; the entry of another block fails', () => {
      const zeroEntry = Buffer.from(container).fill(0, entryOffset(128), entryOffset(128) + TAG_ENTRY);
      assert.throws(() => decodeContainer(zeroEntry, keyring), { code: 'VEIL_CRYPTO_AUTH_FAILED' });
      const at = blockOffset(128);
      const zeroPage = Buffer.from(container).fill(0, at, at + PAGE);
      assert.throws(() => decodeContainer(zeroPage, keyring), { code: 'VEIL_CRYPTO_AUTH_FAILED' });
      const moved = Buffer.from(container);
      container.copy(moved, entryOffset(128), entryOffset(0), entryOffset(0) + TAG_ENTRY);
      assert.throws(() => decodeContainer(moved, keyring), { code: 'VEIL_CRYPTO_AUTH_FAILED' });
    });

    test('shorter than storedEnd(n) is truncated; the tail and extra bytes do not matter', () => {
      const end = storedEnd(129);
      assert.throws(() => decodeContainer(container.subarray(0, end - 1), keyring), {
        code: 'VEIL_FORMAT_TRUNCATED',
      });
      assert.throws(() => decodeContainer(container.subarray(0, 130 * PAGE), keyring), {
        code: 'VEIL_FORMAT_TRUNCATED',
      });
      assert.deepEqual(decodeContainer(container.subarray(0, end), keyring), plaintextOf(v.size));
      const longer = Buffer.concat([container, Buffer.alloc(3 * PAGE, 0xa5)]);
      assert.deepEqual(decodeContainer(longer, keyring), plaintextOf(v.size));
    });
  });

  test('xts: an all-zero data page is a hole and reads as zeros', () => {
    const container = fs.readFileSync(fixturePath('xts-5000.veil'));
    const at = blockOffset(1);
    const holed = Buffer.from(container).fill(0, at, at + PAGE);
    const expected = Buffer.from(plaintextOf(5000)).fill(0, 4096);
    assert.deepEqual(decodeContainer(holed, keyring), expected);
  });
});
