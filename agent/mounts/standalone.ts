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

/** The key id every standalone container names in its header (docs/operations.md). */
export const STANDALONE_KEY: KeyRef = { keyId: '5a4d0c1e-0000-4000-8000-000000000001', version: 1 };

export interface StandaloneMount {
  directory: string;
  unmount(): Promise<void>;
}

export function mountStandalone(options: {
  directory: string;
  keyFile: string;
  cipher: CipherName;
  threads?: number;
  onEvent?: (event: GuardPointEvent) => void;
}): StandaloneMount {
  keys.importFile(STANDALONE_KEY, 'active', options.keyFile);
  clearStaleMount(options.directory);
  const guardPoint = mountGuardPoint(
    { directory: options.directory, key: STANDALONE_KEY, cipher: options.cipher, threads: options.threads },
    options.onEvent,
  );
  return {
    directory: guardPoint.directory,
    async unmount() {
      await guardPoint.unmount();
      keys.remove(STANDALONE_KEY);
    },
  };
}
