// Fetching the manager's CA before anything is trusted (GET /v1/ca): how a host that has
// only a URL and a fingerprint learns the CA it will trust from then on.
import { X509Certificate } from 'node:crypto';

import { ManagerError } from './errors.js';
import { exchange, managerBase } from './exchange.js';
import { certificateFingerprint, fingerprintHex } from './fingerprint.js';
import type { ManagerCa } from './types.js';

function mismatch(message: string): ManagerError {
  return new ManagerError('VEIL_MANAGER_CA_MISMATCH', message);
}

/**
 * The manager's CA certificate and its SHA-256 fingerprint ("AB:CD:…", computed here from
 * the certificate, never taken from the answer).
 *
 * The connection does NOT authenticate the manager (rejectUnauthorized: false): there is
 * no CA to check it against yet, so whoever answers may be anyone. The caller pins: it
 * compares `fingerprint` with the one an administrator read on the manager (`veil-manager
 * ca show`), or passes it as `expectedFingerprint` ("AB:CD:…" or plain hex, any case), and
 * uses `certificate` only when they are equal. Refused here (VEIL_MANAGER_CA_MISMATCH):
 * an answer that is not a CA certificate, whose stated fingerprint is not the
 * certificate's, whose TLS server certificate that CA did not sign, or that is not the
 * expected one.
 */
export async function fetchManagerCa(
  url: string,
  options: { expectedFingerprint?: string; timeoutMs?: number } = {},
): Promise<ManagerCa> {
  const base = managerBase(url);
  const { answer, peerCertificate } = await exchange<Partial<ManagerCa>>(base, 'GET', '/v1/ca', {
    tls: { rejectUnauthorized: false },
    timeoutMs: options.timeoutMs ?? 30_000,
    maxAnswerBytes: 64 * 1024,
    peerCertificate: true,
  });
  let ca: X509Certificate;
  let fingerprint: string;
  try {
    ca = new X509Certificate(String(answer.certificate));
    fingerprint = certificateFingerprint(String(answer.certificate));
  } catch {
    throw mismatch(`${base.origin} answered with no certificate at /v1/ca`);
  }
  if (!ca.ca) throw mismatch(`the certificate ${base.origin} answered with is not a CA certificate`);
  if (
    typeof answer.fingerprint !== 'string' ||
    fingerprintHex(answer.fingerprint) !== fingerprintHex(fingerprint)
  ) {
    throw mismatch(`${base.origin} states a fingerprint that is not its CA certificate's`);
  }
  if (!peerCertificate || !new X509Certificate(peerCertificate).verify(ca.publicKey)) {
    throw mismatch(`the TLS certificate of ${base.origin} is not signed by the CA it hands out`);
  }
  if (
    options.expectedFingerprint !== undefined &&
    fingerprintHex(options.expectedFingerprint) !== fingerprintHex(fingerprint)
  ) {
    throw mismatch(
      `the manager at ${base.origin} presents a CA with SHA-256 fingerprint ${fingerprint}, not the one expected`,
    );
  }
  return { certificate: ca.toString(), fingerprint };
}
