// Domains on the real manager process: each resource type made in one domain is invisible
// and untouchable from another (answered as unknown, as if it did not exist), names may
// repeat across domains, each domain has its own key algorithm, a host gets only its own
// domain's guard points even where group names collide, and only root administrators
// make domains or work in another one.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { ManagerClient } from '../../manager-client/client.js';
import type { HostEvent, KeyView } from '../../manager-client/types.js';
import { transportPublicKey } from '../../native/core.js';
import {
  failure,
  hostClient,
  registerHostByHand,
  startManagerProcess,
  type HandRegisteredHost,
  type ManagerProcess,
} from './support.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'veil-domains-'));
const PASSWORD = 'a-domain-password-1';
let manager: ManagerProcess;
let root: ManagerClient;
const as = (name: string, domain?: string, password = PASSWORD): ManagerClient =>
  new ManagerClient({ url: manager.url, caPem: manager.caPem(), admin: { name, password }, domain });
/** The first administrator (of the root domain), working in `domain`. */
const rootIn = (domain: string): ManagerClient =>
  as('admin', domain, readFileSync(path.join(manager.dataDir, 'admin-password'), 'utf8').trim());

// The same resources in both domains, by the same names where names matter.
interface Made {
  admin: ManagerClient;
  key: KeyView;
  host: HandRegisteredHost;
  guardPointId: string;
  apiKeyId: string;
}
const made: Record<'eng' | 'fin', Made> = {} as never;

function policy(key: KeyView) {
  return {
    name: 'shared-policy',
    resourceSets: { all: { include: ['**'] } },
    securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
    keyRules: [{ key: { keyId: key.keyId } }],
  };
}

before(async () => {
  manager = await startManagerProcess(path.join(work, 'data'));
  root = manager.admin();
  await root.createDomain({ name: 'eng', keyAlgorithm: 'aes-128' });
  await root.createDomain({ name: 'fin' });
  for (const domain of ['eng', 'fin'] as const) {
    // A root administrator makes each domain's first administrator, working in that domain.
    await rootIn(domain).createUser({
      name: `${domain}-admin`,
      password: PASSWORD,
      roles: ['admin', 'key-admin', 'cte-admin'],
    });
    const admin = as(`${domain}-admin`);
    const key = await admin.createKey({ name: 'shared-key' });
    await admin.putPolicy(policy(key));
    await admin.createHostGroup('web');
    const host = await registerHostByHand(
      manager,
      path.join(work, `${domain}-host.key`),
      'web1',
      transportPublicKey(),
      admin,
      'web',
    );
    const guardPoint = await admin.addGuardPoint({
      path: `/srv/${domain}`,
      policy: 'shared-policy',
      hostGroup: 'web',
    });
    const apiKey = await admin.createApiKey({ name: 'ci', roles: ['key-admin'] });
    made[domain] = { admin, key, host, guardPointId: guardPoint.guardPointId, apiKeyId: apiKey.apiKeyId };
  }
});

after(async () => {
  await manager?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('names repeat across domains, and each domain makes keys with its own algorithm', async () => {
  assert.equal(made.eng.key.name, made.fin.key.name);
  assert.notEqual(made.eng.key.keyId, made.fin.key.keyId);
  assert.equal(made.eng.key.algorithm, 'aes-128');
  assert.equal(made.fin.key.algorithm, 'aes-256');
  assert.equal((await made.eng.admin.settings()).keyAlgorithm, 'aes-128');
  assert.equal((await made.eng.admin.settings()).domain, 'eng');
  assert.equal((await root.settings()).keyAlgorithm, 'aes-256');
  await made.fin.admin.changeSettings({ keyAlgorithm: 'aes-128' });
  assert.equal((await made.fin.admin.settings()).keyAlgorithm, 'aes-128');
  assert.equal((await root.settings()).keyAlgorithm, 'aes-256', "another domain's setting is its own");
  await made.fin.admin.changeSettings({ keyAlgorithm: 'aes-256' });
});

test('keys: listed, read and changed only in their own domain', async () => {
  const { admin } = made.eng;
  const other = made.fin.key.keyId;
  assert.deepEqual(
    (await admin.keys()).map((k) => k.keyId),
    [made.eng.key.keyId],
  );
  assert.deepEqual(await root.keys(), [], 'the root domain has none of theirs');
  for (const call of [
    () => admin.key(other),
    () => admin.keyHistory(other),
    () => admin.rotateKey(other),
    () => admin.setKeyState(other, 1, 'suspended'),
    () => admin.revokeKey(other, 1, 'key-compromise'),
    () => admin.destroyKey(other, 1),
  ]) {
    // One at a time: a refusal never waits unhandled while another is awaited.
    assert.equal((await failure(call())).code, 'VEIL_KEY_UNKNOWN');
  }
  assert.equal((await made.fin.admin.key(other)).versions.length, 1, 'nothing changed');
  const inventory = await admin.inventory();
  assert.ok(JSON.stringify(inventory).includes(made.eng.key.keyId));
  assert.ok(!JSON.stringify(inventory).includes(other));
});

test("policies: one domain's policy cannot name another domain's key", async () => {
  const error = await failure(made.eng.admin.putPolicy({ ...policy(made.fin.key), name: 'stolen' }));
  assert.equal(error.code, 'VEIL_POLICY_REJECTED');
  assert.match(error.message, /which this domain does not have/);
  const policies = await made.eng.admin.policies();
  assert.deepEqual(
    policies.map((p) => p.name),
    ['shared-policy'],
  );
  assert.ok(JSON.stringify(policies).includes(made.eng.key.keyId));
  assert.ok(!JSON.stringify(policies).includes(made.fin.key.keyId));
});

test('hosts, host groups, tokens and host events: only their own domain', async () => {
  const { admin } = made.eng;
  const other = made.fin.host.id;
  assert.deepEqual(
    (await admin.hosts()).map((h) => h.hostId),
    [made.eng.host.id],
  );
  assert.deepEqual(await root.hosts(), []);
  assert.deepEqual(
    (await admin.hostGroups()).map((g) => g.name),
    ['web'],
  );
  for (const call of [
    () => admin.host(other),
    () => admin.hostEvents(other),
    () => admin.deregisterHost(other),
    () => admin.setHostGroup(other, 'web'),
  ]) {
    assert.equal((await failure(call())).code, 'VEIL_HOST_UNKNOWN');
  }
  const guardPoint = await failure(
    admin.addGuardPoint({ path: '/srv/x', policy: 'shared-policy', hostId: other }),
  );
  assert.equal(guardPoint.code, 'VEIL_GUARD_POINT_BAD_REQUEST');
  // Both hosts still registered and served.
  assert.equal((await hostClient(manager, made.fin.host).self()).hostId, other);
});

test("guard points: listed and removed only in their own domain; a host gets its own domain's only", async () => {
  const { admin } = made.eng;
  assert.deepEqual(
    (await admin.guardPoints()).map((g) => g.guardPointId),
    [made.eng.guardPointId],
  );
  assert.equal(
    (await failure(admin.removeGuardPoint(made.fin.guardPointId))).code,
    'VEIL_GUARD_POINT_UNKNOWN',
  );
  // Both domains have a group "web" with a guard point: each host gets its domain's.
  for (const domain of ['eng', 'fin'] as const) {
    const events: HostEvent[] = [];
    const ws = hostClient(manager, made[domain].host).events((event) => events.push(event));
    try {
      const deadline = Date.now() + 10_000;
      while (!events.some((e) => e.type === 'guardpoints') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const event = events.find((e) => e.type === 'guardpoints');
      assert.ok(event && event.type === 'guardpoints', `host of ${domain} got its guard points`);
      assert.deepEqual(
        event.guardPoints.map((g) => g.path),
        [`/srv/${domain}`],
      );
    } finally {
      ws.terminate();
    }
  }
});

test('administrators and API keys: only their own domain', async () => {
  const { admin } = made.eng;
  assert.deepEqual(
    (await admin.users()).map((u) => u.name),
    ['eng-admin'],
  );
  assert.equal((await failure(admin.changeUser('fin-admin', { disabled: true }))).code, 'VEIL_USER_UNKNOWN');
  assert.equal((await failure(admin.removeUser('admin'))).code, 'VEIL_USER_UNKNOWN');
  assert.deepEqual(
    (await admin.apiKeys()).map((k) => k.apiKeyId),
    [made.eng.apiKeyId],
  );
  assert.equal((await failure(admin.revokeApiKey(made.fin.apiKeyId))).code, 'VEIL_API_KEY_UNKNOWN');
  // User names are the manager's: signing in names no domain.
  const taken = await failure(
    admin.createUser({ name: 'fin-admin', password: PASSWORD, roles: ['auditor'] }),
  );
  assert.equal(taken.code, 'VEIL_USER_NAME_TAKEN');
});

test("a domain's administrators cannot leave it, make domains or change the manager's settings", async () => {
  const { admin } = made.eng;
  for (const domain of ['fin', 'root', 'nowhere']) {
    const error = await failure(as('eng-admin', domain).keys());
    assert.equal(error.code, 'VEIL_DOMAIN_FORBIDDEN', `eng-admin naming ${domain}`);
  }
  assert.equal((await failure(admin.createDomain({ name: 'mine' }))).code, 'VEIL_DOMAIN_FORBIDDEN');
  assert.equal((await failure(admin.removeDomain('fin'))).code, 'VEIL_DOMAIN_FORBIDDEN');
  assert.equal((await failure(admin.domain('fin'))).code, 'VEIL_DOMAIN_UNKNOWN');
  assert.deepEqual(
    (await admin.domains()).map((d) => d.name),
    ['eng'],
  );
  const settings = await failure(admin.changeSettings({ separateAuditor: false }));
  assert.equal(settings.code, 'VEIL_DOMAIN_FORBIDDEN');
});

test('a root administrator works in any domain it names; domains go only when empty', async () => {
  const inEng = rootIn('eng');
  assert.deepEqual(
    (await inEng.keys()).map((k) => k.keyId),
    [made.eng.key.keyId],
  );
  assert.equal((await failure(rootIn('nowhere').keys())).code, 'VEIL_DOMAIN_UNKNOWN');
  assert.deepEqual(
    (await root.domains()).map((d) => d.name),
    ['root', 'eng', 'fin'],
  );
  assert.equal((await failure(root.removeDomain('eng'))).code, 'VEIL_DOMAIN_NOT_EMPTY');
  assert.equal((await failure(root.removeDomain('root'))).code, 'VEIL_DOMAIN_BAD_REQUEST');
  assert.equal((await failure(root.createDomain({ name: 'eng' }))).code, 'VEIL_DOMAIN_NAME_TAKEN');
  assert.equal((await failure(root.createDomain({ name: 'Bad Name' }))).code, 'VEIL_DOMAIN_BAD_REQUEST');
  await root.createDomain({ name: 'empty' });
  assert.equal((await root.removeDomain('empty')).name, 'empty');
  assert.equal((await failure(root.domain('empty'))).code, 'VEIL_DOMAIN_UNKNOWN');
});

test('the CLI: domain create, list, --domain', () => {
  const created = manager.cli('domain', 'create', 'ops', '--key-algorithm', 'aes-128');
  assert.equal(created.status, 0, created.err);
  assert.equal((JSON.parse(created.out) as { keyAlgorithm: string }).keyAlgorithm, 'aes-128');
  const key = manager.cli('key', 'create', 'k1', '--domain', 'ops');
  assert.equal(key.status, 0, key.err);
  assert.equal((JSON.parse(key.out) as KeyView).algorithm, 'aes-128');
  const listed = manager.cli('key', 'list', '--domain', 'ops');
  assert.deepEqual(
    (JSON.parse(listed.out) as KeyView[]).map((k) => k.name),
    ['k1'],
  );
  const refused = manager.cli('domain', 'remove', 'ops');
  assert.equal(refused.status, 1);
  assert.equal((JSON.parse(refused.out) as { code: string }).code, 'VEIL_DOMAIN_NOT_EMPTY');
});
