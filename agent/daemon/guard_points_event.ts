// The manager's "guardpoints" event, checked before the agent acts on it (or saves it):
// the policy documents inside are checked again when they are compiled.
import path from 'node:path';

import { versionName, type RekeyMode } from '../ldt/plan.js';
import type { WantedGuardPoint } from '../mounts/managed.js';
import { UUID } from '../../common/uuid.js';

function fail(what: string): never {
  throw new Error(what);
}

export function parseGuardPoints(event: unknown): WantedGuardPoint[] {
  const list = (event as { guardPoints?: unknown } | null)?.guardPoints;
  if (!Array.isArray(list)) fail('guardPoints is not a list');
  const seen = new Set<string>();
  return list.map((item: unknown, i): WantedGuardPoint => {
    const g = (item ?? {}) as Record<string, unknown>;
    const policy = (g.policy ?? {}) as Record<string, unknown>;
    if (typeof g.guardPointId !== 'string' || !UUID.test(g.guardPointId))
      fail(`guardPoints/${i}/guardPointId is not a UUID`);
    if (
      typeof g.path !== 'string' ||
      !path.isAbsolute(g.path) ||
      g.path.includes('\0') ||
      g.path.length > 4096
    ) {
      fail(`guardPoints/${i}/path is not an absolute path`);
    }
    if (path.normalize(g.path) === '/') fail(`guardPoints/${i}/path is the root directory`);
    if (seen.has(path.normalize(g.path))) fail(`guardPoints/${i}/path ${g.path} is given twice`);
    seen.add(path.normalize(g.path));
    if (typeof g.automatic !== 'boolean') fail(`guardPoints/${i}/automatic is not a boolean`);
    if (
      typeof policy.name !== 'string' ||
      !Number.isInteger(policy.version) ||
      typeof policy.document !== 'object'
    ) {
      fail(`guardPoints/${i}/policy is not a policy`);
    }
    return {
      guardPointId: g.guardPointId,
      path: path.normalize(g.path).replace(/\/$/, ''),
      automatic: g.automatic,
      policy: policy as unknown as WantedGuardPoint['policy'],
    };
  });
}

/**
 * The event's `rekey` list: how files reach each key version a rotation made (header-only
 * rewrap or full re-encryption). Missing from an older manager: every version rewraps.
 */
export function parseRekeyModes(event: unknown): Map<string, RekeyMode> {
  const list = (event as { rekey?: unknown } | null)?.rekey;
  const modes = new Map<string, RekeyMode>();
  if (list === undefined) return modes;
  if (!Array.isArray(list)) fail('rekey is not a list');
  list.forEach((item: unknown, i) => {
    const r = (item ?? {}) as Record<string, unknown>;
    if (typeof r.keyId !== 'string' || !UUID.test(r.keyId)) fail(`rekey/${i}/keyId is not a UUID`);
    if (!Number.isInteger(r.version) || (r.version as number) < 1)
      fail(`rekey/${i}/version is not a version`);
    if (r.mode !== 'rewrap' && r.mode !== 'full') fail(`rekey/${i}/mode is neither rewrap nor full`);
    modes.set(versionName({ keyId: r.keyId.toLowerCase(), version: r.version as number }), r.mode);
  });
  return modes;
}
