// Each host's offline unlock material on the manager's side (docs/protocol.md, "Offline
// unlock"): the offline key O, which every delivery carries as one more key and which is no
// data key (no inventory, no policy, no withdrawal); the X25519 pair M that answers the
// host's challenges; and the offline password, of which only the wrapper is kept. Made at
// registration, or on first use for a host registered before; dropped at de-registration.
import { createPrivateKey, randomBytes, randomUUID } from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import type {
  OfflineEvent,
  OfflinePasswordSet,
  OfflinePasswordWrapper,
  OfflineResponse,
} from '../../manager-client/types.js';
import type { DeliveryEntryInput } from '../delivery/delivery_blob.js';
import type { MasterKey } from '../keys/master_key.js';
import type { HostOfflineRow, HostRow, ManagerStore } from '../store/store.js';
import {
  generateOfflinePassword,
  makeManagerPair,
  OFFLINE_KEY_BYTES,
  offlineResponse,
  parseChallenge,
  passwordWrapper,
  type OfflineIds,
} from './offline_crypto.js';

const MIN_PASSWORD = 12;
const MAX_PASSWORD = 256;

// The contexts each secret is wrapped for under the master key.
const offlineKeyContext = (row: OfflineIds): string =>
  `veil/host-offline/${row.hostId}/${row.offlineKeyId}/${row.offlineKeyVersion}`;
const managerKeyContext = (hostId: string): string => `veil/host-x25519/${hostId}`;
const wrapperContext = (row: OfflineIds): string =>
  `veil/host-offline-password/${row.hostId}/${row.offlineKeyId}/${row.offlineKeyVersion}`;

function unknownHost(hostId: string): ManagerError {
  return new ManagerError('VEIL_HOST_UNKNOWN', `there is no registered host ${hostId}`);
}

function badRequest(message: string): ManagerError {
  return new ManagerError('VEIL_HOST_BAD_REQUEST', message);
}

/** A JSON object body with no field but `allowed`. */
function fieldsOf(body: unknown, allowed: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the request body must be a JSON object');
  }
  const other = Object.keys(body).find((field) => field !== allowed);
  if (other !== undefined) throw badRequest(`${JSON.stringify(other)} is not a field here (only ${allowed})`);
  return body as Record<string, unknown>;
}

/** The password an administrator gave, or undefined for one the manager makes. */
function givenPassword(body: unknown): string | undefined {
  const { password } = fieldsOf(body, 'password');
  if (password === undefined) return undefined;
  const length = typeof password === 'string' ? [...password].length : 0;
  if (typeof password !== 'string' || length < MIN_PASSWORD || length > MAX_PASSWORD) {
    throw badRequest(
      `password must be a string of ${MIN_PASSWORD} to ${MAX_PASSWORD} characters (or none: the manager makes one)`,
    );
  }
  if (/\p{Cs}/u.test(password)) throw badRequest('password must be valid Unicode text');
  return password;
}

export class OfflineKeys {
  constructor(
    private readonly store: ManagerStore,
    private readonly master: MasterKey,
    private readonly log: (line: string) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /** New material for a host: the caller inserts it in the transaction that registers the host. */
  make(hostId: string): HostOfflineRow {
    const ids: OfflineIds = { hostId, offlineKeyId: randomUUID(), offlineKeyVersion: 1 };
    const offlineKey = randomBytes(OFFLINE_KEY_BYTES);
    const pair = makeManagerPair();
    try {
      return {
        ...ids,
        wrappedOfflineKey: this.master.wrap(offlineKey, offlineKeyContext(ids)),
        managerPublicKey: pair.publicKey,
        wrappedManagerPrivateKey: this.master.wrap(pair.privateKeyDer, managerKeyContext(hostId)),
        wrappedPasswordWrapper: null,
        passwordSetAt: null,
        createdAt: this.now(),
      };
    } finally {
      offlineKey.fill(0);
      pair.privateKeyDer.fill(0);
    }
  }

  /**
   * The material of a registered host, made now for a host registered before offline unlock.
   * `read`: the host's row as the caller read it in its transaction (a delivery has it), saving
   * that read.
   */
  forHost(hostId: string, read?: HostRow): HostOfflineRow {
    // Read first (every delivery asks): a transaction only to make the material.
    const host = read?.id === hostId ? read : this.store.host(hostId);
    const existing = host && host.deregisteredAt === null ? this.store.hostOffline(hostId) : undefined;
    if (existing) return existing;
    const [row, made] = this.store.transaction((): [HostOfflineRow, boolean] => {
      const host = this.store.host(hostId);
      if (!host || host.deregisteredAt !== null) throw unknownHost(hostId);
      const found = this.store.hostOffline(hostId);
      if (found) return [found, false];
      const fresh = this.make(hostId);
      this.store.insertHostOffline(fresh);
      return [fresh, true];
    });
    if (made) this.log(`host ${hostId}: offline unlock material made (the host was registered before it)`);
    return row;
  }

  /** O as one more delivery entry (active, AES-256): the caller wipes its material. */
  deliveryEntry(row: HostOfflineRow): DeliveryEntryInput & { material: Buffer } {
    return {
      keyId: row.offlineKeyId,
      version: row.offlineKeyVersion,
      state: 'active',
      algorithm: 'aes-256',
      material: this.#offlineKey(row),
    };
  }

  /** The `offline` event of the host's stream. */
  event(row: HostOfflineRow): OfflineEvent {
    let passwordWrapper: OfflinePasswordWrapper | null = null;
    if (row.wrappedPasswordWrapper !== null) {
      const text = this.master.unwrap(row.wrappedPasswordWrapper, wrapperContext(row)).toString('utf8');
      passwordWrapper = JSON.parse(text) as OfflinePasswordWrapper;
    }
    return {
      type: 'offline',
      offlineKeyId: row.offlineKeyId,
      offlineKeyVersion: row.offlineKeyVersion,
      managerPublicKey: row.managerPublicKey.toString('base64'),
      passwordWrapper,
    };
  }

  /**
   * Sets the host's offline password, the one given or (none given) one made here and
   * answered this once. Only the wrapper is kept, and it replaces the one before; the caller
   * pushes the `offline` event.
   */
  async setPassword(hostId: string, body: unknown): Promise<OfflinePasswordSet> {
    const given = givenPassword(body);
    const row = this.forHost(hostId);
    const password = given ?? generateOfflinePassword();
    const offlineKey = this.#offlineKey(row);
    let wrapper: OfflinePasswordWrapper;
    try {
      wrapper = await passwordWrapper(offlineKey, password, row);
    } finally {
      offlineKey.fill(0);
    }
    const at = this.now();
    this.store.transaction(() => {
      // scrypt took a moment: the host may have been de-registered meanwhile.
      const host = this.store.host(hostId);
      const current = this.store.hostOffline(hostId);
      if (!host || host.deregisteredAt !== null || current?.offlineKeyId !== row.offlineKeyId) {
        throw unknownHost(hostId);
      }
      const wrapped = this.master.wrap(Buffer.from(JSON.stringify(wrapper), 'utf8'), wrapperContext(row));
      this.store.setOfflinePasswordWrapper(hostId, wrapped, at);
    });
    this.log(`host ${hostId}: offline password ${given === undefined ? 'made' : 'set'}`);
    return { hostId, ...(given === undefined ? { password } : {}), setAt: new Date(at).toISOString() };
  }

  /** The response to a challenge the host's native core made (docs/protocol.md). */
  respond(hostId: string, body: unknown): OfflineResponse {
    const challenge = parseChallenge(fieldsOf(body, 'challenge').challenge);
    const row = this.forHost(hostId);
    const privateKeyDer = this.master.unwrap(row.wrappedManagerPrivateKey, managerKeyContext(hostId));
    const offlineKey = this.#offlineKey(row);
    try {
      const privateKey = createPrivateKey({ key: privateKeyDer, format: 'der', type: 'pkcs8' });
      const response = offlineResponse(offlineKey, privateKey, row.managerPublicKey, challenge, row);
      this.log(`host ${hostId}: offline response given to challenge ${challenge.toString('base64url')}`);
      return { hostId, response: response.toString('base64url') };
    } finally {
      privateKeyDer.fill(0);
      offlineKey.fill(0);
    }
  }

  #offlineKey(row: HostOfflineRow): Buffer {
    return this.master.unwrap(row.wrappedOfflineKey, offlineKeyContext(row));
  }
}
