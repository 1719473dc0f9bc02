// The raw surface of the native core (build/Release/veil_native.node).
// Only native/core.ts loads it: it validates every argument before a call, so the C++
// side trusts its input, and it turns native errors into VeilNativeError.

export type CipherName = 'aes-256-gcm' | 'aes-256-xts';
export type KeyState =
  'pre-activation' | 'active' | 'suspended' | 'deactivated' | 'compromised' | 'destroyed';
export type KeyAlgorithm = 'aes-256' | 'aes-128';

/** What the key table tells about a key version: never its material. */
export interface KeyInfo {
  keyId: string; // canonical lower-case UUID
  version: number;
  state: KeyState;
  algorithm: KeyAlgorithm;
}

export interface DeliveryEntry extends KeyInfo {
  action: 'installed' | 'withdrawn';
}

export interface DeliveryResult {
  deliveryId: string;
  sequence: bigint;
  entries: DeliveryEntry[];
}

/**
 * The manager's password wrapper of the offline key (docs/protocol.md, "Password wrapper"),
 * its base64 fields decoded: the offline key under scrypt(password, salt, N, r, p).
 */
export interface OfflinePasswordWrapper {
  salt: Buffer; // 16 bytes
  N: number;
  r: number;
  p: number;
  nonce: Buffer; // 12 bytes
  ciphertext: Buffer; // 48 bytes: the offline key and the GCM tag
}

export interface BenchmarkResult {
  bytes: number;
  seconds: number;
}

/** Constants of docs/format.md, read from the native core so both sides agree. */
export interface FormatConstants {
  version: number;
  headerSize: number;
  plainBlockSize: number;
  pageSize: number;
  groupBlocks: number;
  tagEntrySize: number;
  tagEntriesOffset: number;
  maxLogicalSize: number;
}

/** One open container: its header fields and the file keys it unwrapped. */
export interface NativeContainer {
  readonly fileId: string; // 32 hex digits
  readonly cipher: CipherName;
  readonly size: number;
  readonly state: 'stable' | 're-encrypting';
  readonly progress: number;
  readonly keyId: string;
  readonly keyVersion: number;
  /** The current 512-byte header. */
  header(): Buffer;
  /** Sets the logical size and returns the re-MACed header. */
  setSize(size: number): Buffer;
  /** Wraps the same file key under another key version (slot A); returns the header. */
  rewrap(keyId: string, version: number): Buffer;
  /** Encrypts whole plaintext blocks (length a multiple of 4096) starting at block `first` into a run. */
  encryptBlocks(first: number, plain: Buffer): Buffer;
  /** Decrypts a run: every block's 4096-byte ciphertext, then (GCM) its 28-byte tag entry. */
  decryptBlocks(first: number, cipher: Buffer): Buffer;
  encryptBlocksAsync(first: number, plain: Buffer): Promise<Buffer>;
  decryptBlocksAsync(first: number, cipher: Buffer): Promise<Buffer>;
  /** Wipes the file keys; any later use fails with VEIL_KEY_HANDLE_CLOSED. */
  close(): void;
}

/** Something a guard point reports: tampering, an unusable key, a length a crash left and it repaired, its end. */
export interface GuardPointEvent {
  type: 'tamper' | 'key-unavailable' | 'recovered' | 'access' | 'unmounted';
  path: string; // relative to the guard point
  code?: string;
  message: string;
  uid: number;
  pid: number;
  access?: AccessRecord;
}

export interface GuardPointOptions {
  directory: string;
  keyId: string;
  keyVersion: number;
  cipher: CipherName;
  threads: number;
  policy?: NativeDecisionTable | null;
  /** False: mount without opening a container already there (its keys come later). Default true. */
  verifyKeys?: boolean;
  /**
   * The undo journal of in-place re-encryption: an absolute path outside the guard point
   * (created if missing). The mount recovers interrupted runs from it before serving.
   * Without it, `reencrypt` answers an error.
   */
  ldtJournal?: string;
  /**
   * Plaintext files already in the directory: 'refuse' the mount (default), or 'serve' them
   * as they are (passthrough) until live data transformation encrypts them.
   */
  plaintextFiles?: 'refuse' | 'serve';
}

/** One regular file of a guard point's backing tree, from its header (unverified). */
export interface LdtScanEntry {
  /** Relative to the guard point root, no leading '/'. */
  path: string;
  /** Plaintext size: the header's logical size for containers, st_size for plaintext. */
  size: number;
  kind: 'plaintext' | 'container' | 'reencrypting';
  /** Containers only. */
  cipher?: CipherName;
  /** Slot A (containers). */
  keyId?: string;
  keyVersion?: number;
  /** Slot B ('reencrypting' only). */
  targetKeyId?: string;
  targetKeyVersion?: number;
  /** Blocks already under slot B ('reencrypting' only). */
  progress?: number;
}

export interface LdtRequest {
  path: string;
  op: 'rewrap' | 'reencrypt' | 'encrypt';
  /** The target key version: in the native key table and active. */
  keyId: string;
  version: number;
  /** reencrypt: stop after about this many plaintext bytes (done false). */
  maxBytes: number;
}

export interface LdtResult {
  path: string;
  /** The file is now entirely under the target (or is gone). */
  done: boolean;
  /** Plaintext bytes transformed by this call (rewrap: 0). */
  bytes: number;
  /** busy: open by someone, and the op needs the file alone (or the guard point is unmounting): try later. */
  skipped?: 'busy' | 'gone';
  /** A native code (VEIL_*) or the errno name of a failed system call (ENOSPC, EIO...). Never key material. */
  error?: { code: string; message: string };
}

export interface NativeResourceSet {
  include: string[];
  exclude: string[];
}

export interface NativeUserSet {
  /** Sorted, without duplicates: users and uids together. */
  uids: number[];
  /** Sorted, without duplicates: groups and gids together. */
  gids: number[];
}

export interface NativeProcessSet {
  executables: string[];
  /** The signature set's hashes, sorted; null when the set binds no signature set. */
  sha256: string[] | null;
}

export interface NativeRule {
  /** Index into the table's sets, or -1 for any. */
  resource: number;
  user: number;
  process: number;
  negate: number;
  actions: number;
  permit: boolean;
  applyKey: boolean;
  /** Always true for a deny: every denial is an audit record. */
  audit: boolean;
  /** The rule's place in the policy's securityRules, for audit records. */
  ruleIndex: number;
}

/** A key rule: files in `resource` (-1: every file) are stored under keys[key], or stay plaintext (-1). */
export interface NativeKeyRule {
  resource: number;
  key: number;
}

/**
 * A compiled policy as the native layer evaluates it: the part of policies/compile.ts's
 * DecisionTable that the native layer reads (that one adds transformation rules).
 */
export interface NativeDecisionTable {
  format: number;
  name: string;
  /** SHA-256 (hex) of the canonical policy: audit records name the exact policy version. */
  digest: string;
  learnMode: boolean;
  resources: NativeResourceSet[];
  users: NativeUserSet[];
  processes: NativeProcessSet[];
  rules: NativeRule[];
  /** Every key version the key rules use, each once. */
  keys: { keyId: string; version: number }[];
  keyRules: NativeKeyRule[];
}

/** A caller given in full, for holding the native evaluator to the reference. */
export interface PolicyProbe {
  uid: number;
  gid: number;
  groups: number[];
  exe: string | null;
  sha256: string | null;
  action: number; // bit number (policies/actions.ts)
  path: string;
}

export interface PolicyVerdict {
  permit: boolean;
  applyKey: boolean;
  audit: boolean;
  learned: boolean;
  rule: number | null;
}

/** What an "access" event adds: the decision and what it was about (docs/policy.md, "Audit records"). */
export interface AccessRecord {
  time: number; // ms since the epoch
  policy: string;
  digest: string;
  rule: number | null;
  action: string;
  effect: 'permit' | 'deny';
  applyKey: boolean;
  learned: boolean;
  gid: number;
  executable: string;
}

/** A mounted guard point, served by native threads. */
export interface NativeGuardPoint {
  readonly directory: string;
  /** Replaces the policy (null: none) for the next operation, on open files too. */
  setPolicy(policy: NativeDecisionTable | null): void;
  /** Detaches the mount and resolves when the FUSE threads have ended. */
  unmount(): Promise<void>;
  /** Every regular file of the backing tree (not following symbolic links), off the JavaScript thread. */
  scanFiles(): Promise<LdtScanEntry[]>;
  /**
   * Runs the requests in order, off the JavaScript thread, one batch at a time per guard
   * point. A file's failure is in its result; only misuse (not mounted) rejects.
   */
  transformFiles(requests: LdtRequest[]): Promise<LdtResult[]>;
}

/** Who is at the other end of a Unix stream connection, as the kernel recorded it at connect time. */
export interface PeerCredentials {
  /** 0 when the peer is in a PID namespace this process cannot see into. */
  pid: number;
  uid: number;
  gid: number;
}

export interface NativeAddon {
  readonly format: FormatConstants;
  setErrorClass(ctor: new (code: string, message: string) => Error): void;

  keyImportRaw(keyId: string, version: number, state: KeyState, material: Buffer): void;
  keyImportFile(keyId: string, version: number, state: KeyState, path: string): void;
  keySetState(keyId: string, version: number, state: KeyState): void;
  keyRemove(keyId: string, version: number): boolean;
  keyList(): KeyInfo[];

  transportPublicKey(): string;
  deliveryInstall(blob: Buffer, hostId: string, afterSequence: bigint): DeliveryResult;

  /** The sealed key file: every version of the table but the offline key, under a key derived from it. */
  offlineSeal(hostId: string, offlineKeyId: string, offlineKeyVersion: number): Buffer;
  /** A new X25519 pair whose private half stays native (an earlier one is wiped); its 32-byte public half. */
  offlineChallenge(): Buffer;
  offlineUnlockPassword(
    sealed: Buffer,
    hostId: string,
    offlineKeyId: string,
    offlineKeyVersion: number,
    wrapper: OfflinePasswordWrapper,
    password: Buffer,
  ): KeyInfo[];
  offlineUnlockResponse(
    sealed: Buffer,
    hostId: string,
    offlineKeyId: string,
    offlineKeyVersion: number,
    managerPublicKey: Buffer,
    response: Buffer,
  ): KeyInfo[];

  containerCreate(keyId: string, version: number, cipher: CipherName): NativeContainer;
  containerOpen(header: Buffer): NativeContainer;

  selfTest: {
    aesGcmEncrypt(key: Buffer, iv: Buffer, aad: Buffer, plain: Buffer): { ciphertext: Buffer; tag: Buffer };
    aesGcmDecrypt(key: Buffer, iv: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer): Buffer;
    aesXts(key: Buffer, tweak: Buffer, data: Buffer, encrypt: boolean): Buffer;
    hkdfSha256(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer;
    /** RFC 7748 X25519(scalar, u): VEIL_INVALID_ARGUMENT when the result would be all zero. */
    x25519(privateKey: Buffer, publicKey: Buffer): Buffer;
    x25519PublicKey(privateKey: Buffer): Buffer;
    scrypt(password: Buffer, salt: Buffer, N: number, r: number, p: number, length: number): Buffer;
    randomBytes(length: number): Buffer;
    globMatch(pattern: string, path: string): boolean;
    evaluatePolicy(table: NativeDecisionTable, request: PolicyProbe): PolicyVerdict;
    /** Nanoseconds per decision, the same one made `repeat` times. */
    timePolicy(table: NativeDecisionTable, request: PolicyProbe, repeat: number): number;
  };

  /** SO_PEERCRED of a connected AF_UNIX stream socket; anything else is VEIL_INVALID_ARGUMENT. */
  peerCredentials(fd: number): PeerCredentials;
  /**
   * Sends `state` as one datagram to $NOTIFY_SOCKET (sd_notify without libsystemd); false when
   * $NOTIFY_SOCKET is unset or empty; VEIL_SYSTEMD_NOTIFY_FAILED when it cannot be sent.
   */
  systemdNotify(state: string): boolean;

  GuardPoint: new (options: GuardPointOptions, onEvent: (event: GuardPointEvent) => void) => NativeGuardPoint;
  clearStaleMount(directory: string): boolean;

  /** Runs the block path the FUSE threads use, on one thread, for `seconds`. */
  benchmarkBlocks(
    cipher: CipherName,
    requestBytes: number,
    seconds: number,
    decrypt: boolean,
  ): BenchmarkResult;
}
