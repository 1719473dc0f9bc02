// Keys and their versions through the NIST SP 800-57 lifecycle (§7, §8.2, §8.3): create,
// activate by call or by date, rotate, suspend and reinstate, revoke (compromise, with a
// reason and a date), destroy. Every transition is checked against lifecycle.ts and
// recorded in the same transaction as the change; material is generated here, stored only
// wrapped under the master key, and never shown.
import { randomBytes, randomUUID } from 'node:crypto';

import { ManagerError } from '../../manager-client/errors.js';
import type {
  KeyAlgorithm,
  KeyState,
  KeyStateChange,
  KeyVersionUsage,
  KeyVersionView,
  KeyView,
  RekeyMode,
  RevocationReason,
} from '../../manager-client/types.js';
import type { Insertable, KeyRow, KeyVersionRow, ManagerStore, StateChangeRow } from '../store/store.js';
import { ROOT_DOMAIN } from '../domains.js';
import { GENERATION, transitionFor } from './lifecycle.js';
import { keyVersionContext, type MasterKey } from './master_key.js';
import { UNUSED, type VersionUsageSource } from './retirement.js';
import { UUID } from '../../common/uuid.js';

const MATERIAL_BYTES: Record<KeyAlgorithm, number> = { 'aes-256': 32, 'aes-128': 16 };
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface CreateKeyOptions {
  name: string;
  algorithm?: KeyAlgorithm;
  /** When version 1 becomes active (transition 4); default now. Later: it waits in pre-activation. */
  activationDate?: number;
  /** When the active version becomes deactivated (transition 8); default never. */
  deactivationDate?: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function badRequest(message: string): ManagerError {
  return new ManagerError('VEIL_KEY_BAD_REQUEST', message);
}

export class KeyService {
  /** `uses`: what still needs each version (policies, hosts' files), which then cannot be destroyed. */
  constructor(
    private readonly store: ManagerStore,
    private readonly master: MasterKey,
    private readonly now: () => number = Date.now,
    private readonly uses: VersionUsageSource = UNUSED,
  ) {}

  create(options: CreateKeyOptions): KeyView {
    return this.#create(options);
  }

  /**
   * A key whose version 1 is material brought in from elsewhere, given only wrapped: the
   * caller unwraps it with the import key and this wipes it.
   */
  importKey(options: CreateKeyOptions, material: Buffer): KeyView {
    try {
      const algorithm = options.algorithm ?? this.defaultAlgorithm();
      if (material.length !== MATERIAL_BYTES[algorithm]) {
        throw badRequest(
          `${algorithm} material is ${MATERIAL_BYTES[algorithm]} bytes, not ${material.length}`,
        );
      }
      return this.#create({ ...options, algorithm }, material);
    } finally {
      material.fill(0);
    }
  }

  /** A version's material, encrypted to the caller's public key (`wrap`); never in the clear. */
  exportVersion(keyId: string, version: number, wrap: (material: Buffer) => Buffer) {
    const key = this.view(keyId);
    const found = key.versions.find((v) => v.version === version);
    const material = this.material(keyId, version);
    try {
      return {
        keyId,
        version,
        algorithm: key.algorithm,
        state: found?.state,
        wrapped: wrap(material).toString('base64'),
      };
    } finally {
      material.fill(0);
    }
  }

  #create(options: CreateKeyOptions, material?: Buffer): KeyView {
    const algorithm = options.algorithm ?? this.defaultAlgorithm();
    if (!NAME.test(options.name)) {
      throw badRequest(
        'a key name is 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    if (!(algorithm in MATERIAL_BYTES))
      throw badRequest(`unknown algorithm ${String(algorithm)}: aes-256 or aes-128`);
    const now = this.now();
    const activation = options.activationDate ?? now;
    const deactivation = options.deactivationDate ?? null;
    if (deactivation !== null && deactivation <= activation) {
      throw badRequest('the deactivation date must come after the activation date');
    }
    const key: Insertable<KeyRow> = { id: randomUUID(), name: options.name, algorithm, createdAt: now };
    this.store.transaction(() => {
      if (this.store.keyByName(key.name)) {
        throw new ManagerError('VEIL_KEY_NAME_TAKEN', `there is already a key named ${key.name}`);
      }
      this.store.insertKey(key);
      this.addVersion(key, 1, activation, deactivation, material ? 'imported' : 'created', material);
    });
    return this.view(key.id);
  }

  /** The algorithm of new keys when a request names none (the domain's setting). */
  defaultAlgorithm(): KeyAlgorithm {
    return this.store.domainRow(this.store.domain ?? ROOT_DOMAIN)?.keyAlgorithm ?? 'aes-256';
  }

  setDefaultAlgorithm(algorithm: unknown): KeyAlgorithm {
    if (algorithm !== 'aes-256' && algorithm !== 'aes-128')
      throw badRequest('keyAlgorithm is aes-256 or aes-128');
    this.store.setDomainAlgorithm(this.store.domain ?? ROOT_DOMAIN, algorithm);
    return algorithm;
  }

  /**
   * A new version becomes active; the versions active until now are deactivated (transition 8).
   * `rekey`: how hosts move files to it (default rewrap; docs/keys.md).
   */
  rotate(keyId: string, options: { deactivationDate?: number; rekey?: unknown } = {}): KeyView {
    const now = this.now();
    const deactivation = options.deactivationDate ?? null;
    if (deactivation !== null && deactivation <= now)
      throw badRequest('the deactivation date must be in the future');
    const rekey = options.rekey ?? 'rewrap';
    if (rekey !== 'rewrap' && rekey !== 'full') {
      throw badRequest(
        `rekey is "rewrap" (each file's key rewrapped under the new version, header only) or "full" ` +
          `(every file re-encrypted under a new file key), not ${JSON.stringify(rekey)}`,
      );
    }
    this.store.transaction(() => {
      const key = this.keyRow(keyId);
      const versions = this.store.versions(keyId);
      for (const version of versions.filter((v) => v.state === 'active')) {
        this.change(version, 'deactivated', `replaced by version ${versions.length + 1}`);
      }
      this.addVersion(key, versions.length + 1, now, deactivation, 'rotation', undefined, rekey);
    });
    return this.view(keyId);
  }

  /** Any §7 transition by call, but compromise and destruction, which have their own calls. */
  setState(keyId: string, version: number, to: KeyState): KeyView {
    if (to === 'compromised' || to === 'destroyed') {
      throw badRequest(`use ${to === 'compromised' ? 'revoke' : 'destroy'} to make a version ${to}`);
    }
    this.store.transaction(() => this.change(this.versionRow(keyId, version), to, 'by request'));
    return this.view(keyId);
  }

  /** Marks a version compromised (§8.3.1), with the KMIP reason and the date it was compromised. */
  revoke(keyId: string, version: number, reason: RevocationReason, compromiseDate?: number): KeyView {
    const now = this.now();
    const when = compromiseDate ?? now;
    if (when > now) throw badRequest('the compromise date cannot be in the future');
    this.store.transaction(() => {
      const row = this.versionRow(keyId, version);
      this.change(row, 'compromised', `revoked: ${reason}`, (next) => {
        next.compromiseDate = when;
        next.revocationReason = reason;
        next.wasCompromised = true;
      });
    });
    return this.view(keyId);
  }

  /**
   * Destroys a version's material (§8.3.4); its metadata stays. Refused while something needs
   * it: a policy in use naming it, or a host with files under it or not yet reported (retirement.ts).
   */
  destroy(keyId: string, version: number): KeyView {
    this.store.transaction(() => {
      const row = this.versionRow(keyId, version);
      if (row.state !== 'destroyed') {
        const use = this.uses.usage(keyId, [row]).get(version);
        if (use && !use.destroyable) throw new ManagerError('VEIL_KEY_IN_USE', use.reason ?? 'in use');
      }
      this.change(row, 'destroyed', 'destroyed by request');
    });
    this.store.forgetDeleted();
    return this.view(keyId);
  }

  /** Applies the activation and deactivation dates that have come (transitions 4, 8 and 12). */
  applyDates(): KeyStateChange[] {
    const now = this.now();
    const changes = this.store.transaction(() =>
      this.store
        .versionsDue(now)
        .map((row) =>
          row.state === 'pre-activation'
            ? this.change(row, 'active', 'activation date reached')
            : this.change(row, 'deactivated', 'deactivation date reached'),
        ),
    );
    return changes.map(changeView);
  }

  /** The material of a version for a delivery, unwrapped: the caller wipes it after use. */
  material(keyId: string, version: number): Buffer {
    const row = this.versionRow(keyId, version);
    if (row.wrappedMaterial === null) {
      throw new ManagerError(
        'VEIL_KEY_TRANSITION_REFUSED',
        `version ${version} of key ${keyId} is destroyed`,
      );
    }
    return this.master.unwrap(row.wrappedMaterial, keyVersionContext(keyId, version));
  }

  view(keyId: string): KeyView {
    const key = this.keyRow(keyId);
    const versions = this.store.versions(keyId);
    const usage = this.uses.usage(keyId, versions);
    return {
      keyId: key.id,
      name: key.name,
      algorithm: key.algorithm,
      createdAt: new Date(key.createdAt).toISOString(),
      versions: versions.map((row) => versionView(row, usage.get(row.version))),
    };
  }

  list(): KeyView[] {
    return this.store.keys().map((key) => this.view(key.id));
  }

  history(keyId: string): KeyStateChange[] {
    this.keyRow(keyId);
    return this.store.stateChanges(keyId).map(changeView);
  }

  private addVersion(
    key: Insertable<KeyRow>,
    version: number,
    activation: number,
    deactivation: number | null,
    cause: string,
    imported?: Buffer,
    rekey: RekeyMode = 'rewrap',
  ) {
    const now = this.now();
    const material = imported ? Buffer.from(imported) : randomBytes(MATERIAL_BYTES[key.algorithm]);
    const row: KeyVersionRow = {
      keyId: key.id,
      version,
      state: 'pre-activation',
      createdAt: now,
      stateChangedAt: now,
      activationDate: activation,
      deactivationDate: deactivation,
      compromiseDate: null,
      revocationReason: null,
      wasCompromised: false,
      wrappedMaterial: this.master.wrap(material, keyVersionContext(key.id, version)),
      rekey,
    };
    material.fill(0);
    this.store.insertVersion(row);
    this.store.recordStateChange({
      keyId: key.id,
      version,
      from: null,
      to: 'pre-activation',
      transition: GENERATION,
      at: now,
      cause,
    });
    if (activation <= now)
      this.change(row, 'active', cause === 'rotation' ? 'rotation' : `activated when ${cause}`);
  }

  private change(
    row: KeyVersionRow,
    to: KeyState,
    cause: string,
    edit?: (next: KeyVersionRow) => void,
  ): StateChangeRow {
    const transition = transitionFor(row.state, to);
    const now = this.now();
    const next: KeyVersionRow = { ...row, state: to, stateChangedAt: now };
    edit?.(next);
    if (to === 'destroyed') next.wrappedMaterial = null;
    this.store.updateVersion(next);
    const change: StateChangeRow = {
      keyId: row.keyId,
      version: row.version,
      from: row.state,
      to,
      transition: transition.number,
      at: now,
      cause,
    };
    this.store.recordStateChange(change);
    Object.assign(row, next);
    return change;
  }

  private keyRow(keyId: string): KeyRow {
    if (!UUID.test(keyId)) throw badRequest(`a key id is a lower-case UUID, not ${JSON.stringify(keyId)}`);
    const key = this.store.key(keyId);
    if (!key) throw new ManagerError('VEIL_KEY_UNKNOWN', `there is no key ${keyId}`);
    return key;
  }

  private versionRow(keyId: string, version: number): KeyVersionRow {
    this.keyRow(keyId);
    const row = this.store.versions(keyId).find((v) => v.version === version);
    if (!row) throw new ManagerError('VEIL_KEY_UNKNOWN', `key ${keyId} has no version ${version}`);
    return row;
  }
}

const NO_USAGE: KeyVersionUsage = { hostsUsing: [], hostsPending: [], destroyable: true, reason: null };

function versionView(row: KeyVersionRow, usage: KeyVersionUsage = NO_USAGE): KeyVersionView {
  return {
    version: row.version,
    state: row.state,
    createdAt: new Date(row.createdAt).toISOString(),
    stateChangedAt: new Date(row.stateChangedAt).toISOString(),
    activationDate: iso(row.activationDate),
    deactivationDate: iso(row.deactivationDate),
    compromiseDate: iso(row.compromiseDate),
    revocationReason: row.revocationReason,
    hasMaterial: row.wrappedMaterial !== null,
    rekey: row.rekey,
    usage,
  };
}

function changeView(row: StateChangeRow): KeyStateChange {
  return { ...row, at: new Date(row.at).toISOString() };
}
