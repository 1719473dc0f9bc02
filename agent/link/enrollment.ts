// Registration of this host with a manager (docs/protocol.md): the manager's CA is fetched
// and pinned by the fingerprint the administrator gives, then a fresh P-256 key pair and
// its CSR go to the manager with the token and the native core's transport public key.
import 'reflect-metadata';

import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { hostname as osHostname } from 'node:os';

import { fetchManagerCa, ManagerClient } from '../../manager-client/client.js';
import { fingerprintHex } from '../../manager-client/fingerprint.js';
import { AgentError } from '../errors.js';
import { transportPublicKey } from '../mounts/host_native.js';
import type { Enrollment, HostCredentials } from '../state/agent_state.js';

x509.cryptoProvider.set(webcrypto);

const KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

/** "AB:CD:…", "abcd…" and "SHA256:abcd…" name the same fingerprint. */
export function normalFingerprint(value: string): string {
  return fingerprintHex(value.replace(/^sha-?256[:=]?/i, ''));
}

const pem = (label: string, der: ArrayBuffer): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n?$/, '\n')}-----END ${label}-----\n`;

/** A new key pair for the host's TLS identity and a CSR for it (the manager sets the subject). */
export async function hostKeyAndCsr(name: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name.replace(/[,+="\\<>;#]/g, '_')}`,
    keys,
    signingAlgorithm: SIGNING,
  });
  const keyPem = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { keyPem, csrPem: csr.toString('pem') };
}

export interface RegisterOptions {
  manager: string;
  token: string;
  fingerprint?: string;
  hostname?: string;
}

/** Pins the manager's CA, then registers; nothing is kept unless the manager said yes. */
export async function register(
  options: RegisterOptions,
): Promise<{ enrollment: Enrollment; credentials: HostCredentials }> {
  let url: URL;
  try {
    url = new URL(options.manager);
  } catch {
    throw new AgentError(
      'VEIL_AGENT_BAD_REQUEST',
      `${options.manager} is not a URL (e.g. https://manager:8443)`,
    );
  }
  if (url.protocol !== 'https:' || url.pathname !== '/' || url.search !== '') {
    throw new AgentError(
      'VEIL_AGENT_BAD_REQUEST',
      `the manager is given as https://HOST:PORT, not ${options.manager}`,
    );
  }
  const managerUrl = url.origin;
  const ca = await fetchManagerCa(managerUrl);
  const presented = normalFingerprint(ca.fingerprint);
  if (options.fingerprint === undefined) {
    throw new AgentError(
      'VEIL_AGENT_FINGERPRINT_REQUIRED',
      `the manager at ${managerUrl} presents a CA with SHA-256 fingerprint ${ca.fingerprint}: check it against ` +
        "'veil-manager ca show' on the manager, then run again with --fingerprint",
    );
  }
  if (normalFingerprint(options.fingerprint) !== presented) {
    throw new AgentError(
      'VEIL_AGENT_FINGERPRINT_MISMATCH',
      `the manager at ${managerUrl} presents a CA with SHA-256 fingerprint ${ca.fingerprint}, not the one given: ` +
        'this is not the manager you meant (or someone is in between); nothing was sent',
    );
  }
  const hostname = options.hostname ?? osHostname();
  const { keyPem, csrPem } = await hostKeyAndCsr(hostname);
  const client = new ManagerClient({ url: managerUrl, caPem: ca.certificate });
  const registration = await client.register({
    token: options.token,
    csr: csrPem,
    transportPublicKey: transportPublicKey(),
    hostname,
  });
  return {
    enrollment: {
      managerUrl,
      hostId: registration.hostId,
      hostName: registration.hostName,
      caFingerprint: ca.fingerprint,
      registeredAt: new Date().toISOString(),
    },
    credentials: { caPem: ca.certificate, certificatePem: registration.certificate, keyPem },
  };
}
