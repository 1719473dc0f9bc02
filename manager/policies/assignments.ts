// Policies and guard points in the manager. A policy is validated with the policy
// language's own checks (policies/) and every key version it names must exist here and
// not be destroyed (a key named without a version needs one version not destroyed); a
// guard point puts a policy on a directory of one host or of every host in a group. The
// key versions a host needs follow from these.
import { randomUUID } from 'node:crypto';
import path from 'node:path';

import { ManagerError } from '../../manager-client/errors.js';
import type { GuardPointView, NewGuardPoint, PolicyView } from '../../manager-client/types.js';
import {
  checkPolicy,
  PolicyError,
  type KeyRef,
  type KeyRuleSpec,
  type Policy,
} from '../../policies/index.js';
import type { GuardPointRow, HostRow, Insertable, ManagerStore, PolicyRow } from '../store/store.js';

const GROUP = /^[A-Za-z0-9._-]{1,64}$/;

function policyView(row: Insertable<PolicyRow>): PolicyView {
  return {
    policyId: row.id,
    name: row.name,
    version: row.version,
    updatedAt: new Date(row.updatedAt).toISOString(),
    document: JSON.parse(row.document) as unknown,
  };
}

/**
 * What a policy names of the manager's keys. A key rule may name a key without a version
 * (its active version on each host, which follows rotations): such a key counts as a whole,
 * since files under any of its versions may be in the guard point.
 */
export interface PolicyKeys {
  /** The exact versions, each once: key rules and data transformation rules. */
  versions: KeyRef[];
  /** The ids of the keys that key rules name without a version, each once. */
  wholeKeys: string[];
}

export function policyKeys(policy: Policy): PolicyKeys {
  const specs: KeyRuleSpec[] = [
    ...policy.keyRules.map((rule) => rule.key),
    ...(policy.dataTransformationRules ?? []).flatMap((rule) => [rule.currentKey, rule.transformationKey]),
  ];
  const versions = new Map<string, KeyRef>();
  const wholeKeys = new Set<string>();
  for (const spec of specs) {
    if (spec === 'clear_key') continue;
    if (spec.version === undefined) wholeKeys.add(spec.keyId);
    else versions.set(`${spec.keyId}/${spec.version}`, { keyId: spec.keyId, version: spec.version });
  }
  return { versions: [...versions.values()], wholeKeys: [...wholeKeys] };
}

/** What a stored policy names; stored documents were validated by putPolicy. */
export function storedPolicyKeys(document: unknown): PolicyKeys {
  return policyKeys(document as Policy);
}

export class Assignments {
  // Inside cached(): the guard points, and each policy's view, read once for every host asked about.
  #cache: { guardPoints?: GuardPointRow[]; policies: Map<string, PolicyView> } | undefined;

  constructor(
    private readonly store: ManagerStore,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs `work`, which asks forHost() for many hosts (a refresh of every host), with the guard points
   * and policies read once. Nothing changes them meanwhile: the work runs in one go.
   */
  cached<T>(work: () => T): T {
    if (this.#cache) return work();
    this.#cache = { policies: new Map() };
    try {
      return work();
    } finally {
      this.#cache = undefined;
    }
  }

  /** Adds a policy, or replaces the one of the same name (its version grows). */
  putPolicy(document: unknown): PolicyView {
    let policy: Policy;
    try {
      policy = checkPolicy(document, 'the policy');
    } catch (error) {
      if (error instanceof PolicyError) throw new ManagerError('VEIL_POLICY_REJECTED', error.message);
      throw error;
    }
    const named = policyKeys(policy);
    for (const ref of named.versions) {
      const version = this.store.versions(ref.keyId).find((v) => v.version === ref.version);
      if (!version || version.state === 'destroyed') {
        throw new ManagerError(
          'VEIL_POLICY_REJECTED',
          `the policy names version ${ref.version} of key ${ref.keyId}, which ${version ? 'is destroyed' : 'this domain does not have'}`,
        );
      }
    }
    for (const keyId of named.wholeKeys) {
      const versions = this.store.versions(keyId);
      if (!versions.some((v) => v.state !== 'destroyed')) {
        throw new ManagerError(
          'VEIL_POLICY_REJECTED',
          versions.length === 0
            ? `the policy names key ${keyId}, which this domain does not have`
            : `the policy names key ${keyId}, every version of which is destroyed`,
        );
      }
    }
    const existing = this.store.policyByName(policy.name);
    const row: Insertable<PolicyRow> = {
      id: existing?.id ?? randomUUID(),
      name: policy.name,
      version: (existing?.version ?? 0) + 1,
      document: JSON.stringify(policy),
      updatedAt: this.now(),
    };
    this.store.putPolicy(row);
    return policyView(row);
  }

  policies(): PolicyView[] {
    return this.store.policies().map(policyView);
  }

  policy(name: string): PolicyView {
    const row = this.store.policyByName(name);
    if (!row) throw new ManagerError('VEIL_POLICY_UNKNOWN', `there is no policy named ${name}`);
    return policyView(row);
  }

  addGuardPoint(request: NewGuardPoint): GuardPointView {
    const bad = (message: string) => new ManagerError('VEIL_GUARD_POINT_BAD_REQUEST', message);
    if (typeof request !== 'object' || request === null) throw bad('a guard point is a JSON object');
    const { path: dir, policy, hostId, hostGroup, automatic = true } = request;
    if (typeof dir !== 'string' || !path.isAbsolute(dir) || dir.includes('\0') || dir.length > 4096) {
      throw bad('path must be an absolute directory path');
    }
    if (path.normalize(dir) === '/') throw bad('the root directory cannot be a guard point');
    if (typeof automatic !== 'boolean') throw bad('automatic is true or false');
    if ((hostId === undefined) === (hostGroup === undefined))
      throw bad('give exactly one of hostId and hostGroup');
    if (hostGroup !== undefined && (typeof hostGroup !== 'string' || !GROUP.test(hostGroup))) {
      throw bad('a host group is 1 to 64 letters, digits, ".", "_" or "-"');
    }
    if (hostGroup !== undefined && !this.store.hostGroups().some((g) => g.name === hostGroup)) {
      throw bad(`there is no host group ${hostGroup}: make it first`);
    }
    if (hostId !== undefined && (typeof hostId !== 'string' || !this.store.host(hostId))) {
      throw bad(`there is no host ${String(hostId)}`);
    }
    const policyRow = this.store.policyByName(String(policy));
    if (!policyRow)
      throw new ManagerError('VEIL_POLICY_UNKNOWN', `there is no policy named ${String(policy)}`);
    const row: Insertable<GuardPointRow> = {
      id: randomUUID(),
      path: path.normalize(dir).replace(/\/$/, ''),
      policyId: policyRow.id,
      hostId: hostId ?? null,
      hostGroup: hostGroup ?? null,
      automatic,
      createdAt: this.now(),
    };
    this.store.insertGuardPoint(row);
    return this.guardPointView(row);
  }

  removeGuardPoint(id: string): void {
    if (!this.store.deleteGuardPoint(id)) {
      throw new ManagerError('VEIL_GUARD_POINT_UNKNOWN', `there is no guard point ${id}`);
    }
  }

  guardPoints(): GuardPointView[] {
    return this.store.guardPoints().map((row) => this.guardPointView(row));
  }

  /** The guard points of a host, directly or through its group, with their policies. */
  forHost(host: HostRow): { guardPoint: GuardPointRow; policy: PolicyView }[] {
    const cache = this.#cache;
    const guardPoints = cache?.guardPoints ?? this.store.guardPoints();
    if (cache) cache.guardPoints = guardPoints;
    return (
      guardPoints
        // Group names are a domain's own: a group of the same name elsewhere is another group.
        .filter(
          (g) =>
            g.domain === host.domain &&
            (g.hostId === host.id || (g.hostGroup !== null && g.hostGroup === host.hostGroup)),
        )
        .map((guardPoint) => {
          let policy = cache?.policies.get(guardPoint.policyId);
          if (!policy) {
            const row = this.store.policy(guardPoint.policyId);
            if (!row) throw new ManagerError('VEIL_INTERNAL', `guard point ${guardPoint.id} has no policy`);
            policy = policyView(row);
            cache?.policies.set(guardPoint.policyId, policy);
          }
          return { guardPoint, policy };
        })
    );
  }

  private guardPointView(row: Insertable<GuardPointRow>): GuardPointView {
    return {
      guardPointId: row.id,
      path: row.path,
      policy: this.store.policy(row.policyId)?.name ?? '',
      hostId: row.hostId,
      hostGroup: row.hostGroup,
      automatic: row.automatic,
      createdAt: new Date(row.createdAt).toISOString(),
    };
  }
}
