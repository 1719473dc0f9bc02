// Learn mode's second half: the access records a guard point wrote while learning become
// suggested sets and rules. Each (user, process) pair that was let through gets one rule
// permitting, with the key, the actions it used on the directories it used them in. The
// suggestion is a starting point for a person to read and trim, never a policy applied
// by itself.
import path from 'node:path';

import type { FineAction } from './actions.js';
import { FINE_ACTIONS } from './actions.js';

/** One access record as describeEvent writes it (docs/policy.md, "Audit records"). */
export interface AccessRecord {
  user: string;
  uid: number;
  process: string;
  action: FineAction;
  resource: string; // absolute
  guardPoint: string;
  learned: boolean;
}

const FIELD = /([a-z_]+)=("(?:[^"\\]|\\.)*"|\S+)/g;

/** The access record on a log line, or undefined when the line holds none (or a malformed one). */
export function parseAccessLine(line: string): AccessRecord | undefined {
  const at = line.indexOf('access: ');
  if (at < 0) return undefined;
  const fields = new Map<string, string>();
  for (const match of line.slice(at + 'access: '.length).matchAll(FIELD)) {
    const raw = match[2] ?? '';
    fields.set(match[1] ?? '', raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw);
  }
  const action = fields.get('action');
  const uid = Number(fields.get('uid'));
  const [user, process, resource, guardPoint, effect] = [
    'user',
    'process',
    'resource',
    'guard_point',
    'effect',
  ].map((k) => fields.get(k));
  if (!action || !(FINE_ACTIONS as readonly string[]).includes(action) || !Number.isInteger(uid))
    return undefined;
  if (!user || !process || !resource || !guardPoint || !effect) return undefined;
  return {
    user,
    uid,
    process,
    action: action as FineAction,
    resource,
    guardPoint,
    learned: effect.split(',').includes('learned'),
  };
}

export interface Suggestion {
  /** How many learned records the suggestion covers. */
  records: number;
  resourceSets: Record<string, { include: string[] }>;
  userSets: Record<string, { users?: string[]; uids?: number[] }>;
  processSets: Record<string, { executables: string[] }>;
  securityRules: {
    description: string;
    resourceSet: string;
    userSet: string;
    processSet?: string;
    actions: FineAction[];
    effect: ['permit', 'apply_key'];
  }[];
}

/** The directory a record's action is about, relative to its guard point, as a pattern. */
function scope(record: AccessRecord): string {
  const relative = path.relative(record.guardPoint, record.resource);
  const directoryAction = record.action.startsWith('d_');
  const dir = directoryAction ? relative : path.dirname(relative);
  return dir === '' || dir === '.' ? '**' : `${dir}/**`;
}

function setName(prefix: string, value: string, taken: Set<string>): string {
  const base = `${prefix}-${value.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '') || 'x'}`.slice(
    0,
    60,
  );
  let name = /^[A-Za-z]/.test(base) ? base : `x${base}`;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  taken.add(name);
  return name;
}

/** Groups the learned records by user and process into permit rules. */
export function suggestRules(records: readonly AccessRecord[]): Suggestion {
  const learned = records.filter((r) => r.learned);
  const groups = new Map<string, { record: AccessRecord; actions: Set<FineAction>; scopes: Set<string> }>();
  for (const record of learned) {
    const key = `${record.uid}\0${record.process}`;
    const group = groups.get(key) ?? { record, actions: new Set(), scopes: new Set() };
    group.actions.add(record.action);
    group.scopes.add(scope(record));
    groups.set(key, group);
  }
  const suggestion: Suggestion = {
    records: learned.length,
    resourceSets: {},
    userSets: {},
    processSets: {},
    securityRules: [],
  };
  const names = new Set<string>();
  const userSetOf = new Map<number, string>();
  const processSetOf = new Map<string, string>();
  for (const { record, actions, scopes } of groups.values()) {
    let userSet = userSetOf.get(record.uid);
    if (userSet === undefined) {
      userSet = setName('user', record.user, names);
      // A name the log could not resolve is a number: keep it as a uid.
      suggestion.userSets[userSet] = /^\d+$/.test(record.user)
        ? { uids: [record.uid] }
        : { users: [record.user] };
      userSetOf.set(record.uid, userSet);
    }
    let processSet: string | undefined;
    if (record.process !== 'unknown') {
      processSet = processSetOf.get(record.process);
      if (processSet === undefined) {
        processSet = setName('process', path.basename(record.process), names);
        suggestion.processSets[processSet] = { executables: [record.process] };
        processSetOf.set(record.process, processSet);
      }
    }
    const resourceSet = setName('files', `${record.user}-${path.basename(record.process)}`, names);
    // Narrower scopes under a broader one add nothing.
    const include = [...scopes].sort().filter((s, _, all) => !all.some((o) => o !== s && o === '**'));
    suggestion.resourceSets[resourceSet] = { include };
    suggestion.securityRules.push({
      description: `learned: ${record.user} running ${record.process}`,
      resourceSet,
      userSet,
      ...(processSet === undefined ? {} : { processSet }),
      actions: FINE_ACTIONS.filter((a) => actions.has(a)),
      effect: ['permit', 'apply_key'],
    });
  }
  return suggestion;
}
