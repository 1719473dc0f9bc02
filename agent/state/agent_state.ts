// /var/lib/veil: what the agent keeps between runs. The directory is 0700 and every file
// 0600, written whole or not at all. The host's private key stays here and nowhere else;
// no data key ever reaches this directory, only the manager's answers that are not secret
// (guard points, policies) and the reports still to send.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

import { syncDirectory, writeFileAtomically } from '../../common/files.js';
import type { OfflineEvent, OfflinePasswordWrapper } from '../../manager-client/types.js';
import { AgentError } from '../errors.js';
import { canSeal, sealHostKey, unsealHostKey } from './host_key_seal.js';
import { UUID } from '../../common/uuid.js';

/** What registration left: who this host is to which manager. */
export interface Enrollment {
  managerUrl: string;
  hostId: string;
  hostName: string;
  /** SHA-256 of the manager's CA certificate, as pinned at registration. */
  caFingerprint: string;
  registeredAt: string;
}

/** What the manager's `offline` event says (docs/protocol.md, "Offline unlock"): nothing secret. */
export type OfflineInfo = Omit<OfflineEvent, 'type'>;
export type PasswordWrapper = OfflinePasswordWrapper;

/** The sealed key file of the native core and, beside it, what it holds (ids and states only). */
export interface SealedKeys {
  sealed: string;
  keys: { keyId: string; version: number; state: string }[];
  sealedAt: string;
}

export interface HostCredentials {
  caPem: string;
  certificatePem: string;
  keyPem: string;
}

const FILES = {
  enrollment: 'registration.json',
  ca: 'ca.pem',
  certificate: 'host.crt',
  key: 'host.key',
  sealedKey: 'host.key.cred',
  // A renewal's new key, until the certificate it goes with is written (saveCertificate).
  nextKey: 'host.key.next',
  nextSealedKey: 'host.key.next.cred',
  guardPoints: 'guardpoints.json',
  manual: 'manual-guardpoints.json',
  offline: 'offline.json',
  sealed: 'sealed-keys.json',
} as const;

function isEnrollment(value: unknown): value is Enrollment {
  const v = value as Partial<Enrollment> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.managerUrl === 'string' &&
    v.managerUrl.startsWith('https://') &&
    typeof v.hostId === 'string' &&
    UUID.test(v.hostId) &&
    typeof v.hostName === 'string' &&
    typeof v.caFingerprint === 'string' &&
    typeof v.registeredAt === 'string'
  );
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function isOfflineInfo(value: unknown): value is OfflineInfo {
  const v = value as Partial<OfflineInfo> | null;
  if (typeof v !== 'object' || v === null) return false;
  const w = v.passwordWrapper as Partial<PasswordWrapper> | null | undefined;
  const wrapperOk =
    w === null ||
    (typeof w === 'object' &&
      w.kdf === 'scrypt' &&
      [w.salt, w.nonce, w.ciphertext].every((b) => typeof b === 'string' && BASE64.test(b)) &&
      [w.N, w.r, w.p].every((n) => Number.isInteger(n)));
  return (
    typeof v.offlineKeyId === 'string' &&
    UUID.test(v.offlineKeyId) &&
    Number.isInteger(v.offlineKeyVersion) &&
    typeof v.managerPublicKey === 'string' &&
    BASE64.test(v.managerPublicKey) &&
    wrapperOk
  );
}

/** The manager's offline event, checked before it is kept. */
export function parseOfflineInfo(value: unknown): OfflineInfo {
  const { offlineKeyId, offlineKeyVersion, managerPublicKey, passwordWrapper } = (value ?? {}) as OfflineInfo;
  const info = {
    offlineKeyId,
    offlineKeyVersion,
    managerPublicKey,
    passwordWrapper: passwordWrapper ?? null,
  };
  if (!isOfflineInfo(info)) throw new Error('the offline event is malformed');
  return info;
}

export class AgentState {
  constructor(readonly directory: string) {}

  /** Creates the directory if needed and makes sure only root can enter it. */
  prepare(): void {
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o700 });
      const st = statSync(this.directory);
      if (!st.isDirectory()) throw new Error('not a directory');
      if ((st.mode & 0o077) !== 0) chmodSync(this.directory, 0o700);
    } catch (error) {
      throw new AgentError(
        'VEIL_AGENT_STATE_INVALID',
        `cannot use ${this.directory} as the state directory: ${(error as Error).message}`,
      );
    }
  }

  #file(name: string): string {
    return path.join(this.directory, name);
  }

  #read(name: string): string | undefined {
    try {
      return readFileSync(this.#file(name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AgentError(
        'VEIL_AGENT_STATE_INVALID',
        `cannot read ${this.#file(name)}: ${(error as Error).message}`,
      );
    }
  }

  #readJson(name: string): unknown {
    const text = this.#read(name);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new AgentError(
        'VEIL_AGENT_STATE_INVALID',
        `${this.#file(name)} is damaged (not JSON): remove it, or unregister and register again`,
      );
    }
  }

  #write(name: string, data: string | Buffer): void {
    writeFileAtomically(this.#file(name), data, 0o600);
  }

  /**
   * A private key: sealed to the machine where systemd-creds is, else a 0600 file. The host key,
   * or (`next`) a renewal's new key beside it.
   */
  #writeKey(keyPem: string, next = false): void {
    const [sealed, plain] = next ? [FILES.nextSealedKey, FILES.nextKey] : [FILES.sealedKey, FILES.key];
    if (canSeal()) {
      this.#write(sealed, sealHostKey(keyPem));
      rmSync(this.#file(plain), { force: true });
    } else {
      this.#write(plain, keyPem);
    }
  }

  /** A private key as #writeKey left it, sealed or not: the host key, or (`next`) a renewal's. */
  #readKey(next = false): string | undefined {
    const [sealed, plain] = next ? [FILES.nextSealedKey, FILES.nextKey] : [FILES.sealedKey, FILES.key];
    const sealedFile = this.#file(sealed);
    return existsSync(sealedFile) ? unsealHostKey(sealedFile) : this.#read(plain);
  }

  /** The renewal's new key becomes the host key (a rename: whole or not at all). */
  #promoteNextKey(): void {
    const sealed = this.#file(FILES.nextSealedKey);
    if (existsSync(sealed)) {
      renameSync(sealed, this.#file(FILES.sealedKey));
      rmSync(this.#file(FILES.key), { force: true });
    } else {
      renameSync(this.#file(FILES.nextKey), this.#file(FILES.key));
      rmSync(this.#file(FILES.sealedKey), { force: true });
    }
    syncDirectory(this.directory);
  }

  /**
   * Ends a renewal a crash cut short: the new key goes in if the certificate on disk is its
   * own (the crash came after the certificate was written), else it is dropped and the old
   * pair, which the manager still accepts, stays.
   */
  #settleRenewal(certificatePem: string | undefined): void {
    const next = this.#readKey(true);
    if (next === undefined) return;
    let matches = false;
    try {
      matches =
        certificatePem !== undefined &&
        new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(next));
    } catch {
      // A damaged certificate or key: the new key is not known to fit it.
    }
    if (matches) {
      this.#promoteNextKey();
    } else {
      for (const name of [FILES.nextKey, FILES.nextSealedKey]) rmSync(this.#file(name), { force: true });
    }
  }

  /** How the host key is kept: "sealed" (systemd-creds), "file", or "none" yet. */
  hostKeyProtection(): 'sealed' | 'file' | 'none' {
    if (existsSync(this.#file(FILES.sealedKey))) return 'sealed';
    return existsSync(this.#file(FILES.key)) ? 'file' : 'none';
  }

  enrollment(): Enrollment | undefined {
    const value = this.#readJson(FILES.enrollment);
    if (value === undefined) return undefined;
    if (!isEnrollment(value)) {
      throw new AgentError(
        'VEIL_AGENT_STATE_INVALID',
        `${this.#file(FILES.enrollment)} is damaged: unregister and register again`,
      );
    }
    return value;
  }

  /** The daemon's credentials (only veild calls this: it may finish a renewal cut short). */
  credentials(): HostCredentials {
    this.#settleRenewal(this.#read(FILES.certificate));
    const read = (name: string): string => {
      const text = this.#read(name);
      if (text === undefined) {
        throw new AgentError(
          'VEIL_AGENT_STATE_INVALID',
          `${this.#file(name)} is missing: unregister and register again`,
        );
      }
      return text;
    };
    return {
      caPem: read(FILES.ca),
      certificatePem: read(FILES.certificate),
      keyPem: this.#readKey() ?? read(FILES.key),
    };
  }

  /** Registration's results; the enrollment record last, so a crash leaves no half registration. */
  saveRegistration(enrollment: Enrollment, credentials: HostCredentials): void {
    this.#writeKey(credentials.keyPem);
    this.#write(FILES.certificate, credentials.certificatePem);
    this.#write(FILES.ca, credentials.caPem);
    this.#write(FILES.enrollment, `${JSON.stringify(enrollment, null, 2)}\n`);
  }

  /**
   * A renewal's certificate and key. A crash at any point leaves a pair that works: the new
   * key waits beside the old one until its certificate is written, and credentials() finishes
   * the move or drops it.
   */
  saveCertificate(certificatePem: string, keyPem: string): void {
    this.#writeKey(keyPem, true);
    this.#write(FILES.certificate, certificatePem);
    this.#promoteNextKey();
  }

  /** The manager's last word on this host's guard points (not secret: paths and policies). */
  guardPoints(): unknown {
    return this.#readJson(FILES.guardPoints);
  }

  saveGuardPoints(value: unknown): void {
    this.#write(FILES.guardPoints, `${JSON.stringify(value)}\n`);
  }

  /** The manual guard points an administrator turned on with `agentctl guard add`. */
  manualGuardPoints(): string[] {
    const value = this.#readJson(FILES.manual);
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((id) => typeof id === 'string' && UUID.test(id))) {
      throw new AgentError('VEIL_AGENT_STATE_INVALID', `${this.#file(FILES.manual)} is damaged`);
    }
    return value as string[];
  }

  saveManualGuardPoints(ids: string[]): void {
    this.#write(FILES.manual, `${JSON.stringify(ids)}\n`);
  }

  offline(): OfflineInfo | undefined {
    const value = this.#readJson(FILES.offline);
    if (value === undefined) return undefined;
    if (!isOfflineInfo(value)) {
      throw new AgentError('VEIL_AGENT_STATE_INVALID', `${this.#file(FILES.offline)} is damaged`);
    }
    return value;
  }

  saveOffline(info: OfflineInfo): void {
    this.#write(FILES.offline, `${JSON.stringify(info)}\n`);
  }

  sealedKeys(): SealedKeys | undefined {
    const value = this.#readJson(FILES.sealed) as Partial<SealedKeys> | undefined;
    if (value === undefined) return undefined;
    if (
      typeof value.sealed !== 'string' ||
      !Array.isArray(value.keys) ||
      typeof value.sealedAt !== 'string'
    ) {
      throw new AgentError('VEIL_AGENT_STATE_INVALID', `${this.#file(FILES.sealed)} is damaged`);
    }
    return value as SealedKeys;
  }

  saveSealedKeys(sealed: SealedKeys): void {
    this.#write(FILES.sealed, `${JSON.stringify(sealed)}\n`);
  }

  /** Forgets the registration: the directory is emptied, not removed. */
  clear(): void {
    for (const name of Object.values(FILES)) rmSync(this.#file(name), { force: true });
  }

  path(name: string): string {
    return this.#file(name);
  }
}
