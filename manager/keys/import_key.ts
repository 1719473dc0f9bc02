// The manager's import key: an RSA-3072 key pair made on first use, its private half
// stored only wrapped under the master key. Key material comes into the manager only
// encrypted to its public half (RSA-OAEP, SHA-256), and leaves only encrypted to a public
// key the caller gives: import and export are wrapped, never in the clear.
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  type KeyObject,
} from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { ManagerError } from '../../manager-client/errors.js';
import { writeFileAtomically } from '../../common/files.js';
import type { MasterKey } from './master_key.js';

const FILE = 'import.key.wrapped';
const CONTEXT = 'veil/keys/import-private-key';
const MIN_WRAPPING_BITS = 3072;

export interface ImportKey {
  publicKeyPem: string;
  /** The material inside a wrapped import; the caller wipes it. */
  unwrap(wrapped: Buffer): Buffer;
}

export function openImportKey(dataDir: string, master: MasterKey): ImportKey {
  const file = path.join(dataDir, FILE);
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    writeFileAtomically(file, master.wrap(der, CONTEXT), 0o600);
    der.fill(0);
  }
  const der = master.unwrap(readFileSync(file), CONTEXT);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  der.fill(0);
  return {
    publicKeyPem: createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string,
    unwrap(wrapped) {
      try {
        return privateDecrypt(
          { key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
          wrapped,
        );
      } catch {
        throw new ManagerError(
          'VEIL_KEY_BAD_REQUEST',
          "the wrapped material does not open with this manager's import key (RSA-OAEP, SHA-256)",
        );
      }
    },
  };
}

/** The caller's wrapping key for an export: an RSA public key of 3072 bits or more. */
export function wrappingKey(pem: unknown): KeyObject {
  let key: KeyObject;
  try {
    if (typeof pem !== 'string') throw new Error('not a string');
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new ManagerError('VEIL_KEY_BAD_REQUEST', 'wrappingKey must be a PEM public key');
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa' || bits < MIN_WRAPPING_BITS) {
    throw new ManagerError(
      'VEIL_KEY_BAD_REQUEST',
      `wrappingKey must be RSA of ${MIN_WRAPPING_BITS} bits or more`,
    );
  }
  return key;
}

export function wrapForExport(material: Buffer, key: KeyObject): Buffer {
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
}
