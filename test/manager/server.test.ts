// The real manager process (`veil-manager serve`) on loopback with real TLS: a token made
// by the CLI, a registration done by hand exactly as docs/protocol.md shows (openssl, jq,
// curl) and one by the typed client, mutual TLS for host requests, bad requests refused
// with no change, and a restart that keeps everything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import Database from 'better-sqlite3';

import { ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';
import type { HostView, Inventory, KeyView, NewToken } from '../../manager-client/types.js';
import { MANAGER_CLI, startManagerProcess, type ManagerProcess } from './support.js';

const CLI = MANAGER_CLI;
const work = mkdtempSync('/var/tmp/veil-manager-server-');
const dataDir = path.join(work, 'data');
let manager: ManagerProcess | undefined;
let url = '';

async function startManager(): Promise<void> {
  manager = await startManagerProcess(dataDir);
  url = manager.url;
}

async function stopManager(): Promise<void> {
  await manager?.stop();
  manager = undefined;
}

const cli = (...args: string[]) => (manager as ManagerProcess).cli(...args);
const log = (): string => manager?.log() ?? '';

function shell(script: string): { status: number; out: string; err: string } {
  const result = spawnSync('bash', ['-c', script], { cwd: work, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status ?? -1, out: result.stdout, err: result.stderr };
}

function newToken(maxUses = 1): string {
  const made = cli('token', 'create', '--max-uses', String(maxUses), '--lifetime', '600');
  assert.equal(made.status, 0, made.err);
  return (JSON.parse(made.out) as NewToken).token;
}

const caPem = (): string => readFileSync(path.join(dataDir, 'ca.crt'), 'utf8');

before(startManager);
after(async () => {
  await stopManager();
  rmSync(work, { recursive: true, force: true });
});

test('first start: a 0700 data directory, the admin password in a 0600 file, the OpenAPI document', async () => {
  assert.equal(spawnSync('stat', ['-c', '%a', dataDir], { encoding: 'utf8' }).stdout.trim(), '700');
  assert.equal(
    spawnSync('stat', ['-c', '%a', path.join(dataDir, 'admin-password')], { encoding: 'utf8' }).stdout.trim(),
    '600',
  );
  const api = (await new ManagerClient({ url, caPem: caPem() }).openapi()) as {
    openapi: string;
    paths: object;
  };
  assert.match(api.openapi, /^3\./);
  assert.ok('/v1/registration' in api.paths && '/v1/hosts/self' in api.paths);
  // TLS 1.2 at least: a client that offers no more than 1.1 gets no connection.
  const old = shell(`curl -sS --cacert '${dataDir}/ca.crt' --tlsv1 --tls-max 1.1 ${url}/v1/openapi.json`);
  assert.notEqual(old.status, 0);
  const modern = shell(
    `curl -sS -o /dev/null -w '%{http_code}' --cacert '${dataDir}/ca.crt' --tlsv1.3 ${url}/v1/openapi.json`,
  );
  assert.equal(modern.out, '200');
});

test('registration by hand with openssl, jq and curl, as docs/protocol.md shows; then mutual TLS', () => {
  const token = newToken();
  const script = `set -euo pipefail
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout host.key -subj /CN=web1 -out host.csr 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out transport.key 2>/dev/null
openssl pkey -in transport.key -pubout -out transport.pub
jq -n --arg token "${token}" --rawfile csr host.csr --rawfile key transport.pub \\
  '{token: $token, csr: $csr, transportPublicKey: $key, hostname: "web1"}' > registration.json
curl -sS --fail-with-body --cacert '${dataDir}/ca.crt' -H 'content-type: application/json' \\
  --data @registration.json ${url}/v1/registration > registered.json
jq -r .certificate registered.json > host.crt
curl -sS --fail-with-body --cacert '${dataDir}/ca.crt' --cert host.crt --key host.key ${url}/v1/hosts/self`;
  const done = shell(script);
  assert.equal(done.status, 0, done.err + done.out);
  const self = JSON.parse(done.out) as HostView;
  const registered = JSON.parse(readFileSync(path.join(work, 'registered.json'), 'utf8')) as {
    hostId: string;
  };
  assert.equal(self.hostId, registered.hostId);
  assert.equal(self.name, 'web1');
  // Without a certificate, or with one the manager did not issue: refused.
  const anonymous = shell(`curl -sS --cacert '${dataDir}/ca.crt' ${url}/v1/hosts/self`);
  assert.match(anonymous.out, /VEIL_AUTH_HOST_REQUIRED/);
  const stranger = shell(`set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -subj /CN=${self.hostId} -days 1 -out other.crt 2>/dev/null
curl -sS --cacert '${dataDir}/ca.crt' --cert other.crt --key other.key ${url}/v1/hosts/self`);
  assert.match(stranger.out, /VEIL_AUTH_HOST_REQUIRED/);
});

test('registration by the typed client, and the inventory by the CLI', async () => {
  const token = newToken();
  const hostKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const csr = shell(`openssl req -new -key <(cat <<'EOF'
${hostKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string}EOF
) -subj /CN=ignored`);
  assert.equal(csr.status, 0, csr.err);
  const transportPublicKey = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const client = new ManagerClient({ url, caPem: caPem() });
  const registered = await client.register({ token, csr: csr.out, transportPublicKey, hostname: 'db1' });
  const asHost = new ManagerClient({
    url,
    caPem: caPem(),
    host: {
      keyPem: hostKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      certificatePem: registered.certificate,
    },
  });
  assert.equal((await asHost.self()).hostId, registered.hostId);
  const listed = cli('host', 'list');
  assert.equal(listed.status, 0, listed.err);
  assert.deepEqual((JSON.parse(listed.out) as HostView[]).map((h) => h.name).sort(), ['db1', 'web1']);
});

test('bad requests get a 4xx with a code and a message, and change nothing', async () => {
  const before = cli('host', 'list').out;
  const post = (body: string, type = 'application/json') =>
    shell(
      `curl -sS -o - -w '\\n%{http_code}' --cacert '${dataDir}/ca.crt' -H 'content-type: ${type}' --data-binary @- ${url}/v1/registration <<'EOF'
${body}
EOF`,
    ).out;
  assert.match(post('{"token": '), /VEIL_REQUEST_BAD_JSON[\s\S]*\n400$/);
  assert.match(post('{}', 'text/plain'), /VEIL_REQUEST_BAD_CONTENT_TYPE[\s\S]*\n415$/);
  assert.match(post(JSON.stringify({ token: 'x'.repeat(70_000) })), /VEIL_REQUEST_TOO_LARGE[\s\S]*\n413$/);
  assert.match(
    post(JSON.stringify({ token: 'veil-rt-unknown', csr: 'x', transportPublicKey: 'x', hostname: 'h' })),
    /VEIL_REGISTRATION_TOKEN_INVALID[\s\S]*\n401$/,
  );
  const used = newToken(1);
  const transport = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const csr = shell(
    'openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=x 2>/dev/null',
  ).out;
  assert.match(
    post(JSON.stringify({ token: used, csr: 'not a csr', transportPublicKey: transport, hostname: 'h1' })),
    /VEIL_REGISTRATION_BAD_CSR[\s\S]*\n400$/,
  );
  assert.match(
    post(JSON.stringify({ token: used, csr, transportPublicKey: transport, hostname: 'h1' })),
    /\n201$/,
  );
  assert.match(
    post(JSON.stringify({ token: used, csr, transportPublicKey: transport, hostname: 'h2' })),
    /VEIL_REGISTRATION_TOKEN_USED_UP[\s\S]*\n403$/,
  );
  assert.match(
    shell(`curl -sS -w '\\n%{http_code}' --cacert '${dataDir}/ca.crt' ${url}/v1/nothing`).out,
    /VEIL_REQUEST_NOT_FOUND[\s\S]*\n404$/,
  );
  const wrongPassword = path.join(work, 'wrong-password');
  writeFileSync(wrongPassword, 'not-the-password\n');
  const refused = spawnSync(
    process.execPath,
    [
      CLI,
      'host',
      'list',
      '--manager',
      url,
      '--ca-file',
      path.join(dataDir, 'ca.crt'),
      '--password-file',
      wrongPassword,
    ],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /administrator name or password is wrong \(VEIL_AUTH_ADMIN_REQUIRED\)/);
  await assert.rejects(
    new ManagerClient({ url, caPem: caPem() }).hosts(),
    (error) => error instanceof ManagerError && error.code === 'VEIL_AUTH_ADMIN_REQUIRED',
  );
  const after = JSON.parse(cli('host', 'list').out) as HostView[];
  assert.deepEqual(
    after.map((h) => h.name).sort(),
    [...(JSON.parse(before) as HostView[]).map((h) => h.name), 'h1'].sort(),
  );
});

test('keys through their lifecycle by the CLI; a refused transition is a 409 that changes nothing', async () => {
  const created = cli('key', 'create', 'payroll');
  assert.equal(created.status, 0, created.err);
  const key = JSON.parse(created.out) as KeyView;
  assert.deepEqual(
    key.versions.map((v) => v.state),
    ['active'],
  );
  const rotated = JSON.parse(cli('key', 'rotate', key.keyId).out) as KeyView;
  assert.deepEqual(
    rotated.versions.map((v) => v.state),
    ['deactivated', 'active'],
  );
  assert.equal(cli('key', 'state', key.keyId, '2', 'suspended').status, 0);
  const revoked = JSON.parse(
    cli('key', 'revoke', key.keyId, '1', '--reason', 'key-compromise').out,
  ) as KeyView;
  assert.equal(revoked.versions[0]?.state, 'compromised');
  const destroyed = JSON.parse(cli('key', 'destroy', key.keyId, '1').out) as KeyView;
  assert.equal(destroyed.versions[0]?.hasMaterial, false);
  const refused = spawnSync(
    process.execPath,
    [CLI, 'key', 'state', key.keyId, '1', 'active', '--manager', url, '--data-dir', dataDir],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /a destroyed key version cannot become active .*\(VEIL_KEY_TRANSITION_REFUSED\)/,
  );
  const shown = JSON.parse(cli('key', 'show', key.keyId).out) as KeyView;
  assert.deepEqual(
    shown.versions.map((v) => v.state),
    ['destroyed', 'suspended'],
  );
  // An activation date a moment ahead (far enough for the CLI call to arrive before it on a
  // loaded machine): the manager applies it by itself.
  const soon = new Date(Date.now() + 6000).toISOString();
  const dated = JSON.parse(cli('key', 'create', 'dated', '--activation', soon).out) as KeyView;
  assert.equal(dated.versions[0]?.state, 'pre-activation');
  const deadline = Date.now() + 25_000;
  let state = 'pre-activation';
  while (state !== 'active' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    state = (JSON.parse(cli('key', 'show', dated.keyId).out) as KeyView).versions[0]?.state ?? '';
  }
  assert.equal(state, 'active');
  // The manager's stderr is read while this test waits, not while a CLI call blocks it.
  const logged = /version 1: pre-activation -> active \(activation date reached\)/;
  for (let tries = 0; tries < 50 && !logged.test(log()); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.match(log(), logged);
});

test('host groups, policies and guard points by the CLI; a key a guard point needs is not destroyed', () => {
  const hosts = JSON.parse(cli('host', 'list').out) as HostView[];
  const web1 = hosts.find((h) => h.name === 'web1') as HostView;
  assert.equal(cli('hostgroup', 'create', 'web').status, 0);
  assert.equal(cli('hostgroup', 'assign', web1.hostId, 'web').status, 0);
  const groups = JSON.parse(cli('hostgroup', 'list').out) as { name: string; hostIds: string[] }[];
  assert.deepEqual(groups.find((g) => g.name === 'web')?.hostIds, [web1.hostId]);
  assert.match(
    cli('hostgroup', 'assign', web1.hostId, 'nowhere').out,
    /there is no host group \\"nowhere\\"/,
  );

  const key = JSON.parse(cli('key', 'create', 'web-data').out) as KeyView;
  const policyFile = path.join(work, 'web.json');
  writeFileSync(
    policyFile,
    JSON.stringify({
      name: 'web',
      resourceSets: { all: { include: ['**'] } },
      securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
      keyRules: [{ key: { keyId: key.keyId, version: 1 } }],
    }),
  );
  const put = cli('policy', 'put', policyFile);
  assert.equal(put.status, 0, put.out + put.err);
  assert.equal((JSON.parse(put.out) as { version: number }).version, 1);
  writeFileSync(path.join(work, 'bad.json'), '{"name": "bad", "securityRules": []}');
  const bad = cli('policy', 'put', path.join(work, 'bad.json'));
  assert.equal(bad.status, 1);
  assert.match(bad.out, /VEIL_POLICY_REJECTED/);

  const added = cli('guardpoint', 'add', '/srv/www', '--policy', 'web', '--host-group', 'web');
  assert.equal(added.status, 0, added.out + added.err);
  const guardPointId = (JSON.parse(added.out) as { guardPointId: string }).guardPointId;
  assert.match(cli('guardpoint', 'list').out, /"path":"\/srv\/www"/);
  assert.match(
    cli('guardpoint', 'add', 'relative/dir', '--policy', 'web', '--host-group', 'web').out,
    /absolute/,
  );

  const refused = cli('key', 'destroy', key.keyId, '1');
  assert.equal(refused.status, 1);
  assert.match(refused.out, /VEIL_KEY_IN_USE/);
  assert.equal(cli('guardpoint', 'remove', guardPointId).status, 0);
  assert.equal(cli('key', 'destroy', key.keyId, '1').status, 0);
});

test('keys come in and go out only wrapped; the algorithm setting; the inventory', () => {
  const importKey = cli('key', 'import-key');
  assert.equal(importKey.status, 0, importKey.err);
  const importPem = (JSON.parse(importKey.out) as { publicKey: string }).publicKey;
  const material = randomBytes(32);
  const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
  writeFileSync(path.join(work, 'wrapped.bin'), publicEncrypt({ key: importPem, ...oaep }, material));
  const imported = cli('key', 'import', 'imported', '--wrapped-file', path.join(work, 'wrapped.bin'));
  assert.equal(imported.status, 0, imported.out + imported.err);
  const key = JSON.parse(imported.out) as KeyView;
  assert.equal(key.versions[0]?.state, 'active');

  const mine = generateKeyPairSync('rsa', { modulusLength: 3072 });
  writeFileSync(path.join(work, 'mine.pem'), mine.publicKey.export({ type: 'spki', format: 'pem' }));
  const exported = cli('key', 'export', key.keyId, '1', '--wrapping-key', path.join(work, 'mine.pem'));
  assert.equal(exported.status, 0, exported.out + exported.err);
  const wrapped = Buffer.from((JSON.parse(exported.out) as { wrapped: string }).wrapped, 'base64');
  assert.deepEqual(
    privateDecrypt({ key: mine.privateKey, ...oaep }, wrapped),
    material,
    'the same material, never shown in clear',
  );

  const weak = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(path.join(work, 'weak.pem'), weak.publicKey.export({ type: 'spki', format: 'pem' }));
  assert.match(
    cli('key', 'export', key.keyId, '1', '--wrapping-key', path.join(work, 'weak.pem')).out,
    /RSA of 3072 bits/,
  );
  writeFileSync(path.join(work, 'garbage.bin'), randomBytes(384));
  const count = (JSON.parse(cli('key', 'list').out) as KeyView[]).length;
  assert.match(
    cli('key', 'import', 'garbage', '--wrapped-file', path.join(work, 'garbage.bin')).out,
    /does not open/,
  );
  assert.equal((JSON.parse(cli('key', 'list').out) as KeyView[]).length, count);

  assert.equal(cli('settings', 'set', '--key-algorithm', 'aes-128').status, 0);
  assert.equal((JSON.parse(cli('key', 'create', 'small').out) as KeyView).algorithm, 'aes-128');
  assert.equal(cli('settings', 'set', '--key-algorithm', 'aes-256').status, 0);
  assert.equal((JSON.parse(cli('key', 'create', 'large').out) as KeyView).algorithm, 'aes-256');

  const inventory = JSON.parse(cli('inventory').out) as Inventory;
  const entry = inventory.keys.find((k) => k.keyId === key.keyId);
  assert.equal(entry?.state, 'active');
  assert.equal(entry?.type, 'symmetric');
  assert.deepEqual([...new Set(inventory.certificates.map((c) => c.usage))].sort(), [
    'certificate authority',
    'host client authentication',
    'manager TLS server',
  ]);
  assert.ok(inventory.certificates.every((c) => c.state === 'valid' && Date.parse(c.notAfter) > Date.now()));
});

test('a restart keeps the CA, the hosts and their certificates, the keys', async () => {
  const ca = caPem();
  const hosts = cli('host', 'list').out;
  const keys = cli('key', 'list').out;
  const policies = cli('policy', 'list').out;
  const groups = cli('hostgroup', 'list').out;
  // A token whose lifetime passes while the manager is down is expired when it is back.
  const expiring = newToken(5);
  await stopManager();
  const db = new Database(path.join(dataDir, 'manager.db'));
  db.prepare('UPDATE registration_tokens SET expires_at = ? WHERE uses = 0 AND max_uses = 5').run(
    Date.now() - 1000,
  );
  db.close();
  await startManager();
  const csr = shell(
    'openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=x 2>/dev/null',
  ).out;
  const transport = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const expired = shell(
    `curl -sS -w '\\n%{http_code}' --cacert '${dataDir}/ca.crt' -H 'content-type: application/json' --data-binary @- ${url}/v1/registration <<'EOF'
${JSON.stringify({ token: expiring, csr, transportPublicKey: transport, hostname: 'late' })}
EOF`,
  ).out;
  assert.match(expired, /VEIL_REGISTRATION_TOKEN_EXPIRED[\s\S]*\n403$/);
  assert.equal(caPem(), ca);
  assert.equal(cli('host', 'list').out, hosts);
  assert.equal(cli('key', 'list').out, keys);
  assert.equal(cli('policy', 'list').out, policies);
  assert.equal(cli('hostgroup', 'list').out, groups);
  const self = shell(
    `curl -sS --fail-with-body --cacert '${dataDir}/ca.crt' --cert host.crt --key host.key ${url}/v1/hosts/self`,
  );
  assert.equal(self.status, 0, self.out);
  assert.equal((JSON.parse(self.out) as HostView).name, 'web1');
});
