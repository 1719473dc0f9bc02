// The inventory of NIST SP 800-57 §9.2: every key version and every certificate the
// manager knows, each with its type, usage, state and dates. No material.
import { X509Certificate } from 'node:crypto';

import type { Inventory } from '../manager-client/types.js';
import type { KeyService } from './keys/key_service.js';
import type { ManagerStore } from './store/store.js';

type InventoryCertificate = Inventory['certificates'][number];

function certificate(
  pem: string,
  usage: string,
  now: number,
  hostId: string | null = null,
  revoked = false,
): InventoryCertificate {
  const cert = new X509Certificate(pem);
  const notAfter = new Date(cert.validTo);
  return {
    type: 'X.509',
    usage,
    subject: cert.subject.replaceAll('\n', ', '),
    serial: cert.serialNumber.toLowerCase(),
    state: revoked ? 'revoked' : notAfter.getTime() < now ? 'expired' : 'valid',
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    hostId,
  };
}

export function inventory(
  keys: KeyService,
  store: ManagerStore,
  authority: { caPem: string; serverPem: string },
  now = Date.now(),
): Inventory {
  return {
    keys: keys.list().flatMap((key) =>
      key.versions.map((v) => ({
        keyId: key.keyId,
        name: key.name,
        version: v.version,
        type: 'symmetric' as const,
        algorithm: key.algorithm,
        usage: 'file data encryption (guard points)',
        state: v.state,
        createdAt: v.createdAt,
        activationDate: v.activationDate,
        deactivationDate: v.deactivationDate,
        compromiseDate: v.compromiseDate,
      })),
    ),
    certificates: [
      certificate(authority.caPem, 'certificate authority', now),
      certificate(authority.serverPem, 'manager TLS server', now),
      ...store
        .hosts()
        .map((h) =>
          certificate(h.certificatePem, 'host client authentication', now, h.id, h.deregisteredAt !== null),
        ),
    ],
  };
}
