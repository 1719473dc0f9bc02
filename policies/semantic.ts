// The checks a JSON Schema cannot express: that names refer to sets that exist, that a
// rule's effect makes sense, and that no key or transformation rule is dead. They run on
// a document the schema accepted, so every field has its declared type.
import { childPointer, type PolicyIssue } from './errors.js';
import { SET_KINDS, type KeySpec, type Policy, type SetKind } from './types.js';

type SetMaps = 'resourceSets' | 'userSets' | 'processSets' | 'signatureSets';

const SET_WORDS: Record<SetMaps, string> = {
  resourceSets: 'resource set',
  userSets: 'user set',
  processSets: 'process set',
  signatureSets: 'signature set',
};

const MAP_OF: Record<SetKind, SetMaps> = {
  resourceSet: 'resourceSets',
  userSet: 'userSets',
  processSet: 'processSets',
};

export function sameKey(a: KeySpec, b: KeySpec): boolean {
  if (a === 'clear_key' || b === 'clear_key') return a === b;
  return a.keyId === b.keyId && a.version === b.version;
}

function checkReference(
  policy: Policy,
  map: SetMaps,
  name: string | undefined,
  pointer: string,
  issues: PolicyIssue[],
): void {
  if (name === undefined) return;
  const sets = policy[map] ?? {};
  if (Object.hasOwn(sets, name)) return;
  const defined = Object.keys(sets);
  const known = defined.length === 0 ? `no ${SET_WORDS[map]} is defined` : `defined: ${defined.join(', ')}`;
  issues.push({ pointer, message: `there is no ${SET_WORDS[map]} named "${name}" (${known})` });
}

/** Rules after one for the same resource set, or after one for every file, never apply. */
function checkShadowed(
  rules: readonly { resourceSet?: string }[],
  base: string,
  kind: string,
  issues: PolicyIssue[],
): void {
  const first = new Map<string | undefined, number>();
  rules.forEach((rule, i) => {
    const earlier = first.get(undefined) ?? first.get(rule.resourceSet);
    if (earlier !== undefined) {
      const what = first.get(undefined) === earlier ? 'covers every file' : 'is for the same resource set';
      issues.push({
        pointer: childPointer(base, i),
        message: `never applies: ${kind} ${childPointer(base, earlier)} comes first and ${what}`,
      });
    } else {
      first.set(rule.resourceSet, i);
    }
  });
}

export function semanticIssues(policy: Policy): PolicyIssue[] {
  const issues: PolicyIssue[] = [];

  for (const [name, set] of Object.entries(policy.userSets ?? {})) {
    if (!set.users?.length && !set.uids?.length && !set.groups?.length && !set.gids?.length) {
      issues.push({
        pointer: childPointer('/userSets', name),
        message: 'names nobody: give at least one of users, uids, groups, gids',
      });
    }
  }
  for (const [name, set] of Object.entries(policy.processSets ?? {})) {
    const at = childPointer(childPointer('/processSets', name), 'signatureSet');
    checkReference(policy, 'signatureSets', set.signatureSet, at, issues);
  }

  policy.securityRules.forEach((rule, i) => {
    const at = childPointer('/securityRules', i);
    for (const kind of SET_KINDS) {
      checkReference(policy, MAP_OF[kind], rule[kind], childPointer(at, kind), issues);
    }
    rule.not?.forEach((kind, j) => {
      if (rule[kind] === undefined) {
        issues.push({
          pointer: childPointer(childPointer(at, 'not'), j),
          message: `negates ${kind}, which this rule leaves out (it matches any): name a set or drop "${kind}" from not`,
        });
      }
    });
    if (rule.effect.includes('deny') && rule.effect.includes('apply_key')) {
      issues.push({
        pointer: childPointer(at, 'effect'),
        message:
          'apply_key cannot go with deny: a denied request reaches no data (learn mode applies the key itself)',
      });
    }
  });

  policy.keyRules.forEach((rule, i) => {
    checkReference(policy, 'resourceSets', rule.resourceSet, `/keyRules/${i}/resourceSet`, issues);
  });
  checkShadowed(policy.keyRules, '/keyRules', 'key rule', issues);

  const transformations = policy.dataTransformationRules ?? [];
  transformations.forEach((rule, i) => {
    const at = childPointer('/dataTransformationRules', i);
    checkReference(policy, 'resourceSets', rule.resourceSet, childPointer(at, 'resourceSet'), issues);
    if (sameKey(rule.currentKey, rule.transformationKey)) {
      issues.push({
        pointer: childPointer(at, 'transformationKey'),
        message: 'is the current key: there is nothing to transform',
      });
    }
  });
  checkShadowed(transformations, '/dataTransformationRules', 'data transformation rule', issues);
  return issues;
}
