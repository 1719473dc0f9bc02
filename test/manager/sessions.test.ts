// Sign-in sessions and API keys on the real manager process over TLS: a session's bearer
// token acts with its user's roles until it expires (a short lifetime set for the test);
// an API key holds at most its maker's roles, now and later, and stops at once when
// revoked, when its maker is disabled or removed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { fetchManagerCa, ManagerClient } from '../../manager-client/client.js';
import type { ApiKeyView, CreatedApiKey } from '../../manager-client/types.js';
import { FREE_FAILURES_PER_NAME } from '../../manager/sign_in_throttle.js';
import { startManagerProcess, type ManagerProcess, failure, refusedWithCode } from './support.js';

const work = mkdtempSync('/var/tmp/veil-manager-sessions-');
let manager: ManagerProcess;

const refusedWith = refusedWithCode;

function anonymous(): ManagerClient {
  return new ManagerClient({ url: manager.url, caPem: manager.caPem() });
}

function bearer(token: string): ManagerClient {
  return new ManagerClient({ url: manager.url, caPem: manager.caPem(), bearer: token });
}

function basic(name: string, password: string): ManagerClient {
  return new ManagerClient({ url: manager.url, caPem: manager.caPem(), admin: { name, password } });
}

before(async () => {
  manager = await startManagerProcess(path.join(work, 'data'));
  const api = manager.admin();
  await api.createUser({ name: 'keeper', password: 'keeper password', roles: ['key-admin'] });
  await api.createUser({ name: 'watcher', password: 'watcher password', roles: ['auditor'] });
});

after(async () => {
  await manager.stop();
  rmSync(work, { recursive: true, force: true });
});

test('a session acts with its user’s roles; a wrong password gets the same 401 as Basic', async () => {
  const session = await anonymous().login('keeper', 'keeper password');
  assert.match(session.token, /^vs_[A-Za-z0-9_-]{43}$/);
  const lifetime = Date.parse(session.expiresAt) - Date.now();
  assert.ok(lifetime > 14 * 60_000 && lifetime <= 15 * 60_000, `${lifetime}`);
  const api = bearer(session.token);
  const key = await api.createKey({ name: 'by-session' });
  await assert.rejects(api.destroyKey(key.keyId, 1), refusedWith('VEIL_AUTH_ROLE_REQUIRED'));
  await assert.rejects(
    api.createUser({ name: 'x', password: 'x password 12', roles: ['auditor'] }),
    refusedWith('VEIL_AUTH_ROLE_REQUIRED'),
  );
  const wrong = await failure(anonymous().login('keeper', 'not the keeper password'));
  const basicWrong = await failure(basic('keeper', 'not the keeper password').keys());
  assert.equal(wrong.code, 'VEIL_AUTH_ADMIN_REQUIRED');
  assert.equal(wrong.message, basicWrong.message);
  await assert.rejects(
    anonymous().login('nobody', 'whatever password'),
    refusedWith('VEIL_AUTH_ADMIN_REQUIRED'),
  );
  await assert.rejects(bearer('vs_not-a-token').keys(), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
  // Disabled, its session stops at once; enabled again, it works again until it expires.
  await manager.admin().changeUser('keeper', { disabled: true });
  await assert.rejects(api.keys(), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
  await manager.admin().changeUser('keeper', { disabled: false });
  assert.ok((await api.keys()).length > 0);
});

test('a session expires after sessionLifetimeSeconds', async () => {
  const admin = manager.admin();
  await assert.rejects(
    admin.changeSettings({ sessionLifetimeSeconds: 0 }),
    refusedWith('VEIL_USER_BAD_REQUEST'),
  );
  assert.equal((await admin.changeSettings({ sessionLifetimeSeconds: 1 })).sessionLifetimeSeconds, 1);
  const session = await anonymous().login('watcher', 'watcher password');
  assert.ok((await bearer(session.token).users()).length > 0);
  await sleep(1500);
  const expired = await failure(bearer(session.token).users());
  assert.equal(expired.code, 'VEIL_AUTH_ADMIN_REQUIRED');
  assert.match(expired.message, /unknown, expired or revoked/);
  await admin.changeSettings({ sessionLifetimeSeconds: 900 });
});

test('an API key holds at most its maker’s roles, shows its secret once, and is revoked at once', async () => {
  const keeper = basic('keeper', 'keeper password');
  const beyond = await failure(keeper.createApiKey({ name: 'too much', roles: ['key-admin', 'cte-admin'] }));
  assert.equal(beyond.code, 'VEIL_AUTH_ROLE_REQUIRED');
  assert.match(beyond.message, /cannot hold cte-admin: you have: key-admin/);
  await assert.rejects(
    keeper.createApiKey({ name: 'none', roles: [] }),
    refusedWith('VEIL_USER_BAD_REQUEST'),
  );
  const made = await keeper.createApiKey({ name: 'ci pipeline', roles: ['key-admin'] });
  assert.match(made.apiKey, /^vk_[A-Za-z0-9_-]{43}$/);
  assert.equal(made.owner, 'keeper');
  const listed = await manager.admin().apiKeys();
  assert.deepEqual(
    listed.map((k) => k.apiKeyId),
    [made.apiKeyId],
  );
  assert.doesNotMatch(JSON.stringify(listed), new RegExp(made.apiKey));
  const api = bearer(made.apiKey);
  await api.createKey({ name: 'by-api-key' });
  // An API key's key cannot exceed it either.
  await assert.rejects(
    api.createApiKey({ name: 'wider', roles: ['admin'] }),
    refusedWith('VEIL_AUTH_ROLE_REQUIRED'),
  );
  // Its maker loses key-admin: so does the key, though it still names it.
  await manager.admin().changeUser('keeper', { roles: ['cte-admin'] });
  await assert.rejects(api.createKey({ name: 'after-demotion' }), refusedWith('VEIL_AUTH_ROLE_REQUIRED'));
  await manager.admin().changeUser('keeper', { roles: ['key-admin'] });
  await api.createKey({ name: 'after-promotion' });
  // Another user cannot revoke it (a user holding admin could); its maker revokes it, at once.
  await assert.rejects(
    basic('watcher', 'watcher password').revokeApiKey(made.apiKeyId),
    refusedWith('VEIL_API_KEY_UNKNOWN'),
  );
  assert.equal((await keeper.revokeApiKey(made.apiKeyId)).apiKeyId, made.apiKeyId);
  await assert.rejects(api.keys(), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
  await assert.rejects(keeper.revokeApiKey(made.apiKeyId), refusedWith('VEIL_API_KEY_UNKNOWN'));
});

test('a removed user’s API keys and sessions end with it', async () => {
  const admin = manager.admin();
  await admin.createUser({ name: 'leaver', password: 'leaver password', roles: ['cte-admin'] });
  const key = await basic('leaver', 'leaver password').createApiKey({ name: 'l', roles: ['cte-admin'] });
  const session = await anonymous().login('leaver', 'leaver password');
  assert.ok(Array.isArray(await bearer(key.apiKey).hosts()));
  await admin.removeUser('leaver');
  await assert.rejects(bearer(key.apiKey).hosts(), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
  await assert.rejects(bearer(session.token).hosts(), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
  assert.ok(!(await admin.apiKeys()).some((k) => k.apiKeyId === key.apiKeyId));
  // A user of the same name made again does not inherit them.
  await admin.createUser({ name: 'leaver', password: 'leaver password', roles: ['cte-admin'] });
  await assert.rejects(bearer(key.apiKey).hosts(), refusedWith('VEIL_AUTH_ADMIN_REQUIRED'));
});

test('veil-manager apikey: create, use with --api-key-file, list and revoke', () => {
  const made = manager.cli('apikey', 'create', 'cli key', '--roles', 'key-admin');
  assert.equal(made.status, 0, made.err + made.out);
  const key = JSON.parse(made.out) as CreatedApiKey;
  const file = path.join(work, 'api-key');
  writeFileSync(file, `${key.apiKey}\n`, { mode: 0o600 });
  const used = manager.cli('key', 'create', 'by-cli-api-key', '--api-key-file', file);
  assert.equal(used.status, 0, used.err + used.out);
  const denied = manager.cli('hostgroup', 'create', 'no-such-right', '--api-key-file', file);
  assert.equal((JSON.parse(denied.out) as { code: string }).code, 'VEIL_AUTH_ROLE_REQUIRED');
  const listed = JSON.parse(manager.cli('apikey', 'list').out) as ApiKeyView[];
  assert.ok(listed.some((k) => k.apiKeyId === key.apiKeyId));
  assert.equal(manager.cli('apikey', 'revoke', key.apiKeyId).status, 0);
  const revoked = manager.cli('key', 'list', '--api-key-file', file);
  assert.equal((JSON.parse(revoked.out) as { code: string }).code, 'VEIL_AUTH_ADMIN_REQUIRED');
});

/** POST /v1/login from a loopback address of our choosing: its status and error code. */
function loginFrom(
  localAddress: string,
  name: string,
  password: string,
): Promise<{ status: number; code?: string; retryAfter?: string }> {
  const body = JSON.stringify({ name, password });
  return new Promise((resolve, reject) => {
    const req = request(
      new URL('/v1/login', manager.url),
      {
        method: 'POST',
        ca: [manager.caPem()],
        localAddress,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            code: (JSON.parse(text) as { error?: { code?: string } }).error?.code,
            retryAfter: res.headers['retry-after'],
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('password guessing is slowed: after a run of wrong passwords a name waits, from that address only', async () => {
  await manager.admin().createUser({ name: 'guessed', password: 'the guessed password', roles: ['auditor'] });
  for (let i = 0; i < FREE_FAILURES_PER_NAME + 1; i++) {
    assert.equal(
      (await loginFrom('127.0.0.1', 'guessed', `guess ${i}`)).code,
      'VEIL_AUTH_ADMIN_REQUIRED',
      `guess ${i}`,
    );
  }
  // Now the name waits a second from this address: refused unchecked, even the right password,
  // by Basic as by login, with Retry-After.
  assert.deepEqual(await loginFrom('127.0.0.1', 'guessed', 'the guessed password'), {
    status: 429,
    code: 'VEIL_AUTH_TOO_MANY_FAILURES',
    retryAfter: '1',
  });
  const waiting = await failure(anonymous().login('guessed', 'the guessed password'));
  assert.equal(waiting.status, 429);
  assert.equal(waiting.code, 'VEIL_AUTH_TOO_MANY_FAILURES');
  assert.match(waiting.message, /too many wrong passwords for guessed from \S+: try again in 1 s/);
  assert.equal(
    (await failure(basic('guessed', 'the guessed password').auditRecords())).code,
    'VEIL_AUTH_TOO_MANY_FAILURES',
  );
  // Another address is not held up, nor another name.
  assert.equal((await loginFrom('127.0.0.2', 'guessed', 'the guessed password')).status, 200);
  assert.ok((await anonymous().login('keeper', 'keeper password')).token);
  // After the wait the right password goes through and ends the run.
  await sleep(1100);
  assert.ok((await anonymous().login('guessed', 'the guessed password')).token);
  assert.equal((await loginFrom('127.0.0.1', 'guessed', 'guess again')).code, 'VEIL_AUTH_ADMIN_REQUIRED');
  // Each refusal is recorded as the call it was.
  const records = await basic('watcher', 'watcher password').auditRecords({
    action: 'POST /v1/login',
    outcome: 'failure',
    newest: true,
    limit: 1000,
  });
  assert.ok(records.some((r) => r.reason === 'VEIL_AUTH_TOO_MANY_FAILURES'));
});

test('password checks do not hold up the manager: a request made after many sign-ins is answered before they all are', async () => {
  const answered: string[] = [];
  const logins = Array.from({ length: 16 }, (_, i) =>
    anonymous()
      .login('keeper', `wrong password ${i}`)
      .catch(() => undefined)
      .then(() => answered.push('login')),
  );
  // Every sign-in is at the manager before the next request (loopback, one turn each way).
  await sleep(50);
  await fetchManagerCa(manager.url).then(() => answered.push('ca'));
  await Promise.all(logins);
  // With the scrypts on the event loop, the CA waited behind every one of them.
  assert.ok(answered.indexOf('ca') < answered.length - 1, answered.join(' '));
});
