// The thin TypeScript face of the native core: loads the addon, checks every argument
// so the C++ side can trust its input, and hands out typed results. Key material goes
// in (raw for tests, key files, wrapped deliveries) but never comes back out.
import { createRequire } from 'node:module';

import { KEY_STATES as SHARED_KEY_STATES } from '../common/key_states.js';
import { VeilNativeError } from './errors.js';
import * as layout from './layout.js';
import type {
  BenchmarkResult,
  CipherName,
  DeliveryResult,
  FormatConstants,
  GuardPointEvent,
  KeyInfo,
  KeyState,
  LdtRequest,
  LdtResult,
  LdtScanEntry,
  NativeAddon,
  NativeContainer,
  NativeDecisionTable,
  NativeGuardPoint,
  OfflinePasswordWrapper,
  PeerCredentials,
  PolicyProbe,
  PolicyVerdict,
} from './index.js';
import { UUID } from '../common/uuid.js';

export type {
  AccessRecord,
  BenchmarkResult,
  CipherName,
  DeliveryEntry,
  DeliveryResult,
  FormatConstants,
  GuardPointEvent,
  KeyAlgorithm,
  KeyInfo,
  KeyState,
  LdtRequest,
  LdtResult,
  LdtScanEntry,
  NativeDecisionTable,
  NativeGuardPoint,
  NativeKeyRule,
  NativeProcessSet,
  NativeResourceSet,
  NativeRule,
  NativeUserSet,
  OfflinePasswordWrapper,
  PeerCredentials,
} from './index.js';
export { VeilNativeError, NATIVE_ERROR_CODES, type NativeErrorCode } from './errors.js';

/** A key version in the native key table. */
export interface KeyRef {
  keyId: string;
  version: number;
}

export const CIPHERS: readonly CipherName[] = ['aes-256-gcm', 'aes-256-xts'];
// The native key table's states are the manager's (common/key_states.ts).
export const KEY_STATES: readonly KeyState[] = SHARED_KEY_STATES;

const addon = createRequire(import.meta.url)('../build/Release/veil_native.node') as NativeAddon;
addon.setErrorClass(VeilNativeError as new (code: string, message: string) => Error);

export const format: FormatConstants = Object.freeze({ ...addon.format });
for (const [name, ours] of [
  ['pageSize', layout.PAGE_SIZE],
  ['groupBlocks', layout.GROUP_BLOCKS],
  ['tagEntrySize', layout.TAG_ENTRY_SIZE],
  ['tagEntriesOffset', layout.TAG_ENTRIES_OFFSET],
] as const) {
  if (format[name] !== ours) throw new Error(`native/layout.ts and the native core disagree on ${name}`);
}

function invalid(message: string): VeilNativeError {
  return new VeilNativeError('VEIL_INVALID_ARGUMENT', message);
}

function checkUuid(name: string, value: unknown): string {
  if (typeof value !== 'string' || !UUID.test(value)) {
    throw invalid(`${name} must be a lower-case UUID such as 0f8e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b`);
  }
  return value;
}

function checkKeyRef(ref: KeyRef): void {
  checkUuid('key id', ref.keyId);
  if (!Number.isInteger(ref.version) || ref.version < 1 || ref.version > 0xffffffff) {
    throw invalid(`key version must be an integer from 1 to 4294967295, got ${String(ref.version)}`);
  }
}

function checkState(state: KeyState): void {
  if (!KEY_STATES.includes(state)) {
    throw invalid(`key state must be one of ${KEY_STATES.join(', ')}`);
  }
}

function checkCipher(cipher: CipherName): void {
  if (!CIPHERS.includes(cipher)) {
    throw invalid(`cipher must be one of ${CIPHERS.join(', ')}`);
  }
}

function checkBuffer(name: string, value: unknown, multipleOf = 1): Buffer {
  if (!Buffer.isBuffer(value)) throw invalid(`${name} must be a Buffer`);
  if (value.length % multipleOf !== 0) {
    throw invalid(`${name} length ${value.length} is not a multiple of ${multipleOf}`);
  }
  return value;
}

function checkExactBuffer(name: string, value: unknown, length: number): Buffer {
  const buffer = checkBuffer(name, value);
  if (buffer.length !== length) throw invalid(`${name} must be ${length} bytes, got ${buffer.length}`);
  return buffer;
}

// 128·N·r bytes of scrypt's working memory: N = 2^20 with r = 8 at most (the native core's bound).
const SCRYPT_MAX_MEMORY = 2 ** 30;

/** scrypt's N, r, p: N a power of two from `minN` to 2^20, r 1..32, p 1..16, as RFC 7914 and the memory bound allow. */
function checkScrypt(N: number, r: number, p: number, minN: number): void {
  if (!Number.isInteger(N) || N < minN || N > 2 ** 20 || (N & (N - 1)) !== 0) {
    throw invalid(`scrypt N must be a power of two from 2^${Math.log2(minN)} to 2^20, got ${String(N)}`);
  }
  checkLength('scrypt r', r, 32, 1);
  checkLength('scrypt p', p, 16, 1);
  if (Math.log2(N) >= 16 * r) {
    throw invalid(`scrypt N must be below 2^(16 r) (RFC 7914), got N = ${N}, r = ${r}`);
  }
  if (128 * N * r > SCRYPT_MAX_MEMORY) {
    throw invalid(
      `scrypt would need ${(128 * N * r) / 2 ** 30} GiB (128 N r): at most 1 GiB, so r ≤ 8 at N = 2^20`,
    );
  }
}

function checkBlockIndex(first: number): void {
  if (!Number.isSafeInteger(first) || first < 0) {
    throw invalid(`block index must be a non-negative integer, got ${String(first)}`);
  }
}

export const keys = {
  /** Copies the material into locked native memory and wipes the caller's buffer. */
  importRaw(ref: KeyRef, state: KeyState, material: Buffer): void {
    checkBuffer('key material', material);
    try {
      checkKeyRef(ref);
      checkState(state);
      if (material.length !== 32 && material.length !== 16) {
        throw new VeilNativeError('VEIL_KEY_INVALID', 'key material must be 16 or 32 bytes');
      }
      addon.keyImportRaw(ref.keyId, ref.version, state, material);
    } finally {
      // Whatever happened, the caller's copy is gone: the key lives only in native memory.
      material.fill(0);
    }
  },
  /** Reads a 32-byte raw key file in native code; the bytes never reach JavaScript. */
  importFile(ref: KeyRef, state: KeyState, path: string): void {
    checkKeyRef(ref);
    checkState(state);
    if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
      throw invalid('key file path must be a non-empty string');
    }
    addon.keyImportFile(ref.keyId, ref.version, state, path);
  },
  setState(ref: KeyRef, state: KeyState): void {
    checkKeyRef(ref);
    checkState(state);
    addon.keySetState(ref.keyId, ref.version, state);
  },
  /** Removes and wipes a key version; false if it was not there. */
  remove(ref: KeyRef): boolean {
    checkKeyRef(ref);
    return addon.keyRemove(ref.keyId, ref.version);
  },
  list(): KeyInfo[] {
    return addon.keyList();
  },
};

/** The host's transport public key (RSA-3072, SPKI PEM), generated on first use. */
export function transportPublicKey(): string {
  return addon.transportPublicKey();
}

/** Opens a wrapped key delivery (docs/protocol.md) inside the native core. */
export function installDelivery(
  blob: Buffer,
  expected: { hostId: string; afterSequence: bigint },
): DeliveryResult {
  checkBuffer('delivery blob', blob);
  checkUuid('host id', expected.hostId);
  if (typeof expected.afterSequence !== 'bigint' || expected.afterSequence < 0n) {
    throw invalid('afterSequence must be a non-negative bigint');
  }
  return addon.deliveryInstall(blob, expected.hostId, expected.afterSequence);
}

const OFFLINE_SALT_SIZE = 16;
const OFFLINE_NONCE_SIZE = 12;
const OFFLINE_CIPHERTEXT_SIZE = 48;
const X25519_KEY_SIZE = 32;
const MAX_PASSWORD_BYTES = 1024;

function checkOfflineTarget(sealed: Buffer, hostId: string, offlineKey: KeyRef): void {
  checkBuffer('sealed key file', sealed);
  checkUuid('host id', hostId);
  checkKeyRef(offlineKey);
}

/**
 * Offline unlock (docs/protocol.md, "Offline unlock"): the sealed key file a host keeps,
 * and its opening with the offline password or a challenge's response while the manager
 * is unreachable. Every failure of an unlock past these argument checks is
 * VEIL_OFFLINE_UNLOCK_FAILED, with one message whatever failed; nothing is installed then.
 */
export const offline = {
  /**
   * The sealed key file: every key version in the table but the offline key, encrypted
   * under a key derived from it. The offline key must be in the table (VEIL_KEY_NOT_FOUND).
   */
  seal(hostId: string, offlineKey: KeyRef): Buffer {
    checkUuid('host id', hostId);
    checkKeyRef(offlineKey);
    return addon.offlineSeal(hostId, offlineKey.keyId, offlineKey.version);
  },
  /** A new challenge: the 32-byte X25519 public half; its private half stays native, replacing any earlier one. */
  challenge(): Buffer {
    return addon.offlineChallenge();
  },
  /**
   * Recovers the offline key from the manager's password wrapper with `password` (UTF-8
   * bytes), opens `sealed` with it and installs its versions and the offline key at once;
   * returns what it installed. The password buffer is wiped whatever happens.
   */
  unlockPassword(
    sealed: Buffer,
    hostId: string,
    offlineKey: KeyRef,
    wrapper: OfflinePasswordWrapper,
    password: Buffer,
  ): KeyInfo[] {
    try {
      checkBuffer('password', password);
      if (password.length === 0 || password.length > MAX_PASSWORD_BYTES) {
        throw invalid(`the password must be 1 to ${MAX_PASSWORD_BYTES} bytes`);
      }
      checkOfflineTarget(sealed, hostId, offlineKey);
      if (typeof wrapper !== 'object' || wrapper === null) throw invalid('the password wrapper is missing');
      const checked: OfflinePasswordWrapper = {
        salt: checkExactBuffer('wrapper salt', wrapper.salt, OFFLINE_SALT_SIZE),
        N: wrapper.N,
        r: wrapper.r,
        p: wrapper.p,
        nonce: checkExactBuffer('wrapper nonce', wrapper.nonce, OFFLINE_NONCE_SIZE),
        ciphertext: checkExactBuffer('wrapper ciphertext', wrapper.ciphertext, OFFLINE_CIPHERTEXT_SIZE),
      };
      checkScrypt(checked.N, checked.r, checked.p, 2 ** 14);
      return addon.offlineUnlockPassword(
        sealed,
        hostId,
        offlineKey.keyId,
        offlineKey.version,
        checked,
        password,
      );
    } finally {
      // Whatever happened, the caller's copy of the password is gone.
      if (password instanceof Uint8Array) password.fill(0);
    }
  },
  /**
   * Opens the manager's 48-byte response to the pending challenge with its X25519 public
   * key, then `sealed` as unlockPassword does. The challenge is used up whatever happens;
   * none pending is VEIL_OFFLINE_NO_CHALLENGE.
   */
  unlockResponse(
    sealed: Buffer,
    hostId: string,
    offlineKey: KeyRef,
    managerPublicKey: Buffer,
    response: Buffer,
  ): KeyInfo[] {
    checkOfflineTarget(sealed, hostId, offlineKey);
    checkExactBuffer("the manager's public key", managerPublicKey, X25519_KEY_SIZE);
    checkExactBuffer('the response', response, OFFLINE_CIPHERTEXT_SIZE);
    return addon.offlineUnlockResponse(
      sealed,
      hostId,
      offlineKey.keyId,
      offlineKey.version,
      managerPublicKey,
      response,
    );
  },
};

/** An open container: header fields and the block codec of one file. */
export class Container {
  readonly #native: NativeContainer;

  constructor(native: NativeContainer) {
    this.#native = native;
  }

  get fileId(): string {
    return this.#native.fileId;
  }
  get cipher(): CipherName {
    return this.#native.cipher;
  }
  get size(): number {
    return this.#native.size;
  }
  get state(): 'stable' | 're-encrypting' {
    return this.#native.state;
  }
  get progress(): number {
    return this.#native.progress;
  }
  get key(): KeyRef {
    return { keyId: this.#native.keyId, version: this.#native.keyVersion };
  }
  /**
   * Bytes per block of a run, the unit encryptBlocks returns and decryptBlocks takes: a
   * run is the ciphertext of every block (4096 bytes each), then, for GCM, every block's
   * tag entry (28 bytes each). Where each goes in a container: native/layout.ts.
   */
  get runUnit(): number {
    return format.pageSize + (this.cipher === 'aes-256-gcm' ? format.tagEntrySize : 0);
  }

  header(): Buffer {
    return this.#native.header();
  }

  setSize(size: number): Buffer {
    if (!Number.isSafeInteger(size) || size < 0 || size > format.maxLogicalSize) {
      throw invalid(`size must be an integer from 0 to ${format.maxLogicalSize}`);
    }
    return this.#native.setSize(size);
  }

  rewrap(ref: KeyRef): Buffer {
    checkKeyRef(ref);
    return this.#native.rewrap(ref.keyId, ref.version);
  }

  encryptBlocks(first: number, plain: Buffer): Buffer {
    checkBlockIndex(first);
    return this.#native.encryptBlocks(first, checkBuffer('plaintext', plain, format.plainBlockSize));
  }

  decryptBlocks(first: number, cipher: Buffer): Buffer {
    checkBlockIndex(first);
    return this.#native.decryptBlocks(first, checkBuffer('ciphertext', cipher, this.runUnit));
  }

  // Async methods report every failure, argument checks included, as a rejection.
  async encryptBlocksAsync(first: number, plain: Buffer): Promise<Buffer> {
    checkBlockIndex(first);
    return this.#native.encryptBlocksAsync(first, checkBuffer('plaintext', plain, format.plainBlockSize));
  }

  async decryptBlocksAsync(first: number, cipher: Buffer): Promise<Buffer> {
    checkBlockIndex(first);
    return this.#native.decryptBlocksAsync(first, checkBuffer('ciphertext', cipher, this.runUnit));
  }

  close(): void {
    this.#native.close();
  }
}

/** Starts a new container with a fresh file id and file key wrapped under `ref`. */
export function createContainer(ref: KeyRef, cipher: CipherName): Container {
  checkKeyRef(ref);
  checkCipher(cipher);
  return new Container(addon.containerCreate(ref.keyId, ref.version, cipher));
}

/** Verifies a container header (at least its first 512 bytes) and unwraps its file keys. */
export function openContainer(header: Buffer): Container {
  checkBuffer('header', header);
  return new Container(addon.containerOpen(header));
}

/** Encodes a whole file into a container (for tests, tools and initial encryption). */
export async function encodeFile(ref: KeyRef, cipher: CipherName, plain: Buffer): Promise<Buffer> {
  checkBuffer('plaintext', plain);
  const container = createContainer(ref, cipher);
  try {
    const out = Buffer.alloc(layout.containerLength(plain.length));
    container.setSize(plain.length).copy(out, 0);
    const blocks = layout.blockCount(plain.length);
    // One group per call: its pages and its tag entries are each contiguous.
    for (let first = 0; first < blocks; first += layout.GROUP_BLOCKS) {
      const count = layout.runLength(first, blocks - first);
      const chunk = Buffer.alloc(count * format.plainBlockSize);
      plain.copy(chunk, 0, first * format.plainBlockSize);
      const run = await container.encryptBlocksAsync(first, chunk);
      run.copy(out, layout.blockOffset(first), 0, count * format.pageSize);
      if (cipher === 'aes-256-gcm') run.copy(out, layout.entryOffset(first), count * format.pageSize);
    }
    return out;
  } finally {
    container.close();
  }
}

/** Decodes a whole container; fails on any tampering, truncation or unknown key. */
export async function decodeFile(data: Buffer): Promise<Buffer> {
  checkBuffer('container', data);
  const container = openContainer(data);
  try {
    const blocks = layout.blockCount(container.size);
    if (data.length < layout.storedEnd(blocks)) {
      throw new VeilNativeError(
        'VEIL_FORMAT_TRUNCATED',
        'the container is shorter than its logical size needs: it was truncated',
      );
    }
    const parts: Buffer[] = [];
    for (let first = 0; first < blocks; first += layout.GROUP_BLOCKS) {
      const count = layout.runLength(first, blocks - first);
      const pages = data.subarray(
        layout.blockOffset(first),
        layout.blockOffset(first) + count * format.pageSize,
      );
      const tags =
        container.cipher === 'aes-256-gcm'
          ? data.subarray(layout.entryOffset(first), layout.entryOffset(first) + count * format.tagEntrySize)
          : Buffer.alloc(0);
      parts.push(await container.decryptBlocksAsync(first, Buffer.concat([pages, tags])));
    }
    return Buffer.concat(parts).subarray(0, container.size);
  } finally {
    container.close();
  }
}

function checkLength(name: string, value: number, max: number, min = 0): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer from ${min} to ${max}`);
  }
}

/** Options of a guard point: the directory guarded in place and the key of new files. */
export interface GuardPointSpec {
  directory: string;
  key: KeyRef;
  cipher: CipherName;
  threads?: number;
  /** The compiled policy in force from the first operation; none: everything is permitted. */
  policy?: NativeDecisionTable;
  /**
   * Whether the mount first opens a container already in the directory with the key
   * table (VEIL_FS_WRONG_KEY if it does not open). False for a locked guard point whose
   * keys arrive later: its files fail with ENOKEY until they do. Default true.
   */
  verifyKeys?: boolean;
  /**
   * The undo journal of in-place re-encryption (live data transformation): an absolute
   * path outside the guard point, created if missing. Without it, `reencrypt` fails.
   */
  ldtJournal?: string;
  /** Plaintext files already in the directory: refuse the mount (default) or serve them until encrypted. */
  plaintextFiles?: 'refuse' | 'serve';
}

const LDT_OPS: readonly LdtRequest['op'][] = ['rewrap', 'reencrypt', 'encrypt'];

function checkLdtRequests(requests: unknown): LdtRequest[] {
  if (!Array.isArray(requests)) throw invalid('requests must be an array');
  return requests.map((request: unknown, i): LdtRequest => {
    if (typeof request !== 'object' || request === null) throw invalid(`request ${i} must be an object`);
    const r = request as Partial<LdtRequest>;
    if (
      typeof r.path !== 'string' ||
      r.path.length === 0 ||
      r.path.startsWith('/') ||
      r.path.includes('\0')
    ) {
      throw invalid(`request ${i}: path must be relative to the guard point root, without a leading '/'`);
    }
    if (r.op === undefined || !LDT_OPS.includes(r.op)) {
      throw invalid(`request ${i}: op must be one of ${LDT_OPS.join(', ')}`);
    }
    checkKeyRef({ keyId: r.keyId as string, version: r.version as number });
    if (!Number.isSafeInteger(r.maxBytes) || (r.maxBytes as number) < 0) {
      throw invalid(`request ${i}: maxBytes must be a non-negative integer`);
    }
    return {
      path: r.path,
      op: r.op,
      keyId: r.keyId as string,
      version: r.version as number,
      maxBytes: r.maxBytes as number,
    };
  });
}

/** The native guard point with its arguments checked, as every other wrapper does. */
class GuardPoint implements NativeGuardPoint {
  readonly #native: NativeGuardPoint;

  constructor(native: NativeGuardPoint) {
    this.#native = native;
  }
  get directory(): string {
    return this.#native.directory;
  }
  setPolicy(policy: NativeDecisionTable | null): void {
    this.#native.setPolicy(policy);
  }
  unmount(): Promise<void> {
    return this.#native.unmount();
  }
  scanFiles(): Promise<LdtScanEntry[]> {
    return this.#native.scanFiles();
  }
  // Like the other async wrappers, a bad argument is a rejection.
  async transformFiles(requests: LdtRequest[]): Promise<LdtResult[]> {
    return this.#native.transformFiles(checkLdtRequests(requests));
  }
}

/**
 * Guards `directory` in place: a FUSE mount over it, served by native threads. The caller
 * must never do file I/O under the mount from this process (it would deadlock): use child
 * processes.
 */
export function mountGuardPoint(
  spec: GuardPointSpec,
  onEvent: (event: GuardPointEvent) => void = () => {},
): NativeGuardPoint {
  if (typeof spec.directory !== 'string' || spec.directory.length === 0 || spec.directory.includes('\0')) {
    throw invalid('directory must be a non-empty path');
  }
  checkKeyRef(spec.key);
  checkCipher(spec.cipher);
  const threads = spec.threads ?? 8;
  checkLength('threads', threads, 64, 1);
  if (spec.policy !== undefined && (typeof spec.policy !== 'object' || spec.policy === null)) {
    throw invalid('policy must be a compiled decision table');
  }
  if (spec.verifyKeys !== undefined && typeof spec.verifyKeys !== 'boolean') {
    throw invalid('verifyKeys must be a boolean');
  }
  if (
    spec.ldtJournal !== undefined &&
    (typeof spec.ldtJournal !== 'string' ||
      !spec.ldtJournal.startsWith('/') ||
      spec.ldtJournal.includes('\0'))
  ) {
    throw invalid('ldtJournal must be an absolute path');
  }
  if (
    spec.plaintextFiles !== undefined &&
    spec.plaintextFiles !== 'refuse' &&
    spec.plaintextFiles !== 'serve'
  ) {
    throw invalid("plaintextFiles must be 'refuse' or 'serve'");
  }
  // The native side checks the table's shape and index ranges again, with a JSON pointer.
  const native = new addon.GuardPoint(
    {
      directory: spec.directory,
      keyId: spec.key.keyId,
      keyVersion: spec.key.version,
      cipher: spec.cipher,
      threads,
      policy: spec.policy ?? null,
      verifyKeys: spec.verifyKeys ?? true,
      ...(spec.ldtJournal === undefined ? {} : { ldtJournal: spec.ldtJournal }),
      plaintextFiles: spec.plaintextFiles ?? 'refuse',
    },
    onEvent,
  );
  return new GuardPoint(native);
}

/** Clears a mount left by a crashed process ("transport endpoint is not connected"). */
export function clearStaleMount(directory: string): boolean {
  return addon.clearStaleMount(directory);
}

/**
 * Who is at the other end of a connected Unix stream socket (SO_PEERCRED), as the kernel
 * recorded it at connect time. For a `net.Socket` of a Unix server the descriptor is
 * `socket._handle.fd`. A descriptor that is not open, not a Unix stream socket or not
 * connected is VEIL_INVALID_ARGUMENT.
 */
export function peerCredentials(fd: number): PeerCredentials {
  checkLength('descriptor', fd, 0x7fffffff);
  return addon.peerCredentials(fd);
}

// systemd reads a notification into a buffer of this size (NOTIFY_BUFFER_MAX, PIPE_BUF) and
// ignores a longer one.
const NOTIFY_STATE_MAX_BYTES = 4096;

/**
 * Tells systemd about the service (the sd_notify protocol): newline-separated assignments
 * such as "READY=1\nSTATUS=guarding 2 directories", sent as one datagram to $NOTIFY_SOCKET.
 * False when the process was not started by systemd ($NOTIFY_SOCKET unset or empty); a
 * send that fails is VEIL_SYSTEMD_NOTIFY_FAILED.
 */
export function systemdNotify(state: string): boolean {
  if (typeof state !== 'string' || state.length === 0) {
    throw invalid('a notification must be a non-empty string such as "READY=1"');
  }
  if (state.includes('\0')) throw invalid('a notification must not contain a NUL character');
  const bytes = Buffer.byteLength(state, 'utf8');
  if (bytes > NOTIFY_STATE_MAX_BYTES) {
    throw invalid(`a notification is at most ${NOTIFY_STATE_MAX_BYTES} bytes, got ${bytes}`);
  }
  return addon.systemdNotify(state);
}

/** The primitives with caller-supplied keys, for known-answer tests only. */
export const selfTest = {
  aesGcmEncrypt(key: Buffer, iv: Buffer, aad: Buffer, plain: Buffer): { ciphertext: Buffer; tag: Buffer } {
    for (const [name, b] of Object.entries({ key, iv, aad, plain })) checkBuffer(name, b);
    return addon.selfTest.aesGcmEncrypt(key, iv, aad, plain);
  },
  aesGcmDecrypt(key: Buffer, iv: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer): Buffer {
    for (const [name, b] of Object.entries({ key, iv, aad, ciphertext, tag })) checkBuffer(name, b);
    return addon.selfTest.aesGcmDecrypt(key, iv, aad, ciphertext, tag);
  },
  aesXts(key: Buffer, tweak: Buffer, data: Buffer, encrypt: boolean): Buffer {
    for (const [name, b] of Object.entries({ key, tweak, data })) checkBuffer(name, b);
    return addon.selfTest.aesXts(key, tweak, data, encrypt === true);
  },
  hkdfSha256(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
    for (const [name, b] of Object.entries({ ikm, salt, info })) checkBuffer(name, b);
    checkLength('HKDF output length', length, 255 * 32, 1);
    return addon.selfTest.hkdfSha256(ikm, salt, info, length);
  },
  /** RFC 7748 X25519 of a scalar and a u-coordinate; an all-zero result is VEIL_INVALID_ARGUMENT. */
  x25519(privateKey: Buffer, publicKey: Buffer): Buffer {
    checkExactBuffer('private key', privateKey, X25519_KEY_SIZE);
    checkExactBuffer('public key', publicKey, X25519_KEY_SIZE);
    return addon.selfTest.x25519(privateKey, publicKey);
  },
  x25519PublicKey(privateKey: Buffer): Buffer {
    checkExactBuffer('private key', privateKey, X25519_KEY_SIZE);
    return addon.selfTest.x25519PublicKey(privateKey);
  },
  /** RFC 7914 scrypt, N from 2 to 2^20 (offline unlock takes 2^14 and up). */
  scrypt(password: Buffer, salt: Buffer, N: number, r: number, p: number, length: number): Buffer {
    for (const [name, b] of Object.entries({ password, salt })) checkBuffer(name, b);
    checkScrypt(N, r, p, 2);
    checkLength('scrypt output length', length, 1024, 1);
    return addon.selfTest.scrypt(password, salt, N, r, p, length);
  },
  randomBytes(length: number): Buffer {
    checkLength('length', length, 1 << 20);
    return addon.selfTest.randomBytes(length);
  },
  /** One decision of the guard points' policy evaluator, for a caller given in full. */
  evaluatePolicy(table: NativeDecisionTable, probe: PolicyProbe): PolicyVerdict {
    if (typeof table !== 'object' || typeof probe !== 'object' || probe === null) {
      throw invalid('a decision table and a probe are needed');
    }
    return addon.selfTest.evaluatePolicy(table, probe);
  },
  /** Nanoseconds per decision of the native evaluator, the decision made `repeat` times. */
  timePolicy(table: NativeDecisionTable, probe: PolicyProbe, repeat: number): number {
    if (typeof table !== 'object' || typeof probe !== 'object' || probe === null) {
      throw invalid('a decision table and a probe are needed');
    }
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 1e8)
      throw invalid('repeat must be from 1 to 1e8');
    return addon.selfTest.timePolicy(table, probe, repeat);
  },
  /** The guard points' path matcher (policy resource sets). */
  globMatch(pattern: string, path: string): boolean {
    if (typeof pattern !== 'string' || typeof path !== 'string')
      throw invalid('pattern and path must be strings');
    return addon.selfTest.globMatch(pattern, path);
  },
};

export function benchmarkBlocks(
  cipher: CipherName,
  requestBytes: number,
  seconds: number,
  decrypt: boolean,
): BenchmarkResult {
  checkCipher(cipher);
  if (!Number.isInteger(requestBytes) || requestBytes <= 0 || requestBytes % format.plainBlockSize !== 0) {
    throw invalid('request size must be a positive multiple of 4096');
  }
  if (!(seconds > 0 && seconds <= 60)) throw invalid('seconds must be in (0, 60]');
  return addon.benchmarkBlocks(cipher, requestBytes, seconds, decrypt);
}
