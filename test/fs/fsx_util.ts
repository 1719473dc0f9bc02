// Building blocks of the fsx-style checker (test/fs/fsx.ts): a seeded PRNG, the in-memory
// model of the file's expected contents, full-length I/O loops and mismatch reports.
import { readSync, writeSync } from 'node:fs';

export const BLOCK = 4096;

/** A failed check: a one-line title and the lines that explain it. */
export class FsxFailure extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
    /** The op that failed, when it is not the op being run (an mmap batch). */
    readonly op?: number,
  ) {
    super(message);
    this.name = 'FsxFailure';
  }
}

/** mulberry32: small, fast and deterministic per 32-bit seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 4) {
      const word = Buffer.allocUnsafe(4);
      word.writeUInt32LE((this.next() * 4294967296) >>> 0);
      word.copy(out, i, 0, Math.min(4, n - i));
    }
    return out;
  }

  /** One of the weighted choices. */
  pick<T>(choices: readonly (readonly [T, number])[]): T {
    let r = this.next() * choices.reduce((sum, [, w]) => sum + w, 0);
    for (const [value, weight] of choices) {
      if (r < weight) return value;
      r -= weight;
    }
    return choices[choices.length - 1][0];
  }
}

/** What the file must contain: bytes past `size` are kept zero, so growing reads as a hole. */
export class Model {
  readonly buf: Buffer;
  size = 0;

  constructor(readonly maxSize: number) {
    this.buf = Buffer.alloc(maxSize);
  }

  write(off: number, data: Buffer): void {
    data.copy(this.buf, off);
    this.size = Math.max(this.size, off + data.length);
  }

  truncate(size: number): void {
    if (size < this.size) this.buf.fill(0, size, this.size);
    this.size = size;
  }

  /** The bytes a read of `len` at `off` must return (short at EOF, empty past it). */
  expected(off: number, len: number): Buffer {
    if (off >= this.size) return Buffer.alloc(0);
    return this.buf.subarray(off, Math.min(off + len, this.size));
  }
}

/** pread until `len` bytes or EOF. */
export function readFully(fd: number, off: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let done = 0;
  while (done < len) {
    const n = readSync(fd, buf, done, len - done, off + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/** pwrite (or write at the file position when `off` is null) until every byte is written. */
export function writeFully(fd: number, data: Buffer, off: number | null): void {
  let done = 0;
  while (done < data.length) {
    const n = writeSync(fd, data, done, data.length - done, off === null ? null : off + done);
    if (n <= 0) throw new FsxFailure(`write returned ${n} with ${data.length - done} bytes left`);
    done += n;
  }
}

export const hex = (n: number): string => `0x${n.toString(16)}`;

/** Rows of 16 bytes around `at`, expected over got: `--` where a buffer has no byte, `^^` marks `at`. */
function hexAround(base: number, expected: Buffer, got: Buffer, at: number): string[] {
  const end = base + Math.max(expected.length, got.length);
  const cell = (buf: Buffer, pos: number): string => {
    if (pos < base || pos >= end) return '  ';
    return pos - base < buf.length ? buf[pos - base].toString(16).padStart(2, '0') : '--';
  };
  const lines: string[] = [];
  const first = Math.max(Math.floor(base / 16), Math.floor(at / 16) - 1) * 16;
  const last = Math.min(end, (Math.floor(at / 16) + 2) * 16);
  for (let row = first; row < last; row += 16) {
    const cells = (f: (pos: number) => string): string =>
      Array.from({ length: 16 }, (_, k) => f(row + k)).join(' ');
    lines.push(`  ${hex(row).padStart(10)}  expected: ${cells((pos) => cell(expected, pos))}`);
    lines.push(`  ${''.padStart(10)}       got: ${cells((pos) => cell(got, pos))}`);
    if (at >= row && at < row + 16) {
      lines.push(`  ${''.padStart(10)}            ${cells((pos) => (pos === at ? '^^' : '  ')).trimEnd()}`);
    }
  }
  return lines;
}

/** Throws an FsxFailure naming the first differing byte when `got` is not `expected`. */
export function compareBytes(what: string, base: number, expected: Buffer, got: Buffer, op?: number): void {
  if (expected.equals(got)) return;
  const common = Math.min(expected.length, got.length);
  let first = 0;
  while (first < common && expected[first] === got[first]) first++;
  let differing = 0;
  for (let i = first; i < common; i++) if (expected[i] !== got[i]) differing++;
  const at = base + first;
  const details = [
    `first mismatching byte at offset ${at} (${hex(at)})` +
      (first < common ? `: expected ${hex(expected[first])}, got ${hex(got[first])}` : ''),
    `range ${base}+${expected.length} (${hex(base)}..${hex(base + expected.length)}): ` +
      `${differing} of ${common} compared bytes differ` +
      (expected.length !== got.length ? `; expected ${expected.length} bytes, got ${got.length}` : ''),
    ...hexAround(base, expected, got, at),
  ];
  throw new FsxFailure(`${what}: data differs from the model`, details, op);
}
