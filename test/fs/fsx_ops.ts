// The operations of the fsx-style checker (test/fs/fsx.ts). Each op changes the file and the
// model the same way, or reads the file and compares it with the model.
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, openSync, statSync } from 'node:fs';
import path from 'node:path';

import { MmapHelper, type MapOp, type MapResult } from './fsx_mmap.js';
import { BLOCK, FsxFailure, Model, Rng, compareBytes, hex, readFully, writeFully } from './fsx_util.js';

export interface CheckerOptions {
  dir: string;
  file: string;
  seed: number;
  maxSize: number;
  mmap: boolean;
  /** Test of the checker itself: flip a byte through a second descriptor at this op. */
  injectAtOp?: number;
}

type OpName = 'write' | 'read' | 'truncate' | 'append' | 'fsync' | 'reopen' | 'stat' | 'mmap';

const WEIGHTS: readonly (readonly [OpName, number])[] = [
  ['write', 26],
  ['read', 22],
  ['truncate', 6],
  ['append', 6],
  ['fsync', 3],
  ['reopen', 3],
  ['stat', 4],
  ['mmap', 12],
];
const LOG_LENGTH = 20;
const MAX_IO = 256 * 1024;
const MAX_MAP_IO = 64 * 1024;
const MAX_MAP_BATCH = 6;

export class Checker {
  readonly path: string;
  readonly model: Model;
  readonly counts = new Map<string, number>();
  opNum = 0;
  private readonly rng: Rng;
  private readonly log: string[] = [];
  private readonly weights: readonly (readonly [OpName, number])[];
  private fd: number;
  private mapper: MmapHelper | undefined;

  constructor(private readonly opts: CheckerOptions) {
    this.path = path.join(opts.dir, opts.file);
    this.rng = new Rng(opts.seed);
    this.model = new Model(opts.maxSize);
    this.weights = WEIGHTS.filter(([name]) => opts.mmap || name !== 'mmap');
    this.fd = openSync(this.path, 'w+');
  }

  /** The last ops run, oldest first; the failing one is last. */
  recentOps(): string[] {
    return [...this.log];
  }

  /** Runs the next op, or a batch of at most `budget` mmap ops. */
  step(budget: number): void {
    const inject = this.opts.injectAtOp;
    if (inject !== undefined && inject > this.opNum) budget = Math.min(budget, inject - this.opNum - 1);
    if (budget === 0) return this.injectCorruption();
    let op = this.rng.pick(this.weights);
    if (op === 'mmap' && this.model.size === 0) op = 'write';
    if (op === 'append' && this.model.size === this.opts.maxSize) op = 'truncate';
    switch (op) {
      case 'write':
        return this.write();
      case 'read':
        return this.read();
      case 'truncate':
        return this.truncate();
      case 'append':
        return this.append();
      case 'fsync':
        return this.fsync();
      case 'reopen':
        return this.reopen();
      case 'stat':
        this.begin('stat');
        return this.checkSize('stat');
      case 'mmap':
        return this.mmapBatch(budget);
    }
  }

  /** Full checks after the last op: size, then every byte through a fresh descriptor (and a mapping). */
  finish(): void {
    this.log.push('final: fsync, close, reopen read-only, size check, full read compare');
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = openSync(this.path, 'r');
    this.checkSize('final size check');
    const { size } = this.model;
    compareBytes('final full read', 0, this.model.expected(0, size), readFully(this.fd, 0, size + 1));
    if (this.opts.mmap && size > 0) {
      this.log.push('final: full mmap read compare');
      const res = this.map(size, [{ kind: 'read', off: 0, len: size }]);
      this.checkMapSize(res.size);
      compareBytes(
        'final full mmap read',
        0,
        this.model.expected(0, size),
        res.reads?.[0] ?? Buffer.alloc(0),
      );
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  /** Ends the mmap helper, if one was started. */
  end(): void {
    this.close();
    this.mapper?.close();
  }

  private map(size: number, ops: MapOp[]): MapResult {
    this.mapper ??= new MmapHelper();
    return this.mapper.run(this.path, size, ops);
  }

  private begin(what: string, kind = what.split(' ')[0]): number {
    this.opNum++;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    this.log.push(`#${this.opNum} ${what}`);
    if (this.log.length > LOG_LENGTH) this.log.shift();
    return this.opNum;
  }

  private sizes(before: number): string {
    return before === this.model.size ? `size ${before}` : `size ${before} -> ${this.model.size}`;
  }

  /** An offset in [0, maxSize): anywhere, at a block boundary give or take a few bytes, or near EOF. */
  private pickOffset(): number {
    const { rng } = this;
    const max = this.opts.maxSize - 1;
    const r = rng.next();
    let off: number;
    if (r < 0.35) off = rng.int(0, max);
    else if (r < 0.65) off = rng.int(0, Math.floor(max / BLOCK)) * BLOCK + rng.int(-8, 8);
    else if (r < 0.8) off = this.model.size + rng.int(-BLOCK, 4 * BLOCK);
    else off = rng.int(0, Math.max(0, this.model.size - 1));
    return Math.min(Math.max(off, 0), max);
  }

  /** A length in [1, cap]: 1 byte, a few bytes, about a block, tens of KiB, or up to 256 KiB. */
  private pickLength(cap: number): number {
    const { rng } = this;
    const r = rng.next();
    let len: number;
    if (r < 0.12) len = 1;
    else if (r < 0.35) len = rng.int(2, 64);
    else if (r < 0.65) len = rng.int(BLOCK - 16, 2 * BLOCK + 16);
    else if (r < 0.88) len = rng.int(1, 64 * 1024);
    else len = rng.int(64 * 1024, MAX_IO);
    return Math.max(1, Math.min(len, cap));
  }

  private checkSize(what: string): void {
    const fst = fstatSync(this.fd).size;
    const st = statSync(this.path).size;
    if (fst !== this.model.size || st !== this.model.size) {
      throw new FsxFailure(`${what}: file size differs from the model`, [
        `model size ${this.model.size} (${hex(this.model.size)}), fstat size ${fst}, stat size ${st}`,
      ]);
    }
  }

  private checkMapSize(size: number): void {
    if (size !== this.model.size) {
      throw new FsxFailure('mmap helper: file size differs from the model', [
        `model size ${this.model.size}, the helper's fstat size ${size}`,
      ]);
    }
  }

  private write(): void {
    const off = this.pickOffset();
    const data = this.rng.bytes(this.pickLength(this.opts.maxSize - off));
    const before = this.model.size;
    this.model.write(off, data);
    this.begin(`write off=${off} len=${data.length} ${this.sizes(before)}`);
    writeFully(this.fd, data, off);
    this.checkSize('size after write');
  }

  private read(): void {
    const off = this.rng.chance(0.1) ? this.model.size + this.rng.int(0, BLOCK) : this.pickOffset();
    const len = this.pickLength(MAX_IO);
    this.begin(`read off=${off} len=${len} size ${this.model.size}`);
    compareBytes('read', off, this.model.expected(off, len), readFully(this.fd, off, len));
  }

  private truncate(): void {
    const { rng } = this;
    const before = this.model.size;
    let size = rng.chance(0.5) ? rng.int(0, before) : rng.int(before, this.opts.maxSize);
    if (rng.chance(0.3)) size = Math.round(size / BLOCK) * BLOCK + rng.int(-1, 1);
    size = Math.min(Math.max(size, 0), this.opts.maxSize);
    this.model.truncate(size);
    this.begin(`truncate ${this.sizes(before)}`);
    ftruncateSync(this.fd, size);
    this.checkSize('size after truncate');
  }

  private append(): void {
    const before = this.model.size;
    const data = this.rng.bytes(this.pickLength(this.opts.maxSize - before));
    this.model.write(before, data);
    this.begin(`append len=${data.length} (O_APPEND fd) ${this.sizes(before)}`);
    const fd = openSync(this.path, 'a');
    try {
      writeFully(fd, data, null);
    } finally {
      closeSync(fd);
    }
    this.checkSize('size after append');
  }

  private fsync(): void {
    const data = this.rng.chance(0.5);
    this.begin(data ? 'fdatasync' : 'fsync');
    (data ? fdatasyncSync : fsyncSync)(this.fd);
  }

  private reopen(): void {
    const trunc = this.rng.chance(0.125);
    const before = this.model.size;
    if (trunc) this.model.truncate(0);
    this.begin(`close and reopen${trunc ? ' with O_TRUNC' : ''} ${this.sizes(before)}`);
    this.close();
    this.fd = openSync(this.path, trunc ? 'w+' : 'r+');
    this.checkSize('size after reopen');
  }

  /** Up to MAX_MAP_BATCH mapped reads and writes, in one helper call, each its own op. */
  private mmapBatch(budget: number): void {
    const { rng, model } = this;
    const count = Math.min(budget, rng.int(1, MAX_MAP_BATCH));
    const ops: (MapOp & { num: number })[] = [];
    for (let i = 0; i < count; i++) {
      const off = rng.chance(0.5) ? rng.int(0, model.size - 1) : Math.min(this.pickOffset(), model.size - 1);
      if (rng.chance(0.5)) {
        const len = this.pickLength(Math.min(MAX_MAP_IO, model.size - off));
        const num = this.begin(`mmap read off=${off} len=${len} size ${model.size}`, 'mmap-read');
        ops.push({ kind: 'read', off, len, num });
      } else {
        const data = rng.bytes(this.pickLength(Math.min(MAX_MAP_IO, model.size - off)));
        const num = this.begin(
          `mmap write off=${off} len=${data.length} + msync size ${model.size}`,
          'mmap-write',
        );
        ops.push({ kind: 'write', off, data, num });
      }
    }
    const res = this.map(model.size, ops);
    this.checkMapSize(res.size);
    const reads = res.reads ?? [];
    for (const op of ops) {
      if (op.kind === 'write') model.write(op.off, op.data);
      else compareBytes('mmap read', op.off, model.expected(op.off, op.len), reads.shift()!, op.num);
    }
    this.checkSize('size after mmap');
  }

  /** Flips one byte (or, in an empty file, writes one) behind the checker's back, then reads it. */
  private injectCorruption(): void {
    const off = Math.floor(this.model.size / 2);
    this.begin(`inject corruption at offset ${off} through a second descriptor`);
    process.stdout.write(`fsx: injected corruption at offset ${off} (${hex(off)}) at op #${this.opNum}\n`);
    const fd = openSync(this.path, 'r+');
    try {
      const byte = readFully(fd, off, 1);
      writeFully(fd, byte.length === 1 ? Buffer.from([byte[0] ^ 0xff]) : Buffer.from([0xa5]), off);
    } finally {
      closeSync(fd);
    }
    this.checkSize('size after injected corruption');
    const from = Math.max(0, off - 40);
    compareBytes(
      'read after injected corruption',
      from,
      this.model.expected(from, 100),
      readFully(this.fd, from, 100),
    );
  }
}
