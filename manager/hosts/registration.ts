// Host registration (NIST SP 800-57 §8.1.1, §8.1.5.1): an administrator makes a token
// (lifetime, number of uses, host group, name prefix), shown once and stored hashed; a
// host presents it with a CSR and its transport public key and gets a client certificate
// whose subject the manager decides. A refused registration changes nothing.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import type {
  GuardPointStatus,
  HostGroupView,
  HostView,
  NewToken,
  Registration,
  RegistrationRequest,
  TokenOptions,
} from '../../manager-client/types.js';
import type { AuditLog } from '../audit/audit_log.js';
import { guardPointStatusEntry, rekeyProgressEntry } from '../audit/manager_events.js';
import type { AuditEntry } from '../audit/audit_record.js';
import type { CertificateAuthority } from '../ca/authority.js';
import { publicKeyFromPem } from '../ca/public_key_import.js';
import type { OfflineKeys } from '../offline/offline_keys.js';
import type { GuardPointRow, HostRow, Insertable, ManagerStore, TokenRow } from '../store/store.js';
import { GroupCommit } from '../store/group_commit.js';
import { checkStatusReport } from './status_schema.js';

const TOKEN_PREFIX = 'veil-rt-';
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const LABEL = /^[A-Za-z0-9._-]{0,64}$/;
const GROUP = /^[A-Za-z0-9._-]{1,64}$/;
const TRANSPORT_KEY_BITS = 3072;
const MAX_PEM = 16 * 1024;

const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

function refused(code: ConstructorParameters<typeof ManagerError>[0], message: string): ManagerError {
  return new ManagerError(code, message);
}

export class RegistrationService {
  // Registrations whose certificates came in the same group (group_commit.ts) are recorded in one
  // transaction (one sync to disk), each in its own savepoint, each answered once that has committed.
  readonly #commits: GroupCommit;
  // Hosts seen since the last write of their last_seen_at (host id → when).
  readonly #seen = new Map<string, number>();

  constructor(
    private readonly store: ManagerStore,
    private readonly ca: CertificateAuthority,
    private readonly offline: OfflineKeys,
    private readonly now: () => number = Date.now,
    /** Where changes of guard point and rekey state that hosts report are recorded. */
    private readonly audit?: AuditLog,
  ) {
    this.#commits = new GroupCommit((work) => this.store.transaction(work));
  }

  createToken(options: TokenOptions): NewToken {
    const { lifetimeSeconds, maxUses } = options;
    if (!Number.isInteger(lifetimeSeconds) || lifetimeSeconds < 60 || lifetimeSeconds > 30 * 24 * 3600) {
      throw refused('VEIL_REGISTRATION_BAD_REQUEST', 'a token lives from 60 seconds to 30 days');
    }
    if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > 10_000) {
      throw refused('VEIL_REGISTRATION_BAD_REQUEST', 'a token allows from 1 to 10,000 registrations');
    }
    for (const [what, value] of [
      ['host group', options.hostGroup ?? ''],
      ['name prefix', options.namePrefix ?? ''],
    ] as const) {
      if (!LABEL.test(value)) {
        throw refused(
          'VEIL_REGISTRATION_BAD_REQUEST',
          `a ${what} is up to 64 letters, digits, ".", "_" or "-"`,
        );
      }
    }
    const token = TOKEN_PREFIX + randomBytes(24).toString('base64url');
    const now = this.now();
    const row: Insertable<TokenRow> = {
      id: randomUUID(),
      hash: hashToken(token),
      createdAt: now,
      expiresAt: now + lifetimeSeconds * 1000,
      maxUses,
      uses: 0,
      hostGroup: options.hostGroup || null,
      namePrefix: options.namePrefix ?? '',
    };
    this.store.transaction(() => {
      if (row.hostGroup !== null) this.store.insertHostGroup(row.hostGroup, now);
      this.store.insertToken(row);
    });
    return { tokenId: row.id, token, expiresAt: new Date(row.expiresAt).toISOString(), maxUses };
  }

  async register(request: RegistrationRequest): Promise<Registration> {
    const { token, csr, transportPublicKey, hostname } = checkRequest(request);
    const found = this.usableToken(token);
    checkTransportKey(transportPublicKey);
    const hostName = found.namePrefix + hostname;
    // The host joins the token's domain; its name need only be free there.
    const store = this.store.inDomain(found.domain);
    if (store.hostByName(hostName)) {
      throw refused('VEIL_HOST_NAME_TAKEN', `a host named ${hostName} is already registered`);
    }
    const hostId = randomUUID();
    const issued = await this.ca.issueHostCertificate(csr, hostId, new Date(this.now()));
    // Checked again inside the transaction: another registration may have used the token meanwhile
    // (one of the same group too: each sees those before it in the group).
    await this.#commits.run(() => {
      const current = this.usableToken(token);
      if (store.hostByName(hostName)) {
        throw refused('VEIL_HOST_NAME_TAKEN', `a host named ${hostName} is already registered`);
      }
      const host: Insertable<HostRow> = {
        id: hostId,
        name: hostName,
        hostGroup: current.hostGroup,
        certificatePem: issued.pem,
        certificateSerial: normalSerial(issued.serial),
        certificateNotAfter: issued.notAfter.getTime(),
        transportPublicKeyPem: transportPublicKey,
        registeredAt: this.now(),
        lastSeenAt: null,
        deregisteredAt: null,
        guardPointStatus: null,
        previousCertificateSerial: null,
      };
      store.insertHost(host);
      // Its offline unlock material (docs/protocol.md): made with the host, or not at all.
      store.insertHostOffline(this.offline.make(hostId));
      store.setTokenUses(current.id, current.uses + 1);
    });
    return { hostId, hostName, certificate: issued.pem, caChain: [this.ca.certificatePem] };
  }

  /** The host a client certificate was issued to, by its serial (hex, any case, leading zeros or not). */
  hostByCertificate(serial: string, commonName: string): HostView {
    const presented = normalSerial(serial);
    const host = this.store.hostByCertificateSerial(presented);
    if (!host || host.id !== commonName) {
      throw refused('VEIL_AUTH_HOST_REQUIRED', 'this client certificate belongs to no registered host');
    }
    if (host.deregisteredAt !== null) {
      throw refused('VEIL_AUTH_HOST_REQUIRED', 'this host was de-registered: its certificate is revoked');
    }
    if (host.previousCertificateSerial !== null && presented === host.certificateSerial) {
      // The host has its renewed certificate: the one before stops working now.
      this.store.forgetPreviousCertificate(host.id);
    }
    this.#touch(host.id);
    return hostView({ ...host, lastSeenAt: this.now() });
  }

  hosts(): HostView[] {
    return this.store.hosts().map(hostView);
  }

  host(hostId: string): HostView {
    const host = this.store.host(hostId);
    if (!host) throw refused('VEIL_HOST_UNKNOWN', `there is no host ${hostId}`);
    return hostView(host);
  }

  /**
   * Records what a host reports of its guard points (replacing its last report), checked
   * whole (status_schema.ts). Each change of a guard point's state, and of its rekey state
   * (start, pause, completion…), becomes an audit record with it; progress alone does not.
   * `source`: the host's address, for the audit trail.
   */
  reportStatus(hostId: string, report: unknown, source = 'local'): HostView {
    const at = new Date(this.now()).toISOString();
    const status: GuardPointStatus[] = checkStatusReport(report).map((s) => ({ ...s, reportedAt: at }));
    const host = this.store.host(hostId);
    if (!host) throw refused('VEIL_HOST_UNKNOWN', `there is no host ${hostId}`);
    const audit = this.audit;
    const save = () => this.store.setGuardPointStatus(hostId, JSON.stringify(status));
    if (!audit) save();
    else {
      const entries = statusChanges(host, status, this.store.guardPoints(), source);
      // The records first, as for host reports: a failure between the commits records a report
      // the host sends again, never stores one unrecorded.
      this.store.transaction(() =>
        audit.batch(() => {
          for (const entry of entries) audit.append(entry);
          save();
        }),
      );
    }
    return this.host(hostId);
  }

  /** Host groups with their members; a group is made by name, or by a token that names it. */
  hostGroups(): HostGroupView[] {
    const hosts = this.store.hosts().filter((h) => h.deregisteredAt === null);
    return this.store.hostGroups().map((group) => ({
      name: group.name,
      createdAt: new Date(group.createdAt).toISOString(),
      hostIds: hosts.filter((h) => h.hostGroup === group.name).map((h) => h.id),
    }));
  }

  createHostGroup(name: unknown): HostGroupView {
    if (typeof name !== 'string' || !GROUP.test(name)) {
      throw refused(
        'VEIL_REGISTRATION_BAD_REQUEST',
        'a host group is 1 to 64 letters, digits, ".", "_" or "-"',
      );
    }
    this.store.insertHostGroup(name, this.now());
    return this.hostGroups().find((g) => g.name === name) as HostGroupView;
  }

  /** Puts a host in a group (an existing one), or in none. */
  setHostGroup(hostId: string, group: unknown): HostView {
    const host = this.store.host(hostId);
    if (!host || host.deregisteredAt !== null)
      throw refused('VEIL_HOST_UNKNOWN', `there is no host ${hostId}`);
    if (
      group !== null &&
      (typeof group !== 'string' || !this.store.hostGroups().some((g) => g.name === group))
    ) {
      throw refused(
        'VEIL_REGISTRATION_BAD_REQUEST',
        `there is no host group ${JSON.stringify(group)}: make it first`,
      );
    }
    this.store.setHostGroup(hostId, group);
    return this.host(hostId);
  }

  /**
   * De-registration (NIST SP 800-57 §8.3.2): the certificate is revoked at once and every
   * later request with it refused, and the host's offline unlock material is destroyed, so
   * no offline password or challenge opens its keys any more; the caller closes the host's
   * connections.
   */
  deregister(hostId: string): HostView {
    const host = this.store.host(hostId);
    if (!host) throw refused('VEIL_HOST_UNKNOWN', `there is no host ${hostId}`);
    if (host.deregisteredAt !== null)
      throw refused('VEIL_HOST_UNKNOWN', `host ${hostId} is de-registered already`);
    this.store.transaction(() => {
      this.store.deregisterHost(hostId, this.now());
      this.store.deleteHostOffline(hostId);
    });
    // Its wrapped offline key, out of the WAL's old pages too.
    this.store.forgetDeleted();
    return this.host(hostId);
  }

  /**
   * A new certificate for a registered host, from a new CSR. The one it asked with (`presented`)
   * stays good until the new one is first used, so that a host which never got the answer can
   * ask again; then it stops working.
   */
  async renew(hostId: string, presented: string, csr: unknown): Promise<Registration> {
    if (typeof csr !== 'string' || csr.length === 0 || csr.length > MAX_PEM) {
      throw refused('VEIL_REGISTRATION_BAD_REQUEST', `csr must be a string of 1 to ${MAX_PEM} characters`);
    }
    const host = this.store.host(hostId);
    if (!host || host.deregisteredAt !== null)
      throw refused('VEIL_HOST_UNKNOWN', `there is no host ${hostId}`);
    const issued = await this.ca.issueHostCertificate(csr, hostId, new Date(this.now()));
    // Read again: the host may have asked twice meanwhile. Asked with the certificate before the
    // current one, the current one never reached it and is dropped.
    const now = this.store.host(hostId);
    if (!now || now.deregisteredAt !== null) throw refused('VEIL_HOST_UNKNOWN', `there is no host ${hostId}`);
    const kept =
      normalSerial(presented) === now.certificateSerial
        ? now.certificateSerial
        : now.previousCertificateSerial;
    this.store.replaceHostCertificate(
      hostId,
      issued.pem,
      normalSerial(issued.serial),
      issued.notAfter.getTime(),
      kept,
    );
    return { hostId, hostName: host.name, certificate: issued.pem, caChain: [this.ca.certificatePem] };
  }

  /**
   * Replaces a registered host's transport public key: its native core makes a new pair at
   * every start. Checked exactly as at registration; the caller sends it a fresh delivery.
   */
  setTransportKey(hostId: string, request: unknown): HostView {
    const body = request as Record<string, unknown> | null;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw refused('VEIL_REGISTRATION_BAD_REQUEST', 'a transport key change is a JSON object');
    }
    const pem = body.transportPublicKey;
    checkTextField('transportPublicKey', pem);
    checkTransportKey(pem);
    const host = this.store.host(hostId);
    if (!host || host.deregisteredAt !== null)
      throw refused('VEIL_HOST_UNKNOWN', `there is no host ${hostId}`);
    this.store.setTransportKey(hostId, pem);
    return this.host(hostId);
  }

  /**
   * Records when a host was last seen: with the other hosts seen meanwhile, in one group
   * (group_commit.ts: one sync to disk, not one per request). Nothing is answered on it;
   * if the write fails, the host's next request records it again.
   */
  #touch(hostId: string): void {
    const first = this.#seen.size === 0;
    this.#seen.set(hostId, this.now());
    if (!first) return;
    this.#commits
      .run(() => {
        for (const [id, at] of this.#seen) this.store.touchHost(id, at);
        this.#seen.clear();
      })
      .catch(() => this.#seen.clear());
  }

  /** Writes the registrations and sightings waiting for their group now: before the store closes. */
  flush(): void {
    this.#commits.flush();
  }

  private usableToken(token: string): TokenRow {
    const hash = hashToken(token);
    const row = this.store.tokenByHash(hash);
    // The lookup is by hash; the comparison stays constant-time all the same.
    if (!row || !timingSafeEqual(Buffer.from(row.hash, 'hex'), Buffer.from(hash, 'hex'))) {
      throw refused('VEIL_REGISTRATION_TOKEN_INVALID', 'the registration token is not known to this manager');
    }
    if (row.expiresAt <= this.now()) {
      throw refused(
        'VEIL_REGISTRATION_TOKEN_EXPIRED',
        `the registration token expired at ${new Date(row.expiresAt).toISOString()}`,
      );
    }
    if (row.uses >= row.maxUses) {
      throw refused(
        'VEIL_REGISTRATION_TOKEN_USED_UP',
        `the registration token was used ${row.uses} times, its limit`,
      );
    }
    return row;
  }
}

const normalSerial = (serial: string): string => serial.toLowerCase().replace(/^0+/, '');

function lastStatus(host: HostRow): Map<string, GuardPointStatus> {
  if (host.guardPointStatus === null) return new Map();
  return new Map((JSON.parse(host.guardPointStatus) as GuardPointStatus[]).map((s) => [s.guardPointId, s]));
}

/**
 * The audit records of a new report: a guard point whose state differs from the last report
 * (or that it did not hold), and a transformation whose state differs (or that starts).
 */
function statusChanges(
  host: HostRow,
  status: readonly GuardPointStatus[],
  guardPoints: readonly GuardPointRow[],
  source: string,
): AuditEntry[] {
  const before = lastStatus(host);
  const paths = new Map(guardPoints.map((g) => [g.id, g.path]));
  const entries: AuditEntry[] = [];
  for (const now of status) {
    const last = before.get(now.guardPointId);
    const path = paths.get(now.guardPointId) ?? '';
    if (last?.state !== now.state) entries.push(guardPointStatusEntry(host, now, last?.state, path, source));
    const t = now.transformation;
    if (t && last?.transformation?.state !== t.state) {
      entries.push(rekeyProgressEntry(host, now.guardPointId, t, last?.transformation?.state, path, source));
    }
  }
  return entries;
}

function hostView(host: HostRow): HostView {
  return {
    hostId: host.id,
    name: host.name,
    hostGroup: host.hostGroup,
    // Whole octets, as openssl, node:crypto and the inventory show it (stored without leading zeros).
    certificateSerial:
      host.certificateSerial.length % 2 === 1 ? `0${host.certificateSerial}` : host.certificateSerial,
    certificateNotAfter: new Date(host.certificateNotAfter).toISOString(),
    registeredAt: new Date(host.registeredAt).toISOString(),
    lastSeenAt: host.lastSeenAt === null ? null : new Date(host.lastSeenAt).toISOString(),
    deregisteredAt: host.deregisteredAt === null ? null : new Date(host.deregisteredAt).toISOString(),
    guardPoints:
      host.guardPointStatus === null ? [] : (JSON.parse(host.guardPointStatus) as GuardPointStatus[]),
  };
}

function checkTextField(field: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PEM) {
    throw refused('VEIL_REGISTRATION_BAD_REQUEST', `${field} must be a string of 1 to ${MAX_PEM} characters`);
  }
}

function checkRequest(request: unknown): RegistrationRequest {
  const body = request as Record<string, unknown> | null;
  if (typeof body !== 'object' || body === null) {
    throw refused('VEIL_REGISTRATION_BAD_REQUEST', 'a registration is a JSON object');
  }
  for (const field of ['token', 'csr', 'transportPublicKey', 'hostname'] as const) {
    checkTextField(field, body[field]);
  }
  const hostname = body.hostname as string;
  if (!HOSTNAME.test(hostname)) {
    throw refused(
      'VEIL_REGISTRATION_BAD_REQUEST',
      `hostname ${JSON.stringify(hostname)} is not a valid host name`,
    );
  }
  return body as unknown as RegistrationRequest;
}

// The transport key: RSA-3072, SubjectPublicKeyInfo PEM (docs/protocol.md).
function checkTransportKey(pem: string): void {
  let bits: number | undefined;
  let type: string | undefined;
  try {
    const key = publicKeyFromPem(pem);
    type = key.asymmetricKeyType;
    bits = key.asymmetricKeyDetails?.modulusLength;
  } catch {
    throw refused('VEIL_REGISTRATION_BAD_TRANSPORT_KEY', 'transportPublicKey is not a PEM public key');
  }
  if (type !== 'rsa' || bits !== TRANSPORT_KEY_BITS) {
    throw refused(
      'VEIL_REGISTRATION_BAD_TRANSPORT_KEY',
      `the transport key must be RSA-${TRANSPORT_KEY_BITS}, not ${type ?? 'unknown'}${bits ? `-${bits}` : ''}`,
    );
  }
}
