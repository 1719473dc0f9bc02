// Guard points the manager assigns: each compiled against the key versions this host holds
// and mounted, given a new decision table when its policy or keys change, unmounted when
// withdrawn. Reconciling is idempotent: the same wish twice changes nothing.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import { VeilError } from '../../common/errors.js';
import type { PolicyView } from '../../manager-client/types.js';
import {
  clearStaleMount,
  keys,
  mountGuardPoint,
  type CipherName,
  type GuardPointEvent,
  type KeyRef,
} from '../../native/core.js';
import {
  compilePolicy,
  PolicyError,
  type DecisionTable,
  type KnownKey,
  type Policy,
} from '../../policies/index.js';
import type { GuardPointState } from '../control/protocol.js';
import type { LdtSettings } from '../ldt/ldt_settings.js';
import type { RekeyModes } from '../ldt/plan.js';
import { Rekeyer, type RekeyProgress } from '../ldt/rekeyer.js';

export interface WantedGuardPoint {
  guardPointId: string;
  path: string;
  automatic: boolean;
  policy: PolicyView;
}

type NativeGuardPoint = ReturnType<typeof mountGuardPoint>;

interface Mounted {
  path: string;
  mount: NativeGuardPoint;
  table: DecisionTable;
  rekeyer: Rekeyer;
}

// The native layer asks for a key for new files when no policy is installed; a managed
// guard point always has one, whose key rules decide, so this id is never used.
const UNUSED_KEY: KeyRef = { keyId: '00000000-0000-4000-8000-000000000000', version: 1 };

/**
 * A locked guard point's table: every operation refused (and recorded). The mount is
 * there all the same, so that nothing lands in the directory underneath unencrypted
 * while the keys are away; the real policy replaces this once they are back.
 */
const LOCKED: DecisionTable = compilePolicy(
  {
    name: 'veil-locked',
    description: 'The keys of this guard point are not on the host yet: everything is refused.',
    securityRules: [{ actions: ['all_ops'], effect: ['deny'] }],
    keyRules: [{ key: UNUSED_KEY }],
  },
  { knownKeys: [UNUSED_KEY] },
);

const message = (error: unknown): string =>
  error instanceof PolicyError || error instanceof VeilError || error instanceof Error
    ? error.message
    : String(error);

export class ManagedGuardPoints {
  readonly #mounted = new Map<string, Mounted>();
  #states = new Map<string, GuardPointState>();

  #modes: RekeyModes = new Map();

  constructor(
    private readonly options: {
      cipher: CipherName;
      threads: number;
      /** Where each guard point's rekey journal lives (outside every guard point). */
      stateDirectory: string;
      ldt: LdtSettings;
      onRekeyProgress?: (guardPointId: string, progress: RekeyProgress) => void;
      log?: (message: string) => void;
    },
    private readonly onEvent: (guardPoint: string, event: GuardPointEvent) => void,
  ) {}

  states(): GuardPointState[] {
    return [...this.#states.values()]
      .map((state) => {
        const rekeyer = this.#mounted.get(state.guardPointId)?.rekeyer;
        return rekeyer ? { ...state, transformation: rekeyer.progress() } : state;
      })
      .sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Pause, resume or new QoS settings: every rekeying worker looks again. */
  wakeRekeyers(): void {
    for (const mounted of this.#mounted.values()) mounted.rekeyer.wake();
  }

  /**
   * Makes the mounts match `wanted`; `enabled` holds the manual guard points turned on.
   * `locked`: the keys are not here yet, so every guard point is mounted refusing all.
   */
  async reconcile(
    wanted: readonly WantedGuardPoint[],
    enabled: ReadonlySet<string>,
    locked = false,
    modes: RekeyModes = this.#modes,
  ): Promise<GuardPointState[]> {
    this.#modes = modes;
    const knownKeys = keys.list().map(({ keyId, version, state }) => ({ keyId, version, state }));
    const next = new Map<string, GuardPointState>();
    for (const guardPoint of wanted) {
      const on = guardPoint.automatic || enabled.has(guardPoint.guardPointId);
      const base: GuardPointState = {
        guardPointId: guardPoint.guardPointId,
        path: guardPoint.path,
        automatic: guardPoint.automatic,
        config: guardPoint.automatic ? 'automatic' : on ? 'on' : 'off',
        policy: guardPoint.policy.name,
        policyVersion: guardPoint.policy.version,
        keys: [],
        status: 'released',
      };
      next.set(guardPoint.guardPointId, await this.#apply(guardPoint, base, on, locked ? null : knownKeys));
    }
    for (const id of [...this.#mounted.keys()]) {
      if (!next.has(id)) await this.#unmount(id);
    }
    this.#states = next;
    return this.states();
  }

  async #apply(
    guardPoint: WantedGuardPoint,
    base: GuardPointState,
    on: boolean,
    knownKeys: KnownKey[] | null,
  ): Promise<GuardPointState> {
    const current = this.#mounted.get(guardPoint.guardPointId);
    if (current && (!on || current.path !== guardPoint.path)) {
      const failure = await this.#unmount(guardPoint.guardPointId);
      if (failure) return { ...base, status: 'failed', message: failure };
    }
    if (!on) return base;
    if (knownKeys === null) return this.#install(guardPoint, { ...base, status: 'locked' }, LOCKED);
    let table: DecisionTable;
    try {
      table = compilePolicy(guardPoint.policy.document as Policy, {
        knownKeys,
        source: `policy ${guardPoint.policy.name} (version ${guardPoint.policy.version})`,
      });
    } catch (error) {
      // A guard point keeps its last good table: refusing a bad update must not open the
      // data. Without one it is locked, so nothing lands in the directory unencrypted.
      const still = this.#mounted.get(guardPoint.guardPointId);
      if (still && still.table !== LOCKED) {
        return { ...base, status: 'guarded', keys: keyNames(still.table), message: message(error) };
      }
      return this.#install(guardPoint, { ...base, status: 'failed', message: message(error) }, LOCKED);
    }
    return this.#install(guardPoint, { ...base, keys: keyNames(table), status: 'guarded' }, table);
  }

  /** Mounts the guard point with `table`, or gives the mounted one `table`. */
  #install(guardPoint: WantedGuardPoint, state: GuardPointState, table: DecisionTable): GuardPointState {
    const base = { ...state, keys: [] };
    const mounted = this.#mounted.get(guardPoint.guardPointId);
    if (mounted) {
      if (!isDeepStrictEqual(mounted.table, table)) {
        mounted.mount.setPolicy(table);
        mounted.table = table;
      }
      this.#rekey(mounted);
      return state;
    }
    try {
      clearStaleMount(guardPoint.path);
      const journals = path.join(this.options.stateDirectory, 'ldt');
      mkdirSync(journals, { recursive: true, mode: 0o700 });
      const mount = mountGuardPoint(
        {
          directory: guardPoint.path,
          key: table.keys[0] ?? UNUSED_KEY,
          cipher: this.options.cipher,
          threads: this.options.threads,
          policy: table,
          // Locked: the keys that open the files already there are not here to check.
          verifyKeys: table !== LOCKED,
          // Files there before the guard point are served as they are until the rekeying
          // worker has encrypted them (initial encryption, docs/ldt.md).
          plaintextFiles: 'serve',
          ldtJournal: path.join(journals, `${guardPoint.guardPointId}.journal`),
        },
        (event) => this.#event(guardPoint.guardPointId, guardPoint.path, event),
      );
      const id = guardPoint.guardPointId;
      const rekeyer = new Rekeyer(mount, {
        qos: () => this.options.ldt.qos(),
        paused: () => this.options.ldt.paused(guardPoint.path),
        onProgress: (progress) => this.options.onRekeyProgress?.(id, progress),
        onFileError: (file, error) => {
          const type = rekeyEventType(error.code);
          const message = `rekey: ${error.message}`;
          if (type === null) this.options.log?.(`${guardPoint.path}: ${file}: ${message} (${error.code})`);
          else this.onEvent(guardPoint.path, { type, path: file, code: error.code, message, uid: 0, pid: 0 });
        },
        log: (line) => this.options.log?.(`${guardPoint.path}: ${line}`),
      });
      const entry = { path: guardPoint.path, mount, table, rekeyer };
      this.#mounted.set(id, entry);
      this.#rekey(entry);
      return state;
    } catch (error) {
      return { ...base, status: 'failed', message: message(error) };
    }
  }

  /** A locked guard point has no keys to rekey with; any other looks at its files again. */
  #rekey(mounted: Mounted): void {
    if (mounted.table === LOCKED) return;
    const keyStates = keys.list().map(({ keyId, version, state }) => ({ keyId, version, state }));
    mounted.rekeyer.update({ table: mounted.table, keyStates, modes: this.#modes });
  }

  #event(id: string, path: string, event: GuardPointEvent): void {
    if (event.type === 'unmounted' && this.#mounted.get(id)?.path === path) {
      // Someone unmounted it from outside: the next reconcile mounts it again.
      void this.#mounted.get(id)?.rekeyer.stop();
      this.#mounted.delete(id);
      const state = this.#states.get(id);
      if (state) this.#states.set(id, { ...state, status: 'failed', message: event.message });
    }
    this.onEvent(path, event);
  }

  /** Unmounts one guard point; the failure's message, or undefined. */
  async #unmount(id: string): Promise<string | undefined> {
    const mounted = this.#mounted.get(id);
    if (!mounted) return undefined;
    this.#mounted.delete(id);
    try {
      await mounted.rekeyer.stop();
      await mounted.mount.unmount();
      return undefined;
    } catch (error) {
      return `cannot release ${mounted.path}: ${message(error)}`;
    }
  }

  async unmountAll(): Promise<void> {
    for (const id of [...this.#mounted.keys()]) await this.#unmount(id);
    this.#states = new Map(
      [...this.#states].map(([id, state]) => [
        id,
        { ...state, status: 'released' as const, message: undefined },
      ]),
    );
  }
}

/** A file the worker could not transform: tampered, or its key away; other failures are only logged. */
function rekeyEventType(code: string): 'tamper' | 'key-unavailable' | null {
  if (code === 'VEIL_KEY_NOT_FOUND' || code === 'VEIL_KEY_NOT_ACTIVE') return 'key-unavailable';
  if (code === 'VEIL_CRYPTO_AUTH_FAILED' || code.startsWith('VEIL_FORMAT_')) return 'tamper';
  return null;
}

const keyNames = (table: DecisionTable): string[] => table.keys.map((k) => `${k.keyId}:${k.version}`);

/** Wipes every key version from the native key table. */
export function wipeKeys(): number {
  const all = keys.list();
  for (const key of all) keys.remove({ keyId: key.keyId, version: key.version });
  return all.length;
}
