// Who is calling: an administrator by HTTP Basic (name and password), by a sign-in
// session's bearer token (POST /v1/login, 15 minutes by default) or by one of its API keys
// (long-lived, until revoked). Tokens and keys are 32 random bytes, shown once; the store
// keeps only their SHA-256. A session acts with its user's roles as they are now; an API
// key with the roles it was given that its owner still holds, so it never exceeds them.
import { createHash, randomBytes, randomUUID } from 'node:crypto';

import { ManagerError } from '../manager-client/errors.js';
import {
  ADMIN_ROLES,
  type AdminRole,
  type ApiKeyView,
  type CreatedApiKey,
  type Session,
} from '../manager-client/types.js';
import { authenticateAdmin } from './admins.js';
import { SignInThrottle } from './sign_in_throttle.js';
import type { AdminRow, ApiKeyRow, ManagerStore } from './store/store.js';

/** An authenticated administrator and the roles this request may use. */
export interface Caller {
  name: string;
  /** The domain the administrator belongs to. */
  domain: string;
  roles: AdminRole[];
  /** The API key the request came with, if it did. */
  apiKeyId?: string;
}

const SESSION_PREFIX = 'vs_';
const API_KEY_PREFIX = 'vk_';
const LIFETIME_SETTING = 'sessionLifetimeSeconds';
const DEFAULT_LIFETIME_SECONDS = 15 * 60;
const MAX_LIFETIME_SECONDS = 24 * 3600;
const LABEL = /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/;

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

function wrongCredentials(): ManagerError {
  return new ManagerError('VEIL_AUTH_ADMIN_REQUIRED', 'the administrator name or password is wrong');
}

function badToken(): ManagerError {
  return new ManagerError('VEIL_AUTH_ADMIN_REQUIRED', 'the bearer token is unknown, expired or revoked');
}

function view(row: ApiKeyRow): ApiKeyView {
  return {
    apiKeyId: row.id,
    name: row.label,
    owner: row.owner,
    roles: [...row.roles],
    createdAt: new Date(row.createdAt).toISOString(),
  };
}

function fields(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ManagerError('VEIL_USER_BAD_REQUEST', 'the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

export class SessionService {
  constructor(
    private readonly store: ManagerStore,
    private readonly now: () => number = Date.now,
    /** Shared by every domain's sessions: a guesser's wrong passwords count wherever they land. */
    private readonly throttle = new SignInThrottle(now),
  ) {}

  /**
   * The caller of a request with this Authorization header, from the address `source`; refused
   * (401) if there is none, and (429) while wrong passwords from there must wait (sign_in_throttle.ts).
   */
  async caller(authorization: string | undefined, source = 'local'): Promise<Caller> {
    const [scheme = '', credentials] = (authorization ?? '').split(' ');
    if (!credentials) {
      throw new ManagerError(
        'VEIL_AUTH_ADMIN_REQUIRED',
        'this request needs an administrator (HTTP Basic or a bearer token)',
      );
    }
    if (scheme.toLowerCase() === 'basic') {
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const admin =
        colon < 0
          ? undefined
          : await this.#authenticate(decoded.slice(0, colon), decoded.slice(colon + 1), source);
      // A disabled user is told the same as a wrong password: nothing about which it was.
      if (!admin) throw wrongCredentials();
      return { name: admin.name, domain: admin.domain, roles: [...admin.roles] };
    }
    if (scheme.toLowerCase() !== 'bearer') throw badToken();
    if (credentials.startsWith(SESSION_PREFIX)) {
      const session = this.store.session(hashToken(credentials));
      const user = session && session.expiresAt > this.now() ? this.enabled(session.name) : undefined;
      if (!user) throw badToken();
      return { name: user.name, domain: user.domain, roles: [...user.roles] };
    }
    const key = credentials.startsWith(API_KEY_PREFIX)
      ? this.store.apiKeyByHash(hashToken(credentials))
      : undefined;
    const owner = key && this.enabled(key.owner);
    if (!key || !owner) throw badToken();
    return {
      name: owner.name,
      domain: owner.domain,
      roles: key.roles.filter((r) => owner.roles.includes(r)),
      apiKeyId: key.id,
    };
  }

  /** A session for a name and password: the same 401 as Basic for a wrong one, and the same 429. */
  async login(body: unknown, source = 'local'): Promise<Session> {
    const { name, password } = fields(body);
    const admin =
      typeof name === 'string' && typeof password === 'string'
        ? await this.#authenticate(name, password, source)
        : undefined;
    if (!admin) throw wrongCredentials();
    const token = SESSION_PREFIX + randomBytes(32).toString('base64url');
    const now = this.now();
    const expiresAt = now + this.lifetimeSeconds() * 1000;
    this.store.transaction(() => {
      this.store.deleteExpiredSessions(now);
      this.store.insertSession({ hash: hashToken(token), name: admin.name, createdAt: now, expiresAt });
    });
    return { token, expiresAt: new Date(expiresAt).toISOString() };
  }

  async #authenticate(name: string, password: string, source: string): Promise<AdminRow | undefined> {
    this.throttle.check(name, source);
    const admin = await authenticateAdmin(this.store, name, password);
    if (admin) this.throttle.succeeded(name, source);
    else this.throttle.failed(name, source);
    return admin;
  }

  lifetimeSeconds(): number {
    const setting = Number(this.store.setting(LIFETIME_SETTING));
    return Number.isInteger(setting) && setting > 0 ? setting : DEFAULT_LIFETIME_SECONDS;
  }

  /** Changes how long new sessions last (those made before keep their end). */
  setLifetimeSeconds(seconds: unknown): number {
    if (!Number.isInteger(seconds) || (seconds as number) < 1 || (seconds as number) > MAX_LIFETIME_SECONDS) {
      throw new ManagerError(
        'VEIL_USER_BAD_REQUEST',
        `sessionLifetimeSeconds is a whole number from 1 to ${MAX_LIFETIME_SECONDS}`,
      );
    }
    this.store.setSetting(LIFETIME_SETTING, String(seconds));
    return seconds as number;
  }

  /** A new API key of the caller, with roles the caller holds (else 403). */
  createApiKey(caller: Caller, body: unknown): CreatedApiKey {
    const { name, roles } = fields(body);
    if (typeof name !== 'string' || !LABEL.test(name)) {
      throw new ManagerError(
        'VEIL_USER_BAD_REQUEST',
        'an API key name is 1 to 64 letters, digits, spaces, ".", "_", "@" or "-"',
      );
    }
    if (
      !Array.isArray(roles) ||
      roles.length === 0 ||
      roles.some((r) => !ADMIN_ROLES.includes(r as AdminRole))
    ) {
      throw new ManagerError(
        'VEIL_USER_BAD_REQUEST',
        `roles is a list of at least one of ${ADMIN_ROLES.join(', ')}`,
      );
    }
    const beyond = (roles as AdminRole[]).filter((role) => !caller.roles.includes(role));
    if (beyond.length > 0) {
      throw new ManagerError(
        'VEIL_AUTH_ROLE_REQUIRED',
        `an API key cannot hold ${beyond.join(', ')}: you have: ${caller.roles.join(', ')}`,
      );
    }
    const apiKey = API_KEY_PREFIX + randomBytes(32).toString('base64url');
    const row: ApiKeyRow = {
      id: randomUUID(),
      hash: hashToken(apiKey),
      label: name,
      owner: caller.name,
      roles: ADMIN_ROLES.filter((role) => roles.includes(role)),
      createdAt: this.now(),
    };
    this.store.insertApiKey(row);
    return { ...view(row), apiKey };
  }

  apiKeys(): ApiKeyView[] {
    return this.store.apiKeys().map(view);
  }

  /** Revokes an API key at once: its owner's, or anyone's for a user holding admin. */
  revokeApiKey(caller: Caller, id: string): ApiKeyView {
    const row = this.store.apiKey(id);
    if (!row || (row.owner !== caller.name && !caller.roles.includes('admin'))) {
      throw new ManagerError('VEIL_API_KEY_UNKNOWN', `there is no API key ${id} of yours`);
    }
    this.store.deleteApiKey(id);
    return view(row);
  }

  private enabled(name: string): AdminRow | undefined {
    const user = this.store.admin(name);
    return user && user.disabledAt === null ? user : undefined;
  }
}
