// The manager's administrators (users of its API) and their roles: made, changed and
// removed by a user holding `admin`; each may change their own password. The rules:
// at least one role each; with the separateAuditor setting (on by default) an auditor holds
// no other role; some enabled user always holds `admin`. Views never carry a hash.
import { ManagerError } from '../manager-client/errors.js';
import { ADMIN_ROLES, type AdminRole, type UserView } from '../manager-client/types.js';
import { hashPassword, passwordMatches } from './admins.js';
import { ROOT_DOMAIN } from './domains.js';
import type { AdminRow, Insertable, ManagerStore } from './store/store.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/** Names a path of the API takes for something else. */
const RESERVED_NAMES = new Set(['self']);
export const MIN_PASSWORD = 12;
export const MAX_PASSWORD = 256;
const SEPARATE_AUDITOR = 'separateAuditor';

const badRequest = (message: string) => new ManagerError('VEIL_USER_BAD_REQUEST', message);

function view(row: Insertable<AdminRow>): UserView {
  return {
    name: row.name,
    roles: [...row.roles],
    createdAt: new Date(row.createdAt).toISOString(),
    disabledAt: row.disabledAt === null ? null : new Date(row.disabledAt).toISOString(),
  };
}

function checkedPassword(password: unknown, field = 'password'): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD || password.length > MAX_PASSWORD) {
    throw badRequest(`${field} is a string of ${MIN_PASSWORD} to ${MAX_PASSWORD} characters`);
  }
  return password;
}

function checkedRoles(roles: unknown): AdminRole[] {
  if (!Array.isArray(roles) || roles.length === 0) {
    throw badRequest(`roles is a list of at least one of ${ADMIN_ROLES.join(', ')}`);
  }
  for (const role of roles) {
    if (!ADMIN_ROLES.includes(role as AdminRole)) {
      throw badRequest(`${JSON.stringify(role)} is not a role: one of ${ADMIN_ROLES.join(', ')}`);
    }
  }
  return ADMIN_ROLES.filter((role) => roles.includes(role));
}

function objectOf(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

const holdsAdmin = (row: AdminRow): boolean => row.disabledAt === null && row.roles.includes('admin');

export class UserService {
  constructor(
    private readonly store: ManagerStore,
    private readonly now: () => number = Date.now,
  ) {}

  list(): UserView[] {
    return this.store.admins().map(view);
  }

  user(name: string): UserView {
    return view(this.row(name));
  }

  create(body: unknown): UserView {
    const { name, password, roles } = objectOf(body);
    if (typeof name !== 'string' || !NAME.test(name) || RESERVED_NAMES.has(name)) {
      throw badRequest(
        'a user name is 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit, and not "self"',
      );
    }
    const row: Insertable<AdminRow> = {
      name,
      passwordHash: '',
      roles: this.allowedRoles(name, checkedRoles(roles)),
      createdAt: this.now(),
      disabledAt: null,
    };
    const hash = hashPassword(checkedPassword(password));
    return this.store.transaction(() => {
      if (this.store.adminNameTaken(name))
        throw new ManagerError('VEIL_USER_NAME_TAKEN', `there is a user ${name} already`);
      this.store.insertAdmin({ ...row, passwordHash: hash });
      return view(row);
    });
  }

  /** Changes roles, password or disabled state; refused if no enabled user would hold `admin`. */
  change(name: string, body: unknown): UserView {
    const { roles, password, disabled } = objectOf(body);
    if (roles === undefined && password === undefined && disabled === undefined) {
      throw badRequest('give at least one of roles, password and disabled');
    }
    if (disabled !== undefined && typeof disabled !== 'boolean')
      throw badRequest('disabled is true or false');
    const newRoles = roles === undefined ? undefined : this.allowedRoles(name, checkedRoles(roles));
    const hash = password === undefined ? undefined : hashPassword(checkedPassword(password));
    return this.store.transaction(() => {
      const old = this.row(name);
      const row: AdminRow = {
        ...old,
        roles: newRoles ?? old.roles,
        passwordHash: hash ?? old.passwordHash,
        disabledAt:
          disabled === undefined ? old.disabledAt : disabled ? (old.disabledAt ?? this.now()) : null,
      };
      if (holdsAdmin(old) && !holdsAdmin(row)) this.keepAnAdmin(name);
      this.store.updateAdmin(row);
      return view(row);
    });
  }

  remove(name: string): UserView {
    return this.store.transaction(() => {
      const old = this.row(name);
      if (holdsAdmin(old)) this.keepAnAdmin(name);
      this.store.deleteAdmin(name);
      return view(old);
    });
  }

  /** A user's own password change: the current one must be given again. */
  async changeOwnPassword(name: string, body: unknown): Promise<UserView> {
    const { current, password } = objectOf(body);
    const row = this.row(name);
    if (typeof current !== 'string' || !(await passwordMatches(current, row.passwordHash))) {
      throw badRequest('current is not your present password');
    }
    const hash = hashPassword(checkedPassword(password));
    return this.store.transaction(() => {
      const now = this.row(name);
      if (now.passwordHash !== row.passwordHash) {
        throw badRequest('the password was changed meanwhile: give the present one again');
      }
      this.store.updateAdmin({ ...now, passwordHash: hash });
      return view(now);
    });
  }

  separateAuditor(): boolean {
    return this.store.setting(SEPARATE_AUDITOR) !== 'false';
  }

  /** Turning it on is refused while an auditor holds another role. */
  setSeparateAuditor(value: unknown): boolean {
    if (typeof value !== 'boolean') throw badRequest('separateAuditor is true or false');
    return this.store.transaction(() => {
      if (value) {
        const mixed = this.store
          .admins()
          .filter((row) => row.roles.includes('auditor') && row.roles.length > 1);
        if (mixed.length > 0) {
          throw badRequest(
            `separateAuditor cannot be turned on while auditors hold other roles: ${mixed.map((r) => r.name).join(', ')}`,
          );
        }
      }
      this.store.setSetting(SEPARATE_AUDITOR, String(value));
      return value;
    });
  }

  private row(name: string): AdminRow {
    const row = this.store.admin(name);
    if (!row) throw new ManagerError('VEIL_USER_UNKNOWN', `there is no user ${name}`);
    return row;
  }

  private allowedRoles(name: string, roles: AdminRole[]): AdminRole[] {
    if (this.separateAuditor() && roles.includes('auditor') && roles.length > 1) {
      throw badRequest(
        `${name} cannot be an auditor and hold ${roles.filter((r) => r !== 'auditor').join(', ')} too: ` +
          'the separateAuditor setting keeps auditors apart',
      );
    }
    return roles;
  }

  // The manager stays administrable while the root domain has an admin; another domain's
  // last admin may go (the root domain's administrators still reach it).
  private keepAnAdmin(name: string): void {
    if (this.store.domain !== null && this.store.domain !== ROOT_DOMAIN) return;
    if (!this.store.admins().some((row) => row.name !== name && holdsAdmin(row))) {
      throw new ManagerError(
        'VEIL_USER_LAST_ADMIN',
        `${name} is the last enabled user holding admin: give another user admin first`,
      );
    }
  }
}
