// When an old key version may be destroyed (NIST SP 800-57 §8.3.4: a version is destroyed
// once nothing needs it any more). A rotation deactivates the old version at once, but files
// under it stay until each host's rekeying worker has moved them (docs/ldt.md); only the
// hosts know, and they say so in their guard point reports (`transformation.keyVersions`).
// A version is kept while a policy in use names it exactly, while it is the active version
// of a key a policy in use names without a version, and while a host that guards a
// directory under a policy using the key has not reported it unused, idle, for every such
// guard point (docs/keys.md, "Retirement").
import type { GuardPointStatus, KeyVersionUsage } from '../../manager-client/types.js';
import { storedPolicyKeys, type PolicyKeys } from '../policies/assignments.js';
import type { GuardPointRow, HostRow, KeyVersionRow, ManagerStore } from '../store/store.js';

/** What the key service asks about the versions of a key. */
export interface VersionUsageSource {
  /** Every version of the key, by number: what still needs it. */
  usage(keyId: string, versions: readonly KeyVersionRow[]): Map<number, KeyVersionUsage>;
}

/** Nothing needs any version: a service with no guard points (tests of the key service alone). */
export const UNUSED: VersionUsageSource = {
  usage: (_keyId, versions) =>
    new Map(
      versions.map((v) => [
        v.version,
        v.state === 'destroyed'
          ? { hostsUsing: [], hostsPending: [], destroyable: false, reason: 'it is destroyed' }
          : { hostsUsing: [], hostsPending: [], destroyable: true, reason: null },
      ]),
    ),
};

const hostLabel = (host: HostRow): string => `${host.name} (${host.id})`;
const plural = (n: number, one: string, many = `${one}s`): string =>
  `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

function reported(host: HostRow): Map<string, GuardPointStatus> {
  if (host.guardPointStatus === null) return new Map();
  try {
    const list = JSON.parse(host.guardPointStatus) as GuardPointStatus[];
    return new Map(list.map((s) => [s.guardPointId, s]));
  } catch {
    return new Map();
  }
}

/** Files the report counts under the version (0 when it names none). */
function filesUnder(status: GuardPointStatus | undefined, keyId: string, version: number): number {
  return (status?.transformation?.keyVersions ?? [])
    .filter((k) => k.keyId === keyId && k.version === version)
    .reduce((sum, k) => sum + k.files, 0);
}

const guards = (g: GuardPointRow, host: HostRow): boolean =>
  g.domain === host.domain &&
  (g.hostId === host.id || (g.hostGroup !== null && g.hostGroup === host.hostGroup));

export class Retirement implements VersionUsageSource {
  constructor(private readonly store: ManagerStore) {}

  usage(keyId: string, versions: readonly KeyVersionRow[]): Map<number, KeyVersionUsage> {
    const policies = new Map<string, PolicyKeys | undefined>();
    const named = (g: GuardPointRow): PolicyKeys | undefined => {
      if (!policies.has(g.policyId)) {
        const row = this.store.policy(g.policyId);
        policies.set(g.policyId, row ? storedPolicyKeys(JSON.parse(row.document)) : undefined);
      }
      return policies.get(g.policyId);
    };
    const guardPoints = this.store.guardPoints();
    // The guard points whose policy uses the key: names it with or without a version.
    const using = guardPoints.filter((g) => {
      const keys = named(g);
      return keys?.wholeKeys.includes(keyId) || keys?.versions.some((r) => r.keyId === keyId);
    });
    const wholeKey = using.find((g) => named(g)?.wholeKeys.includes(keyId));
    const hosts = this.store.hosts().filter((h) => h.deregisteredAt === null);
    const perHost = hosts.map((host) => ({
      host,
      all: guardPoints.filter((g) => guards(g, host)),
      using: using.filter((g) => guards(g, host)),
      status: reported(host),
    }));

    const result = new Map<number, KeyVersionUsage>();
    for (const row of versions) {
      const version = row.version;
      const hostsUsing: KeyVersionUsage['hostsUsing'] = [];
      const pending: string[] = [];
      const why: string[] = [];
      for (const { host, all, using: hostUsing, status } of perHost) {
        // Files under the version anywhere on the host's guard points count, whatever the policy says now.
        const files = all.reduce((sum, g) => sum + filesUnder(status.get(g.id), keyId, version), 0);
        if (files > 0) hostsUsing.push({ hostId: host.id, files });
        const unsettled = hostUsing.filter((g) => {
          const s = status.get(g.id);
          return s?.transformation?.state !== 'idle' || filesUnder(s, keyId, version) > 0;
        });
        if (files === 0 && unsettled.length === 0) continue;
        pending.push(host.id);
        if (files > 0) {
          why.push(`host ${hostLabel(host)} still has ${plural(files, 'file')} under it`);
        } else {
          const first = unsettled[0];
          const s = status.get(first.id);
          why.push(
            `host ${hostLabel(host)} has not reported ${first.path} idle without it` +
              (s === undefined
                ? ' (no report yet)'
                : s.transformation === undefined
                  ? ' (no transformation reported)'
                  : ` (rekey ${s.transformation.state})`),
          );
        }
      }
      const exact = using.find((g) =>
        named(g)?.versions.some((r) => r.keyId === keyId && r.version === version),
      );
      let reason: string | null = null;
      if (row.state === 'destroyed') reason = `version ${version} of key ${keyId} is destroyed`;
      else if (exact) {
        reason = `version ${version} of key ${keyId} protects the guard point ${exact.path}: change its policy first`;
      } else if (row.state === 'active' && wholeKey) {
        reason =
          `version ${version} of key ${keyId} protects the guard point ${wholeKey.path}, whose policy names ` +
          'the key without a version: it is the active version, which new files go under; rotate first';
      } else if (why.length > 0) {
        reason =
          `version ${version} of key ${keyId} is still in use: ${why.join('; ')}. ` +
          'It may be destroyed once every such host reports, for each guard point using the key, ' +
          'no file under it and its rekey idle';
      }
      result.set(version, { hostsUsing, hostsPending: pending, destroyable: reason === null, reason });
    }
    return result;
  }
}
