// veil-mount --rekey: the same rekeying worker as veild's, for a guard point without a
// manager. Rotations take the mode given on the command line; progress goes to stderr
// (or stdout as JSON lines with --json).
import { keys } from '../../native/core.js';
import type { DecisionTable } from '../../policies/index.js';
import { progressLine } from '../cli/ldt_commands.js';
import { STANDALONE_TABLE, type StandaloneMount } from '../mounts/standalone.js';
import { LdtSettings } from './ldt_settings.js';
import { versionName, type RekeyMode } from './plan.js';
import { Rekeyer, type RekeyProgress } from './rekeyer.js';
import type { QosSettings } from './throttle.js';

export interface StandaloneRekey {
  setPolicy(table: DecisionTable | null): void;
  stop(): Promise<void>;
}

export function startStandaloneRekey(
  mount: StandaloneMount,
  policy: DecisionTable | undefined,
  options: { mode: RekeyMode; qos: Partial<QosSettings>; json: boolean },
): StandaloneRekey {
  const settings = new LdtSettings(null, options.qos);
  let last = '';
  const show = (progress: RekeyProgress) => {
    if (options.json) process.stdout.write(`${JSON.stringify({ rekey: progress })}\n`);
    if (progress.state !== last || progress.state === 'running') {
      process.stderr.write(
        `veil-mount: rekey: ${progressLine(progress)}${progress.message ? ` (${progress.message})` : ''}\n`,
      );
    }
    last = progress.state;
  };
  const rekeyer = new Rekeyer(mount, {
    qos: () => settings.qos(),
    paused: () => false,
    onProgress: show,
    onFileError: (file, error) =>
      process.stderr.write(`veil-mount: rekey: ${file}: ${error.message} (${error.code})\n`),
    log: (line) => process.stderr.write(`veil-mount: ${line}\n`),
    progressIntervalMs: 1000,
  });
  const update = (table: DecisionTable) => {
    const modes = new Map(table.keys.map((key) => [versionName(key), options.mode]));
    const keyStates = keys.list().map(({ keyId, version, state }) => ({ keyId, version, state }));
    rekeyer.update({ table, keyStates, modes });
  };
  update(policy ?? STANDALONE_TABLE);
  return {
    setPolicy: (table) => update(table ?? STANDALONE_TABLE),
    stop: () => rekeyer.stop(),
  };
}
