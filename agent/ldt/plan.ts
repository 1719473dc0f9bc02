// What live data transformation must do to each file of a guard point, decided from a
// scan of the backing files (their headers), the compiled policy and the key states on
// the host. Pure: the worker runs the plan, and the next scan shows what it did.
import type { KeyInfo, LdtScanEntry } from '../../native/core.js';
import { ANY, CLEAR_KEY, type DecisionTable } from '../../policies/compile.js';
import { inResourceSet, selectKey } from '../../policies/evaluate.js';

export type RekeyMode = 'rewrap' | 'full';
export type JobOp = 'rewrap' | 'reencrypt' | 'encrypt';

export interface KeyVersionRef {
  keyId: string;
  version: number;
}

/** How files reach a key version made by a rotation (the manager says, per version). */
export type RekeyModes = ReadonlyMap<string, RekeyMode>;
export const versionName = (ref: KeyVersionRef): string => `${ref.keyId}:${ref.version}`;

export interface Job {
  path: string;
  op: JobOp;
  target: KeyVersionRef;
  /** Plaintext bytes the job moves (0 for a rewrap: only the header is written). */
  bytes: number;
  /** Why, for the log and `agentctl ldt status`. */
  reason:
    'interrupted' | 'initial-encryption' | 'compromised' | 'transformation-rule' | 'key-changed' | 'rotation';
}

export interface Plan {
  jobs: Job[];
  /** Files per key version they are under now (slot A), the manager's retirement input. */
  keyVersions: (KeyVersionRef & { files: number })[];
  plaintextFiles: number;
  /** Files left alone although they are not under the policy's key, with why (one line each, capped). */
  notes: string[];
}

const MAX_NOTES = 20;

/**
 * The policy's wish for one file: a transformation rule holding its path and its current
 * key first (docs/policy.md, "Data transformation rules"), then the key rules.
 */
function wanted(
  table: DecisionTable,
  entry: LdtScanEntry,
): { target: KeyVersionRef | 'clear_key' | null; byRule: boolean } {
  const current = entry.kind === 'plaintext' ? null : { keyId: entry.keyId, version: entry.keyVersion };
  for (const rule of table.transformations) {
    if (rule.resource !== ANY && !inResourceSet(table.resources[rule.resource], entry.path)) continue;
    const from = rule.current === CLEAR_KEY ? null : table.keys[rule.current];
    const matches =
      from === null
        ? current === null
        : current !== null && from.keyId === current.keyId && from.version === current.version;
    if (!matches) continue;
    return { target: rule.target === CLEAR_KEY ? 'clear_key' : table.keys[rule.target], byRule: true };
  }
  const selected = selectKey(table, entry.path);
  if (selected === null) return { target: null, byRule: false };
  return {
    target: selected.key === 'clear_key' ? 'clear_key' : selected.key,
    byRule: false,
  };
}

function sameKey(a: KeyVersionRef, entry: LdtScanEntry): boolean {
  return a.keyId === entry.keyId && a.version === entry.keyVersion;
}

export function planGuardPoint(
  entries: readonly LdtScanEntry[],
  table: DecisionTable,
  keyStates: readonly Pick<KeyInfo, 'keyId' | 'version' | 'state'>[],
  modes: RekeyModes,
): Plan {
  const stateOf = (ref: { keyId?: string; version?: number }) =>
    keyStates.find((k) => k.keyId === ref.keyId && k.version === ref.version)?.state;
  const interrupted: Job[] = [];
  const jobs: Job[] = [];
  const counts = new Map<string, KeyVersionRef & { files: number }>();
  const notes: string[] = [];
  const note = (line: string) => {
    if (notes.length < MAX_NOTES) notes.push(line);
  };
  let plaintextFiles = 0;

  for (const entry of entries) {
    if (entry.kind === 'plaintext') plaintextFiles += 1;
    else {
      const ref = { keyId: entry.keyId as string, version: entry.keyVersion as number };
      const name = versionName(ref);
      const count = counts.get(name) ?? { ...ref, files: 0 };
      count.files += 1;
      counts.set(name, count);
    }
    if (entry.kind === 'reencrypting') {
      // Finished first, toward the key its header already names: that is the file's
      // promise, whatever the policy says now (a later pass moves it on if need be).
      const target = { keyId: entry.targetKeyId as string, version: entry.targetKeyVersion as number };
      interrupted.push({
        path: entry.path,
        op: 'reencrypt',
        target,
        bytes: entry.size,
        reason: 'interrupted',
      });
      continue;
    }
    const { target, byRule } = wanted(table, entry);
    if (target === null) continue;
    if (target === 'clear_key') {
      if (entry.kind !== 'plaintext' && byRule)
        note(`${entry.path}: decrypting to clear_key is not done online`);
      continue;
    }
    if (stateOf(target) !== 'active') {
      note(`${entry.path}: the target ${versionName(target)} is not active on this host`);
      continue;
    }
    if (entry.kind === 'plaintext') {
      jobs.push({ path: entry.path, op: 'encrypt', target, bytes: entry.size, reason: 'initial-encryption' });
      continue;
    }
    if (sameKey(target, entry)) continue;
    const full = (reason: Job['reason']): Job => ({
      path: entry.path,
      op: 'reencrypt',
      target,
      bytes: entry.size,
      reason,
    });
    if (stateOf({ keyId: entry.keyId, version: entry.keyVersion }) === 'compromised')
      jobs.push(full('compromised'));
    else if (byRule) jobs.push(full('transformation-rule'));
    else if (target.keyId !== entry.keyId) jobs.push(full('key-changed'));
    else if (modes.get(versionName(target)) === 'full') jobs.push(full('rotation'));
    else jobs.push({ path: entry.path, op: 'rewrap', target, bytes: 0, reason: 'rotation' });
  }
  const keyVersions = [...counts.values()].sort(
    (a, b) => a.keyId.localeCompare(b.keyId) || a.version - b.version,
  );
  return { jobs: [...interrupted, ...jobs], keyVersions, plaintextFiles, notes };
}
