// Issuing one host certificate from a checked CSR: what the CA does per registration and
// renewal. Runs on the issuer threads (issuer_pool.ts) or, without them, in the caller's.
import 'reflect-metadata';

import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';

x509.cryptoProvider.set(webcrypto);

export const KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGNING: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
export const DAY = 24 * 60 * 60 * 1000;
export const HOST_CERTIFICATE_DAYS = 365;

export interface IssuedCertificate {
  pem: string;
  serial: string; // lower-case hex
  notBefore: Date;
  notAfter: Date;
}

export type HostIssuer = (csrPem: string, hostId: string, now: Date) => Promise<IssuedCertificate>;

export function badCsr(message: string): ManagerError {
  return new ManagerError('VEIL_REGISTRATION_BAD_CSR', message);
}

// A positive serial of 128 random bits (RFC 5280: at most 20 octets, positive).
export function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

export async function importSigningKey(pkcs8: Uint8Array): Promise<CryptoKey> {
  return await webcrypto.subtle.importKey('pkcs8', pkcs8, KEY_ALGORITHM, false, ['sign']);
}

// Host keys: P-256 or P-384, or RSA of 2048 bits or more.
function checkHostKey(key: x509.PublicKey): void {
  const algorithm = key.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
  const ok =
    (algorithm.name === 'ECDSA' && ['P-256', 'P-384'].includes(algorithm.namedCurve ?? '')) ||
    (algorithm.name === 'RSASSA-PKCS1-v1_5' && (algorithm.modulusLength ?? 0) >= 2048);
  if (!ok) {
    throw badCsr(
      `the CSR's key (${algorithm.name}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ''}) is not accepted: ` +
        'use EC P-256 or P-384, or RSA of 2048 bits or more',
    );
  }
}

/** Client-authentication certificates for hosts, signed by `caKey`, with a subject the manager decides. */
export async function createHostIssuer(caCertificatePem: string, caKey: CryptoKey): Promise<HostIssuer> {
  const caCertificate = new x509.X509Certificate(caCertificatePem);
  // What every host certificate carries alike, encoded once: each costs about as much as the signature.
  const [basicConstraints, keyUsages, extendedKeyUsage, authorityKeyIdentifier] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
    await x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey),
  ];
  return async (csrPem, hostId, now) => {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch {
      throw badCsr('the CSR is not a PEM-encoded PKCS#10 certificate request');
    }
    let signed = false;
    try {
      signed = await csr.verify();
    } catch {
      signed = false;
    }
    if (!signed) throw badCsr('the CSR is not signed by the key it carries');
    checkHostKey(csr.publicKey);
    const notBefore = new Date(now.getTime() - 60_000);
    const notAfter = new Date(now.getTime() + HOST_CERTIFICATE_DAYS * DAY);
    const serial = newSerial();
    // The subject is the manager's choice; the CSR's subject and extensions are ignored.
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: `CN=${hostId}, O=Veil hosts`,
      issuer: caCertificate.subject,
      notBefore,
      notAfter,
      publicKey: csr.publicKey,
      signingKey: caKey,
      signingAlgorithm: SIGNING,
      extensions: [
        basicConstraints,
        keyUsages,
        extendedKeyUsage,
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
        authorityKeyIdentifier,
      ],
    });
    return { pem: certificate.toString('pem'), serial, notBefore, notAfter };
  };
}
