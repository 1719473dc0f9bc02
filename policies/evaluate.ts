// The reference evaluator of decision tables: what the native core must decide for each
// operation, written plainly so the two can be checked against each other on one table.
// docs/policy.md ("Evaluation") states the same rules in words.
import { actionBit, type FineAction } from './actions.js';
import {
  ANY,
  CLEAR_KEY,
  NEGATE,
  type CompiledProcessSet,
  type CompiledResourceSet,
  type CompiledUserSet,
  type DecisionTable,
} from './compile.js';
import { globMatch } from './glob.js';
import type { KeySpec } from './types.js';

export { globMatch };

/** One operation, as the native layer sees its caller. */
export interface Request {
  /** Relative to the guard point, no leading '/', "" for the guard point itself. */
  path: string;
  /** The file-system uid of the caller. */
  uid: number;
  /** The caller's gid and its supplementary groups. */
  gids: readonly number[];
  /** Absolute path of the caller's executable (/proc/PID/exe); null when it cannot be known. */
  exe: string | null;
  /** SHA-256 of that executable in lower-case hex; null when not taken or not readable. */
  exeSha256: string | null;
  action: FineAction;
}

export interface Decision {
  permit: boolean;
  /** The caller sees plaintext; a permit without it sees the stored bytes (ciphertext). */
  applyKey: boolean;
  audit: boolean;
  /** The securityRules index of the rule that decided, null when none matched. */
  rule: number | null;
  /** Denied by the rules, permitted by learn mode. */
  learned: boolean;
}

export function inResourceSet(set: CompiledResourceSet, path: string): boolean {
  return set.include.some((p) => globMatch(p, path)) && !set.exclude.some((p) => globMatch(p, path));
}

export function inUserSet(set: CompiledUserSet, uid: number, gids: readonly number[]): boolean {
  return set.uids.includes(uid) || gids.some((gid) => set.gids.includes(gid));
}

/** An unknown executable is in no process set, and an unknown hash matches no signature. */
export function inProcessSet(set: CompiledProcessSet, exe: string | null, exeSha256: string | null): boolean {
  if (exe === null || !set.executables.includes(exe)) return false;
  return set.sha256 === null || (exeSha256 !== null && set.sha256.includes(exeSha256));
}

/** A set the rule leaves out holds everything; a negated set holds what it does not. */
function holds(index: number, negated: boolean, contains: (index: number) => boolean): boolean {
  return index === ANY || contains(index) !== negated;
}

function learn(table: DecisionTable, decision: Decision): Decision {
  if (decision.permit || !table.learnMode) return decision;
  // With plaintext: a caller given the raw bytes by mistake could write them back as data.
  return { permit: true, applyKey: true, audit: true, rule: decision.rule, learned: true };
}

/** The first rule that matches decides; no match denies; learn mode turns a deny into a permit. */
export function decide(table: DecisionTable, request: Request): Decision {
  const bit = actionBit(request.action);
  for (const rule of table.rules) {
    if ((rule.actions & bit) === 0) continue;
    const matches =
      holds(rule.resource, (rule.negate & NEGATE.resourceSet) !== 0, (i) =>
        inResourceSet(table.resources[i], request.path),
      ) &&
      holds(rule.user, (rule.negate & NEGATE.userSet) !== 0, (i) =>
        inUserSet(table.users[i], request.uid, request.gids),
      ) &&
      holds(rule.process, (rule.negate & NEGATE.processSet) !== 0, (i) =>
        inProcessSet(table.processes[i], request.exe, request.exeSha256),
      );
    if (!matches) continue;
    const decision = {
      permit: rule.permit,
      applyKey: rule.applyKey,
      audit: rule.audit,
      rule: rule.ruleIndex,
    };
    return learn(table, { ...decision, learned: false });
  }
  return learn(table, { permit: false, applyKey: false, audit: true, rule: null, learned: false });
}

/** The key of a file: the first key rule whose resource set holds it; null when none does. */
export function selectKey(table: DecisionTable, path: string): { rule: number; key: KeySpec } | null {
  const rule = table.keyRules.findIndex(
    (r) => r.resource === ANY || inResourceSet(table.resources[r.resource], path),
  );
  if (rule === -1) return null;
  const index = table.keyRules[rule].key;
  return { rule, key: index === CLEAR_KEY ? 'clear_key' : table.keys[index] };
}
