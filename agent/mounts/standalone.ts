// Guard points without a manager (`veil-mount`): the key comes from a raw key file and is
// filed under one fixed key id, so files written in one mount open in the next. A policy's
// key rules may name more keys, each from a raw key file of its own.
import {
  clearStaleMount,
  keys,
  mountGuardPoint,
  type CipherName,
  type GuardPointEvent,
  type KeyRef,
} from '../../native/core.js';
import { compilePolicy, loadPolicyFile, type DecisionTable } from '../../policies/index.js';
import type { RekeyTarget } from '../ldt/rekeyer.js';

/** The key id every standalone container names in its header (docs/operations.md). */
export const STANDALONE_KEY: KeyRef = { keyId: '5a4d0c1e-0000-4000-8000-000000000001', version: 1 };

export interface StandaloneMount extends RekeyTarget {
  directory: string;
  /** Replaces the policy for the next operation (files already open included). */
  setPolicy(table: DecisionTable | null): void;
  unmount(): Promise<void>;
}

/** A key version more than the standalone key, for the key rules of a policy: `--key`. */
export interface ExtraKey {
  ref: KeyRef;
  file: string;
}

/**
 * Reads, validates and compiles a policy file for a standalone guard point: the keys there
 * are the standalone key and the extra keys given.
 */
export function loadStandalonePolicy(path: string, extraKeys: readonly ExtraKey[] = []): DecisionTable {
  return compilePolicy(loadPolicyFile(path), {
    knownKeys: [STANDALONE_KEY, ...extraKeys.map((key) => key.ref)],
    source: path,
  });
}

export function mountStandalone(options: {
  directory: string;
  keyFile: string;
  cipher: CipherName;
  threads?: number;
  policy?: DecisionTable;
  extraKeys?: readonly ExtraKey[];
  /** Key versions to hold as compromised (they decrypt, and files under them are fully re-encrypted). */
  compromised?: readonly KeyRef[];
  /** Live data transformation: its journal, and whether plaintext files already there are served until encrypted. */
  ldtJournal?: string;
  plaintextFiles?: 'refuse' | 'serve';
  onEvent?: (event: GuardPointEvent) => void;
}): StandaloneMount {
  keys.importFile(STANDALONE_KEY, 'active', options.keyFile);
  const extra = options.extraKeys ?? [];
  const compromised = (ref: KeyRef) =>
    options.compromised?.some((c) => c.keyId === ref.keyId && c.version === ref.version) === true;
  for (const key of extra)
    keys.importFile(key.ref, compromised(key.ref) ? 'compromised' : 'active', key.file);
  clearStaleMount(options.directory);
  const guardPoint = mountGuardPoint(
    {
      directory: options.directory,
      key: STANDALONE_KEY,
      cipher: options.cipher,
      threads: options.threads,
      policy: options.policy,
      ...(options.ldtJournal === undefined ? {} : { ldtJournal: options.ldtJournal }),
      ...(options.plaintextFiles === undefined ? {} : { plaintextFiles: options.plaintextFiles }),
    },
    options.onEvent,
  );
  return {
    directory: guardPoint.directory,
    scanFiles: () => guardPoint.scanFiles(),
    transformFiles: (requests) => guardPoint.transformFiles(requests),
    setPolicy(table) {
      guardPoint.setPolicy(table);
    },
    async unmount() {
      await guardPoint.unmount();
      keys.remove(STANDALONE_KEY);
      for (const key of extra) keys.remove(key.ref);
    },
  };
}

/** The key rules a guard point without a policy has: every file under the standalone key. */
export const STANDALONE_TABLE = {
  resources: [],
  keys: [STANDALONE_KEY],
  keyRules: [{ resource: -1, key: 0 }],
  transformations: [],
} as unknown as DecisionTable;
