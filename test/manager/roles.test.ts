// Administrators and roles on the real manager process over TLS: every administrators'
// endpoint called by a user of every role, allowed or refused exactly as the access table
// (manager/server/access.ts) says; the table held to the routes and to
// docs/administration.md; separation of the auditor; disabled users, wrong passwords, the
// last admin, one's own password, and the CLI.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';
import { exchange, managerBase } from '../../manager-client/exchange.js';
import { ADMIN_ROLES, type AdminRole, type UserView } from '../../manager-client/types.js';
import { ACCESS } from '../../manager/server/access.js';
import { routeList } from '../../manager/server/routes.js';
import { ROOT } from '../support/error_docs.js';
import { startManagerProcess, type ManagerProcess, failure, refusedWithCode } from './support.js';

const work = mkdtempSync('/var/tmp/veil-manager-roles-');
let manager: ManagerProcess;

const passwordOf = (name: string): string => `password of ${name}`;
const ROLE_USERS: Record<AdminRole, string> = {
  admin: 'r-admin',
  'key-admin': 'r-key',
  'cte-admin': 'r-cte',
  auditor: 'r-auditor',
};

function as(name: string, password = passwordOf(name)): ManagerClient {
  return new ManagerClient({ url: manager.url, caPem: manager.caPem(), admin: { name, password } });
}

const refusedWith = refusedWithCode;

before(async () => {
  manager = await startManagerProcess(path.join(work, 'data'));
  for (const [role, name] of Object.entries(ROLE_USERS)) {
    await manager.admin().createUser({ name, password: passwordOf(name), roles: [role as AdminRole] });
  }
});

after(async () => {
  await manager.stop();
  rmSync(work, { recursive: true, force: true });
});

test('the access table names exactly the routes, and docs/administration.md shows exactly it', () => {
  assert.deepEqual(Object.keys(ACCESS).sort(), routeList().sort());
  const doc = readFileSync(path.join(ROOT, 'docs/administration.md'), 'utf8');
  const documented = Object.fromEntries(
    [...doc.matchAll(/^\| `([A-Z]+ \/v1\/[^`]*)` \| ([a-z-]+) \|$/gm)].map((m) => [m[1], m[2]]),
  );
  assert.deepEqual(documented, { ...ACCESS });
});

test('every administrators’ endpoint, called by every role: allowed or refused as the table says', async () => {
  const base = managerBase(manager.url);
  const ids: Record<string, string> = {
    '{keyId}': randomUUID(),
    '{hostId}': randomUUID(),
    '{guardPointId}': randomUUID(),
    '{apiKeyId}': randomUUID(),
    '{version}': '1',
    '{name}': 'nobody-here',
    '{domain}': 'nobody-here',
  };
  const wrong: string[] = [];
  const outcomes = { allowed: 0, denied: 0 };
  for (const route of routeList()) {
    const access = ACCESS[route];
    if (access === undefined || access === 'public' || access === 'host') continue;
    const [method = '', template = ''] = route.split(' ');
    const url = template.replace(/\{[A-Za-z]+\}/g, (param) => ids[param] ?? param);
    for (const role of ADMIN_ROLES) {
      const name = ROLE_USERS[role];
      const authorization = `Basic ${Buffer.from(`${name}:${passwordOf(name)}`).toString('base64')}`;
      const expected = access === 'user' || access === role ? 'allowed' : 'denied';
      let got: string;
      try {
        await exchange(base, method, url, {
          // A minimal body: an allowed caller is answered 400, 404 or 409 for it, or served.
          body: method === 'POST' || method === 'PUT' ? {} : undefined,
          authorization,
          tls: { ca: [manager.caPem()] },
          timeoutMs: 30_000,
          maxAnswerBytes: 64 * 1024 * 1024,
        });
        got = 'allowed';
      } catch (error) {
        if (!(error instanceof ManagerError)) throw error;
        if (error.code === 'VEIL_AUTH_ROLE_REQUIRED') {
          got = 'denied';
          assert.match(error.message, new RegExp(`needs the ${access} role; ${name} has: ${role}$`));
        } else if ([400, 404, 409].includes(error.status)) got = 'allowed';
        else got = `${error.code}: ${error.message}`;
      }
      if (got !== expected) wrong.push(`${route} as ${role}: ${got}, expected ${expected}`);
      else outcomes[expected] += 1;
    }
  }
  assert.deepEqual(wrong, []);
  // Each administrators' route once per role: reads allowed to all four, changes to one.
  const administrators = Object.values(ACCESS).filter((a) => a !== 'public' && a !== 'host');
  const reads = administrators.filter((a) => a === 'user').length;
  assert.deepEqual(outcomes, {
    allowed: reads * 4 + (administrators.length - reads),
    denied: (administrators.length - reads) * 3,
  });
});

test('the first administrator holds admin, key-admin and cte-admin; no view carries a hash', async () => {
  const users = await manager.admin().users();
  const first = users.find((u) => u.name === 'admin');
  assert.deepEqual(first?.roles, ['admin', 'key-admin', 'cte-admin']);
  assert.equal(first?.disabledAt, null);
  assert.deepEqual(users.map((u) => u.name).sort(), ['admin', ...Object.values(ROLE_USERS)].sort());
  assert.doesNotMatch(JSON.stringify(users), /scrypt|passwordHash|password/);
  // Every role reads, the auditor too.
  assert.equal((await as('r-auditor').users()).length, users.length);
});

test('separateAuditor: an auditor holds no other role while it is on', async () => {
  const api = manager.admin();
  assert.equal((await api.settings()).separateAuditor, true);
  const made = await failure(
    api.createUser({ name: 'mixed', password: passwordOf('mixed'), roles: ['auditor', 'key-admin'] }),
  );
  assert.equal(made.code, 'VEIL_USER_BAD_REQUEST');
  assert.match(made.message, /cannot be an auditor and hold key-admin too/);
  await assert.rejects(
    api.changeUser('r-auditor', { roles: ['auditor', 'admin'] }),
    refusedWith('VEIL_USER_BAD_REQUEST'),
  );
  await assert.rejects(
    api.changeUser('r-key', { roles: ['key-admin', 'auditor'] }),
    refusedWith('VEIL_USER_BAD_REQUEST'),
  );
  // Turned off, it allows; turned on again, it is refused while a mixed auditor is left.
  await api.changeSettings({ separateAuditor: false });
  await api.createUser({ name: 'mixed', password: passwordOf('mixed'), roles: ['key-admin', 'auditor'] });
  await assert.rejects(api.changeSettings({ separateAuditor: true }), refusedWith('VEIL_USER_BAD_REQUEST'));
  await api.removeUser('mixed');
  assert.equal((await api.changeSettings({ separateAuditor: true })).separateAuditor, true);
  // Only admin changes settings; the key algorithm is untouched by it.
  assert.equal((await api.settings()).keyAlgorithm, 'aes-256');
  await assert.rejects(
    as('r-key').changeSettings({ separateAuditor: false }),
    refusedWith('VEIL_AUTH_ROLE_REQUIRED'),
  );
});

test('a wrong password, an unknown user and a disabled user are answered alike: 401', async () => {
  const wrongPassword = await failure(as('r-key', 'not the password at all').keys());
  const unknown = await failure(as('nobody-at-all').keys());
  assert.equal(wrongPassword.code, 'VEIL_AUTH_ADMIN_REQUIRED');
  assert.equal(wrongPassword.status, 401);
  assert.equal(unknown.code, wrongPassword.code);
  assert.equal(unknown.message, wrongPassword.message);
  const disabled = await manager.admin().changeUser('r-key', { disabled: true });
  assert.ok(disabled.disabledAt);
  const refused = await failure(as('r-key').keys());
  assert.equal(refused.status, 401);
  assert.equal(refused.message, wrongPassword.message);
  assert.equal((await manager.admin().changeUser('r-key', { disabled: false })).disabledAt, null);
  assert.ok(Array.isArray(await as('r-key').keys()));
});

test('bad users are refused and change nothing', async () => {
  const api = manager.admin();
  const before = await api.users();
  for (const user of [
    { name: 'short', password: 'too short', roles: ['auditor'] },
    { name: 'norole', password: passwordOf('norole'), roles: [] },
    { name: 'oddrole', password: passwordOf('oddrole'), roles: ['root'] },
    { name: 'self', password: passwordOf('self'), roles: ['auditor'] },
    { name: '-bad name', password: passwordOf('x'), roles: ['auditor'] },
    { name: 'long', password: 'x'.repeat(257), roles: ['auditor'] },
  ]) {
    await assert.rejects(api.createUser(user as never), refusedWith('VEIL_USER_BAD_REQUEST'), user.name);
  }
  await assert.rejects(
    api.createUser({ name: 'r-key', password: passwordOf('r-key'), roles: ['key-admin'] }),
    refusedWith('VEIL_USER_NAME_TAKEN'),
  );
  await assert.rejects(api.changeUser('nobody', { disabled: true }), refusedWith('VEIL_USER_UNKNOWN'));
  await assert.rejects(api.removeUser('nobody'), refusedWith('VEIL_USER_UNKNOWN'));
  assert.deepEqual(await api.users(), before);
});

test('some enabled user always holds admin', async () => {
  const api = manager.admin();
  await api.changeUser('r-admin', { disabled: true });
  const last = await failure(api.changeUser('admin', { roles: ['key-admin', 'cte-admin'] }));
  assert.equal(last.code, 'VEIL_USER_LAST_ADMIN');
  await assert.rejects(api.changeUser('admin', { disabled: true }), refusedWith('VEIL_USER_LAST_ADMIN'));
  await assert.rejects(api.removeUser('admin'), refusedWith('VEIL_USER_LAST_ADMIN'));
  await api.changeUser('r-admin', { disabled: false });
  // With another admin enabled, the first one may give up admin, and r-admin give it back.
  await api.changeUser('admin', { roles: ['key-admin', 'cte-admin'] });
  await assert.rejects(
    api.users().then(() => api.removeUser('r-key')),
    refusedWith('VEIL_AUTH_ROLE_REQUIRED'),
  );
  await as('r-admin').changeUser('admin', { roles: ['admin', 'key-admin', 'cte-admin'] });
  assert.deepEqual((await api.users()).find((u) => u.name === 'admin')?.roles, [
    'admin',
    'key-admin',
    'cte-admin',
  ]);
});

test('a user changes their own password; the present one must be given', async () => {
  const api = manager.admin();
  await api.createUser({ name: 'changer', password: passwordOf('changer'), roles: ['auditor'] });
  await assert.rejects(
    as('changer').changeOwnPassword('a new password 1', 'not the present one'),
    refusedWith('VEIL_USER_BAD_REQUEST'),
  );
  await assert.rejects(as('changer').changeOwnPassword('short'), refusedWith('VEIL_USER_BAD_REQUEST'));
  await as('changer').changeOwnPassword('a new password 1');
  await assert.rejects(as('changer').users(), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
  assert.ok((await as('changer', 'a new password 1').users()).length > 0);
  // An admin sets another's password.
  await api.changeUser('changer', { password: passwordOf('changer') });
  assert.ok((await as('changer').users()).length > 0);
  await api.removeUser('changer');
});

test('key destruction needs cte-admin: a key-admin is refused, a cte-admin destroys, the auditor only reads', async () => {
  const key = await as('r-key').createKey({ name: 'roles-destroy' });
  const byKeyAdmin = await failure(as('r-key').destroyKey(key.keyId, 1));
  assert.equal(byKeyAdmin.code, 'VEIL_AUTH_ROLE_REQUIRED');
  assert.equal(byKeyAdmin.status, 403);
  assert.equal(byKeyAdmin.message, 'this needs the cte-admin role; r-key has: key-admin');
  assert.equal((await as('r-key').key(key.keyId)).versions[0]?.state, 'active');
  const destroyed = await as('r-cte').destroyKey(key.keyId, 1);
  assert.equal(destroyed.versions[0]?.state, 'destroyed');
  // The auditor reads it, and changes nothing.
  assert.equal((await as('r-auditor').key(key.keyId)).versions[0]?.state, 'destroyed');
  await assert.rejects(as('r-auditor').rotateKey(key.keyId), refusedWith('VEIL_AUTH_ROLE_REQUIRED'));
});

test('the first administrator still does today’s flows: a token, a key and its rotation, a host group', async () => {
  const api = manager.admin();
  const { token } = await api.createToken({ lifetimeSeconds: 600, maxUses: 1 });
  assert.ok(token);
  const key = await api.createKey({ name: 'roles-first' });
  await api.rotateKey(key.keyId);
  assert.equal((await api.createHostGroup('roles-group')).name, 'roles-group');
  assert.equal((await api.key(key.keyId)).versions.length, 2);
});

test('veil-manager user: create, list, set, passwd and remove, with passwords from files', () => {
  const newPassword = path.join(work, 'new-password');
  writeFileSync(newPassword, 'cli user password\n', { mode: 0o600 });
  const made = manager.cli(
    'user',
    'create',
    'cli-user',
    '--roles',
    'key-admin,cte-admin',
    '--new-password-file',
    newPassword,
  );
  assert.equal(made.status, 0, made.err + made.out);
  assert.deepEqual((JSON.parse(made.out) as UserView).roles, ['key-admin', 'cte-admin']);
  const listed = manager.cli('user', 'list');
  assert.ok((JSON.parse(listed.out) as UserView[]).some((u) => u.name === 'cli-user'));
  const mixed = manager.cli('user', 'set', 'cli-user', '--roles', 'auditor,admin');
  assert.equal(mixed.status, 1);
  assert.equal((JSON.parse(mixed.out) as { code: string }).code, 'VEIL_USER_BAD_REQUEST');
  const badRole = manager.cli('user', 'set', 'cli-user', '--roles', 'root');
  assert.notEqual(badRole.status, 0);
  // The user signs in with its own password file and changes its password.
  const changed = path.join(work, 'changed-password');
  writeFileSync(changed, 'a changed cli password\n', { mode: 0o600 });
  const passwd = manager.cli(
    'user',
    'passwd',
    '--admin',
    'cli-user',
    '--password-file',
    newPassword,
    '--new-password-file',
    changed,
  );
  assert.equal(passwd.status, 0, passwd.err + passwd.out);
  const asUser = manager.cli('key', 'list', '--admin', 'cli-user', '--password-file', changed);
  assert.equal(asUser.status, 0, asUser.err + asUser.out);
  const noRole = manager.cli('user', 'list', '--admin', 'cli-user', '--password-file', changed);
  assert.equal(noRole.status, 0);
  const notAdmin = manager.cli('user', 'remove', 'r-key', '--admin', 'cli-user', '--password-file', changed);
  assert.equal((JSON.parse(notAdmin.out) as { code: string }).code, 'VEIL_AUTH_ROLE_REQUIRED');
  const disabled = manager.cli('user', 'set', 'cli-user', '--disable');
  assert.ok((JSON.parse(disabled.out) as UserView).disabledAt);
  const removed = manager.cli('user', 'remove', 'cli-user');
  assert.equal(removed.status, 0, removed.err + removed.out);
  const settings = manager.cli('settings', 'set', '--separate-auditor', 'on');
  assert.equal(settings.status, 0, settings.err + settings.out);
});
