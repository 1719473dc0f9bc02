// Compiling a policy for one host into its decision table (docs/policy.md, "The compiled
// table"): sets become arrays and rules refer to them by index, user and group names
// become ids, actions become bitmasks, keys are checked against the host's key table (a
// key named without a version becomes its active version there).
// The table is plain JSON data: the agent hands it to the native core, which evaluates it
// on every operation the way policies/evaluate.ts does.
import { createHash } from 'node:crypto';

import type { KeyState } from '../common/key_states.js';
import { localAccounts, type Resolver } from './accounts.js';
import { actionMask } from './actions.js';
import { childPointer, PolicyError, type PolicyIssue } from './errors.js';
import type {
  NativeDecisionTable,
  NativeKeyRule,
  NativeProcessSet,
  NativeResourceSet,
  NativeRule,
  NativeUserSet,
} from '../native/core.js';
import type { ActiveKeyRef, KeyRef, KeyRuleSpec, Policy, SetKind } from './types.js';
import { checkPolicy } from './validate.js';

/** The version of the table's layout and of the action bits; the native side refuses others. */
export const DECISION_TABLE_FORMAT = 1;
/** A rule's set index when the rule leaves that set out: any path, user or process. */
export const ANY = -1;
/** A key index that stands for `clear_key`: the files stay plaintext. */
export const CLEAR_KEY = -1;
/** Bits of a rule's `negate`. Part of the table format, like the action bits. */
export const NEGATE: Readonly<Record<SetKind, number>> = Object.freeze({
  resourceSet: 1,
  userSet: 2,
  processSet: 4,
});

// The part the native layer evaluates is defined beside it (native/index.d.ts), so both
// sides read one shape.
export type CompiledResourceSet = NativeResourceSet;
export type CompiledUserSet = NativeUserSet;
export type CompiledProcessSet = NativeProcessSet;
export type CompiledRule = NativeRule;

/** `key`: an index into `keys`, or CLEAR_KEY. */
export type CompiledKeyRule = NativeKeyRule;

export interface CompiledTransformation {
  resource: number;
  current: number;
  target: number;
}

export interface DecisionTable extends NativeDecisionTable {
  format: typeof DECISION_TABLE_FORMAT;
  /** Every key version the key and transformation rules use, each once. */
  keys: KeyRef[];
  transformations: CompiledTransformation[];
}

/** A key version on the host, with its state; one given without a state counts as active. */
export interface KnownKey extends KeyRef {
  state?: KeyState;
}

const stateOf = (ref: KnownKey): KeyState => ref.state ?? 'active';

export interface CompileOptions {
  /**
   * The key versions on this host, with their states (keys.list() of the native core fits).
   * A key rule that names a key without a version takes the highest of its active versions
   * here. Versions without a state count as active: veil-mount's keys from files.
   */
  knownKeys: readonly KnownKey[];
  /** Default: /etc/passwd and /etc/group of this host. */
  resolveUser?: Resolver;
  resolveGroup?: Resolver;
  /** Names the policy in error messages. */
  source?: string;
}

/**
 * The policy as canonical JSON (RFC 8785 for the values a policy holds: members sorted by
 * name, no white space), without `$schema`, which only tells editors where the schema is.
 */
export function canonicalPolicy(policy: Policy): string {
  const canonical = (value: unknown): string => {
    if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
    if (value !== null && typeof value === 'object') {
      const object = value as Record<string, unknown>;
      const members = Object.keys(object)
        .sort()
        .map((name) => `${JSON.stringify(name)}:${canonical(object[name])}`);
      return `{${members.join(',')}}`;
    }
    return JSON.stringify(value);
  };
  const { $schema: _editorHint, ...rest } = policy;
  return canonical(rest);
}

export function policyDigest(policy: Policy): string {
  return createHash('sha256').update(canonicalPolicy(policy)).digest('hex');
}

function sortedIds(ids: Iterable<number>): number[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

export function compilePolicy(input: Policy, options: CompileOptions): DecisionTable {
  const source = options.source ?? 'policy';
  const policy = checkPolicy(input, source); // never trust the caller to have validated it
  const issues: PolicyIssue[] = [];
  const local = localAccounts(); // reads a file only when a name needs it
  const resolveUser = options.resolveUser ?? local.resolveUser;
  const resolveGroup = options.resolveGroup ?? local.resolveGroup;

  const resolve = (resolver: Resolver, names: string[] | undefined, at: string, what: string): number[] =>
    (names ?? []).flatMap((name, i) => {
      const pointer = childPointer(at, i);
      try {
        const id = resolver(name);
        if (id !== undefined) return [id];
        issues.push({ pointer, message: `there is no ${what} "${name}" on this host` });
      } catch (error) {
        issues.push({ pointer, message: `cannot resolve ${what} "${name}": ${(error as Error).message}` });
      }
      return [];
    });

  const resourceNames = Object.keys(policy.resourceSets ?? {});
  const userNames = Object.keys(policy.userSets ?? {});
  const processNames = Object.keys(policy.processSets ?? {});
  const indexOf = (names: string[], name: string | undefined): number =>
    name === undefined ? ANY : names.indexOf(name);

  const resources = Object.values(policy.resourceSets ?? {}).map((set) => ({
    include: [...set.include],
    exclude: [...(set.exclude ?? [])],
  }));
  const users = Object.entries(policy.userSets ?? {}).map(([name, set]) => {
    const at = childPointer('/userSets', name);
    return {
      uids: sortedIds([
        ...resolve(resolveUser, set.users, childPointer(at, 'users'), 'user'),
        ...(set.uids ?? []),
      ]),
      gids: sortedIds([
        ...resolve(resolveGroup, set.groups, childPointer(at, 'groups'), 'group'),
        ...(set.gids ?? []),
      ]),
    };
  });
  const processes = Object.values(policy.processSets ?? {}).map((set) => ({
    executables: [...set.executables],
    sha256:
      set.signatureSet === undefined ? null : [...policy.signatureSets![set.signatureSet].sha256].sort(),
  }));

  const rules = policy.securityRules.map((rule, ruleIndex): CompiledRule => {
    const permit = rule.effect.includes('permit');
    return {
      resource: indexOf(resourceNames, rule.resourceSet),
      user: indexOf(userNames, rule.userSet),
      process: indexOf(processNames, rule.processSet),
      negate: (rule.not ?? []).reduce((mask, kind) => mask | NEGATE[kind], 0),
      actions: actionMask(rule.actions),
      permit,
      applyKey: rule.effect.includes('apply_key'),
      audit: rule.effect.includes('audit') || !permit,
      ruleIndex,
    };
  });

  const keys: KeyRef[] = [];
  const onHost = (keyId: string): KnownKey[] =>
    options.knownKeys.filter((ref) => ref.keyId === keyId).sort((a, b) => a.version - b.version);
  // The version a rule names, or with no version the highest active one; undefined (and
  // an issue) when the host lacks it.
  const resolveKey = (spec: KeyRef | ActiveKeyRef, pointer: string): KeyRef | undefined => {
    const versions = onHost(spec.keyId);
    const listed = (describe: (ref: KnownKey) => string): string =>
      versions.length > 0
        ? `this host has versions ${[...new Set(versions.map(describe))].join(', ')}`
        : 'this host has no version of it';
    if (spec.version !== undefined) {
      if (versions.some((ref) => ref.version === spec.version)) return spec;
      const hint = listed((ref) => String(ref.version));
      issues.push({
        pointer,
        message: `key ${spec.keyId} version ${spec.version} is not on this host (${hint})`,
      });
      return undefined;
    }
    const active = versions.filter((ref) => stateOf(ref) === 'active').at(-1);
    if (active !== undefined) return active;
    const hint = listed((ref) => `${ref.version} ${stateOf(ref)}`);
    issues.push({ pointer, message: `key ${spec.keyId} has no active version on this host (${hint})` });
    return undefined;
  };
  const keyIndex = (spec: KeyRuleSpec, pointer: string): number => {
    if (spec === 'clear_key') return CLEAR_KEY;
    const ref = resolveKey(spec, pointer);
    if (ref === undefined) return CLEAR_KEY; // an issue is recorded: no table comes out
    const found = keys.findIndex((k) => k.keyId === ref.keyId && k.version === ref.version);
    return found !== -1 ? found : keys.push({ keyId: ref.keyId, version: ref.version }) - 1;
  };
  const keyRules = policy.keyRules.map((rule, i) => ({
    resource: indexOf(resourceNames, rule.resourceSet),
    key: keyIndex(rule.key, `/keyRules/${i}/key`),
  }));
  const transformations = (policy.dataTransformationRules ?? []).map((rule, i) => ({
    resource: indexOf(resourceNames, rule.resourceSet),
    current: keyIndex(rule.currentKey, `/dataTransformationRules/${i}/currentKey`),
    target: keyIndex(rule.transformationKey, `/dataTransformationRules/${i}/transformationKey`),
  }));

  if (issues.length > 0) throw new PolicyError('VEIL_POLICY_UNRESOLVED', source, issues);
  return {
    format: DECISION_TABLE_FORMAT,
    name: policy.name,
    digest: policyDigest(policy),
    learnMode: policy.learnMode ?? false,
    resources,
    users,
    processes,
    rules,
    keys,
    keyRules,
    transformations,
  };
}
