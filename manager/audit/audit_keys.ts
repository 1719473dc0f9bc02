// The audit trail's two keys: the HMAC-SHA256 key its chain is made with and the Ed25519
// key its checkpoints are signed with. Made on first start and kept only wrapped under the
// master key in audit.db, each bound to its name: whoever can write audit.db but lacks the
// master key can neither recompute a mac nor sign a checkpoint.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import type { MasterKey } from '../keys/master_key.js';
import type { AuditDb } from './audit_db.js';

const HMAC_KEY = 'hmac';
const SIGNING_KEY = 'signing';

/** What the master key wraps each one for. */
const wrapContext = (name: string): string => `veil/audit/${name}-key`;

export interface AuditKeys {
  hmac: KeyObject;
  signing: KeyObject;
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo PEM of the Ed25519 key: what checks a checkpoint without the manager. */
  publicKeyPem: string;
  /** SHA-256 of the public key's DER, "AB:CD:…": what an auditor compares. */
  publicKeyFingerprint: string;
}

function fingerprint(publicKey: KeyObject): string {
  const digest = createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest('hex')
    .toUpperCase();
  return digest.match(/../g)?.join(':') ?? digest;
}

function unwrapped(db: AuditDb, master: MasterKey, name: string): Buffer | undefined {
  const wrapped = db.wrappedKey(name);
  return wrapped && master.unwrap(wrapped, wrapContext(name));
}

function keysFrom(hmacBytes: Buffer, signingDer: Buffer): AuditKeys {
  try {
    const signing = createPrivateKey({ key: signingDer, format: 'der', type: 'pkcs8' });
    if (signing.asymmetricKeyType !== 'ed25519') throw new Error('the signing key is not Ed25519');
    const publicKey = createPublicKey(signing);
    return {
      hmac: createSecretKey(hmacBytes),
      signing,
      publicKey,
      publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      publicKeyFingerprint: fingerprint(publicKey),
    };
  } finally {
    hmacBytes.fill(0);
    signingDer.fill(0);
  }
}

/** The trail's keys; with `create`, made (and stored wrapped) when audit.db has none. */
export function loadAuditKeys(
  db: AuditDb,
  master: MasterKey,
  options: { create: boolean; now?: number },
): { keys: AuditKeys; created: boolean } {
  const hmac = unwrapped(db, master, HMAC_KEY);
  const signing = unwrapped(db, master, SIGNING_KEY);
  if (hmac && signing) return { keys: keysFrom(hmac, signing), created: false };
  hmac?.fill(0);
  signing?.fill(0);
  if (hmac || signing || !options.create) {
    throw new ManagerError(
      'VEIL_AUDIT_UNAVAILABLE',
      hmac || signing
        ? 'the audit trail has only one of its two keys: restore audit.db from a backup'
        : 'the audit trail has no keys: it was never started by a manager',
    );
  }
  const newHmac = randomBytes(32);
  const pair = generateKeyPairSync('ed25519');
  const newSigning = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
  const at = options.now ?? Date.now();
  db.transaction(() => {
    db.insertKey(HMAC_KEY, master.wrap(newHmac, wrapContext(HMAC_KEY)), at);
    db.insertKey(SIGNING_KEY, master.wrap(newSigning, wrapContext(SIGNING_KEY)), at);
  });
  return { keys: keysFrom(newHmac, newSigning), created: true };
}
