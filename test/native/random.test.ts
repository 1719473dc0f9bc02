// The native core's random source: right length, not constant, not all zero.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { selfTest } from '../../native/core.js';
import { assertNativeError } from './kat_support.js';

describe('randomBytes', () => {
  test('returns exactly n bytes', () => {
    for (const n of [1, 12, 16, 32, 64, 4096]) {
      const out = selfTest.randomBytes(n);
      assert.ok(Buffer.isBuffer(out));
      assert.equal(out.length, n);
    }
  });

  test('two calls differ', () => {
    const a = selfTest.randomBytes(32);
    const b = selfTest.randomBytes(32);
    assert.ok(!a.equals(b), 'two 32-byte draws are equal');
  });

  test('is not all zero and uses every byte value over 64 KiB', () => {
    const out = selfTest.randomBytes(65536);
    assert.equal(out.length, 65536);
    const seen = new Set(out);
    // A missing byte value in 64 KiB of uniform bytes has probability about 256 * e^-256.
    assert.equal(seen.size, 256);
  });

  test('a negative length is refused', () => {
    assertNativeError(() => selfTest.randomBytes(-1), ['VEIL_INVALID_ARGUMENT'], 'randomBytes(-1)');
    assertNativeError(() => selfTest.randomBytes(2.7), ['VEIL_INVALID_ARGUMENT'], 'randomBytes(2.7)');
  });
});
