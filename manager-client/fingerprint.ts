// The fingerprint by which a host pins the manager's CA before it trusts anything: SHA-256
// of the certificate's DER, upper-case hex pairs joined by ':' — what
// `openssl x509 -noout -fingerprint -sha256` prints after "sha256 Fingerprint=".
import { createHash, X509Certificate } from 'node:crypto';

/** The fingerprint of the first certificate of a PEM text (throws when there is none). */
export function certificateFingerprint(pem: string): string {
  const der = new X509Certificate(pem).raw;
  return (createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g) ?? []).join(':');
}

/** A fingerprint as bare upper-case hex, to compare "AB:CD:…" with "abcd…". */
export const fingerprintHex = (fingerprint: string): string =>
  fingerprint.replace(/[:\s]/g, '').toUpperCase();
