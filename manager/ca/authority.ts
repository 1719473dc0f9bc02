// The manager's certificate authority (NIST SP 800-57 §8.1.5.1): on first start it makes
// a P-256 CA and the manager's TLS server certificate; then it issues host certificates
// from checked CSRs, for client authentication only, with a subject the manager decides.
// Private keys are stored only wrapped under the master key.
import 'reflect-metadata';

import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { ManagerError } from '../../manager-client/errors.js';
import { certificateFingerprint } from '../../manager-client/fingerprint.js';
import type { MasterKey } from '../keys/master_key.js';
import {
  createHostIssuer,
  DAY,
  HOST_CERTIFICATE_DAYS,
  importSigningKey,
  KEY_ALGORITHM,
  newSerial,
  SIGNING,
  type HostIssuer,
  type IssuedCertificate,
} from './host_issuer.js';
import { startIssuerPool } from './issuer_pool.js';
import { writeFileAtomically } from '../../common/files.js';

x509.cryptoProvider.set(webcrypto);

const CA_DAYS = 3650;
const SERVER_DAYS = 825;
export { HOST_CERTIFICATE_DAYS, type IssuedCertificate };

export interface CertificateAuthority {
  readonly certificatePem: string;
  /** SHA-256 of the CA certificate, "AB:CD:…": what a host pins. */
  readonly fingerprint: string;
  /** The manager's TLS server identity, signed by this CA. */
  readonly server: { keyPem: string; certificatePem: string };
  /** Checks the CSR (PEM) and issues a client certificate for `hostId`. */
  issueHostCertificate(csrPem: string, hostId: string, now?: Date): Promise<IssuedCertificate>;
  /** Ends the issuer threads. */
  close(): Promise<void>;
}

const FILES = {
  caCertificate: 'ca.crt',
  caKey: 'ca.key.wrapped',
  serverCertificate: 'server.crt',
  serverKey: 'server.key.wrapped',
} as const;

const CONTEXT = { caKey: 'veil/ca/private-key', serverKey: 'veil/ca/server-private-key' } as const;

async function exportPkcs8(key: CryptoKey): Promise<Buffer> {
  return Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
}

function pkcs8Pem(der: Buffer): string {
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${body}${body.endsWith('\n') ? '' : '\n'}-----END PRIVATE KEY-----\n`;
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

/**
 * Opens the CA in `dir`, making it (and the server certificate for `hostnames`, with
 * localhost and 127.0.0.1) on first use.
 */
export async function openCertificateAuthority(
  dir: string,
  master: MasterKey,
  options: {
    hostnames?: string[];
    /** Worker threads that sign host certificates (0: on the caller's thread). Default 2. */
    issuerThreads?: number;
  } = {},
): Promise<CertificateAuthority> {
  const file = (name: keyof typeof FILES) => path.join(dir, FILES[name]);
  if (!existsSync(file('caCertificate'))) await createAuthority(dir, master, options.hostnames ?? []);
  let caCertificate: x509.X509Certificate;
  let issuer: { issue: HostIssuer; close(): Promise<void> };
  let serverKeyPem: string;
  let serverCertificatePem: string;
  try {
    caCertificate = new x509.X509Certificate(readFileSync(file('caCertificate'), 'utf8'));
    const caPkcs8 = master.unwrap(readFileSync(file('caKey')), CONTEXT.caKey);
    const threads = options.issuerThreads ?? 2;
    const caCertificatePem = caCertificate.toString('pem');
    if (threads > 0) {
      issuer = await startIssuerPool({ caCertificatePem, caPkcs8: new Uint8Array(caPkcs8) }, threads);
    } else {
      const issue = createHostIssuer(caCertificatePem, await importSigningKey(caPkcs8));
      issuer = {
        issue: (csrPem, hostId, now) => new Promise((resolve) => resolve(issue(csrPem, hostId, now))),
        close: () => Promise.resolve(),
      };
    }
    caPkcs8.fill(0);
    const serverPkcs8 = master.unwrap(readFileSync(file('serverKey')), CONTEXT.serverKey);
    serverKeyPem = pkcs8Pem(serverPkcs8);
    serverPkcs8.fill(0);
    serverCertificatePem = readFileSync(file('serverCertificate'), 'utf8');
  } catch (error) {
    if (error instanceof ManagerError) throw error;
    throw new ManagerError(
      'VEIL_CA_UNUSABLE',
      `the CA in ${dir} cannot be read: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const certificatePem = caCertificate.toString('pem');
  return {
    certificatePem,
    fingerprint: certificateFingerprint(certificatePem),
    server: { keyPem: serverKeyPem, certificatePem: serverCertificatePem },
    issueHostCertificate: (csrPem, hostId, now = new Date()) => issuer.issue(csrPem, hostId, now),
    close: () => issuer.close(),
  };
}

/** The CA certificate of a data directory as `veil-manager ca show` prints it. */
export interface CaCertificateInfo {
  file: string;
  fingerprint: string;
  subject: string;
  serial: string;
  notBefore: string;
  notAfter: string;
}

/** Reads the CA certificate of a data directory: no master key, no store, no server. */
export function readCaCertificate(dir: string): CaCertificateInfo {
  const file = path.join(dir, FILES.caCertificate);
  let pem: string;
  let certificate: X509Certificate;
  try {
    pem = readFileSync(file, 'utf8');
    certificate = new X509Certificate(pem);
  } catch (error) {
    throw new ManagerError(
      'VEIL_CA_UNUSABLE',
      `cannot read the CA certificate ${file}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return {
    file,
    fingerprint: certificateFingerprint(pem),
    subject: certificate.subject.replaceAll('\n', ', '),
    serial: certificate.serialNumber.toLowerCase(),
    notBefore: new Date(certificate.validFrom).toISOString(),
    notAfter: new Date(certificate.validTo).toISOString(),
  };
}

async function createAuthority(dir: string, master: MasterKey, hostnames: string[]): Promise<void> {
  const now = Date.now();
  const caKeys = await newKeyPair();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: `CN=Veil manager CA ${randomBytes(4).toString('hex')}, O=Veil`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + CA_DAYS * DAY),
    keys: caKeys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = await newKeyPair();
  const names = [...new Set(['localhost', ...hostnames])];
  const server = await x509.X509CertificateGenerator.create({
    serialNumber: newSerial(),
    subject: 'CN=veil-manager, O=Veil',
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + SERVER_DAYS * DAY),
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension([
        ...names.map((value) => ({ type: 'dns' as const, value })),
        { type: 'ip' as const, value: '127.0.0.1' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const caPkcs8 = await exportPkcs8(caKeys.privateKey);
  const serverPkcs8 = await exportPkcs8(serverKeys.privateKey);
  // Keys first, the CA certificate last: its presence says the CA is complete.
  writeFileAtomically(path.join(dir, FILES.caKey), master.wrap(caPkcs8, CONTEXT.caKey), 0o600);
  writeFileAtomically(path.join(dir, FILES.serverKey), master.wrap(serverPkcs8, CONTEXT.serverKey), 0o600);
  caPkcs8.fill(0);
  serverPkcs8.fill(0);
  writeFileAtomically(path.join(dir, FILES.serverCertificate), server.toString('pem'), 0o644);
  writeFileAtomically(path.join(dir, FILES.caCertificate), ca.toString('pem'), 0o644);
}
