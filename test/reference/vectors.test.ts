// The golden containers of docs/format.md: the reference decoder reads each one, the
// reference encoder rebuilds each one byte for byte from its fixed inputs, and the hex
// printed in docs/format.md is the bytes of the files.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { describe, test } from 'node:test';

import { decodeContainer, keyringOf, readHeader } from './container_codec.js';
import {
  FIXTURE_DIR,
  FORMAT_DOC,
  VECTORS,
  describeVector,
  encodeVector,
  fixturePath,
  keyring,
  plaintextOf,
} from './vectors.js';

describe('golden containers (test/fixtures/format-v1)', () => {
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

  for (const file of ['gcm-5.veil', 'xts-5.veil']) {
    test(`the hex shown for ${file} is the fixture, header and block`, () => {
      const start = doc.indexOf(`### \`${file}\``);
      assert.ok(start >= 0, `docs/format.md has no section for ${file}`);
      const end = doc.indexOf('\n### ', start + 1);
      const section = doc.slice(start, end < 0 ? undefined : end);
      const blocks = [...section.matchAll(/```\n([0-9a-f\n]+)```/g)].map((m) => m[1]);
      assert.equal(blocks.length, 2, 'one hex block for the header and one for block 0');
      assert.ok(
        blocks.every((b) =>
          b
            .trimEnd()
            .split('\n')
            .every((line) => line.length <= 64),
        ),
        'hex is wrapped at 64 characters',
      );
      const hex = blocks.join('').replaceAll('\n', '');
      assert.equal(hex, fs.readFileSync(fixturePath(file)).toString('hex'));
    });
  }

  test('every fixture is listed with the start of its SHA-256', () => {
    for (const v of VECTORS) {
      const digest = crypto
        .createHash('sha256')
        .update(fs.readFileSync(fixturePath(v.file)))
        .digest('hex');
      assert.match(
        doc,
        new RegExp(`\\| \`${v.file.replaceAll('.', '\\.')}\` \\|.*\`${digest.slice(0, 16)}…\` \\|`),
      );
    }
  });
});
