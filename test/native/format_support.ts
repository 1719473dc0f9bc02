// Shared pieces of the container format tests: guard keys present in both the native key
// table and a reference keyring, and assertions that a decoder refuses with an exact code.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { VeilNativeError, keys, type KeyRef } from '../../native/core.js';
import { FormatError, keyringOf, type FormatErrorCode } from '../reference/container_codec.js';

export interface GuardKey extends KeyRef {
  material: Buffer;
}

/** Guard keys imported into the native core (as copies) and known to `keyring`. */
export class TestKeys {
  readonly all: GuardKey[] = [];
  readonly keyring = keyringOf(this.all);

  /** Imports `material` (a fresh random AES-256 key by default) under a new key id, or a new version. */
  add(options: { keyId?: string; version?: number; material?: Buffer } = {}): GuardKey {
    const key = {
      keyId: options.keyId ?? crypto.randomUUID(),
      version: options.version ?? 1,
      material: options.material ?? crypto.randomBytes(32),
    };
    keys.importRaw(key, 'active', Buffer.from(key.material)); // importRaw wipes the buffer it gets
    this.all.push(key);
    return key;
  }

  /** Removes every key version this object imported from the native table. */
  removeAll(): void {
    for (const key of this.all.splice(0)) assert.equal(keys.remove(key), true, `remove ${key.keyId}`);
  }
}

/** Byte j of a test plaintext of `size` bytes is a pseudo-random value derived from `seed`. */
export function plaintext(size: number, seed = 'veil'): Buffer {
  const out = Buffer.alloc(size);
  const stream = crypto.createCipheriv(
    'aes-256-ctr',
    crypto.createHash('sha256').update(seed).digest(),
    Buffer.alloc(16),
  );
  return stream.update(out);
}

/** Asserts that the native decoder refuses with `code` and returns nothing. */
export async function nativeRejects(
  promise: Promise<Buffer>,
  code: FormatErrorCode,
  what: string,
): Promise<void> {
  const error = await nativeError(promise);
  assert.ok(error !== undefined, `${what}: native decodeFile returned bytes, expected ${code}`);
  assert.ok(
    error instanceof VeilNativeError,
    `${what}: expected VeilNativeError, got ${describeError(error)}`,
  );
  assert.equal(error.code, code, `${what}: native code ${error.code}, expected ${code}`);
}

/** The error a native call rejected with, or undefined if it returned. */
export async function nativeError(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error ?? new Error('rejected with nothing');
  }
}

/** Asserts that the reference decoder refuses with `code`. */
export function referenceThrows(fn: () => unknown, code: FormatErrorCode, what: string): void {
  const error = referenceError(fn);
  assert.ok(error !== undefined, `${what}: the reference decoder returned bytes, expected ${code}`);
  assert.ok(error instanceof FormatError, `${what}: expected FormatError, got ${describeError(error)}`);
  assert.equal(error.code, code, `${what}: reference code ${error.code}, expected ${code}`);
}

export function referenceError(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error ?? new Error('threw nothing');
  }
}

export function describeError(error: unknown): string {
  return error instanceof Error
    ? `${error.name} ${(error as { code?: string }).code ?? ''}: ${error.message}`
    : String(error);
}
