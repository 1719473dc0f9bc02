// Checks that key material does not leak: not in a returned value (raw bytes or any text
// encoding of them), not in an error's message, stack or properties.
import assert from 'node:assert/strict';

import { VeilNativeError, type NativeErrorCode } from '../../native/core.js';

/** The ways key bytes could show up in text. */
function encodings(material: Buffer): string[] {
  const base64 = material.toString('base64');
  return [
    material.toString('hex'),
    material.toString('hex').toUpperCase(),
    base64,
    base64.replace(/=+$/, ''),
    material.toString('base64url'),
    `[${material.join(',')}]`,
    material.join(','),
  ];
}

function json(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'undefined'
    );
  } catch {
    return '';
  }
}

/** Where in `value` one of `materials` appears, or undefined. */
export function findKeyBytes(value: unknown, secrets: readonly Buffer[]): string | undefined {
  // Shorter runs could match by chance (an empty one always would); keys are 16 or 32 bytes.
  const materials = secrets.filter((secret) => secret.length >= 8);
  const texts = materials.flatMap(encodings);
  const shortest = Math.min(...materials.map((material) => material.length));
  const seen = new Set<unknown>();
  const visit = (v: unknown, path: string): string | undefined => {
    if (typeof v === 'string') {
      if (v.length < shortest) return undefined;
      if (texts.some((text) => v.includes(text))) return path;
      const bytes = Buffer.from(v, 'latin1');
      return materials.some((material) => bytes.includes(material)) ? path : undefined;
    }
    if (v instanceof Uint8Array) {
      const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      return materials.some((material) => bytes.includes(material)) ? path : undefined;
    }
    if ((typeof v !== 'object' && typeof v !== 'function') || v === null || seen.has(v)) return undefined;
    seen.add(v);
    if (typeof v === 'function') return undefined;
    const names = new Set<string>(Object.getOwnPropertyNames(v));
    if (v instanceof Error) for (const name of ['message', 'stack', 'code', 'cause']) names.add(name);
    for (const name of names) {
      const found = visit((v as Record<string, unknown>)[name], `${path}.${name}`);
      if (found !== undefined) return found;
    }
    if (v instanceof Error) return visit(String(v), `String(${path})`);
    return undefined;
  };
  return visit(value, 'value') ?? visit(json(value), 'JSON.stringify(value)');
}

export function assertNoKeyBytes(value: unknown, materials: readonly Buffer[], what = 'value'): void {
  const found = findKeyBytes(value, materials);
  assert.equal(found, undefined, `${what} contains key bytes at ${found ?? ''}`);
}

function checkError(
  error: unknown,
  codes: NativeErrorCode | readonly NativeErrorCode[],
  materials: readonly Buffer[],
): VeilNativeError {
  assert.ok(error instanceof VeilNativeError, `expected a VeilNativeError, got ${String(error)}`);
  const expected = typeof codes === 'string' ? [codes] : codes;
  assert.ok(
    expected.includes(error.code),
    `expected ${expected.join(' or ')}, got ${error.code}: ${error.message}`,
  );
  assertNoKeyBytes(error, materials, `the ${error.code} error`);
  return error;
}

/** Runs `fn`, expects a VeilNativeError with one of `codes`, free of key bytes; returns it. */
export function expectNativeError(
  fn: () => unknown,
  codes: NativeErrorCode | readonly NativeErrorCode[],
  materials: readonly Buffer[] = [],
): VeilNativeError {
  let result: unknown;
  try {
    result = fn();
  } catch (error) {
    return checkError(error, codes, materials);
  }
  assert.fail(`expected ${String(codes)}, but the call succeeded and returned ${json(result)}`);
}

export async function expectNativeRejection(
  fn: () => Promise<unknown>,
  codes: NativeErrorCode | readonly NativeErrorCode[],
  materials: readonly Buffer[] = [],
): Promise<VeilNativeError> {
  try {
    await fn();
  } catch (error) {
    return checkError(error, codes, materials);
  }
  assert.fail(`expected ${String(codes)}, but the call succeeded`);
}
