// ManagerStore on SQLite (better-sqlite3), one file in the data directory. Write-ahead
// log with full sync: a write the manager has acknowledged survives a crash.
import Database from 'better-sqlite3';

import { ManagerError } from '../../manager-client/errors.js';
import type { KeyAlgorithm, KeyState, RevocationReason } from '../../manager-client/types.js';
import type {
  AdminRow,
  ApiKeyRow,
  DomainRow,
  GuardPointRow,
  HostOfflineRow,
  HostRow,
  KeyRow,
  KeyVersionRow,
  ManagerStore,
  HostReportRow,
  PolicyRow,
  StateChangeRow,
  TokenRow,
} from './store.js';
import { versionKey } from './store.js';

// Each entry moves the schema one version on; entries are never edited once released.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE keys (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     algorithm TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE key_versions (
     key_id TEXT NOT NULL REFERENCES keys(id),
     version INTEGER NOT NULL,
     state TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     state_changed_at INTEGER NOT NULL,
     activation_date INTEGER,
     deactivation_date INTEGER,
     compromise_date INTEGER,
     revocation_reason TEXT,
     was_compromised INTEGER NOT NULL DEFAULT 0,
     wrapped_material BLOB,
     PRIMARY KEY (key_id, version)
   );
   CREATE TABLE key_state_changes (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     key_id TEXT NOT NULL,
     version INTEGER NOT NULL,
     from_state TEXT,
     to_state TEXT NOT NULL,
     transition INTEGER NOT NULL,
     at INTEGER NOT NULL,
     cause TEXT NOT NULL
   );`,
  `CREATE TABLE registration_tokens (
     id TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     max_uses INTEGER NOT NULL,
     uses INTEGER NOT NULL,
     host_group TEXT,
     name_prefix TEXT NOT NULL
   );
   CREATE TABLE hosts (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     host_group TEXT,
     certificate_pem TEXT NOT NULL,
     certificate_serial TEXT NOT NULL UNIQUE,
     certificate_not_after INTEGER NOT NULL,
     transport_public_key_pem TEXT NOT NULL,
     registered_at INTEGER NOT NULL,
     last_seen_at INTEGER
   );`,
  `CREATE TABLE administrators (
     name TEXT PRIMARY KEY,
     password_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );`,
  `CREATE TABLE policies (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE,
     version INTEGER NOT NULL,
     document TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE guard_points (
     id TEXT PRIMARY KEY,
     path TEXT NOT NULL,
     policy_id TEXT NOT NULL REFERENCES policies(id),
     host_id TEXT REFERENCES hosts(id),
     host_group TEXT,
     automatic INTEGER NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE deliveries (
     host_id TEXT PRIMARY KEY REFERENCES hosts(id),
     sequence INTEGER NOT NULL
   );
   CREATE TABLE delivered_versions (
     host_id TEXT NOT NULL REFERENCES hosts(id),
     key_id TEXT NOT NULL,
     version INTEGER NOT NULL,
     PRIMARY KEY (host_id, key_id, version)
   );`,
  `ALTER TABLE hosts ADD COLUMN deregistered_at INTEGER;`,
  `CREATE TABLE host_groups (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL);
   INSERT OR IGNORE INTO host_groups SELECT DISTINCT host_group, 0 FROM hosts WHERE host_group IS NOT NULL;
   INSERT OR IGNORE INTO host_groups SELECT DISTINCT host_group, 0 FROM registration_tokens WHERE host_group IS NOT NULL;`,
  `CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  `ALTER TABLE hosts ADD COLUMN guard_point_status TEXT;`,
  `CREATE TABLE host_reports (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     host_id TEXT NOT NULL REFERENCES hosts(id),
     event_id TEXT NOT NULL,
     time INTEGER NOT NULL,
     received_at INTEGER NOT NULL,
     type TEXT NOT NULL,
     report TEXT NOT NULL,
     UNIQUE (host_id, event_id)
   );
   CREATE INDEX host_reports_newest ON host_reports (host_id, time DESC, seq DESC);`,
  `CREATE TABLE host_offline (
     host_id TEXT PRIMARY KEY REFERENCES hosts(id),
     offline_key_id TEXT NOT NULL UNIQUE,
     offline_key_version INTEGER NOT NULL,
     wrapped_offline_key BLOB NOT NULL,
     manager_public_key BLOB NOT NULL,
     wrapped_manager_private_key BLOB NOT NULL,
     wrapped_password_wrapper BLOB,
     password_set_at INTEGER,
     created_at INTEGER NOT NULL
   );`,
  // Roles and a disabled date; the administrators made before roles (the first one) keep
  // every power they had, except auditing, which needs a user of its own.
  `ALTER TABLE administrators ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE administrators ADD COLUMN disabled_at INTEGER;
   UPDATE administrators SET roles = '["admin","key-admin","cte-admin"]';`,
  `CREATE TABLE admin_sessions (
     hash TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     label TEXT NOT NULL,
     owner TEXT NOT NULL,
     roles TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );`,
  // Domains. Names of keys, hosts, host groups and policies become unique per domain, which
  // SQLite can only do by rebuilding those tables (foreign keys are off while migrating).
  // Everything made before domains belongs to the root domain.
  `CREATE TABLE domains (
     name TEXT PRIMARY KEY,
     parent TEXT REFERENCES domains(name),
     key_algorithm TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   INSERT INTO domains VALUES ('root', NULL,
     COALESCE((SELECT value FROM settings WHERE name = 'keyAlgorithm'), 'aes-256'), 0);
   DELETE FROM settings WHERE name = 'keyAlgorithm';
   CREATE TABLE keys_new (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     algorithm TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     domain TEXT NOT NULL REFERENCES domains(name),
     UNIQUE (domain, name)
   );
   INSERT INTO keys_new SELECT id, name, algorithm, created_at, 'root' FROM keys;
   DROP TABLE keys;
   ALTER TABLE keys_new RENAME TO keys;
   CREATE TABLE hosts_new (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     host_group TEXT,
     certificate_pem TEXT NOT NULL,
     certificate_serial TEXT NOT NULL UNIQUE,
     certificate_not_after INTEGER NOT NULL,
     transport_public_key_pem TEXT NOT NULL,
     registered_at INTEGER NOT NULL,
     last_seen_at INTEGER,
     deregistered_at INTEGER,
     guard_point_status TEXT,
     domain TEXT NOT NULL REFERENCES domains(name),
     UNIQUE (domain, name)
   );
   INSERT INTO hosts_new SELECT id, name, host_group, certificate_pem, certificate_serial,
     certificate_not_after, transport_public_key_pem, registered_at, last_seen_at, deregistered_at,
     guard_point_status, 'root' FROM hosts;
   DROP TABLE hosts;
   ALTER TABLE hosts_new RENAME TO hosts;
   CREATE TABLE host_groups_new (
     name TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     domain TEXT NOT NULL REFERENCES domains(name),
     PRIMARY KEY (domain, name)
   );
   INSERT INTO host_groups_new SELECT name, created_at, 'root' FROM host_groups;
   DROP TABLE host_groups;
   ALTER TABLE host_groups_new RENAME TO host_groups;
   CREATE TABLE policies_new (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     version INTEGER NOT NULL,
     document TEXT NOT NULL,
     updated_at INTEGER NOT NULL,
     domain TEXT NOT NULL REFERENCES domains(name),
     UNIQUE (domain, name)
   );
   INSERT INTO policies_new SELECT id, name, version, document, updated_at, 'root' FROM policies;
   DROP TABLE policies;
   ALTER TABLE policies_new RENAME TO policies;
   ALTER TABLE registration_tokens ADD COLUMN domain TEXT NOT NULL DEFAULT 'root' REFERENCES domains(name);
   ALTER TABLE guard_points ADD COLUMN domain TEXT NOT NULL DEFAULT 'root' REFERENCES domains(name);
   ALTER TABLE administrators ADD COLUMN domain TEXT NOT NULL DEFAULT 'root' REFERENCES domains(name);`,
  // Live data transformation: how hosts move files to a version made by a rotation.
  `ALTER TABLE key_versions ADD COLUMN rekey TEXT NOT NULL DEFAULT 'rewrap';`,
  // Renewal: the certificate before the last one stays good until the new one is first used.
  `ALTER TABLE hosts ADD COLUMN previous_certificate_serial TEXT;
   CREATE UNIQUE INDEX hosts_previous_certificate_serial ON hosts (previous_certificate_serial);`,
];

interface VersionRecord {
  key_id: string;
  version: number;
  state: string;
  created_at: number;
  state_changed_at: number;
  activation_date: number | null;
  deactivation_date: number | null;
  compromise_date: number | null;
  revocation_reason: string | null;
  was_compromised: number;
  wrapped_material: Buffer | null;
  rekey: string;
}

interface KeyRecord {
  id: string;
  domain: string;
  name: string;
  algorithm: string;
  created_at: number;
}

interface ChangeRecord {
  key_id: string;
  version: number;
  from_state: string | null;
  to_state: string;
  transition: number;
  at: number;
  cause: string;
}

interface TokenRecord {
  id: string;
  domain: string;
  hash: string;
  created_at: number;
  expires_at: number;
  max_uses: number;
  uses: number;
  host_group: string | null;
  name_prefix: string;
}

interface HostRecord {
  id: string;
  domain: string;
  name: string;
  host_group: string | null;
  certificate_pem: string;
  certificate_serial: string;
  certificate_not_after: number;
  transport_public_key_pem: string;
  registered_at: number;
  last_seen_at: number | null;
  deregistered_at: number | null;
  guard_point_status: string | null;
  previous_certificate_serial: string | null;
}

interface HostReportRecord {
  host_id: string;
  event_id: string;
  time: number;
  received_at: number;
  type: string;
  report: string;
}

interface HostOfflineRecord {
  host_id: string;
  offline_key_id: string;
  offline_key_version: number;
  wrapped_offline_key: Buffer;
  manager_public_key: Buffer;
  wrapped_manager_private_key: Buffer;
  wrapped_password_wrapper: Buffer | null;
  password_set_at: number | null;
  created_at: number;
}

const hostOfflineRow = (r: HostOfflineRecord): HostOfflineRow => ({
  hostId: r.host_id,
  offlineKeyId: r.offline_key_id,
  offlineKeyVersion: r.offline_key_version,
  wrappedOfflineKey: r.wrapped_offline_key,
  managerPublicKey: r.manager_public_key,
  wrappedManagerPrivateKey: r.wrapped_manager_private_key,
  wrappedPasswordWrapper: r.wrapped_password_wrapper,
  passwordSetAt: r.password_set_at,
  createdAt: r.created_at,
});

interface PolicyRecord {
  id: string;
  domain: string;
  name: string;
  version: number;
  document: string;
  updated_at: number;
}

interface GuardPointRecord {
  id: string;
  domain: string;
  path: string;
  policy_id: string;
  host_id: string | null;
  host_group: string | null;
  automatic: number;
  created_at: number;
}

const policyRow = (r: PolicyRecord): PolicyRow => ({
  id: r.id,
  domain: r.domain,
  name: r.name,
  version: r.version,
  document: r.document,
  updatedAt: r.updated_at,
});

const guardPointRow = (r: GuardPointRecord): GuardPointRow => ({
  id: r.id,
  domain: r.domain,
  path: r.path,
  policyId: r.policy_id,
  hostId: r.host_id,
  hostGroup: r.host_group,
  automatic: r.automatic !== 0,
  createdAt: r.created_at,
});

const hostReportRow = (r: HostReportRecord): HostReportRow => ({
  hostId: r.host_id,
  eventId: r.event_id,
  time: r.time,
  receivedAt: r.received_at,
  type: r.type,
  report: r.report,
});

const tokenRow = (r: TokenRecord): TokenRow => ({
  id: r.id,
  domain: r.domain,
  hash: r.hash,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  maxUses: r.max_uses,
  uses: r.uses,
  hostGroup: r.host_group,
  namePrefix: r.name_prefix,
});

const hostRow = (r: HostRecord): HostRow => ({
  id: r.id,
  domain: r.domain,
  name: r.name,
  hostGroup: r.host_group,
  certificatePem: r.certificate_pem,
  certificateSerial: r.certificate_serial,
  certificateNotAfter: r.certificate_not_after,
  transportPublicKeyPem: r.transport_public_key_pem,
  registeredAt: r.registered_at,
  lastSeenAt: r.last_seen_at,
  deregisteredAt: r.deregistered_at,
  guardPointStatus: r.guard_point_status,
  previousCertificateSerial: r.previous_certificate_serial,
});

const keyRow = (r: KeyRecord): KeyRow => ({
  id: r.id,
  domain: r.domain,
  name: r.name,
  algorithm: r.algorithm as KeyAlgorithm,
  createdAt: r.created_at,
});

const versionRow = (r: VersionRecord): KeyVersionRow => ({
  keyId: r.key_id,
  version: r.version,
  state: r.state as KeyState,
  createdAt: r.created_at,
  stateChangedAt: r.state_changed_at,
  activationDate: r.activation_date,
  deactivationDate: r.deactivation_date,
  compromiseDate: r.compromise_date,
  revocationReason: r.revocation_reason as RevocationReason | null,
  wasCompromised: r.was_compromised !== 0,
  wrappedMaterial: r.wrapped_material,
  rekey: r.rekey === 'full' ? 'full' : 'rewrap',
});

const versionParams = (row: KeyVersionRow): Record<string, unknown> => ({
  key_id: row.keyId,
  version: row.version,
  state: row.state,
  created_at: row.createdAt,
  state_changed_at: row.stateChangedAt,
  activation_date: row.activationDate,
  deactivation_date: row.deactivationDate,
  compromise_date: row.compromiseDate,
  revocation_reason: row.revocationReason,
  was_compromised: row.wasCompromised ? 1 : 0,
  wrapped_material: row.wrappedMaterial,
  rekey: row.rekey,
});

interface AdminRecord {
  name: string;
  domain: string;
  password_hash: string;
  created_at: number;
  roles: string;
  disabled_at: number | null;
}

const adminRow = (r: AdminRecord): AdminRow => ({
  name: r.name,
  domain: r.domain,
  passwordHash: r.password_hash,
  roles: JSON.parse(r.roles) as AdminRow['roles'],
  createdAt: r.created_at,
  disabledAt: r.disabled_at,
});

const adminRecord = (row: Omit<AdminRow, 'domain'>, domain: string) => ({
  name: row.name,
  domain,
  passwordHash: row.passwordHash,
  createdAt: row.createdAt,
  roles: JSON.stringify(row.roles),
  disabledAt: row.disabledAt,
});

interface DomainRecord {
  name: string;
  parent: string | null;
  key_algorithm: string;
  created_at: number;
}

const domainRow = (r: DomainRecord): DomainRow => ({
  name: r.name,
  parent: r.parent,
  keyAlgorithm: r.key_algorithm as KeyAlgorithm,
  createdAt: r.created_at,
});

// The condition that confines a query to the domain :d (none when :d is null).
const IN_DOMAIN = '(:d IS NULL OR domain = :d)';

interface ApiKeyRecord {
  id: string;
  hash: string;
  label: string;
  owner: string;
  roles: string;
  created_at: number;
}

const apiKeyRow = (r: ApiKeyRecord): ApiKeyRow => ({
  id: r.id,
  hash: r.hash,
  label: r.label,
  owner: r.owner,
  roles: JSON.parse(r.roles) as ApiKeyRow['roles'],
  createdAt: r.created_at,
});

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new ManagerError(
      'VEIL_STORE_UNAVAILABLE',
      `the store is at schema version ${current}, newer than this manager knows (${MIGRATIONS.length})`,
    );
  }
  if (current === MIGRATIONS.length) return;
  // Rebuilding a table drops the old one while others still refer to it: foreign keys are
  // checked once, after every step, instead (SQLite's own procedure for altering tables).
  db.pragma('foreign_keys = OFF');
  try {
    for (let version = current; version < MIGRATIONS.length; version++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[version]);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length > 0)
          throw new Error(`schema version ${version + 1} breaks ${broken.length} references`);
        db.pragma(`user_version = ${version + 1}`);
      })();
    }
  } finally {
    db.pragma('foreign_keys = ON');
  }
}

export function openSqliteStore(file: string): ManagerStore {
  let db: Database.Database;
  try {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // Deleted content (a destroyed version's wrapped material) is overwritten with zeros, not left in
    // free space where the master key would still open it (NIST SP 800-57 §8.3.4).
    db.pragma('secure_delete = ON');
    migrate(db);
    db.pragma('foreign_keys = ON');
  } catch (error) {
    if (error instanceof ManagerError) throw error;
    throw new ManagerError(
      'VEIL_STORE_UNAVAILABLE',
      `cannot open the store ${file}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const statements = {
    insertDomain: db.prepare('INSERT INTO domains VALUES (:name, :parent, :keyAlgorithm, :createdAt)'),
    domain: db.prepare('SELECT * FROM domains WHERE name = :name AND (:d IS NULL OR name = :d)'),
    domains: db.prepare(
      "SELECT * FROM domains WHERE (:d IS NULL OR name = :d) ORDER BY name <> 'root', name",
    ),
    setDomainAlgorithm: db.prepare('UPDATE domains SET key_algorithm = ? WHERE name = ?'),
    domainContents: db.prepare(
      `SELECT (SELECT count(*) FROM keys WHERE domain = :name)
            + (SELECT count(*) FROM registration_tokens WHERE domain = :name)
            + (SELECT count(*) FROM hosts WHERE domain = :name)
            + (SELECT count(*) FROM host_groups WHERE domain = :name)
            + (SELECT count(*) FROM policies WHERE domain = :name)
            + (SELECT count(*) FROM guard_points WHERE domain = :name)
            + (SELECT count(*) FROM administrators WHERE domain = :name)
            + (SELECT count(*) FROM domains WHERE parent = :name) AS n`,
    ),
    deleteDomain: db.prepare("DELETE FROM domains WHERE name = ? AND name <> 'root'"),
    insertKey: db.prepare(
      'INSERT INTO keys (id, name, algorithm, created_at, domain) VALUES (?, ?, ?, ?, ?)',
    ),
    key: db.prepare(`SELECT * FROM keys WHERE id = :id AND ${IN_DOMAIN}`),
    keyByName: db.prepare(`SELECT * FROM keys WHERE name = :name AND ${IN_DOMAIN} ORDER BY domain`),
    keys: db.prepare(`SELECT * FROM keys WHERE ${IN_DOMAIN} ORDER BY created_at, id`),
    insertVersion: db.prepare(
      `INSERT INTO key_versions VALUES (:key_id, :version, :state, :created_at, :state_changed_at,
         :activation_date, :deactivation_date, :compromise_date, :revocation_reason, :was_compromised,
         :wrapped_material, :rekey)`,
    ),
    updateVersion: db.prepare(
      `UPDATE key_versions SET state = :state, state_changed_at = :state_changed_at,
         activation_date = :activation_date, deactivation_date = :deactivation_date,
         compromise_date = :compromise_date, revocation_reason = :revocation_reason,
         was_compromised = :was_compromised, wrapped_material = :wrapped_material
       WHERE key_id = :key_id AND version = :version AND created_at = :created_at`,
    ),
    versions: db.prepare(
      `SELECT * FROM key_versions WHERE key_id = :id
         AND key_id IN (SELECT id FROM keys WHERE ${IN_DOMAIN}) ORDER BY version`,
    ),
    versionsDue: db.prepare(
      `SELECT * FROM key_versions
       WHERE ((state = 'pre-activation' AND activation_date IS NOT NULL AND activation_date <= :now)
          OR (state IN ('active', 'suspended') AND deactivation_date IS NOT NULL AND deactivation_date <= :now))
         AND key_id IN (SELECT id FROM keys WHERE ${IN_DOMAIN})
       ORDER BY key_id, version`,
    ),
    recordChange: db.prepare(
      `INSERT INTO key_state_changes (key_id, version, from_state, to_state, transition, at, cause)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    changes: db.prepare(
      `SELECT * FROM key_state_changes WHERE (:id IS NULL OR key_id = :id)
         AND key_id IN (SELECT id FROM keys WHERE ${IN_DOMAIN}) ORDER BY seq`,
    ),
    insertToken: db.prepare(
      `INSERT INTO registration_tokens VALUES (:id, :hash, :createdAt, :expiresAt, :maxUses, :uses,
         :hostGroup, :namePrefix, :domain)`,
    ),
    tokenByHash: db.prepare(`SELECT * FROM registration_tokens WHERE hash = :hash AND ${IN_DOMAIN}`),
    tokens: db.prepare(`SELECT * FROM registration_tokens WHERE ${IN_DOMAIN} ORDER BY created_at, id`),
    setTokenUses: db.prepare('UPDATE registration_tokens SET uses = ? WHERE id = ?'),
    insertHost: db.prepare(
      `INSERT INTO hosts VALUES (:id, :name, :hostGroup, :certificatePem, :certificateSerial,
         :certificateNotAfter, :transportPublicKeyPem, :registeredAt, :lastSeenAt, :deregisteredAt,
         :guardPointStatus, :domain, :previousCertificateSerial)`,
    ),
    host: db.prepare(`SELECT * FROM hosts WHERE id = :id AND ${IN_DOMAIN}`),
    hostByName: db.prepare(`SELECT * FROM hosts WHERE name = :name AND ${IN_DOMAIN} ORDER BY domain`),
    hostBySerial: db.prepare(
      `SELECT * FROM hosts WHERE (certificate_serial = :serial OR previous_certificate_serial = :serial)
         AND ${IN_DOMAIN}`,
    ),
    hosts: db.prepare(`SELECT * FROM hosts WHERE ${IN_DOMAIN} ORDER BY registered_at, id`),
    touchHost: db.prepare('UPDATE hosts SET last_seen_at = ? WHERE id = ?'),
    setHostGroup: db.prepare('UPDATE hosts SET host_group = ? WHERE id = ?'),
    setGuardPointStatus: db.prepare('UPDATE hosts SET guard_point_status = ? WHERE id = ?'),
    insertHostGroup: db.prepare(
      'INSERT OR IGNORE INTO host_groups (name, created_at, domain) VALUES (?, ?, ?)',
    ),
    hostGroups: db.prepare(
      `SELECT name, domain, created_at FROM host_groups WHERE ${IN_DOMAIN} ORDER BY name, domain`,
    ),
    deregisterHost: db.prepare(
      // The name is freed for a new registration of the same machine.
      `UPDATE hosts SET deregistered_at = ?, name = name || '.deregistered-' || substr(id, 1, 8)
       WHERE id = ? AND deregistered_at IS NULL`,
    ),
    replaceCertificate: db.prepare(
      `UPDATE hosts SET certificate_pem = ?, certificate_serial = ?, certificate_not_after = ?,
         previous_certificate_serial = ? WHERE id = ?`,
    ),
    forgetPreviousCertificate: db.prepare('UPDATE hosts SET previous_certificate_serial = NULL WHERE id = ?'),
    putPolicy: db.prepare(
      `INSERT INTO policies VALUES (:id, :name, :version, :document, :updatedAt, :domain)
       ON CONFLICT(id) DO UPDATE SET name = :name, version = :version, document = :document, updated_at = :updatedAt
       WHERE domain = :domain`,
    ),
    policy: db.prepare(`SELECT * FROM policies WHERE id = :id AND ${IN_DOMAIN}`),
    policyByName: db.prepare(`SELECT * FROM policies WHERE name = :name AND ${IN_DOMAIN} ORDER BY domain`),
    policies: db.prepare(`SELECT * FROM policies WHERE ${IN_DOMAIN} ORDER BY name, domain`),
    insertGuardPoint: db.prepare(
      `INSERT INTO guard_points VALUES (:id, :path, :policyId, :hostId, :hostGroup, :automatic, :createdAt,
         :domain)`,
    ),
    deleteGuardPoint: db.prepare(`DELETE FROM guard_points WHERE id = :id AND ${IN_DOMAIN}`),
    guardPoints: db.prepare(`SELECT * FROM guard_points WHERE ${IN_DOMAIN} ORDER BY created_at, id`),
    deliverySequence: db.prepare('SELECT sequence FROM deliveries WHERE host_id = ?'),
    setDeliverySequence: db.prepare(
      'INSERT INTO deliveries VALUES (?, ?) ON CONFLICT(host_id) DO UPDATE SET sequence = excluded.sequence',
    ),
    raiseDeliverySequences: db.prepare(
      `INSERT INTO deliveries SELECT id, :floor FROM hosts WHERE ${IN_DOMAIN}
       ON CONFLICT(host_id) DO UPDATE SET sequence = max(sequence, excluded.sequence)`,
    ),
    clearDelivered: db.prepare('DELETE FROM delivered_versions WHERE host_id = ?'),
    addDelivered: db.prepare('INSERT INTO delivered_versions VALUES (?, ?, ?)'),
    removeDelivered: db.prepare(
      'DELETE FROM delivered_versions WHERE host_id = ? AND key_id = ? AND version = ?',
    ),
    delivered: db.prepare(
      'SELECT key_id, version FROM delivered_versions WHERE host_id = ? ORDER BY key_id, version',
    ),
    insertHostOffline: db.prepare(
      `INSERT INTO host_offline VALUES (:hostId, :offlineKeyId, :offlineKeyVersion, :wrappedOfflineKey,
         :managerPublicKey, :wrappedManagerPrivateKey, :wrappedPasswordWrapper, :passwordSetAt, :createdAt)`,
    ),
    hostOffline: db.prepare('SELECT * FROM host_offline WHERE host_id = ?'),
    setOfflinePasswordWrapper: db.prepare(
      'UPDATE host_offline SET wrapped_password_wrapper = ?, password_set_at = ? WHERE host_id = ?',
    ),
    deleteHostOffline: db.prepare('DELETE FROM host_offline WHERE host_id = ?'),
    setTransportKey: db.prepare('UPDATE hosts SET transport_public_key_pem = ? WHERE id = ?'),
    insertHostReport: db.prepare(
      `INSERT INTO host_reports (host_id, event_id, time, received_at, type, report)
       VALUES (:hostId, :eventId, :time, :receivedAt, :type, :report) ON CONFLICT (host_id, event_id) DO NOTHING`,
    ),
    pruneHostReports: db.prepare(
      `DELETE FROM host_reports WHERE host_id = :hostId AND seq NOT IN (
         SELECT seq FROM host_reports WHERE host_id = :hostId ORDER BY time DESC, seq DESC LIMIT :keep)`,
    ),
    hostReports: db.prepare(
      `SELECT * FROM host_reports WHERE host_id = :hostId AND (:type IS NULL OR type = :type)
       ORDER BY time DESC, seq DESC LIMIT :limit`,
    ),
    setting: db.prepare('SELECT value FROM settings WHERE name = ?'),
    setSetting: db.prepare(
      'INSERT INTO settings VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
    ),
    insertAdmin: db.prepare(
      `INSERT INTO administrators (name, password_hash, created_at, roles, disabled_at, domain)
       VALUES (:name, :passwordHash, :createdAt, :roles, :disabledAt, :domain)`,
    ),
    admin: db.prepare(`SELECT * FROM administrators WHERE name = :name AND ${IN_DOMAIN}`),
    admins: db.prepare(`SELECT * FROM administrators WHERE ${IN_DOMAIN} ORDER BY name`),
    adminNameTaken: db.prepare('SELECT 1 FROM administrators WHERE name = ?'),
    updateAdmin: db.prepare(
      `UPDATE administrators SET password_hash = :passwordHash, roles = :roles, disabled_at = :disabledAt
       WHERE name = :name`,
    ),
    deleteAdmin: db.prepare('DELETE FROM administrators WHERE name = ?'),
    deleteAdminSessions: db.prepare('DELETE FROM admin_sessions WHERE name = ?'),
    deleteAdminApiKeys: db.prepare('DELETE FROM api_keys WHERE owner = ?'),
    insertSession: db.prepare('INSERT INTO admin_sessions VALUES (:hash, :name, :createdAt, :expiresAt)'),
    session: db.prepare('SELECT * FROM admin_sessions WHERE hash = ?'),
    deleteExpiredSessions: db.prepare('DELETE FROM admin_sessions WHERE expires_at < ?'),
    insertApiKey: db.prepare('INSERT INTO api_keys VALUES (:id, :hash, :label, :owner, :roles, :createdAt)'),
    apiKey: db.prepare(
      `SELECT * FROM api_keys WHERE id = :id AND owner IN (SELECT name FROM administrators WHERE ${IN_DOMAIN})`,
    ),
    apiKeyByHash: db.prepare(
      `SELECT * FROM api_keys WHERE hash = :hash
         AND owner IN (SELECT name FROM administrators WHERE ${IN_DOMAIN})`,
    ),
    apiKeys: db.prepare(
      `SELECT * FROM api_keys WHERE owner IN (SELECT name FROM administrators WHERE ${IN_DOMAIN})
       ORDER BY owner, created_at`,
    ),
    deleteApiKey: db.prepare('DELETE FROM api_keys WHERE id = ?'),
    adminCount: db.prepare(`SELECT count(*) AS n FROM administrators WHERE ${IN_DOMAIN}`),
  };
  const changeRow = (r: ChangeRecord): StateChangeRow => ({
    keyId: r.key_id,
    version: r.version,
    from: r.from_state as KeyState | null,
    to: r.to_state as KeyState,
    transition: r.transition,
    at: r.at,
    cause: r.cause,
  });
  // One transaction function for every call (it runs the work it is given, as a savepoint when nested):
  // better-sqlite3 builds four wrappers each time db.transaction() is called, which per delivery showed.
  const inTransaction = db.transaction((work: () => unknown) => work());
  const views = new Map<string, ManagerStore>();
  // The store confined to domain d (null: the manager's own view of every domain).
  const confined = (d: string | null): ManagerStore => {
    // Where an inserted row goes: the confined domain, or the one the manager's own work names.
    const domainOf = (row: { domain?: string }): string => {
      const domain = d ?? row.domain;
      if (domain === undefined) throw new Error('a row inserted outside any domain must name its domain');
      if (row.domain !== undefined && row.domain !== domain) {
        throw new Error(`a row of domain ${row.domain} cannot go into domain ${domain}`);
      }
      return domain;
    };
    return {
      domain: d,
      inDomain: (name) => {
        if (d !== null && name !== d) throw new Error(`the store of domain ${d} cannot reach domain ${name}`);
        let view = views.get(name);
        if (!view) views.set(name, (view = confined(name)));
        return view;
      },
      transaction: <T>(work: () => T): T => inTransaction(work) as T,
      insertDomain: (row) => {
        if (d !== null && row.parent !== d) throw new Error(`domain ${d} can only make domains under it`);
        statements.insertDomain.run({ ...row });
      },
      domainRow: (name) => {
        const r = statements.domain.get({ name, d }) as DomainRecord | undefined;
        return r && domainRow(r);
      },
      domains: () => (statements.domains.all({ d }) as DomainRecord[]).map(domainRow),
      setDomainAlgorithm: (name, algorithm) => {
        if (d !== null && name !== d) throw new Error(`the store of domain ${d} cannot reach domain ${name}`);
        statements.setDomainAlgorithm.run(algorithm, name);
      },
      domainContents: (name) => (statements.domainContents.get({ name }) as { n: number }).n,
      deleteDomain: (name) => {
        if (d !== null) throw new Error('only the manager may delete a domain');
        views.delete(name);
        return statements.deleteDomain.run(name).changes > 0;
      },
      insertKey: (row) =>
        void statements.insertKey.run(row.id, row.name, row.algorithm, row.createdAt, domainOf(row)),
      key: (id) => {
        const r = statements.key.get({ id, d }) as KeyRecord | undefined;
        return r && keyRow(r);
      },
      keyByName: (name) => {
        const r = statements.keyByName.get({ name, d }) as KeyRecord | undefined;
        return r && keyRow(r);
      },
      keys: () => (statements.keys.all({ d }) as KeyRecord[]).map(keyRow),
      insertVersion: (row) => void statements.insertVersion.run(versionParams(row)),
      updateVersion: (row) => {
        if (statements.updateVersion.run(versionParams(row)).changes !== 1) {
          throw new ManagerError(
            'VEIL_KEY_UNKNOWN',
            `no version ${row.version} of key ${row.keyId} to update`,
          );
        }
      },
      versions: (keyId) => (statements.versions.all({ id: keyId, d }) as VersionRecord[]).map(versionRow),
      versionsDue: (now) => (statements.versionsDue.all({ now, d }) as VersionRecord[]).map(versionRow),
      recordStateChange: (row) =>
        void statements.recordChange.run(
          row.keyId,
          row.version,
          row.from,
          row.to,
          row.transition,
          row.at,
          row.cause,
        ),
      stateChanges: (keyId) =>
        (statements.changes.all({ id: keyId ?? null, d }) as ChangeRecord[]).map(changeRow),
      insertToken: (row) => void statements.insertToken.run({ ...row, domain: domainOf(row) }),
      tokenByHash: (hash) => {
        const r = statements.tokenByHash.get({ hash, d }) as TokenRecord | undefined;
        return r && tokenRow(r);
      },
      tokens: () => (statements.tokens.all({ d }) as TokenRecord[]).map(tokenRow),
      setTokenUses: (id, uses) => void statements.setTokenUses.run(uses, id),
      insertHost: (row) => void statements.insertHost.run({ ...row, domain: domainOf(row) }),
      host: (id) => {
        const r = statements.host.get({ id, d }) as HostRecord | undefined;
        return r && hostRow(r);
      },
      hostByName: (name) => {
        const r = statements.hostByName.get({ name, d }) as HostRecord | undefined;
        return r && hostRow(r);
      },
      hostByCertificateSerial: (serial) => {
        const r = statements.hostBySerial.get({ serial, d }) as HostRecord | undefined;
        return r && hostRow(r);
      },
      hosts: () => (statements.hosts.all({ d }) as HostRecord[]).map(hostRow),
      touchHost: (id, at) => void statements.touchHost.run(at, id),
      setHostGroup: (id, group) => void statements.setHostGroup.run(group, id),
      setGuardPointStatus: (id, status) => void statements.setGuardPointStatus.run(status, id),
      insertHostGroup: (name, at, domain) =>
        void statements.insertHostGroup.run(name, at, domainOf({ domain })),
      hostGroups: () =>
        (statements.hostGroups.all({ d }) as { name: string; domain: string; created_at: number }[]).map(
          (r) => ({
            name: r.name,
            domain: r.domain,
            createdAt: r.created_at,
          }),
        ),
      deregisterHost: (id, at) => void statements.deregisterHost.run(at, id),
      replaceHostCertificate: (id, pem, serial, notAfter, previousSerial) =>
        void statements.replaceCertificate.run(pem, serial, notAfter, previousSerial, id),
      forgetPreviousCertificate: (id) => void statements.forgetPreviousCertificate.run(id),
      putPolicy: (row) => {
        if (statements.putPolicy.run({ ...row, domain: domainOf(row) }).changes !== 1) {
          throw new ManagerError('VEIL_POLICY_UNKNOWN', `there is no policy ${row.name} to change here`);
        }
      },
      policy: (id) => {
        const r = statements.policy.get({ id, d }) as PolicyRecord | undefined;
        return r && policyRow(r);
      },
      policyByName: (name) => {
        const r = statements.policyByName.get({ name, d }) as PolicyRecord | undefined;
        return r && policyRow(r);
      },
      policies: () => (statements.policies.all({ d }) as PolicyRecord[]).map(policyRow),
      insertGuardPoint: (row) =>
        void statements.insertGuardPoint.run({
          ...row,
          automatic: row.automatic ? 1 : 0,
          domain: domainOf(row),
        }),
      deleteGuardPoint: (id) => statements.deleteGuardPoint.run({ id, d }).changes === 1,
      guardPoints: () => (statements.guardPoints.all({ d }) as GuardPointRecord[]).map(guardPointRow),
      deliverySequence: (hostId) =>
        (statements.deliverySequence.get(hostId) as { sequence: number } | undefined)?.sequence ?? 0,
      recordDelivery: (hostId, sequence, holds, before) => {
        statements.setDeliverySequence.run(hostId, sequence);
        if (before === undefined) {
          statements.clearDelivered.run(hostId);
          for (const held of holds) statements.addDelivered.run(hostId, held.keyId, held.version);
          return;
        }
        // A rotation adds one version to what each host holds: a row, not all of them again.
        const now = new Set(holds.map(versionKey));
        const was = new Set(before.map(versionKey));
        for (const old of before) {
          if (!now.has(versionKey(old))) statements.removeDelivered.run(hostId, old.keyId, old.version);
        }
        for (const held of holds) {
          if (!was.has(versionKey(held))) statements.addDelivered.run(hostId, held.keyId, held.version);
        }
      },
      raiseDeliverySequences: (floor) => void statements.raiseDeliverySequences.run({ floor, d }),
      delivered: (hostId) =>
        (statements.delivered.all(hostId) as { key_id: string; version: number }[]).map((r) => ({
          keyId: r.key_id,
          version: r.version,
        })),
      insertHostOffline: (row) => void statements.insertHostOffline.run({ ...row }),
      hostOffline: (hostId) => {
        const r = statements.hostOffline.get(hostId) as HostOfflineRecord | undefined;
        return r && hostOfflineRow(r);
      },
      setOfflinePasswordWrapper: (hostId, wrapped, at) => {
        if (statements.setOfflinePasswordWrapper.run(wrapped, at, hostId).changes !== 1) {
          throw new ManagerError('VEIL_HOST_UNKNOWN', `host ${hostId} has no offline material`);
        }
      },
      deleteHostOffline: (hostId) => void statements.deleteHostOffline.run(hostId),
      setTransportKey: (id, pem) => void statements.setTransportKey.run(pem, id),
      insertHostReports: (rows) =>
        db.transaction(() =>
          rows.reduce((n, row) => n + statements.insertHostReport.run({ ...row }).changes, 0),
        )(),
      pruneHostReports: (hostId, keep) => statements.pruneHostReports.run({ hostId, keep }).changes,
      hostReports: (hostId, { limit, type }) =>
        (statements.hostReports.all({ hostId, limit, type: type ?? null }) as HostReportRecord[]).map(
          hostReportRow,
        ),
      setting: (name) => (statements.setting.get(name) as { value: string } | undefined)?.value,
      setSetting: (name, value) => void statements.setSetting.run(name, value),
      insertAdmin: (row) => void statements.insertAdmin.run(adminRecord(row, domainOf(row))),
      admin: (name) => {
        const r = statements.admin.get({ name, d }) as AdminRecord | undefined;
        return r && adminRow(r);
      },
      admins: () => (statements.admins.all({ d }) as AdminRecord[]).map(adminRow),
      adminNameTaken: (name) => statements.adminNameTaken.get(name) !== undefined,
      updateAdmin: (row) => {
        if (statements.updateAdmin.run(adminRecord(row, row.domain)).changes === 0) {
          throw new ManagerError('VEIL_USER_UNKNOWN', `there is no user ${row.name}`);
        }
      },
      deleteAdmin: (name) =>
        db.transaction(() => {
          statements.deleteAdminSessions.run(name);
          statements.deleteAdminApiKeys.run(name);
          return statements.deleteAdmin.run(name).changes > 0;
        })(),
      insertSession: (row) => void statements.insertSession.run({ ...row }),
      session: (hash) => {
        const r = statements.session.get(hash) as
          { hash: string; name: string; created_at: number; expires_at: number } | undefined;
        return r && { hash: r.hash, name: r.name, createdAt: r.created_at, expiresAt: r.expires_at };
      },
      deleteExpiredSessions: (now) => void statements.deleteExpiredSessions.run(now),
      insertApiKey: (row) => void statements.insertApiKey.run({ ...row, roles: JSON.stringify(row.roles) }),
      apiKey: (id) => {
        const r = statements.apiKey.get({ id, d }) as ApiKeyRecord | undefined;
        return r && apiKeyRow(r);
      },
      apiKeyByHash: (hash) => {
        const r = statements.apiKeyByHash.get({ hash, d }) as ApiKeyRecord | undefined;
        return r && apiKeyRow(r);
      },
      apiKeys: () => (statements.apiKeys.all({ d }) as ApiKeyRecord[]).map(apiKeyRow),
      deleteApiKey: (id) => statements.deleteApiKey.run(id).changes > 0,
      adminCount: () => (statements.adminCount.get({ d }) as { n: number }).n,
      forgetDeleted: () => {
        if (!db.inTransaction) db.pragma('wal_checkpoint(TRUNCATE)');
      },
      close: () => db.close(),
    };
  };
  return confined(null);
}
