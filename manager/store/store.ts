// The manager's store, behind one narrow interface: SQLite embedded today
// (sqlite_store.ts); a PostgreSQL backend for several managers at once can take its place.
// Key material is only ever stored wrapped under the master key (keys/master_key.ts).
import type {
  AdminRole,
  KeyAlgorithm,
  KeyState,
  RekeyMode,
  RevocationReason,
} from '../../manager-client/types.js';

/** A domain: an isolated namespace of keys, hosts, policies and administrators. */
export interface DomainRow {
  /** Its name is its id ("root" for the root domain, which every other one is under). */
  name: string;
  parent: string | null;
  /** The algorithm of its new keys when a request names none. */
  keyAlgorithm: KeyAlgorithm;
  createdAt: number;
}

/**
 * A row as inserted: a store confined to a domain puts it in that domain; the manager's own
 * store (confined to none) needs the domain named.
 */
export type Insertable<Row extends { domain: string }> = Omit<Row, 'domain'> & { domain?: string };

export interface KeyRow {
  id: string;
  domain: string;
  name: string;
  algorithm: KeyAlgorithm;
  createdAt: number; // ms since the epoch, as every time here
}

export interface KeyVersionRow {
  keyId: string;
  version: number;
  state: KeyState;
  createdAt: number;
  stateChangedAt: number;
  activationDate: number | null;
  deactivationDate: number | null;
  compromiseDate: number | null;
  revocationReason: RevocationReason | null;
  /** Was compromised before it was destroyed (KMIP's Destroyed Compromised). */
  wasCompromised: boolean;
  /** Wrapped under the master key; null once destroyed. */
  wrappedMaterial: Buffer | null;
  /** How hosts move files to this version (live data transformation): fixed when it is made. */
  rekey: RekeyMode;
}

export interface StateChangeRow {
  keyId: string;
  version: number;
  from: KeyState | null;
  to: KeyState;
  transition: number;
  at: number;
  cause: string;
}

export interface TokenRow {
  id: string;
  /** The domain its hosts join. */
  domain: string;
  /** SHA-256 (hex) of the secret, which is shown once and never stored. */
  hash: string;
  createdAt: number;
  expiresAt: number;
  maxUses: number;
  uses: number;
  hostGroup: string | null;
  namePrefix: string;
}

export interface HostRow {
  id: string;
  domain: string;
  name: string;
  hostGroup: string | null;
  certificatePem: string;
  certificateSerial: string;
  certificateNotAfter: number;
  transportPublicKeyPem: string;
  registeredAt: number;
  lastSeenAt: number | null;
  /** When it was de-registered (its certificate revoked); null while registered. */
  deregisteredAt: number | null;
  /** What the host last reported of its guard points (JSON of GuardPointStatus[]), or null. */
  guardPointStatus: string | null;
  /**
   * The certificate it held before its last renewal, still accepted until the new one is first
   * used: a renewal whose answer is lost (a timeout, a crash) must not lock the host out.
   */
  previousCertificateSerial: string | null;
}

export interface PolicyRow {
  id: string;
  domain: string;
  name: string;
  /** Grows by one with every change. */
  version: number;
  /** The validated policy document (docs/policy.md), as JSON text. */
  document: string;
  updatedAt: number;
}

export interface GuardPointRow {
  id: string;
  domain: string;
  /** Absolute path on the host. */
  path: string;
  policyId: string;
  /** Exactly one of hostId and hostGroup is set. */
  hostId: string | null;
  hostGroup: string | null;
  /** Mounted by the agent as soon as it learns of it (else by agentctl). */
  automatic: boolean;
  createdAt: number;
}

/** A key version a host holds, as far as the manager has delivered it. */
export interface DeliveredVersion {
  keyId: string;
  version: number;
}

/** `keyId/version`: one key version as a set or map key. */
export const versionKey = (v: DeliveredVersion): string => `${v.keyId}/${v.version}`;

/** An event a host reported (manager-client's HostReport), as received. */
export interface HostReportRow {
  hostId: string;
  /** The host's id for it, lower-case: a host's event is stored once. */
  eventId: string;
  /** When it happened, by the host's clock (ms). */
  time: number;
  receivedAt: number;
  type: string;
  /** The checked report, as JSON text. */
  report: string;
}

/**
 * A host's offline unlock material (docs/protocol.md, "Offline unlock"): its offline key O
 * and the manager's X25519 pair M for it. Secrets only wrapped under the master key.
 */
export interface HostOfflineRow {
  hostId: string;
  offlineKeyId: string;
  offlineKeyVersion: number;
  /** O (32 bytes), wrapped under the master key. */
  wrappedOfflineKey: Buffer;
  /** M's public half, its raw 32 bytes. */
  managerPublicKey: Buffer;
  /** M's private half (PKCS#8 DER), wrapped under the master key. */
  wrappedManagerPrivateKey: Buffer;
  /** The password wrapper (its JSON), wrapped under the master key; null until a password is set. */
  wrappedPasswordWrapper: Buffer | null;
  passwordSetAt: number | null;
  createdAt: number;
}

/** An administrator (a user of the API). Names are unique across domains: signing in names no domain. */
export interface AdminRow {
  name: string;
  /** The domain it administers (root: every domain, by choosing one per request). */
  domain: string;
  /** scrypt: "scrypt$N$r$p$salt$hash" (base64url). */
  passwordHash: string;
  /** At least one; sorted as ADMIN_ROLES lists them. */
  roles: AdminRole[];
  createdAt: number;
  /** When it was disabled; null while it may sign in. */
  disabledAt: number | null;
}

/** A sign-in session (POST /v1/login): its bearer token is shown once and never stored. */
export interface SessionRow {
  /** SHA-256 (hex) of the token. */
  hash: string;
  name: string;
  createdAt: number;
  expiresAt: number;
}

/** A long-lived API key of an administrator; its secret is shown once and never stored. */
export interface ApiKeyRow {
  id: string;
  /** SHA-256 (hex) of the secret. */
  hash: string;
  /** What its owner calls it. */
  label: string;
  /** The administrator who made it; it acts as them, with at most these roles. */
  owner: string;
  roles: AdminRole[];
  createdAt: number;
}

/**
 * The store, as the manager's own work sees it (every domain: key dates, deliveries, hosts
 * known by their certificate, sign-in) or confined to one domain (`inDomain`: every request
 * of an administrator). A confined store reads only its domain's keys, tokens, hosts, host
 * groups, policies, guard points and administrators, and puts what it inserts there; what
 * hangs off those (versions, deliveries, reports, offline data, API keys) is reached only
 * through them.
 */
export interface ManagerStore {
  /** The domain this store is confined to; null for the manager's own work. */
  readonly domain: string | null;
  /** The same store confined to a domain (which must exist). */
  inDomain(name: string): ManagerStore;
  /** Runs `work` as one transaction: all of its writes, or none of them. */
  transaction<T>(work: () => T): T;
  insertDomain(row: DomainRow): void;
  /** A domain by name; a confined store knows only its own. */
  domainRow(name: string): DomainRow | undefined;
  /** Every domain (a confined store: its own), root first, then by name. */
  domains(): DomainRow[];
  setDomainAlgorithm(name: string, algorithm: KeyAlgorithm): void;
  /** How many keys, tokens, hosts, groups, policies, guard points and users it holds. */
  domainContents(name: string): number;
  deleteDomain(name: string): boolean;
  insertKey(row: Insertable<KeyRow>): void;
  key(id: string): KeyRow | undefined;
  keyByName(name: string): KeyRow | undefined;
  keys(): KeyRow[];
  insertVersion(row: KeyVersionRow): void;
  updateVersion(row: KeyVersionRow): void;
  /** A key's versions, oldest first. */
  versions(keyId: string): KeyVersionRow[];
  /** Versions whose activation or deactivation date has come and whose state still waits for it. */
  versionsDue(now: number): KeyVersionRow[];
  recordStateChange(row: StateChangeRow): void;
  /** Oldest first; of one key, or of all. */
  stateChanges(keyId?: string): StateChangeRow[];
  insertToken(row: Insertable<TokenRow>): void;
  tokenByHash(hash: string): TokenRow | undefined;
  tokens(): TokenRow[];
  setTokenUses(id: string, uses: number): void;
  insertHost(row: Insertable<HostRow>): void;
  host(id: string): HostRow | undefined;
  hostByName(name: string): HostRow | undefined;
  /**
   * By its certificate's serial (lower-case hex without leading zeros), or the one before its
   * last renewal while that is accepted.
   */
  hostByCertificateSerial(serial: string): HostRow | undefined;
  hosts(): HostRow[];
  touchHost(id: string, at: number): void;
  setHostGroup(id: string, group: string | null): void;
  setGuardPointStatus(id: string, status: string): void;
  insertHostGroup(name: string, at: number, domain?: string): void;
  hostGroups(): { name: string; domain: string; createdAt: number }[];
  deregisterHost(id: string, at: number): void;
  /** The host's certificate, and the one before it that stays good until the new one is used. */
  replaceHostCertificate(
    id: string,
    pem: string,
    serial: string,
    notAfter: number,
    previousSerial: string | null,
  ): void;
  forgetPreviousCertificate(id: string): void;
  putPolicy(row: Insertable<PolicyRow>): void;
  policy(id: string): PolicyRow | undefined;
  policyByName(name: string): PolicyRow | undefined;
  policies(): PolicyRow[];
  insertGuardPoint(row: Insertable<GuardPointRow>): void;
  deleteGuardPoint(id: string): boolean;
  guardPoints(): GuardPointRow[];
  /** The last delivery sequence number sent to the host (0: none yet). */
  deliverySequence(hostId: string): number;
  /**
   * Records a delivery: its sequence number and the versions the host now holds. `before`, when
   * given, is what delivered() answered in the same transaction: only the difference is written.
   */
  recordDelivery(
    hostId: string,
    sequence: number,
    holds: readonly DeliveredVersion[],
    before?: readonly DeliveredVersion[],
  ): void;
  delivered(hostId: string): DeliveredVersion[];
  /**
   * Numbers each host's next delivery above `floor` at least (a restore: above every delivery the
   * manager made after its backup, which the hosts may hold and would take a repeat of for a replay).
   */
  raiseDeliverySequences(floor: number): void;
  insertHostOffline(row: HostOfflineRow): void;
  hostOffline(hostId: string): HostOfflineRow | undefined;
  /** Replaces the host's password wrapper (wrapped under the master key). */
  setOfflinePasswordWrapper(hostId: string, wrapped: Buffer, at: number): void;
  /** Drops the host's offline material (at de-registration). */
  deleteHostOffline(hostId: string): void;
  /** Replaces the host's transport public key (PEM, checked). */
  setTransportKey(id: string, pem: string): void;
  /** Stores the reports no row of the same host and event id holds yet; answers how many. */
  insertHostReports(rows: readonly HostReportRow[]): number;
  /** A host's reports, newest first (by the host's time, then by arrival). */
  hostReports(hostId: string, options: { limit: number; type?: string }): HostReportRow[];
  /** Drops the host's reports but its newest `keep` (by their time); answers how many went. */
  pruneHostReports(hostId: string, keep: number): number;
  /** The manager's settings by name (a domain's own are on its DomainRow). */
  setting(name: string): string | undefined;
  setSetting(name: string, value: string): void;
  insertAdmin(row: Insertable<AdminRow>): void;
  admin(name: string): AdminRow | undefined;
  /** Whether an administrator of any domain has this name (names are the whole manager's). */
  adminNameTaken(name: string): boolean;
  /** Every administrator, by name. */
  admins(): AdminRow[];
  /** Replaces the administrator's hash, roles and disabled date. */
  updateAdmin(row: AdminRow): void;
  /** Removes the administrator with its sessions and API keys. */
  deleteAdmin(name: string): boolean;
  adminCount(): number;
  insertSession(row: SessionRow): void;
  session(hash: string): SessionRow | undefined;
  /** Drops the sessions that expired before `now`. */
  deleteExpiredSessions(now: number): void;
  insertApiKey(row: ApiKeyRow): void;
  apiKey(id: string): ApiKeyRow | undefined;
  apiKeyByHash(hash: string): ApiKeyRow | undefined;
  apiKeys(): ApiKeyRow[];
  deleteApiKey(id: string): boolean;
  /**
   * Makes what was deleted or overwritten unrecoverable from the store's files: the WAL, which
   * still holds old images of the pages, is checkpointed and truncated (deleted content in the
   * database file itself is zeroed as it goes: secure_delete). A no-op inside a transaction.
   */
  forgetDeleted(): void;
  close(): void;
}
