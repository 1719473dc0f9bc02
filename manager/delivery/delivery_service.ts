// Key delivery (NIST SP 800-57 §8.1.5.2.2.2, §8.1.5.3): each host gets the key versions
// its guard points' policies name (for a key named without a version, each version not
// destroyed), and only those, in the wrapped blob of docs/protocol.md (delivery_blob.ts),
// under a per-host sequence number that only grows. A version the host no longer needs, or
// that was destroyed, is withdrawn in the next delivery. Every delivery also carries the
// host's offline key (offline/offline_keys.ts), which is no data key and never withdrawn.
import { randomUUID, type KeyObject } from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import type { DeliveryEvent, HostEvent, KeyAlgorithm } from '../../manager-client/types.js';
import type { AuditLog } from '../audit/audit_log.js';
import { deliveryEntry } from '../audit/manager_events.js';
import { publicKeyFromPem } from '../ca/public_key_import.js';
import type { KeyService } from '../keys/key_service.js';
import type { OfflineKeys } from '../offline/offline_keys.js';
import { storedPolicyKeys, type Assignments } from '../policies/assignments.js';
import type {
  DeliveredVersion,
  HostOfflineRow,
  HostRow,
  KeyVersionRow,
  ManagerStore,
} from '../store/store.js';
import { versionKey } from '../store/store.js';
import { buildDelivery, type DeliveryEntryInput } from './delivery_blob.js';

type KeyStates = { algorithm: KeyAlgorithm; versions: KeyVersionRow[] };
type Assigned = ReturnType<Assignments['forHost']>;

/** The value of `key` in `cache` (inside a batch), made once; outside a batch, made each time. */
function memo<T>(cache: Map<string, T> | undefined, key: string, make: () => T): T {
  const cached = cache?.get(key);
  if (cached !== undefined) return cached;
  const made = make();
  cache?.set(key, made);
  return made;
}

export class DeliveryService {
  // Each host's transport key, parsed: with OpenSSL 3, parsing the PEM costs several times the RSA
  // encryption itself, and a host keeps its key until its agent restarts. By host, so that hosts that
  // happen to share a key (the benchmark's) gain nothing from it.
  readonly #transportKeys = new Map<string, { pem: string; key: KeyObject }>();
  // Inside batch(): the keys as every delivery of the batch sees them, each read (and its material
  // unwrapped) once instead of once per host. Nothing changes them meanwhile: a batch runs in one go.
  #shared:
    | {
        views: Map<string, KeyStates>;
        versions: Map<string, KeyVersionRow[]>;
        materials: Map<string, Buffer>;
        // By host: its guard points with their policies, the versions they need, its offline row
        // (each event of a host's refresh asks for them again).
        assigned: Map<string, Assigned>;
        needed: Map<string, DeliveredVersion[]>;
        offline: Map<string, HostOfflineRow>;
      }
    | undefined;

  constructor(
    private readonly store: ManagerStore,
    private readonly keys: KeyService,
    private readonly assignments: Assignments,
    private readonly offline: OfflineKeys,
    /** Where each delivery is recorded (ids, versions, states: never material). */
    private readonly audit?: AuditLog,
  ) {}

  /**
   * Runs `work`, which builds deliveries for many hosts at once (a refresh of every host): they share
   * each key's view and unwrapped material, which are wiped when it returns.
   */
  batch<T>(work: () => T): T {
    if (this.#shared) return work();
    this.#shared = {
      views: new Map(),
      versions: new Map(),
      materials: new Map(),
      assigned: new Map(),
      needed: new Map(),
      offline: new Map(),
    };
    try {
      // The batch's audit records too are written with one sync to disk; guard points and policies
      // are read once.
      const shared = () => this.assignments.cached(work);
      return this.audit ? this.audit.batch(shared) : shared();
    } finally {
      for (const material of this.#shared.materials.values()) material.fill(0);
      this.#shared = undefined;
    }
  }

  /**
   * The guard points of the host, with their policies, as the event stream sends them, and the
   * rekey mode of each key version they need (the versions of the delivery that follows).
   */
  guardPointsEvent(host: HostRow): HostEvent {
    return {
      type: 'guardpoints',
      guardPoints: this.#assigned(host).map(({ guardPoint, policy }) => ({
        guardPointId: guardPoint.id,
        path: guardPoint.path,
        automatic: guardPoint.automatic,
        policy,
      })),
      rekey: this.needed(host).flatMap((ref) => {
        const row = this.#versions(ref.keyId).find((v) => v.version === ref.version);
        return row ? [{ keyId: ref.keyId, version: ref.version, mode: row.rekey }] : [];
      }),
    };
  }

  /**
   * The key versions the host's guard points need: each version a policy names, and every
   * version not destroyed of a key a policy names without a version (the host encrypts new
   * files under the active one and still reads older files under the others).
   */
  needed(host: HostRow): DeliveredVersion[] {
    return memo(this.#shared?.needed, host.id, () => this.#needed(host));
  }

  #needed(host: HostRow): DeliveredVersion[] {
    const wanted = new Map<string, DeliveredVersion>();
    const add = (ref: DeliveredVersion) =>
      wanted.set(versionKey(ref), { keyId: ref.keyId, version: ref.version });
    for (const { policy } of this.#assigned(host)) {
      const named = storedPolicyKeys(policy.document);
      named.versions.forEach(add);
      for (const keyId of named.wholeKeys) {
        for (const version of this.#versions(keyId)) if (version.state !== 'destroyed') add(version);
      }
    }
    return [...wanted.values()];
  }

  /**
   * What a delivery to the host would carry now, but its material, fresh wrapping and sequence:
   * the versions it needs with their states, its offline key, its transport key. Equal for two
   * moments (and the guard points event equal too) when a new delivery would change nothing for
   * the host; a sync is answered `current` on that (events.ts). Withdrawals are covered: after a
   * delivery the host holds what it needed then, so with the same needs there is none.
   */
  deliveryPlan(host: HostRow): string {
    const offline = this.#offlineRow(host);
    const versions = this.needed(host).map((ref) => {
      const key = this.#view(ref.keyId);
      const state = key.versions.find((v) => v.version === ref.version)?.state ?? 'missing';
      return `${versionKey(ref)}:${state}:${key.algorithm}`;
    });
    return JSON.stringify([
      versions,
      versionKey({ keyId: offline.offlineKeyId, version: offline.offlineKeyVersion }),
      host.transportPublicKeyPem,
    ]);
  }

  /** The host's `offline` event (docs/protocol.md, "Offline unlock"). */
  offlineEvent(host: HostRow): HostEvent {
    return this.offline.event(this.#offlineRow(host));
  }

  #assigned(host: HostRow): Assigned {
    return memo(this.#shared?.assigned, host.id, () => this.assignments.forHost(host));
  }

  #offlineRow(host: HostRow): HostOfflineRow {
    return memo(this.#shared?.offline, host.id, () => this.offline.forHost(host.id, host));
  }

  /**
   * A new delivery for the host: its offline key, every needed version with its state (and
   * material, unless destroyed), and a withdrawal of every version it held and no longer
   * needs. Recorded (sequence and holdings) in one transaction with the sequence number it
   * takes.
   */
  deliveryEvent(host: HostRow): DeliveryEvent {
    const entries: DeliveryEntryInput[] = [];
    const holds: DeliveredVersion[] = [];
    const needed = this.needed(host);
    const neededKeys = new Set(needed.map(versionKey));
    const materials: Buffer[] = [];
    try {
      const offline = this.offline.deliveryEntry(this.#offlineRow(host));
      materials.push(offline.material);
      entries.push(offline);
      holds.push({ keyId: offline.keyId, version: offline.version });
      neededKeys.add(versionKey(offline));
      for (const ref of needed) {
        const key = this.#view(ref.keyId);
        const version = key.versions.find((v) => v.version === ref.version);
        if (!version) continue;
        if (version.state === 'destroyed') {
          entries.push({ ...ref, state: 'destroyed', algorithm: key.algorithm });
          continue;
        }
        const material = this.#material(ref.keyId, ref.version);
        materials.push(material);
        entries.push({ ...ref, state: version.state, algorithm: key.algorithm, material });
        holds.push(ref);
      }
      const before = this.store.delivered(host.id);
      for (const held of before) {
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
          transportPublicKeyPem: this.#transportKey(host),
          hostId: host.id,
          deliveryId,
          sequence: BigInt(sequence),
          entries,
        });
        this.store.recordDelivery(host.id, sequence, holds, before);
        // Inside the store's transaction: a delivery that cannot be recorded is not made.
        this.audit?.append(deliveryEntry(host, { deliveryId, sequence }, entries));
        return { type: 'delivery', deliveryId, sequence: String(sequence), blob: blob.toString('base64') };
      });
    } finally {
      for (const material of materials) material.fill(0);
    }
  }

  // The key's algorithm and versions: what a delivery needs of it (the API's KeyView also
  // works out where each version is in use, which a delivery has no need of).
  #view(keyId: string): KeyStates {
    const shared = this.#shared?.views;
    let view = shared?.get(keyId);
    if (!view) {
      const key = this.store.key(keyId);
      if (!key) throw new ManagerError('VEIL_KEY_UNKNOWN', `there is no key ${keyId}`);
      view = { algorithm: key.algorithm, versions: this.#versions(keyId) };
      shared?.set(keyId, view);
    }
    return view;
  }

  #versions(keyId: string): KeyVersionRow[] {
    const shared = this.#shared?.versions;
    const versions = shared?.get(keyId) ?? this.store.versions(keyId);
    shared?.set(keyId, versions);
    return versions;
  }

  /** The version's material, for the caller to wipe. */
  #material(keyId: string, version: number): Buffer {
    const shared = this.#shared?.materials;
    if (!shared) return this.keys.material(keyId, version);
    const ref = versionKey({ keyId, version });
    let material = shared.get(ref);
    if (!material) shared.set(ref, (material = this.keys.material(keyId, version)));
    return Buffer.from(material);
  }

  #transportKey(host: HostRow): KeyObject {
    const cached = this.#transportKeys.get(host.id);
    if (cached?.pem === host.transportPublicKeyPem) return cached.key;
    const key = publicKeyFromPem(host.transportPublicKeyPem);
    this.#transportKeys.set(host.id, { pem: host.transportPublicKeyPem, key });
    return key;
  }
}
