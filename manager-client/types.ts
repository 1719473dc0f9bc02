// Wire types of the manager's API, shared by the manager and its client.

export { KEY_STATES, type KeyState } from '../common/key_states.js';
import type { KeyState } from '../common/key_states.js';

export const KEY_ALGORITHMS = ['aes-256', 'aes-128'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** KMIP 2.1 revocation reasons, which a compromise or a revocation records. */
export const REVOCATION_REASONS = [
  'unspecified',
  'key-compromise',
  'ca-compromise',
  'affiliation-changed',
  'superseded',
  'cessation-of-operation',
  'privilege-withdrawn',
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

/** One version of a key, as the manager shows it: never its material. */
export interface KeyVersionView {
  version: number;
  state: KeyState;
  /** ISO 8601 times; null when not set. */
  createdAt: string;
  stateChangedAt: string;
  activationDate: string | null;
  deactivationDate: string | null;
  compromiseDate: string | null;
  revocationReason: RevocationReason | null;
  /** False once destroyed: the metadata stays, the material is gone. */
  hasMaterial: boolean;
  /**
   * How hosts move files to this version when it is made by a rotation (docs/keys.md):
   * `rewrap` rewraps each file's key under it (header only), `full` re-encrypts every file
   * under a new file key. Version 1 and versions made before this field existed: `rewrap`.
   */
  rekey: RekeyMode;
  /** Where this version is still in use, as the hosts last reported it (docs/keys.md, "Retirement"). */
  usage: KeyVersionUsage;
}

/** How files reach a new key version: header-only rewrap of each file key, or full re-encryption. */
export const REKEY_MODES = ['rewrap', 'full'] as const;
export type RekeyMode = (typeof REKEY_MODES)[number];

/** What still needs a key version, by the policies in use and the hosts' last reports. */
export interface KeyVersionUsage {
  /** Hosts whose last report has files under this version, with how many (over all their guard points). */
  hostsUsing: { hostId: string; files: number }[];
  /**
   * Hosts with a guard point whose policy uses the key that have not yet reported, for every
   * such guard point, a transformation that is idle and has no file under this version
   * (never reported, still transforming, or reporting files under it).
   */
  hostsPending: string[];
  /** Whether `destroy` would be accepted now; when not, why (the same sentence as the refusal). */
  destroyable: boolean;
  reason: string | null;
}

/** POST /v1/keys/{keyId}/rotate */
export interface RotateOptions {
  /** ISO 8601: when the new version's cryptoperiod ends. */
  deactivationDate?: string;
  /** Default `rewrap`. A compromised version always makes hosts re-encrypt in full. */
  rekey?: RekeyMode;
}

/** POST /v1/keys */
export interface NewKeyOptions {
  name: string;
  algorithm?: KeyAlgorithm;
  /** ISO 8601; default now. */
  activationDate?: string;
  deactivationDate?: string;
}

export interface KeyView {
  keyId: string;
  name: string;
  algorithm: KeyAlgorithm;
  createdAt: string;
  versions: KeyVersionView[];
}

/** A recorded state change (NIST SP 800-57 §7: every transition is recorded). */
export interface KeyStateChange {
  keyId: string;
  version: number;
  from: KeyState | null; // null: generation
  to: KeyState;
  /** The transition's number in §7 (1 for generation). */
  transition: number;
  at: string;
  cause: string;
}

/** POST /v1/tokens */
export interface TokenOptions {
  /** Seconds from now until the token expires: 60 to 30 days. */
  lifetimeSeconds: number;
  /** Registrations the token allows: 1 to 10,000. */
  maxUses: number;
  hostGroup?: string;
  /** Put before each registered host's name. */
  namePrefix?: string;
}

export interface NewToken {
  tokenId: string;
  /** The secret: shown here once, stored only as its hash. */
  token: string;
  expiresAt: string;
  maxUses: number;
}

/** POST /v1/registration: PEM texts and the host's name. */
export interface RegistrationRequest {
  token: string;
  csr: string;
  transportPublicKey: string;
  hostname: string;
}

export interface Registration {
  hostId: string;
  hostName: string;
  certificate: string;
  caChain: string[];
}

/** A registered host as the manager shows it. */
export interface HostView {
  hostId: string;
  name: string;
  hostGroup: string | null;
  certificateSerial: string;
  certificateNotAfter: string;
  registeredAt: string;
  lastSeenAt: string | null;
  /** Set once de-registered: the certificate is revoked, the host refused. */
  deregisteredAt: string | null;
  /** What the host last reported of its guard points. */
  guardPoints: GuardPointStatus[];
}

/** POST /v1/hosts/self/status: a host's report on each of its guard points. */
export interface GuardPointStatus {
  guardPointId: string;
  state: 'guarded' | 'released' | 'failed';
  message?: string;
  /** Set by the manager when it stores the report; a host does not send it. */
  reportedAt?: string;
  /** Live data transformation of the guard point (docs/ldt.md), when the host runs it. */
  transformation?: GuardPointTransformation;
}

export const TRANSFORMATION_STATES = ['idle', 'scanning', 'running', 'paused', 'waiting', 'failed'] as const;
export type TransformationState = (typeof TRANSFORMATION_STATES)[number];

/**
 * How a guard point's rekeying worker stands (docs/ldt.md). Counts are whole numbers from 0
 * to 2^53; `waiting`: outside its time window, or a file is busy.
 */
export interface GuardPointTransformation {
  state: TransformationState;
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
  etaSeconds: number | null;
  /** Key versions that files under the guard point are under right now, after the host's last scan, with counts. */
  keyVersions: { keyId: string; version: number; files: number }[];
  /** Files not yet encrypted (initial encryption). */
  plaintextFiles: number;
  /** At most 1,000 characters. */
  message?: string;
}

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export interface HostGroupView {
  name: string;
  createdAt: string;
  /** Its registered hosts. */
  hostIds: string[];
}

/** A policy as the manager keeps it: the validated document and its version. */
export interface PolicyView {
  policyId: string;
  name: string;
  /** Grows by one with every change. */
  version: number;
  updatedAt: string;
  document: unknown;
}

/** POST /v1/guardpoints: a directory guarded on one host or on every host of a group. */
export interface NewGuardPoint {
  path: string;
  /** The policy's name. */
  policy: string;
  hostId?: string;
  hostGroup?: string;
  /** Default true: the agent guards it as soon as it learns of it. */
  automatic?: boolean;
}

export interface GuardPointView {
  guardPointId: string;
  path: string;
  policy: string;
  hostId: string | null;
  hostGroup: string | null;
  automatic: boolean;
  createdAt: string;
}

/** What the manager pushes to a host over GET /v1/events (a WebSocket, mutual TLS). */
export type HostEvent =
  | {
      type: 'guardpoints';
      guardPoints: { guardPointId: string; path: string; automatic: boolean; policy: PolicyView }[];
      /**
       * The rekey mode of every key version the host's guard points need (exactly the versions
       * of the delivery that follows, withdrawals aside): how files reach that version when
       * it is the target. A compromised source version forces `full` whatever is said here.
       */
      rekey: { keyId: string; version: number; mode: RekeyMode }[];
    }
  | {
      /** The host was de-registered: it removes its guard points (the data stays encrypted); the stream closes. */
      type: 'deregistered';
      message: string;
    }
  | DeliveryEvent
  | {
      /**
       * The answer to a sync when nothing changed: the stream's last delivery (this sequence) and
       * guard points are still what the host should have. A host that does not hold that
       * delivery reconnects, and gets everything again.
       */
      type: 'current';
      sequence: string;
    }
  | OfflineEvent;

/** A key delivery on the event stream. */
export interface DeliveryEvent {
  type: 'delivery';
  deliveryId: string;
  /** Decimal: a u64. */
  sequence: string;
  /** The wrapped blob of docs/protocol.md, base64. */
  blob: string;
}

/**
 * The password wrapper of docs/protocol.md ("Offline unlock"): the host's offline key O
 * under a key derived from the offline password with scrypt. Binary fields are base64.
 */
export interface OfflinePasswordWrapper {
  kdf: 'scrypt';
  /** 16 bytes. */
  salt: string;
  N: number;
  r: number;
  p: number;
  /** 12 bytes. */
  nonce: string;
  /** AES-256-GCM of O with its tag: 48 bytes. */
  ciphertext: string;
}

/**
 * What a host needs to unlock offline (docs/protocol.md, "Offline unlock"): sent before
 * `guardpoints` on connect and on every resync, and again when the offline password changes.
 */
export interface OfflineEvent {
  type: 'offline';
  /** The id of the host's offline key O, which every delivery carries as one more entry. */
  offlineKeyId: string;
  offlineKeyVersion: number;
  /** base64 of the manager's 32-byte X25519 public key for this host. */
  managerPublicKey: string;
  /** null until an administrator sets an offline password. */
  passwordWrapper: OfflinePasswordWrapper | null;
}

/** POST /v1/hosts/{hostId}/offline-password: without a password the manager makes one. */
export interface OfflinePasswordRequest {
  /** 12 to 256 characters. */
  password?: string;
}

export interface OfflinePasswordSet {
  hostId: string;
  /** Only when the manager made it: shown this once, never stored. */
  password?: string;
  setAt: string;
}

/** POST /v1/hosts/{hostId}/offline-response */
export interface OfflineChallenge {
  /** The host's X25519 public key E, base64url without padding (43 characters). */
  challenge: string;
}

export interface OfflineResponse {
  hostId: string;
  /** base64url without padding (64 characters), for `agentctl unlock --response`. */
  response: string;
}

/** POST /v1/keys/{keyId}/versions/{version}/export */
export interface ExportedKey {
  keyId: string;
  version: number;
  algorithm: KeyAlgorithm;
  state: KeyState;
  /** base64 of RSA-OAEP-SHA256(material) under the wrapping key given. */
  wrapped: string;
}

/** The default domain's settings. */
/** A domain (docs/administration.md, "Domains"). */
export interface DomainView {
  name: string;
  /** "root" for every domain but the root domain itself (null). */
  parent: string | null;
  /** The algorithm of the domain's new keys when a request names none. */
  keyAlgorithm: KeyAlgorithm;
  createdAt: string;
}

export interface Settings {
  /** The request's domain: the one keyAlgorithm is of. */
  domain: string;
  /** The domain's default for new keys. */
  keyAlgorithm: KeyAlgorithm;
  /** A user holding `auditor` may hold no other role (default true). */
  separateAuditor: boolean;
  /** How long a sign-in session (POST /v1/login) lasts: 1 to 86,400 seconds, 900 by default. */
  sessionLifetimeSeconds: number;
}

/**
 * The administrator roles (docs/administration.md): `admin` users and settings,
 * `key-admin` keys, `cte-admin` hosts, policies and guard points (and key destruction),
 * `auditor` reads only. Every role reads everything.
 */
export const ADMIN_ROLES = ['admin', 'key-admin', 'cte-admin', 'auditor'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** An administrator of the manager (GET /v1/users): never its password hash. */
export interface UserView {
  name: string;
  roles: AdminRole[];
  createdAt: string;
  /** When it was disabled; null while it may sign in. */
  disabledAt: string | null;
}

/** POST /v1/users */
export interface NewUser {
  name: string;
  /** 12 to 256 characters. */
  password: string;
  roles: AdminRole[];
}

/** PUT /v1/users/{name}: what to change. */
export interface UserChange {
  roles?: AdminRole[];
  password?: string;
  disabled?: boolean;
}

/** GET /v1/inventory (NIST SP 800-57 §9.2). */
export interface Inventory {
  keys: {
    keyId: string;
    name: string;
    version: number;
    type: 'symmetric';
    algorithm: KeyAlgorithm;
    usage: string;
    state: KeyState;
    createdAt: string;
    activationDate: string | null;
    deactivationDate: string | null;
    compromiseDate: string | null;
  }[];
  certificates: {
    type: 'X.509';
    usage: string;
    subject: string;
    serial: string;
    state: 'valid' | 'expired' | 'revoked';
    notBefore: string;
    notAfter: string;
    hostId: string | null;
  }[];
}

/** GET /v1/ca (no authentication): the manager's CA certificate, for a host to pin. */
export interface ManagerCa {
  /** PEM. */
  certificate: string;
  /** SHA-256 of the certificate's DER as upper-case hex pairs joined by ':' (as openssl prints it). */
  fingerprint: string;
}

/** PUT /v1/hosts/self/transport-key: the native core's new transport public key. */
export interface TransportKeyChange {
  /** RSA-3072 SubjectPublicKeyInfo, PEM: checked exactly as at registration. */
  transportPublicKey: string;
}

/** What a host may send on its event stream: `sync` asks for its guard points and a fresh delivery. */
export interface HostStreamMessage {
  type: 'sync';
}

export const HOST_REPORT_TYPES = [
  'access',
  'tamper',
  'key-unavailable',
  'recovered',
  'unmounted',
  'guard-failed',
] as const;
export type HostReportType = (typeof HOST_REPORT_TYPES)[number];

/** The decision behind an access event: which rule of which policy said what. */
export interface AccessDecision {
  /** The policy's name. */
  policy: string;
  /** The digest of the policy as the host compiled it. */
  digest: string;
  /** The index of the security rule that decided, or null when none did (the default). */
  rule: number | null;
  action: string;
  effect: 'permit' | 'deny';
  applyKey: boolean;
  /** Learn mode: the decision was recorded, not enforced. */
  learned: boolean;
  gid: number;
  /** Absolute path of the caller's executable. */
  executable: string;
}

/** One event a host reports (POST /v1/hosts/self/events): a denial, an audit record, a tamper event… */
export interface HostReport {
  /** A UUID the host chooses: a batch sent again is stored once. */
  eventId: string;
  /** ISO 8601, when it happened on the host. */
  time: string;
  type: HostReportType;
  /** The guard point (an absolute path). */
  guardPoint?: string;
  /** The file, relative to the guard point. */
  path?: string;
  /** A Veil error code, e.g. VEIL_CRYPTO_AUTH_FAILED. */
  code?: string;
  /** At most 1,024 characters. */
  message: string;
  uid?: number;
  pid?: number;
  /** Present on access events, and only on them. */
  access?: AccessDecision;
}

/** POST /v1/hosts/self/events: 1 to 500 reports. */
export interface HostReportBatch {
  events: HostReport[];
}

/** The answer to a batch: stored now, and already stored before (by event id). */
export interface HostReportReceipt {
  accepted: number;
  duplicates: number;
}

/** A report as the manager keeps it (GET /v1/hosts/{hostId}/events). */
export interface HostReportRecord extends HostReport {
  hostId: string;
  /** When the manager received it. */
  receivedAt: string;
}

/** GET /v1/hosts/{hostId}/events: newest first. */
export interface HostReportQuery {
  /** 1 to 1,000; default 100. */
  limit?: number;
  type?: HostReportType;
}

/** POST /v1/login: a bearer token for `Authorization: Bearer`, shown once. */
export interface Session {
  token: string;
  expiresAt: string;
}

/** POST /v1/apikeys */
export interface NewApiKey {
  /** What its owner calls it (1 to 64 characters). */
  name: string;
  /** At most the roles of the user who makes it. */
  roles: AdminRole[];
}

/** An administrator's long-lived API key (GET /v1/apikeys): never its secret. */
export interface ApiKeyView {
  apiKeyId: string;
  name: string;
  /** The user it acts as; it never holds a role that user does not hold now. */
  owner: string;
  roles: AdminRole[];
  createdAt: string;
}

/** POST /v1/apikeys: the key with its secret, shown this once. */
export interface CreatedApiKey extends ApiKeyView {
  apiKey: string;
}

/** A record of the manager's audit trail (docs/audit.md): names, ids and outcomes, never key material. */
export interface AuditRecordView {
  /** Numbered without gaps from 1. */
  seq: number;
  /** ms since the epoch. */
  time: number;
  /** An administrator's name, "host:<hostId>", "anonymous" or "system". */
  actor: string;
  /** The actor's roles joined by ",", or "host", "public", "system". */
  role: string;
  domain: string;
  /** "METHOD /v1/route/{param}" for API calls; "host.delivery", "host.report.<type>"… for events. */
  action: string;
  object: string;
  outcome: 'success' | 'failure';
  /** The error code of a failure; "" on success. */
  reason: string;
  /** The caller's address, or "local". */
  source: string;
  details: Record<string, string | number | boolean>;
  /** HMAC-SHA256 (hex) over this record and the previous record's mac. */
  mac: string;
}

/** GET /v1/audit: every part optional; records come oldest first. */
export interface AuditQuery {
  /** Only records after this seq (paging). */
  after?: number;
  /** ISO 8601 dates, inclusive. */
  since?: string;
  until?: string;
  actor?: string;
  /** An action, or a prefix of one ending in "*" ("host.report.*"). */
  action?: string;
  outcome?: 'success' | 'failure';
  domain?: string;
  /** 1 to 1,000; default 100. */
  limit?: number;
  /** The newest `limit` matching records instead of the oldest. */
  newest?: boolean;
}

/** A signed checkpoint of the trail, as an auditor keeps it (GET /v1/audit/checkpoint). */
export interface AuditCheckpoint {
  format: 'veil-audit-checkpoint/1';
  /** The record the trail reached… */
  seq: number;
  /** …and that record's mac. */
  mac: string;
  /** When it was signed, ms since the epoch. */
  time: number;
  /** Ed25519 over {"format","seq","mac","time"} (docs/audit.md), base64. */
  signature: string;
  /** The trail's Ed25519 public key, SubjectPublicKeyInfo PEM. */
  publicKey: string;
  /** SHA-256 of the public key's DER, "AB:CD:…". */
  publicKeyFingerprint: string;
}

/** GET or POST /v1/audit/verify: the whole chain recomputed. */
export interface AuditVerification {
  ok: boolean;
  /** Records checked (up to the first bad one). */
  records: number;
  /** The trail's own checkpoints checked. */
  checkpoints: number;
  /** The newest record's seq (0 for an empty trail). */
  lastSeq: number;
  publicKeyFingerprint: string;
  /** The seq of the checkpoint given to verify against, when one was. */
  against?: number;
  /** The first thing wrong, by seq: "record 17: MAC does not match". */
  firstBad?: { seq: number; problem: string };
}

/**
 * The largest backup the manager makes (docs/backup.md): it builds the file in memory from
 * one consistent snapshot, so a data directory larger than this is refused.
 */
export const MAX_BACKUP_BYTES = 1024 * 1024 * 1024;

/** A backup key the manager keeps (wrapped under its master key); never its material. */
export interface BackupKeyView {
  backupKeyId: string;
  createdAt: string;
}

/**
 * A backup key as handed out once (POST /v1/backup-keys): wrapped under a passphrase with
 * scrypt and AES-256-GCM (docs/backup.md, "Key files"). Kept by the operator, apart from
 * the backups, to restore them.
 */
export interface BackupKeyFile {
  format: 'veil-backup-key';
  version: 1;
  backupKeyId: string;
  createdAt: string;
  /** The CA fingerprint of the manager that made the key: which manager it belongs to. */
  caFingerprint: string;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: 'aes-256-gcm';
  /** base64: the 12-byte GCM nonce. */
  nonce: string;
  /** base64: the 32-byte key encrypted, then the 16-byte tag. */
  wrappedKey: string;
}

/** How a SIEM destination is reached (docs/siem.md). */
export const SIEM_TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export type SiemTransport = (typeof SIEM_TRANSPORTS)[number];

/** What a SIEM destination is sent: RFC 5424 with structured data, CEF, LEEF 1.0 or LEEF 2.0. */
export const SIEM_FORMATS = ['rfc5424', 'cef', 'leef1', 'leef2'] as const;
export type SiemFormat = (typeof SIEM_FORMATS)[number];

/** The syslog facilities a destination may use (RFC 5424 §6.2.1), by name. */
export const SYSLOG_FACILITIES = [
  'user',
  'daemon',
  'auth',
  'authpriv',
  'audit',
  'local0',
  'local1',
  'local2',
  'local3',
  'local4',
  'local5',
  'local6',
  'local7',
] as const;
export type SyslogFacility = (typeof SYSLOG_FACILITIES)[number];

/** POST /v1/siem/destinations. */
export interface NewSiemDestination {
  /** 1 to 64 of a-z, 0-9, "-" and "_", starting with a letter or digit. */
  name: string;
  transport: SiemTransport;
  host: string;
  port: number;
  format: SiemFormat;
  /** Default authpriv. */
  facility?: SyslogFacility;
  /** tls only: the CA certificate(s) (PEM file on the manager's machine) the receiver's certificate must chain to. */
  caFile?: string;
  /** tls only, both or neither: a client certificate and its key (PEM files on the manager's machine). */
  certFile?: string;
  keyFile?: string;
  /** udp only: a longer message is cut to this many bytes (480 to 65,000; default 8,192). */
  maxMessageBytes?: number;
  /** Where forwarding starts: the trail's first record (default) or the records appended from now. */
  from?: 'start' | 'now';
}

/** How forwarding to a destination goes, as the running manager sees it. */
export interface SiemStatus {
  /** Every record up to this seq was sent (and, over TCP and TLS, the connection outlived it). */
  cursor: number;
  /** The trail's newest record. */
  lastSeq: number;
  /** Records not yet sent: lastSeq - cursor. */
  lag: number;
  connected: boolean;
  /** ISO 8601; null when nothing was sent since the manager started. */
  lastSentAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
}

/** A SIEM destination (GET /v1/siem/destinations). */
export interface SiemDestinationView {
  name: string;
  transport: SiemTransport;
  host: string;
  port: number;
  format: SiemFormat;
  facility: SyslogFacility;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  maxMessageBytes?: number;
  createdAt: string;
  status: SiemStatus;
}
