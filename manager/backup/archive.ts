// The archive inside a backup: a manifest (each file's path, mode, size and SHA-256), then
// the files' bytes in its order. Extraction writes into a staging directory only, as the
// decrypted bytes come: nothing in the archive is trusted before GCM says so, and every
// path is checked before a file is made.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';

import { ManagerError } from '../../manager-client/errors.js';
import { carried } from './snapshot.js';

export interface ArchiveFile {
  path: string;
  mode: number;
  bytes: Buffer;
  sha256: string;
}

export interface ManifestEntry {
  path: string;
  mode: number;
  size: number;
  sha256: string;
}

const MANIFEST_FORMAT = 1;
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
const MAX_DEPTH = 16;

const corrupt = (message: string) => new ManagerError('VEIL_BACKUP_CORRUPT', message);

/** The manifest as it opens the archive: its length (u32) and its JSON. */
export function encodeManifest(files: ArchiveFile[], createdAt: string): Buffer {
  const entries: ManifestEntry[] = files.map((f) => ({
    path: f.path,
    mode: f.mode,
    size: f.bytes.length,
    sha256: f.sha256,
  }));
  const json = Buffer.from(JSON.stringify({ format: MANIFEST_FORMAT, createdAt, files: entries }), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([length, json]);
}

/** A path that stays inside the directory and names a file a backup carries. */
function safePath(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024 || value.includes('\0')) {
    return false;
  }
  const parts = value.split('/');
  return (
    parts.length <= MAX_DEPTH && parts.every((p) => p !== '' && p !== '.' && p !== '..') && carried(value)
  );
}

function parseManifest(json: Buffer, payloadBytes: number): ManifestEntry[] {
  let manifest: { format?: unknown; files?: unknown };
  try {
    manifest = JSON.parse(json.toString('utf8')) as typeof manifest;
  } catch {
    throw corrupt('the backup manifest is not JSON');
  }
  if (manifest?.format !== MANIFEST_FORMAT || !Array.isArray(manifest.files)) {
    throw corrupt('the backup manifest is malformed');
  }
  const seen = new Set<string>();
  let total = 4 + json.length;
  for (const entry of manifest.files as Partial<ManifestEntry>[]) {
    if (
      !safePath(entry?.path) ||
      seen.has(entry.path) ||
      !Number.isInteger(entry.mode) ||
      (entry.mode as number) < 0 ||
      (entry.mode as number) > 0o777 ||
      !Number.isSafeInteger(entry.size) ||
      (entry.size as number) < 0 ||
      typeof entry.sha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(entry.sha256)
    ) {
      throw corrupt(
        `the backup manifest has a bad entry${typeof entry?.path === 'string' ? ` (${entry.path})` : ''}`,
      );
    }
    seen.add(entry.path);
    total += entry.size as number;
  }
  if (total !== payloadBytes) throw corrupt('the backup manifest does not add up to the payload');
  return manifest.files as ManifestEntry[];
}

interface Receiving {
  entry: ManifestEntry;
  fd: number | undefined;
  hash: Hash;
}

/**
 * Receives the decrypted archive in pieces and writes its files under `dir` — those that
 * `written` selects; the others are only checked against their checksum.
 */
export class ArchiveExtractor {
  #head = Buffer.alloc(0);
  #entries: ManifestEntry[] | undefined;
  #index = 0;
  #left = 0;
  // The file being received: its descriptor when it is written, and its running hash.
  #open: Receiving | undefined;

  constructor(
    private readonly dir: string,
    private readonly payloadBytes: number,
    private readonly written: (entry: ManifestEntry) => boolean = () => true,
  ) {}

  /** The manifest, once extraction is complete. */
  get entries(): ManifestEntry[] {
    if (!this.#entries || this.#index < this.#entries.length || this.#open !== undefined) {
      throw corrupt('the backup ends before its last file');
    }
    return this.#entries;
  }

  push(piece: Buffer): void {
    let rest = piece;
    if (!this.#entries) {
      this.#head = Buffer.concat([this.#head, rest]);
      if (this.#head.length < 4) return;
      const length = this.#head.readUInt32BE(0);
      if (length > MAX_MANIFEST_BYTES || 4 + length > this.payloadBytes) {
        throw corrupt('the backup manifest length is out of range');
      }
      if (this.#head.length < 4 + length) return;
      this.#entries = parseManifest(this.#head.subarray(4, 4 + length), this.payloadBytes);
      rest = this.#head.subarray(4 + length);
      this.#head = Buffer.alloc(0);
      this.#openNext();
    }
    while (rest.length > 0) {
      const open = this.#open;
      if (open === undefined) throw corrupt('the backup holds bytes past its last file');
      const part = rest.subarray(0, Math.min(this.#left, rest.length));
      if (open.fd !== undefined) {
        for (let done = 0; done < part.length;) done += writeSync(open.fd, part, done);
      }
      open.hash.update(part);
      this.#left -= part.length;
      rest = rest.subarray(part.length);
      if (this.#left === 0) this.#closeFile();
      this.#openNext();
    }
  }

  /** Closes what is open (after a failure). */
  abandon(): void {
    if (this.#open?.fd !== undefined) closeSync(this.#open.fd);
    this.#open = undefined;
  }

  // Opens the next file if none is open; files of no bytes are made and closed at once.
  #openNext(): void {
    const entries = this.#entries ?? [];
    while (this.#open === undefined && this.#index < entries.length) {
      const entry = entries[this.#index];
      let fd: number | undefined;
      if (this.written(entry)) {
        const file = path.join(this.dir, entry.path);
        mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
        // The mode as it was, not as the umask leaves it; never writable by group or others.
        fchmodSync(fd, entry.mode & 0o755);
      }
      this.#open = { entry, fd, hash: createHash('sha256') };
      this.#left = entry.size;
      if (this.#left === 0) this.#closeFile();
    }
  }

  #closeFile(): void {
    const { entry, fd, hash } = this.#open as Receiving;
    this.#open = undefined;
    if (fd !== undefined) {
      fsyncSync(fd);
      closeSync(fd);
    }
    this.#index += 1;
    if (hash.digest('hex') !== entry.sha256) {
      throw corrupt(`${entry.path} in the backup does not match its checksum`);
    }
  }
}
