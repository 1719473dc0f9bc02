// agentctl ldt status|pause|resume|set, answered inside veild: the settings change on
// disk first, then every rekeying worker looks again.
import path from 'node:path';

import type { GuardPointState, LdtStatus } from '../control/protocol.js';
import { AgentError } from '../errors.js';
import type { LdtSettings } from './ldt_settings.js';
import type { QosSettings } from './throttle.js';

export type LdtCommand = 'ldt.status' | 'ldt.pause' | 'ldt.resume' | 'ldt.set';

export interface LdtHost {
  settings: LdtSettings;
  states(): GuardPointState[];
  wake(): void;
}

export function ldtStatus(host: LdtHost): LdtStatus {
  const states = host.states();
  return {
    qos: host.settings.qos(),
    guardPoints: states.map((s) => ({
      guardPointId: s.guardPointId,
      path: s.path,
      status: s.status,
      paused: host.settings.paused(s.path),
      transformation: s.transformation ?? null,
    })),
  };
}

/** The guard point a request names (null: every one), which must be one of the host's. */
function target(host: LdtHost, args: Record<string, unknown>): string | null {
  if (args.path === undefined) return null;
  if (typeof args.path !== 'string' || args.path.length === 0 || args.path.includes('\0')) {
    throw new AgentError('VEIL_AGENT_BAD_REQUEST', 'path must be a guard point path');
  }
  const wanted = path.resolve(args.path);
  if (!host.states().some((s) => s.path === wanted)) {
    throw new AgentError('VEIL_AGENT_NO_GUARD_POINT', `there is no guard point at ${wanted}`);
  }
  return wanted;
}

export function handleLdt(host: LdtHost, command: LdtCommand, args: Record<string, unknown>): LdtStatus {
  switch (command) {
    case 'ldt.status':
      break;
    case 'ldt.pause':
    case 'ldt.resume':
      host.settings.setPaused(target(host, args), command === 'ldt.pause');
      break;
    case 'ldt.set': {
      const change: Partial<QosSettings> = {};
      for (const [name, value] of Object.entries(args)) {
        if (name === 'rateMBps' || name === 'cpuShare') {
          if (typeof value !== 'number')
            throw new AgentError('VEIL_AGENT_BAD_REQUEST', `${name} must be a number`);
          change[name] = value;
        } else if (name === 'windows') {
          if (!Array.isArray(value) || !value.every((w) => typeof w === 'string')) {
            throw new AgentError('VEIL_AGENT_BAD_REQUEST', 'windows must be a list of HH:MM-HH:MM');
          }
          change.windows = value;
        } else {
          throw new AgentError(
            'VEIL_AGENT_BAD_REQUEST',
            `${name} is not a rekey setting (rateMBps, cpuShare, windows)`,
          );
        }
      }
      host.settings.setQos(change);
      break;
    }
  }
  host.wake();
  return ldtStatus(host);
}
