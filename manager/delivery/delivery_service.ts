// Key delivery (NIST SP 800-57 §8.1.5.2.2.2, §8.1.5.3): each host gets the key versions
// its guard points' policies name (for a key named without a version, each version not
// destroyed), and only those, in the wrapped blob of docs/protocol.md (delivery_blob.ts),
// under a per-host sequence number that only grows. A version the host no longer needs, or
// that was destroyed, is withdrawn in the next delivery. Every delivery also carries the
// host's offline key (offline/offline_keys.ts), which is no data key and never withdrawn.
import { randomUUID } from 'node:crypto';

import type { HostEvent } from '../../manager-client/types.js';
import type { KeyService } from '../keys/key_service.js';
import type { OfflineKeys } from '../offline/offline_keys.js';
import { storedPolicyKeys, type Assignments } from '../policies/assignments.js';
import type { DeliveredVersion, HostRow, ManagerStore } from '../store/store.js';
import { buildDelivery, type DeliveryEntryInput } from './delivery_blob.js';

const versionKey = (v: DeliveredVersion): string => `${v.keyId}/${v.version}`;

export class DeliveryService {
  constructor(
    private readonly store: ManagerStore,
    private readonly keys: KeyService,
    private readonly assignments: Assignments,
    private readonly offline: OfflineKeys,
  ) {}

  /** The guard points of the host, with their policies, as the event stream sends them. */
  guardPointsEvent(host: HostRow): HostEvent {
    return {
      type: 'guardpoints',
      guardPoints: this.assignments.forHost(host).map(({ guardPoint, policy }) => ({
        guardPointId: guardPoint.id,
        path: guardPoint.path,
        automatic: guardPoint.automatic,
        policy,
      })),
    };
  }

  /**
   * The key versions the host's guard points need: each version a policy names, and every
   * version not destroyed of a key a policy names without a version (the host encrypts new
   * files under the active one and still reads older files under the others).
   */
  needed(host: HostRow): DeliveredVersion[] {
    const wanted = new Map<string, DeliveredVersion>();
    const add = (ref: DeliveredVersion) =>
      wanted.set(versionKey(ref), { keyId: ref.keyId, version: ref.version });
    for (const { policy } of this.assignments.forHost(host)) {
      const named = storedPolicyKeys(policy.document);
      named.versions.forEach(add);
      for (const keyId of named.wholeKeys) {
        for (const version of this.store.versions(keyId)) if (version.state !== 'destroyed') add(version);
      }
    }
    return [...wanted.values()];
  }

  /** The host's `offline` event (docs/protocol.md, "Offline unlock"). */
  offlineEvent(host: HostRow): HostEvent {
    return this.offline.event(this.offline.forHost(host.id));
  }

  /**
   * A new delivery for the host: its offline key, every needed version with its state (and
   * material, unless destroyed), and a withdrawal of every version it held and no longer
   * needs. Recorded (sequence and holdings) in one transaction with the sequence number it
   * takes.
   */
  deliveryEvent(host: HostRow): HostEvent {
    const entries: DeliveryEntryInput[] = [];
    const holds: DeliveredVersion[] = [];
    const needed = this.needed(host);
    const neededKeys = new Set(needed.map(versionKey));
    const materials: Buffer[] = [];
    try {
      const offline = this.offline.deliveryEntry(this.offline.forHost(host.id));
      materials.push(offline.material);
      entries.push(offline);
      holds.push({ keyId: offline.keyId, version: offline.version });
      neededKeys.add(versionKey(offline));
      for (const ref of needed) {
        const key = this.keys.view(ref.keyId);
        const version = key.versions.find((v) => v.version === ref.version);
        if (!version) continue;
        if (version.state === 'destroyed') {
          entries.push({ ...ref, state: 'destroyed', algorithm: key.algorithm });
          continue;
        }
        const material = this.keys.material(ref.keyId, ref.version);
        materials.push(material);
        entries.push({ ...ref, state: version.state, algorithm: key.algorithm, material });
        holds.push(ref);
      }
      for (const held of this.store.delivered(host.id)) {
        if (neededKeys.has(versionKey(held))) continue;
        const key = this.store.key(held.keyId);
        const state =
          this.store.versions(held.keyId).find((v) => v.version === held.version)?.state ?? 'deactivated';
        // Withdrawn: no material. A destroyed version must be withdrawn as destroyed.
        entries.push({ ...held, state, algorithm: key?.algorithm ?? 'aes-256' });
      }
      return this.store.transaction(() => {
        const sequence = this.store.deliverySequence(host.id) + 1;
        const deliveryId = randomUUID();
        const blob = buildDelivery({
          transportPublicKeyPem: host.transportPublicKeyPem,
          hostId: host.id,
          deliveryId,
          sequence: BigInt(sequence),
          entries,
        });
        this.store.recordDelivery(host.id, sequence, holds);
        return { type: 'delivery', deliveryId, sequence: String(sequence), blob: blob.toString('base64') };
      });
    } finally {
      for (const material of materials) material.fill(0);
    }
  }
}
