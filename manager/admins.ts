// Administrators' passwords and sign-in. On first start there is one, `admin`, whose
// password is drawn at random and written once to a 0600 file in the data directory for
// the operator to read; the store keeps only its scrypt hash (a salt per user). The first
// administrator holds admin, key-admin and cte-admin; users.ts makes the others.
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import path from 'node:path';

import type { AdminRole } from '../manager-client/types.js';
import type { AdminRow, ManagerStore } from './store/store.js';
import { writeFileAtomically } from '../common/files.js';
import { ROOT_DOMAIN } from './domains.js';

export const FIRST_ADMIN = 'admin';
export const ADMIN_PASSWORD_FILE = 'admin-password';
/** What the first administrator may do: everything but auditing (docs/administration.md). */
export const FIRST_ADMIN_ROLES: readonly AdminRole[] = ['admin', 'key-admin', 'cte-admin'];

// scrypt with N = 2^15, r = 8, p = 1 (RFC 7914's interactive-login range): 32 MiB, tens of ms.
const N = 1 << 15;
const R = 8;
const P = 1;
const MAX_MEMORY = 64 * 1024 * 1024;

const scryptOptions = (n: number, r: number, p: number) => ({ N: n, r, p, maxmem: MAX_MEMORY });

function hash(password: string, salt: Buffer, n = N, r = R, p = P): Buffer {
  return scryptSync(password, salt, 32, scryptOptions(n, r, p));
}

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return ['scrypt', N, R, P, salt.toString('base64url'), hash(password, salt).toString('base64url')].join(
    '$',
  );
}

/**
 * Whether the password is the one `stored` was made from. The scrypt runs on libuv's thread pool:
 * tens of ms on the event loop for each sign-in, a wrong one included, would hold up every host and
 * every other call meanwhile.
 */
export async function passwordMatches(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, expected] = stored.split('$');
  if (scheme !== 'scrypt' || salt === undefined || expected === undefined) return false;
  const want = Buffer.from(expected, 'base64url');
  const got = await new Promise<Buffer>((resolve, reject) =>
    scrypt(
      password,
      Buffer.from(salt, 'base64url'),
      32,
      scryptOptions(Number(n), Number(r), Number(p)),
      (error, derived) => (error ? reject(error) : resolve(derived)),
    ),
  );
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Makes the first administrator if there is none; returns the password file it wrote, if it did. */
export function ensureFirstAdmin(store: ManagerStore, dataDir: string, now = Date.now()): string | undefined {
  if (store.adminCount() > 0) return undefined;
  const password = randomBytes(18).toString('base64url');
  const file = path.join(dataDir, ADMIN_PASSWORD_FILE);
  // The file first: a crash between the two leaves a password nobody can use, never an
  // administrator whose password nobody was told.
  writeFileAtomically(file, `${password}\n`, 0o600);
  store.insertAdmin({
    name: FIRST_ADMIN,
    domain: ROOT_DOMAIN,
    passwordHash: hashPassword(password),
    roles: [...FIRST_ADMIN_ROLES],
    createdAt: now,
    disabledAt: null,
  });
  return file;
}

/**
 * The administrator whose name and password these are, if it is not disabled. An unknown
 * name, a wrong password and a disabled user look the same from outside.
 */
export async function authenticateAdmin(
  store: ManagerStore,
  name: string,
  password: string,
): Promise<AdminRow | undefined> {
  // A missing account costs the same scrypt as a wrong password.
  const stored =
    store.admin(name)?.passwordHash ??
    `scrypt$${N}$${R}$${P}$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;
  const matches = await passwordMatches(password, stored);
  // Read again: the account may have been disabled or removed while the scrypt ran.
  const admin = store.admin(name);
  return matches && admin !== undefined && admin.passwordHash === stored && admin.disabledAt === null
    ? admin
    : undefined;
}
