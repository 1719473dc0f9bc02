// Guard points for the live data transformation tests: mounted from the test process
// (transformFiles and scanFiles are its methods), while every file operation on the mount
// runs in a child process. Whatever happens, mounts are undone and directories removed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import {
  keys,
  mountGuardPoint,
  type CipherName,
  type GuardPointEvent,
  type GuardPointSpec,
  type KeyRef,
} from '../../native/core.js';
import { isMounted } from '../fs/mount_support.js';
import { keyringOf, type Keyring } from '../reference/container_codec.js';

export type GuardPoint = ReturnType<typeof mountGuardPoint>;

const work = mkdtempSync('/var/tmp/veil-ldt-');
const mounted: GuardPoint[] = [];
const imported: KeyRef[] = [];

/** Unmounts what is still mounted, removes the keys and the work directory (call from after()). */
export async function cleanUp(): Promise<void> {
  for (const gp of mounted.splice(0)) await gp.unmount().catch(() => {});
  for (const ref of imported.splice(0)) keys.remove(ref);
  rmSync(work, { recursive: true, force: true });
}

export interface Place {
  dir: string; // the directory to guard
  journal: string; // an ldt journal outside it
}

export function newPlace(name: string): Place {
  const base = mkdtempSync(join(work, `${name}-`));
  const dir = join(base, 'guarded');
  mkdirSync(dir, { mode: 0o755 });
  return { dir, journal: join(base, 'ldt.journal') };
}

/** Key versions of one key id, active in the native table; their material for the reference codec. */
export function newKey(versions = 2): { refs: KeyRef[]; materials: Buffer[]; keyring: Keyring } {
  const keyId = randomUUID();
  const refs: KeyRef[] = [];
  const materials: Buffer[] = [];
  for (let version = 1; version <= versions; version++) {
    const ref = { keyId, version };
    const material = randomBytes(32);
    keys.importRaw(ref, 'active', Buffer.from(material));
    imported.push(ref);
    refs.push(ref);
    materials.push(material);
  }
  return {
    refs,
    materials,
    keyring: keyringOf(refs.map((ref, i) => ({ ...ref, material: materials[i] }))),
  };
}

export function mount(
  place: Place,
  key: KeyRef,
  cipher: CipherName,
  extra: Partial<GuardPointSpec> = {},
): { gp: GuardPoint; events: GuardPointEvent[] } {
  const events: GuardPointEvent[] = [];
  const gp = mountGuardPoint(
    { directory: place.dir, key, cipher, ldtJournal: place.journal, ...extra },
    (e) => events.push(e),
  );
  mounted.push(gp);
  assert.ok(isMounted(place.dir), 'not mounted');
  return { gp, events };
}

export async function unmount(gp: GuardPoint): Promise<void> {
  const at = mounted.indexOf(gp);
  if (at >= 0) mounted.splice(at, 1);
  const dir = gp.directory;
  await gp.unmount();
  assert.ok(!isMounted(dir), 'the mount was left behind');
}

/** A bash script in a child process (never file I/O on a mount from this process); its stdout. */
export function sh(script: string): string {
  const result = spawnSync('bash', ['-c', script], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
  if (result.status !== 0)
    throw new Error(`script failed (${result.status ?? result.signal}): ${script}\n${result.stderr}`);
  return result.stdout;
}

export function shStatus(script: string): { status: number; stdout: string; stderr: string } {
  const result = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** sha256sum of files under `dir` in a child process: name → hex. */
export function hashes(dir: string, names: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const quoted = names.map((n) => `'${n}'`).join(' ');
  for (const line of sh(`cd '${dir}' && sha256sum -- ${quoted}`).trim().split('\n')) {
    const [hash, name] = line.split(/\s+\*?/);
    out.set(name, hash);
  }
  return out;
}

export async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  for (const deadline = Date.now() + ms; !check();) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// The journal record of docs/format.md ("The re-encryption journal").
export const JOURNAL_SLOT_SIZE = 8192 + 128 * (4096 + 28);

export function journalRecord(record: {
  fileId: Buffer;
  path: string;
  first: number;
  data: Buffer; // count pages
  tags: Buffer; // count tag entries
  corruptChecksum?: boolean;
}): Buffer {
  const count = record.data.length / 4096;
  const out = Buffer.alloc(8192 + count * (4096 + 28));
  out.write('VEILLDT1', 0, 'latin1');
  out.writeUInt32BE(8192, 8);
  out.writeUInt32BE(count, 12);
  out.writeBigUInt64BE(BigInt(record.first), 16);
  record.fileId.copy(out, 24);
  out.writeUInt32BE(Buffer.byteLength(record.path), 56);
  out.write(record.path, 96);
  record.data.copy(out, 8192);
  record.tags.copy(out, 8192 + count * 4096);
  const checksum = createHmac('sha256', 'veil ldt journal record').update(out.subarray(0, 8192)).digest();
  if (record.corruptChecksum) checksum[0] = checksum[0] ^ 1;
  checksum.copy(out, 64);
  return out;
}
