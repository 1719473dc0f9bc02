// The manager's CA and host registration on a real store: CSRs made by the openssl
// command line, certificates checked by `openssl verify` and by node:crypto, and every
// refusal shown to change nothing.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ManagerError } from '../../manager-client/errors.js';
import { openCertificateAuthority, type CertificateAuthority } from '../../manager/ca/authority.js';
import { RegistrationService } from '../../manager/hosts/registration.js';
import { openFileMasterKey } from '../../manager/keys/master_key.js';
import { OfflineKeys } from '../../manager/offline/offline_keys.js';
import { openSqliteStore } from '../../manager/store/sqlite_store.js';
import type { ManagerStore } from '../../manager/store/store.js';
import { opensslCsr } from './support.js';

const work = mkdtempSync('/var/tmp/veil-manager-registration-');
const dataDir = path.join(work, 'data');
let store: ManagerStore;
let ca: CertificateAuthority;
let clock = Date.parse('2026-11-26T12:00:00Z');
let service: RegistrationService;
const transportKey = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({
  type: 'spki',
  format: 'pem',
}) as string;

/** A CSR made the way an operator would by hand, with a key file of its own. */
function hostCsr(subject = '/CN=anything-the-host-likes', key = 'ec'): string {
  return opensslCsr(path.join(work, `host-${Math.random().toString(16).slice(2)}.key`), subject, key);
}

function refusedWith(code: string): (error: unknown) => boolean {
  return (error) => error instanceof ManagerError && error.code === code && error.message.length > 0;
}

before(async () => {
  execFileSync('mkdir', ['-m', '700', dataDir]);
  const master = openFileMasterKey(path.join(dataDir, 'master.key'), { create: true });
  store = openSqliteStore(path.join(dataDir, 'manager.db')).inDomain('root');
  ca = await openCertificateAuthority(dataDir, master, { hostnames: ['manager.example'] });
  service = new RegistrationService(
    store,
    ca,
    new OfflineKeys(store, master, undefined, () => clock),
    () => clock,
  );
});

after(async () => {
  await ca?.close();
  store?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the CA', () => {
  test('is a CA certificate (P-256), and signs a server certificate for the manager', () => {
    const caCert = new X509Certificate(ca.certificatePem);
    assert.equal(caCert.ca, true);
    assert.equal(caCert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const server = new X509Certificate(ca.server.certificatePem);
    assert.equal(server.verify(caCert.publicKey), true);
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.checkHost('manager.example'), 'manager.example');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
  });

  test('keeps its private keys on disk only wrapped, and is the same CA after a restart', async () => {
    const files = ['ca.key.wrapped', 'server.key.wrapped'].map((f) => readFileSync(path.join(dataDir, f)));
    for (const file of files) assert.equal(file.includes(Buffer.from('PRIVATE KEY')), false);
    assert.match(ca.server.keyPem, /BEGIN PRIVATE KEY/);
    const again = await openCertificateAuthority(
      dataDir,
      openFileMasterKey(path.join(dataDir, 'master.key'), { create: false }),
    );
    assert.equal(again.certificatePem, ca.certificatePem);
    await again.close();
  });
});

describe('registration with a token', () => {
  test('an openssl CSR gets a client certificate whose subject the manager chose; openssl verifies it', async () => {
    const { token } = service.createToken({
      lifetimeSeconds: 3600,
      maxUses: 2,
      hostGroup: 'web',
      namePrefix: 'prod-',
    });
    assert.match(token, /^veil-rt-/);
    assert.equal(JSON.stringify(store.tokens()).includes(token), false, 'only the hash is stored');
    const result = await service.register({
      token,
      csr: hostCsr(),
      transportPublicKey: transportKey,
      hostname: 'web1',
    });
    assert.equal(result.hostName, 'prod-web1');
    const certFile = path.join(work, 'host.crt');
    const caFile = path.join(work, 'ca.crt');
    writeFileSync(certFile, result.certificate);
    writeFileSync(caFile, result.caChain.join(''));
    const verify = spawnSync('openssl', ['verify', '-CAfile', caFile, '-purpose', 'sslclient', certFile], {
      encoding: 'utf8',
    });
    assert.equal(verify.status, 0, verify.stderr);
    const cert = new X509Certificate(result.certificate);
    assert.equal(cert.subject, `CN=${result.hostId}\nO=Veil hosts`);
    assert.equal(cert.ca, false);
    const serverPurpose = spawnSync(
      'openssl',
      ['verify', '-CAfile', caFile, '-purpose', 'sslserver', certFile],
      {
        encoding: 'utf8',
      },
    );
    assert.notEqual(serverPurpose.status, 0, 'a host certificate is for client authentication only');
    const host = store.host(result.hostId);
    assert.equal(host?.hostGroup, 'web');
    assert.equal(host?.transportPublicKeyPem, transportKey);
    const offline = store.hostOffline(result.hostId);
    assert.equal(offline?.offlineKeyVersion, 1, 'the offline unlock material is made with the host');
    assert.equal(offline?.managerPublicKey.length, 32);
    assert.equal(offline?.wrappedPasswordWrapper, null);
  });

  test('an RSA CSR is accepted too; a used-up token is refused and changes nothing', async () => {
    const { token } = service.createToken({ lifetimeSeconds: 3600, maxUses: 1 });
    await service.register({
      token,
      csr: hostCsr('/CN=x', 'rsa:2048'),
      transportPublicKey: transportKey,
      hostname: 'db1',
    });
    const hosts = store.hosts().length;
    await assert.rejects(
      service.register({ token, csr: hostCsr(), transportPublicKey: transportKey, hostname: 'db2' }),
      refusedWith('VEIL_REGISTRATION_TOKEN_USED_UP'),
    );
    assert.equal(store.hosts().length, hosts);
  });

  test('expired and unknown tokens, bad CSRs, transport keys and host names are refused, and change nothing', async () => {
    const { token } = service.createToken({ lifetimeSeconds: 60, maxUses: 5 });
    const good = { token, csr: hostCsr(), transportPublicKey: transportKey, hostname: 'app1' };
    const tamperedCsr = good.csr.replace(
      /^(.{80})(.)/ms,
      (_, head: string, c: string) => head + (c === 'A' ? 'B' : 'A'),
    );
    const weakKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    }) as string;
    const before = { hosts: store.hosts().length, tokens: JSON.stringify(store.tokens()) };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, token: 'veil-rt-nonsense' }, 'VEIL_REGISTRATION_TOKEN_INVALID'],
      [{ ...good, csr: 'not a csr' }, 'VEIL_REGISTRATION_BAD_CSR'],
      [{ ...good, csr: tamperedCsr }, 'VEIL_REGISTRATION_BAD_CSR'],
      [{ ...good, transportPublicKey: weakKey }, 'VEIL_REGISTRATION_BAD_TRANSPORT_KEY'],
      [{ ...good, transportPublicKey: 'garbage' }, 'VEIL_REGISTRATION_BAD_TRANSPORT_KEY'],
      [{ ...good, hostname: 'bad host!' }, 'VEIL_REGISTRATION_BAD_REQUEST'],
      [{ ...good, csr: 42 }, 'VEIL_REGISTRATION_BAD_REQUEST'],
    ];
    for (const [request, code] of cases) {
      await assert.rejects(
        service.register(request as never),
        refusedWith(code),
        `${code} for ${JSON.stringify(request).slice(0, 60)}`,
      );
    }
    clock += 61_000;
    await assert.rejects(service.register(good), refusedWith('VEIL_REGISTRATION_TOKEN_EXPIRED'));
    assert.equal(store.hosts().length, before.hosts);
    assert.equal(JSON.stringify(store.tokens()), before.tokens);
  });

  test('a host name is registered once', async () => {
    const { token } = service.createToken({ lifetimeSeconds: 3600, maxUses: 2 });
    await service.register({
      token,
      csr: hostCsr(),
      transportPublicKey: transportKey,
      hostname: 'unique1',
    });
    await assert.rejects(
      service.register({ token, csr: hostCsr(), transportPublicKey: transportKey, hostname: 'unique1' }),
      refusedWith('VEIL_HOST_NAME_TAKEN'),
    );
  });

  test('registrations at once: each committed or refused on its own (group commit, savepoints)', async () => {
    const roomy = service.createToken({ lifetimeSeconds: 3600, maxUses: 10 });
    const tight = service.createToken({ lifetimeSeconds: 3600, maxUses: 2 });
    const hosts = store.hosts().length;
    const asked = [
      ...['grp1', 'grp2', 'grp1', 'grp3'].map((hostname) => ({ token: roomy.token, hostname })),
      ...['tight1', 'tight2', 'tight3'].map((hostname) => ({ token: tight.token, hostname })),
    ];
    const outcomes = await Promise.allSettled(
      asked.map(({ token, hostname }) =>
        service.register({ token, csr: hostCsr(), transportPublicKey: transportKey, hostname }),
      ),
    );
    const refusals = outcomes
      .flatMap((o) => (o.status === 'rejected' ? [(o.reason as ManagerError).code] : []))
      .sort();
    assert.deepEqual(refusals, ['VEIL_HOST_NAME_TAKEN', 'VEIL_REGISTRATION_TOKEN_USED_UP']);
    assert.equal(store.hosts().length, hosts + 5);
    assert.equal(store.hosts().filter((h) => h.name === 'grp1').length, 1);
    const uses = (id: string) => store.tokens().find((t) => t.id === id)?.uses;
    assert.equal(uses(roomy.tokenId), 3);
    assert.equal(uses(tight.tokenId), 2);
    for (const outcome of outcomes) {
      if (outcome.status !== 'fulfilled') continue;
      const host = store.host(outcome.value.hostId);
      assert.equal(host?.certificatePem, outcome.value.certificate, 'answered only what is stored');
      assert.ok(store.hostOffline(outcome.value.hostId), 'with its offline material');
    }
  });

  test('bad token options are refused', () => {
    assert.throws(
      () => service.createToken({ lifetimeSeconds: 10, maxUses: 1 }),
      refusedWith('VEIL_REGISTRATION_BAD_REQUEST'),
    );
    assert.throws(
      () => service.createToken({ lifetimeSeconds: 600, maxUses: 0 }),
      refusedWith('VEIL_REGISTRATION_BAD_REQUEST'),
    );
    assert.throws(
      () => service.createToken({ lifetimeSeconds: 600, maxUses: 1, namePrefix: 'a b' }),
      refusedWith('VEIL_REGISTRATION_BAD_REQUEST'),
    );
  });
});
