// Guard points without a manager (`veil-mount`): the key comes from a raw key file and is
// filed under one fixed key id, so files written in one mount open in the next.
import {
  clearStaleMount,
  keys,
  mountGuardPoint,
  type CipherName,
  type GuardPointEvent,
  type KeyRef,
} from '../../native/core.js';
import {
  CLEAR_KEY,
  compilePolicy,
  loadPolicyFile,
  PolicyError,
  type DecisionTable,
} from '../../policies/index.js';

/** The key id every standalone container names in its header (docs/operations.md). */
export const STANDALONE_KEY: KeyRef = { keyId: '5a4d0c1e-0000-4000-8000-000000000001', version: 1 };

export interface StandaloneMount {
  directory: string;
  /** Replaces the policy for the next operation (files already open included). */
  setPolicy(table: DecisionTable | null): void;
  unmount(): Promise<void>;
}

/**
 * Reads, validates and compiles a policy file for a standalone guard point: the only key
 * there is the standalone key. Files that stay plaintext (`clear_key`) are refused until
 * the guard point can keep them (initial encryption comes with live data transformation).
 */
export function loadStandalonePolicy(path: string): DecisionTable {
  const table = compilePolicy(loadPolicyFile(path), { knownKeys: [STANDALONE_KEY], source: path });
  const clear = table.keyRules.findIndex((rule) => rule.key === CLEAR_KEY);
  if (clear >= 0) {
    throw new PolicyError('VEIL_POLICY_UNSUPPORTED', path, [
      {
        pointer: `/keyRules/${clear}/key`,
        message: 'clear_key (files that stay plaintext) is not supported by this version of veil-mount',
      },
    ]);
  }
  return table;
}

export function mountStandalone(options: {
  directory: string;
  keyFile: string;
  cipher: CipherName;
  threads?: number;
  policy?: DecisionTable;
  onEvent?: (event: GuardPointEvent) => void;
}): StandaloneMount {
  keys.importFile(STANDALONE_KEY, 'active', options.keyFile);
  clearStaleMount(options.directory);
  const guardPoint = mountGuardPoint(
    {
      directory: options.directory,
      key: STANDALONE_KEY,
      cipher: options.cipher,
      threads: options.threads,
      policy: options.policy,
    },
    options.onEvent,
  );
  return {
    directory: guardPoint.directory,
    setPolicy(table) {
      guardPoint.setPolicy(table);
    },
    async unmount() {
      await guardPoint.unmount();
      keys.remove(STANDALONE_KEY);
    },
  };
}
