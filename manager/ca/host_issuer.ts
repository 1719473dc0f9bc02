// Issuing one host certificate from a checked CSR: what the CA does per registration and
// renewal. Runs on the issuer threads (issuer_pool.ts) or, without them, in the caller's.
// The TBSCertificate is built with @peculiar/asn1-x509 and signed synchronously with
// node:crypto (the CA key stays a non-extractable CryptoKey); the PEM is the DER as
// signed, never parsed back.
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectKeyIdentifier,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import { createHash, KeyObject, randomBytes, sign, webcrypto } from 'node:crypto';

import { checkCsr } from './host_csr.js';

export { badCsr } from './host_csr.js';

export const KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGNING: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
export const DAY = 24 * 60 * 60 * 1000;
export const HOST_CERTIFICATE_DAYS = 365;

/** ecdsa-with-SHA256 (RFC 5758): the CA key is P-256 (KEY_ALGORITHM). */
const ECDSA_WITH_SHA256 = new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' });
const COMMON_NAME = '2.5.4.3';
const ORGANIZATION = '2.5.4.10';

export interface IssuedCertificate {
  pem: string;
  serial: string; // lower-case hex
  notBefore: Date;
  notAfter: Date;
}

export type HostIssuer = (csrPem: string, hostId: string, now: Date) => Promise<IssuedCertificate>;
/** The same, done at once on the caller's thread (checks, builds and signs: about 2 ms of CPU). */
export type SyncHostIssuer = (csrPem: string, hostId: string, now: Date) => IssuedCertificate;

// A positive serial of 128 random bits (RFC 5280: at most 20 octets, positive).
export function newSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

/** The serial as DER wants its INTEGER content: no leading zero octet unless the next has its top bit. */
function serialOctets(serial: string): ArrayBuffer {
  let bytes = Buffer.from(serial, 'hex');
  while (bytes.length > 1 && bytes[0] === 0 && (bytes[1] ?? 0) < 0x80) bytes = bytes.subarray(1);
  return new Uint8Array(bytes).buffer;
}

/** The CA's signing key, non-extractable; the caller wipes `pkcs8`. */
export async function importSigningKey(pkcs8: Uint8Array): Promise<CryptoKey> {
  return await webcrypto.subtle.importKey('pkcs8', pkcs8, KEY_ALGORITHM, false, ['sign']);
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(subjectPublicKey: ArrayBuffer): KeyIdentifier {
  return new KeyIdentifier(createHash('sha1').update(new Uint8Array(subjectPublicKey)).digest());
}

/** One attribute, a PrintableString when it can be one (as @peculiar/x509's Name made it), else UTF-8. */
function attribute(type: string, text: string): RelativeDistinguishedName {
  const value = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text)
    ? new AttributeValue({ printableString: text })
    : new AttributeValue({ utf8String: text });
  return new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })]);
}

function pem(der: ArrayBuffer): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----`;
}

/** Client-authentication certificates for hosts, signed by `caKey`, with a subject the manager decides. */
export function createHostIssuer(caCertificatePem: string, caKey: CryptoKey): SyncHostIssuer {
  const caBody = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(
    caCertificatePem,
  )?.[1];
  if (caBody === undefined) throw new Error('the CA certificate is not PEM');
  const ca = AsnConvert.parse(Buffer.from(caBody, 'base64'), Certificate).tbsCertificate;
  // node:crypto signs with the same key, synchronously: no WebCrypto job per certificate.
  const signingKey = KeyObject.from(caKey);
  // What every host certificate carries alike, made once.
  const [basicConstraints, keyUsage, extendedKeyUsage, authorityKeyIdentifier] = [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
    extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_clientAuth])),
    extension(
      id_ce_authorityKeyIdentifier,
      false,
      new AuthorityKeyIdentifier({ keyIdentifier: keyIdentifier(ca.subjectPublicKeyInfo.subjectPublicKey) }),
    ),
  ];
  return (csrPem, hostId, now) => {
    const { spki } = checkCsr(csrPem);
    const notBefore = new Date(now.getTime() - 60_000);
    const notAfter = new Date(now.getTime() + HOST_CERTIFICATE_DAYS * DAY);
    const serial = newSerial();
    const subjectKeyIdentifier = new SubjectKeyIdentifier(keyIdentifier(spki.subjectPublicKey));
    // The subject is the manager's choice; the CSR's subject and extensions are ignored.
    const tbsCertificate = new TBSCertificate({
      version: Version.v3,
      serialNumber: serialOctets(serial),
      signature: ECDSA_WITH_SHA256,
      issuer: ca.subject,
      validity: new Validity({ notBefore, notAfter }),
      subject: new Name([attribute(COMMON_NAME, hostId), attribute(ORGANIZATION, 'Veil hosts')]),
      subjectPublicKeyInfo: spki,
      extensions: new Extensions([
        basicConstraints,
        keyUsage,
        extendedKeyUsage,
        extension(id_ce_subjectKeyIdentifier, false, subjectKeyIdentifier),
        authorityKeyIdentifier,
      ]),
    });
    const tbs = new Uint8Array(AsnConvert.serialize(tbsCertificate));
    const signatureValue = sign('sha256', tbs, { key: signingKey, dsaEncoding: 'der' });
    const der = AsnConvert.serialize(
      new Certificate({
        tbsCertificate,
        signatureAlgorithm: ECDSA_WITH_SHA256,
        signatureValue: new Uint8Array(signatureValue).buffer,
      }),
    );
    return { pem: pem(der), serial, notBefore, notAfter };
  };
}
