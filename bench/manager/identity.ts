// What each simulated host brings to its registration, made before anything is timed: its own P-256 key
// pair and CSR (as agent/link/enrollment.ts makes them, with @peculiar/x509 on WebCrypto), and an RSA-3072
// transport key. A real host's native core makes its own transport key; making 1,000 of them would take
// minutes, so the benchmark makes a small pool and several simulated hosts share each key. The manager
// does not know that: it wraps every delivery to the key each host registered, one by one.
import 'reflect-metadata';

import * as x509 from '@peculiar/x509';
import { generateKeyPair, webcrypto, type KeyObject } from 'node:crypto';

x509.cryptoProvider.set(webcrypto);

const KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
/** The transport key's size (docs/protocol.md). */
export const TRANSPORT_BITS = 3072;

export interface TransportKey {
  /** SubjectPublicKeyInfo PEM, as the host registers it. */
  publicPem: string;
  /** PKCS#8 PEM, for worker processes that open deliveries. */
  privatePem: string;
  privateKey: KeyObject;
}

export interface HostIdentity {
  name: string;
  keyPem: string;
  csrPem: string;
  /** Index into the transport key pool. */
  transport: number;
}

const pem = (label: string, der: ArrayBuffer): string =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n?$/, '\n')}-----END ${label}-----\n`;

async function transportKey(): Promise<TransportKey> {
  const { publicKey, privateKey } = await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>(
    (resolve, reject) =>
      generateKeyPair('rsa', { modulusLength: TRANSPORT_BITS }, (error, publicKey, privateKey) =>
        error ? reject(error) : resolve({ publicKey, privateKey }),
      ),
  );
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    privateKey,
  };
}

/** `size` RSA-3072 key pairs, made on libuv's thread pool. */
export function transportPool(size: number): Promise<TransportKey[]> {
  return Promise.all(Array.from({ length: size }, () => transportKey()));
}

async function identity(name: string, transport: number): Promise<HostIdentity> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: SIGNING,
  });
  const keyPem = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { name, keyPem, csrPem: csr.toString('pem'), transport };
}

/** `count` identities named `host-00001` …, the transport keys of a pool of `poolSize` dealt in turn. */
export async function identities(count: number, poolSize: number): Promise<HostIdentity[]> {
  const width = Math.max(5, String(count).length);
  const made: HostIdentity[] = [];
  for (let i = 0; i < count; i++) {
    made.push(await identity(`host-${String(i + 1).padStart(width, '0')}`, i % poolSize));
  }
  return made;
}
