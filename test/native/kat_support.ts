// Shared pieces of the native known-answer and cross-check tests: fixture loading with strict hex checks,
// bit flips, and an assertion that a call is refused with a VeilNativeError of an expected code.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { VeilNativeError, type NativeErrorCode } from '../../native/core.js';

export interface KatFile<V> {
  description: string;
  vectors: V[];
}

const HEX = /^(?:[0-9a-f]{2})*$/;

/** Reads test/fixtures/kat/<name>.json; every vector must name its source. */
export function loadKat<V extends { source: string }>(name: string): KatFile<V> {
  const url = new URL(`../fixtures/kat/${name}.json`, import.meta.url);
  const file = JSON.parse(readFileSync(url, 'utf8')) as KatFile<V>;
  assert.ok(Array.isArray(file.vectors) && file.vectors.length > 0, `${name}.json has no vectors`);
  for (const vector of file.vectors) {
    assert.ok(
      typeof vector.source === 'string' && vector.source.length > 0,
      `${name}.json: vector without source`,
    );
  }
  return file;
}

/** Decodes lower-case hex, refusing what Buffer.from would silently truncate (odd length, stray characters). */
export function hex(value: string | undefined, what = 'hex field'): Buffer {
  assert.equal(typeof value, 'string', `${what} is missing`);
  assert.match(value as string, HEX, `${what} is not lower-case hex of whole bytes`);
  return Buffer.from(value as string, 'hex');
}

/** A copy of `data` with one bit inverted. */
export function flipBit(data: Buffer, bit: number): Buffer {
  const copy = Buffer.from(data);
  const index = Math.floor(bit / 8);
  copy.writeUInt8(copy.readUInt8(index) ^ (1 << (bit % 8)), index);
  return copy;
}

/** Asserts that `fn` throws a VeilNativeError whose code is one of `codes`; returns the error. */
export function assertNativeError(
  fn: () => unknown,
  codes: readonly NativeErrorCode[],
  what: string,
): VeilNativeError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(
    thrown !== undefined,
    `${what}: expected a VeilNativeError (${codes.join(' or ')}), but the call returned`,
  );
  assert.ok(
    thrown instanceof VeilNativeError,
    `${what}: expected a VeilNativeError, got ${String((thrown as Error)?.name)}: ${String((thrown as Error)?.message)}`,
  );
  assert.ok(codes.includes(thrown.code), `${what}: expected code ${codes.join(' or ')}, got ${thrown.code}`);
  return thrown;
}

/** Lengths every cipher cross-check covers: each of 0..70 plus page-size neighbours and a large one. */
export function crossCheckLengths(min: number): number[] {
  const lengths: number[] = [];
  for (let length = min; length <= 70; length++) lengths.push(length);
  lengths.push(4095, 4096, 4097, 65536);
  return lengths;
}
