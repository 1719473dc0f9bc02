// The one typed client of the manager's API (used by the CLI, the agent and the tests).
// It trusts only the manager's CA, never the system's (fetchManagerCa, which has no CA yet,
// trusts nothing and leaves pinning to its caller), and answers every failure with a
// ManagerError: the manager's own code, or VEIL_MANAGER_UNREACHABLE.
import type { SecureContext } from 'node:tls';

import WebSocket from 'ws';

import { ManagerError } from './errors.js';
import { exchange, managerBase, MAX_ANSWER_BYTES, refusalFrom } from './exchange.js';
import type {
  AuditCheckpoint,
  AuditQuery,
  AuditRecordView,
  AuditVerification,
  BackupKeyFile,
  BackupKeyView,
  DomainView,
  KeyAlgorithm,
  ExportedKey,
  Inventory,
  Settings,
  GuardPointStatus,
  GuardPointView,
  HostEvent,
  HostGroupView,
  HostReport,
  HostReportQuery,
  HostReportReceipt,
  HostReportRecord,
  HostView,
  ManagerCa,
  NewGuardPoint,
  OfflinePasswordSet,
  OfflineResponse,
  PolicyView,
  KeyState,
  KeyStateChange,
  KeyView,
  NewKeyOptions,
  RekeyMode,
  RevocationReason,
  NewToken,
  Registration,
  RegistrationRequest,
  TokenOptions,
  NewUser,
  UserChange,
  UserView,
  ApiKeyView,
  CreatedApiKey,
  NewApiKey,
  Session,
  NewSiemDestination,
  SiemDestinationView,
} from './types.js';

import { MAX_BACKUP_BYTES } from './types.js';

export { fetchManagerCa } from './ca.js';

export interface ClientOptions {
  /** https://host:port of the manager. */
  url: string;
  /** The manager's CA certificate (PEM): the only one trusted. */
  caPem: string;
  /** For administrator requests (HTTP Basic). */
  admin?: { name: string; password: string };
  /** For administrator requests instead: a session token (login) or an API key, sent as a bearer token. */
  bearer?: string;
  /** The domain administrator requests work in (a root domain administrator's choice); by default the administrator's own. */
  domain?: string;
  /** For host requests (mutual TLS): the registered host's key and certificate. */
  host?: { keyPem: string; certificatePem: string };
  /**
   * The TLS context of every connection instead of one made from caPem (and host) per connection:
   * for a caller that makes many clients of one manager, e.g. the benchmark's simulated hosts. It must
   * trust exactly the manager's CA, as caPem would (tls.createSecureContext({ ca: [caPem] })).
   */
  secureContext?: SecureContext;
  timeoutMs?: number;
}

/** Host event reads may be long: up to 1,000 events of up to about 14,000 characters each. */
const MAX_EVENTS_ANSWER_BYTES = 64 * 1024 * 1024;
/** The most of a refused event stream's answer read for its error. */
const MAX_REFUSAL_BYTES = 64 * 1024;

/** A refused event stream's error: the one its body names, else a refusal of the host's certificate. */
function streamRefusal(status: number | undefined, body: Buffer): ManagerError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  return (
    refusalFrom(status ?? 0, parsed) ??
    new ManagerError('VEIL_AUTH_HOST_REQUIRED', `the manager refused the event stream (${status ?? '?'})`)
  );
}

const versionPath = (keyId: string, version: number): string =>
  `/v1/keys/${encodeURIComponent(keyId)}/versions/${encodeURIComponent(String(version))}`;

export class ManagerClient {
  readonly #options: ClientOptions;
  readonly #base: URL;

  constructor(options: ClientOptions) {
    this.#base = managerBase(options.url);
    this.#options = options;
  }

  /** The manager's CA (GET /v1/ca) over a connection that already trusts it; see fetchManagerCa. */
  ca(): Promise<ManagerCa> {
    return this.#call('GET', '/v1/ca');
  }

  openapi(): Promise<unknown> {
    return this.#call('GET', '/v1/openapi.json');
  }

  createToken(options: TokenOptions): Promise<NewToken> {
    return this.#call('POST', '/v1/tokens', options, true);
  }

  register(registration: RegistrationRequest): Promise<Registration> {
    return this.#call('POST', '/v1/registration', registration);
  }

  hosts(): Promise<HostView[]> {
    return this.#call('GET', '/v1/hosts', undefined, true);
  }

  keys(): Promise<KeyView[]> {
    return this.#call('GET', '/v1/keys', undefined, true);
  }

  key(keyId: string): Promise<KeyView> {
    return this.#call('GET', `/v1/keys/${encodeURIComponent(keyId)}`, undefined, true);
  }

  keyHistory(keyId: string): Promise<KeyStateChange[]> {
    return this.#call('GET', `/v1/keys/${encodeURIComponent(keyId)}/history`, undefined, true);
  }

  createKey(options: NewKeyOptions): Promise<KeyView> {
    return this.#call('POST', '/v1/keys', options, true);
  }

  /** `rekey`: how hosts move files to the new version (default rewrap). */
  rotateKey(keyId: string, deactivationDate?: string, rekey?: RekeyMode): Promise<KeyView> {
    return this.#call(
      'POST',
      `/v1/keys/${encodeURIComponent(keyId)}/rotate`,
      { deactivationDate, rekey },
      true,
    );
  }

  setKeyState(keyId: string, version: number, state: KeyState): Promise<KeyView> {
    return this.#call('POST', `${versionPath(keyId, version)}/state`, { state }, true);
  }

  revokeKey(
    keyId: string,
    version: number,
    reason: RevocationReason,
    compromiseDate?: string,
  ): Promise<KeyView> {
    return this.#call('POST', `${versionPath(keyId, version)}/revoke`, { reason, compromiseDate }, true);
  }

  destroyKey(keyId: string, version: number): Promise<KeyView> {
    return this.#call('POST', `${versionPath(keyId, version)}/destroy`, {}, true);
  }

  policies(): Promise<PolicyView[]> {
    return this.#call('GET', '/v1/policies', undefined, true);
  }

  policy(name: string): Promise<PolicyView> {
    return this.#call('GET', `/v1/policies/${encodeURIComponent(name)}`, undefined, true);
  }

  /** Adds a policy document, or replaces the one of its name. */
  putPolicy(document: unknown): Promise<PolicyView> {
    return this.#call('POST', '/v1/policies', document, true);
  }

  guardPoints(): Promise<GuardPointView[]> {
    return this.#call('GET', '/v1/guardpoints', undefined, true);
  }

  addGuardPoint(guardPoint: NewGuardPoint): Promise<GuardPointView> {
    return this.#call('POST', '/v1/guardpoints', guardPoint, true);
  }

  removeGuardPoint(guardPointId: string): Promise<{ removed: string }> {
    return this.#call('DELETE', `/v1/guardpoints/${encodeURIComponent(guardPointId)}`, undefined, true);
  }

  /**
   * The host's event stream (mutual TLS): every event the manager pushes goes to
   * `onEvent`. Sending `{"type":"sync"}` (HostStreamMessage) on the returned socket asks
   * for the guard points and a fresh delivery again; any other message closes it (1008).
   * The caller closes the returned socket.
   */
  events(onEvent: (event: HostEvent) => void, onError?: (error: ManagerError) => void): WebSocket {
    const { host, caPem, secureContext } = this.#options;
    const url = new URL('/v1/events', this.#base);
    url.protocol = 'wss:';
    const ws = new WebSocket(url, {
      ca: [caPem],
      key: host?.keyPem,
      cert: host?.certificatePem,
      ...(secureContext && { secureContext }),
      minVersion: 'TLSv1.2',
    });
    ws.on('message', (data: Buffer) => {
      try {
        onEvent(JSON.parse(data.toString('utf8')) as HostEvent);
      } catch {
        onError?.(new ManagerError('VEIL_MANAGER_UNREACHABLE', 'the manager sent an event that is not JSON'));
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      // The refusal's code and message from its body, as for any call; a body that says none
      // is a refusal of the host's certificate.
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_REFUSAL_BYTES) chunks.push(chunk);
      });
      res.on('error', () => undefined);
      res.on('close', () => {
        onError?.(streamRefusal(res.statusCode, Buffer.concat(chunks)));
        ws.terminate();
      });
    });
    ws.on('error', (error) =>
      onError?.(new ManagerError('VEIL_MANAGER_UNREACHABLE', error.message, { cause: error })),
    );
    return ws;
  }

  host(hostId: string): Promise<HostView> {
    return this.#call('GET', `/v1/hosts/${encodeURIComponent(hostId)}`, undefined, true);
  }

  hostGroups(): Promise<HostGroupView[]> {
    return this.#call('GET', '/v1/hostgroups', undefined, true);
  }

  createHostGroup(name: string): Promise<HostGroupView> {
    return this.#call('POST', '/v1/hostgroups', { name }, true);
  }

  /** Puts a host in a group, or (null) in none. */
  setHostGroup(hostId: string, hostGroup: string | null): Promise<HostView> {
    return this.#call('PUT', `/v1/hosts/${encodeURIComponent(hostId)}/group`, { hostGroup }, true);
  }

  /** De-registers a host: its certificate is revoked and its connections closed. */
  deregisterHost(hostId: string): Promise<HostView> {
    return this.#call('DELETE', `/v1/hosts/${encodeURIComponent(hostId)}`, undefined, true);
  }

  /**
   * Sets a host's offline password (12 to 256 characters); without one the manager makes
   * one and answers it this once. The host's open event streams get the new wrapper.
   */
  setOfflinePassword(hostId: string, password?: string): Promise<OfflinePasswordSet> {
    return this.#call(
      'POST',
      `/v1/hosts/${encodeURIComponent(hostId)}/offline-password`,
      password === undefined ? {} : { password },
      true,
    );
  }

  /** The response to a host's offline unlock challenge (base64url, as `agentctl challenge` shows it). */
  offlineResponse(hostId: string, challenge: string): Promise<OfflineResponse> {
    return this.#call(
      'POST',
      `/v1/hosts/${encodeURIComponent(hostId)}/offline-response`,
      { challenge },
      true,
    );
  }

  /** Reports the state of this host's guard points (mutual TLS). */
  reportStatus(guardPoints: GuardPointStatus[]): Promise<HostView> {
    return this.#call('POST', '/v1/hosts/self/status', { guardPoints });
  }

  /**
   * Registers the native core's new transport public key (PEM) for the host this client is
   * (mutual TLS); its open event streams get a fresh delivery wrapped to it.
   */
  setTransportKey(transportPublicKey: string): Promise<HostView> {
    return this.#call('PUT', '/v1/hosts/self/transport-key', { transportPublicKey });
  }

  /** Reports 1 to 500 events of the host this client is (mutual TLS): stored whole or refused whole. */
  reportEvents(events: HostReport[]): Promise<HostReportReceipt> {
    return this.#call('POST', '/v1/hosts/self/events', { events });
  }

  /** A host's reported events, newest first (default 100, at most 1,000). */
  hostEvents(hostId: string, query: HostReportQuery = {}): Promise<HostReportRecord[]> {
    const search = new URLSearchParams();
    if (query.limit !== undefined) search.set('limit', String(query.limit));
    if (query.type !== undefined) search.set('type', query.type);
    const qs = search.toString() === '' ? '' : `?${search.toString()}`;
    return this.#call(
      'GET',
      `/v1/hosts/${encodeURIComponent(hostId)}/events${qs}`,
      undefined,
      true,
      MAX_EVENTS_ANSWER_BYTES,
    );
  }

  /** A new certificate for the host this client is, from a new CSR (mutual TLS). */
  renewCertificate(csr: string): Promise<Registration> {
    return this.#call('POST', '/v1/hosts/self/certificate', { csr });
  }

  importKeyInfo(): Promise<{ publicKey: string; algorithm: string }> {
    return this.#call('GET', '/v1/keys/import-key', undefined, true);
  }

  /** A key whose material is `wrapped` (base64) under the manager's import key. */
  importKey(options: NewKeyOptions & { wrapped: string }): Promise<KeyView> {
    return this.#call('POST', '/v1/keys/import', options, true);
  }

  /** A version's material encrypted to `wrappingKey` (PEM, RSA ≥ 3072). */
  exportKey(keyId: string, version: number, wrappingKey: string): Promise<ExportedKey> {
    return this.#call('POST', `${versionPath(keyId, version)}/export`, { wrappingKey }, true);
  }

  settings(): Promise<Settings> {
    return this.#call('GET', '/v1/settings', undefined, true);
  }

  changeSettings(settings: Partial<Settings>): Promise<Settings> {
    return this.#call('PUT', '/v1/settings', settings, true);
  }

  /** Every administrator with its roles (never a password hash). */
  users(): Promise<UserView[]> {
    return this.#call('GET', '/v1/users', undefined, true);
  }

  /** A new administrator (needs the admin role). */
  createUser(user: NewUser): Promise<UserView> {
    return this.#call('POST', '/v1/users', user, true);
  }

  /** Changes another administrator's roles, password or disabled state (needs the admin role). */
  changeUser(name: string, change: UserChange): Promise<UserView> {
    return this.#call('PUT', `/v1/users/${encodeURIComponent(name)}`, change, true);
  }

  /** Removes an administrator (needs the admin role; never the last one holding admin). */
  removeUser(name: string): Promise<UserView> {
    return this.#call('DELETE', `/v1/users/${encodeURIComponent(name)}`, undefined, true);
  }

  /** Changes the caller's own password; `current` is its present one (by default the one this client signs in with). */
  changeOwnPassword(password: string, current = this.#options.admin?.password): Promise<UserView> {
    return this.#call('PUT', '/v1/users/self/password', { current, password }, true);
  }

  /** A session (15 minutes by default) for this name and password: give its token as `bearer`. */
  login(name: string, password: string): Promise<Session> {
    return this.#call('POST', '/v1/login', { name, password });
  }

  /** A long-lived API key of the caller, with at most the caller's roles; its secret is shown once. */
  createApiKey(apiKey: NewApiKey): Promise<CreatedApiKey> {
    return this.#call('POST', '/v1/apikeys', apiKey, true);
  }

  apiKeys(): Promise<ApiKeyView[]> {
    return this.#call('GET', '/v1/apikeys', undefined, true);
  }

  /** Revokes an API key at once (the caller's own; anyone's with the admin role). */
  revokeApiKey(apiKeyId: string): Promise<ApiKeyView> {
    return this.#call('DELETE', `/v1/apikeys/${encodeURIComponent(apiKeyId)}`, undefined, true);
  }

  /** The domains the caller may see: all of them for the root domain's administrators. */
  domains(): Promise<DomainView[]> {
    return this.#call('GET', '/v1/domains', undefined, true);
  }

  domain(name: string): Promise<DomainView> {
    return this.#call('GET', `/v1/domains/${encodeURIComponent(name)}`, undefined, true);
  }

  /** A new domain under the root domain (the root domain's admin role). */
  createDomain(domain: { name: string; keyAlgorithm?: KeyAlgorithm }): Promise<DomainView> {
    return this.#call('POST', '/v1/domains', domain, true);
  }

  /** Removes an empty domain. */
  removeDomain(name: string): Promise<DomainView> {
    return this.#call('DELETE', `/v1/domains/${encodeURIComponent(name)}`, undefined, true);
  }

  inventory(): Promise<Inventory> {
    return this.#call('GET', '/v1/inventory', undefined, true);
  }

  /** Audit records, oldest first (default 100, at most 1,000): the auditor's role. */
  auditRecords(query: AuditQuery = {}): Promise<AuditRecordView[]> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query) as [string, string | number | boolean | undefined][]) {
      if (value !== undefined) search.set(name, String(value));
    }
    const qs = search.toString() === '' ? '' : `?${search.toString()}`;
    return this.#call('GET', `/v1/audit${qs}`, undefined, true, MAX_EVENTS_ANSWER_BYTES);
  }

  /** Recomputes the whole audit chain; with a checkpoint kept before, proves the trail still reaches it. */
  verifyAudit(checkpoint?: AuditCheckpoint): Promise<AuditVerification> {
    return checkpoint === undefined
      ? this.#call('GET', '/v1/audit/verify', undefined, true)
      : this.#call('POST', '/v1/audit/verify', { checkpoint }, true);
  }

  /** The newest signed checkpoint of the audit trail, with its public key: for an auditor to keep. */
  auditCheckpoint(): Promise<AuditCheckpoint> {
    return this.#call('GET', '/v1/audit/checkpoint', undefined, true);
  }

  /** The backup keys the manager keeps (root domain admin role; docs/backup.md). */
  backupKeys(): Promise<BackupKeyView[]> {
    return this.#call('GET', '/v1/backup-keys', undefined, true);
  }

  /** A new backup key: the manager keeps it and answers it this once, wrapped under `passphrase`. */
  createBackupKey(passphrase: string): Promise<BackupKeyFile> {
    return this.#call('POST', '/v1/backup-keys', { passphrase }, true);
  }

  /** A backup of the whole manager under a backup key it keeps: the file's bytes. */
  createBackup(backupKeyId: string): Promise<Buffer> {
    // Header, manifest and tag besides the data: well under a MiB more.
    return this.#call('POST', '/v1/backups', { backupKeyId }, true, MAX_BACKUP_BYTES + (32 << 20), true);
  }

  /** The SIEM destinations the audit trail goes to, with how far each got (any root domain administrator; docs/siem.md). */
  siemDestinations(): Promise<SiemDestinationView[]> {
    return this.#call('GET', '/v1/siem/destinations', undefined, true);
  }

  siemDestination(name: string): Promise<SiemDestinationView> {
    return this.#call('GET', `/v1/siem/destinations/${encodeURIComponent(name)}`, undefined, true);
  }

  /** A new SIEM destination (the root domain's admin role); forwarding to it starts at once. */
  addSiemDestination(destination: NewSiemDestination): Promise<SiemDestinationView> {
    return this.#call('POST', '/v1/siem/destinations', destination, true);
  }

  /** Stops forwarding to a SIEM destination and forgets it. */
  removeSiemDestination(name: string): Promise<SiemDestinationView> {
    return this.#call('DELETE', `/v1/siem/destinations/${encodeURIComponent(name)}`, undefined, true);
  }

  /** The host whose certificate this client presents. */
  self(): Promise<HostView> {
    return this.#call('GET', '/v1/hosts/self');
  }

  #call<T>(
    method: string,
    path: string,
    body?: unknown,
    asAdmin = false,
    maxAnswerBytes = MAX_ANSWER_BYTES,
    binary = false,
  ): Promise<T> {
    const { admin, bearer, host, caPem, domain, secureContext, timeoutMs = 30_000 } = this.#options;
    if (asAdmin && !admin && bearer === undefined) {
      return Promise.reject(
        new ManagerError('VEIL_AUTH_ADMIN_REQUIRED', 'this request needs administrator credentials'),
      );
    }
    const authorization = !asAdmin
      ? undefined
      : bearer !== undefined
        ? `Bearer ${bearer}`
        : admin && `Basic ${Buffer.from(`${admin.name}:${admin.password}`).toString('base64')}`;
    return exchange<T>(this.#base, method, path, {
      body,
      authorization,
      domain: asAdmin ? domain : undefined,
      // Given a context, tls.connect takes it and ignores ca, key and cert.
      tls: {
        ca: [caPem],
        key: host?.keyPem,
        cert: host?.certificatePem,
        ...(secureContext && { secureContext }),
      },
      timeoutMs,
      maxAnswerBytes,
      binary,
    }).then(({ answer }) => answer);
  }
}
