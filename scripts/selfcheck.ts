// Round-trips files of a few sizes through the native core with both ciphers, under a
// throwaway random key, and prints one line per case. Exits 1 if any case fails.
import { randomBytes, randomUUID } from 'node:crypto';

import { CIPHERS, decodeFile, encodeFile, keys, type KeyRef } from '../native/core.js';

const SIZES = [0, 1, 4095, 4096, 4097, 65_536 + 17, 1 << 20];

const ref: KeyRef = { keyId: randomUUID(), version: 1 };
keys.importRaw(ref, 'active', randomBytes(32));

let failures = 0;
console.log(`${'cipher'.padEnd(12)} ${'plain bytes'.padStart(11)} ${'stored bytes'.padStart(12)}  result`);
try {
  for (const cipher of CIPHERS) {
    for (const size of SIZES) {
      const plain = randomBytes(size);
      let stored = '-';
      let result: string;
      try {
        const container = await encodeFile(ref, cipher, plain);
        stored = String(container.length);
        result = (await decodeFile(container)).equals(plain) ? 'OK' : 'FAIL: decoded bytes differ';
      } catch (err) {
        result = `FAIL: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (result !== 'OK') failures++;
      console.log(`${cipher.padEnd(12)} ${String(size).padStart(11)} ${stored.padStart(12)}  ${result}`);
    }
  }
} finally {
  keys.remove(ref);
}

console.log(failures === 0 ? 'self-check OK' : `self-check FAILED: ${failures} case(s)`);
process.exitCode = failures === 0 ? 0 : 1;
