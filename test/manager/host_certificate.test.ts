// Host certificates as the CA issues them (manager/ca/host_issuer.ts, built with
// @peculiar/asn1-x509 and signed with node:crypto), cross-checked by node:crypto's
// X509Certificate and by `openssl x509 -text`: signature, issuer, subject, serial,
// validity and every extension; and the CSRs it takes and refuses (host_csr.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { ManagerError } from '../../manager-client/errors.js';
import { openCertificateAuthority, type CertificateAuthority } from '../../manager/ca/authority.js';
import { openFileMasterKey } from '../../manager/keys/master_key.js';

const work = mkdtempSync('/var/tmp/veil-host-certificate-');
const dataDir = path.join(work, 'data');
const HOST_ID = '0b7e2f4a-5c1d-4e8f-9a2b-3c4d5e6f7a8b';
let caOnThreads: CertificateAuthority;
let caInline: CertificateAuthority;

/** A CSR made by the openssl command line: `-newkey` and `-sigopt` as given. */
function csr(newkey: string[], sigopt: string[] = []): string {
  const keyFile = path.join(work, `key-${Math.random().toString(16).slice(2)}.pem`);
  return execFileSync(
    'openssl',
    ['req', '-new', ...newkey, ...sigopt, '-nodes', '-keyout', keyFile, '-subj', '/CN=chosen-by-host'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
}

/** The public key a CSR carries, as openssl reads it. */
function csrKey(request: string): KeyObject {
  return createPublicKey(
    execFileSync('openssl', ['req', '-pubkey', '-noout'], { input: request, encoding: 'utf8' }),
  );
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

/** RFC 5280 key identifier method (1), as openssl prints it: SHA-1 of the subjectPublicKey bits. */
function keyId(bits: Buffer): string {
  return createHash('sha1').update(bits).digest('hex').toUpperCase().match(/../g)?.join(':') ?? '';
}

function refusedCsr(error: unknown): boolean {
  return error instanceof ManagerError && error.code === 'VEIL_REGISTRATION_BAD_CSR';
}

before(async () => {
  execFileSync('mkdir', ['-m', '700', dataDir]);
  const master = openFileMasterKey(path.join(dataDir, 'master.key'), { create: true });
  caOnThreads = await openCertificateAuthority(dataDir, master);
  caInline = await openCertificateAuthority(dataDir, master, { issuerThreads: 0 });
});

after(async () => {
  await caOnThreads?.close();
  await caInline?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('a host certificate', () => {
  for (const [where, ca] of [
    ['on the issuer threads', () => caOnThreads],
    ['on the caller thread', () => caInline],
  ] as const) {
    test(`${where}: node:crypto and openssl read every field as the manager chose it`, async () => {
      const request = csr(P256);
      const now = new Date('2026-11-26T12:00:00.000Z');
      const issued = await ca().issueHostCertificate(request, HOST_ID, now);
      const cert = new X509Certificate(issued.pem);
      const caCert = new X509Certificate(ca().certificatePem);
      assert.equal(cert.verify(caCert.publicKey), true, 'signed by the CA key');
      assert.equal(cert.checkIssued(caCert), true);
      assert.equal(cert.issuer, caCert.subject);
      assert.equal(cert.subject, `CN=${HOST_ID}\nO=Veil hosts`, "the manager's subject, not the CSR's");
      assert.equal(cert.serialNumber.toLowerCase().replace(/^0+/, ''), issued.serial.replace(/^0+/, ''));
      assert.match(issued.serial, /^[0-7][0-9a-f]{31}$/, '128 random bits, positive');
      assert.equal(new Date(cert.validFrom).getTime(), now.getTime() - 60_000);
      assert.equal(new Date(cert.validTo).getTime(), now.getTime() + 365 * 24 * 3600 * 1000);
      assert.equal(issued.notBefore.getTime(), now.getTime() - 60_000);
      assert.equal(issued.notAfter.getTime(), now.getTime() + 365 * 24 * 3600 * 1000);
      assert.equal(cert.ca, false);
      assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'extended key usage: client authentication');
      // The key is the CSR's.
      const key = csrKey(request);
      assert.equal(cert.publicKey.equals(key), true);

      const text = execFileSync('openssl', ['x509', '-noout', '-text'], {
        input: issued.pem,
        encoding: 'utf8',
      });
      assert.match(text, /Version: 3 \(0x2\)/);
      assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
      assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
      assert.match(text, /X509v3 Extended Key Usage: \s+TLS Web Client Authentication\n/);
      // A P-256 SPKI ends with the uncompressed point (65 bytes): the subjectPublicKey bits.
      const spki = key.export({ type: 'spki', format: 'der' });
      const ski = keyId(spki.subarray(spki.length - 65));
      assert.match(text, new RegExp(`X509v3 Subject Key Identifier: \\s+${ski}\\n`));
      const caText = execFileSync('openssl', ['x509', '-noout', '-text'], {
        input: ca().certificatePem,
        encoding: 'utf8',
      });
      const caSki = /X509v3 Subject Key Identifier: \s+([0-9A-F:]+)\n/.exec(caText)?.[1];
      assert.ok(caSki);
      assert.match(text, new RegExp(`X509v3 Authority Key Identifier: \\s+(keyid:)?${caSki}\\n`));
      assert.equal(
        /X509v3 extensions:([\s\S]*?)Signature Algorithm/.exec(text)?.[1].match(/X509v3 /g)?.length,
        5,
      );
    });
  }

  test('P-384, RSA 2048 and RSA-PSS CSRs are taken; RSA 1024 and Ed25519 keys are refused', async () => {
    const now = new Date();
    for (const request of [
      csr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']),
      csr(['-newkey', 'rsa:2048']),
      csr(['-newkey', 'rsa:2048'], ['-sigopt', 'rsa_padding_mode:pss', '-sha384']),
      csr(P256, ['-sha512']),
    ]) {
      const issued = await caOnThreads.issueHostCertificate(request, HOST_ID, now);
      assert.equal(new X509Certificate(issued.pem).publicKey.equals(csrKey(request)), true);
    }
    for (const request of [csr(['-newkey', 'rsa:1024']), csr(['-newkey', 'ed25519'])]) {
      await assert.rejects(caOnThreads.issueHostCertificate(request, HOST_ID, now), (error: unknown) => {
        assert.ok(refusedCsr(error));
        assert.match((error as Error).message, /is not accepted/);
        return true;
      });
    }
  });

  test('a CSR that is not one, or not signed by its key, is refused with the same code', async () => {
    const good = csr(P256);
    const body = good.split('\n').slice(1, -2).join('');
    const der = Buffer.from(body, 'base64');
    der[der.length - 5] ^= 1; // in the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    for (const request of [
      '',
      'not a csr',
      good.replace('REQUEST', 'REQUESTS'),
      tampered,
      good.slice(0, 200),
    ]) {
      await assert.rejects(caInline.issueHostCertificate(request, HOST_ID, new Date()), refusedCsr);
      await assert.rejects(caOnThreads.issueHostCertificate(request, HOST_ID, new Date()), refusedCsr);
    }
  });
});
