// What agentctl and veild say to each other over the control socket: one JSON request per
// connection, one JSON line per answer ("events --follow" keeps answering until closed).
import type { KeyInfo } from '../../native/core.js';
import type { RekeyProgress } from '../ldt/rekeyer.js';
import type { QosSettings } from '../ldt/throttle.js';

export interface GuardPointState {
  guardPointId: string;
  path: string;
  automatic: boolean;
  /** automatic: follows the manager; on/off: a manual guard point `agentctl guard` turned on or off. */
  config: 'automatic' | 'on' | 'off';
  policy: string;
  policyVersion: number;
  /** Key versions the compiled policy uses, as "keyId:version". */
  keys: string[];
  /** locked: mounted, refusing everything, until the keys are back (from the manager or `agentctl unlock`). */
  status: 'guarded' | 'locked' | 'released' | 'failed';
  message?: string;
  /** Live data transformation of the guard point's files (docs/ldt.md), while mounted. */
  transformation?: RekeyProgress;
}

/** `agentctl ldt status`: the QoS in force and each guard point's rekeying. */
export interface LdtStatus {
  qos: QosSettings;
  guardPoints: {
    guardPointId: string;
    path: string;
    status: GuardPointState['status'];
    paused: boolean;
    transformation: RekeyProgress | null;
  }[];
}

export interface AgentStatus {
  registered: boolean;
  hostId?: string;
  hostName?: string;
  manager?: {
    url: string;
    connected: boolean;
    lastContact: string | null;
    lastUpdate: string | null;
    lastError: string | null;
    certificateNotAfter: string | null;
  };
  /** The host's TLS private key: sealed to this machine (systemd-creds), or a 0600 file. */
  hostKey: 'sealed' | 'file' | 'none';
  /** No keys yet in this process: guard points refuse everything until the manager or `agentctl unlock`. */
  locked: boolean;
  offline: {
    /** The manager set an offline password for this host. */
    passwordSet: boolean;
    /** Key versions in the sealed key file, and when it was last written. */
    sealedKeys: number;
    sealedAt: string | null;
  } | null;
  guardPoints: GuardPointState[];
  keys: number;
  reportsQueued: number;
}

export interface AgentEvent {
  time: string;
  type: string;
  guardPoint?: string;
  line: string;
}

/** A key version in the native key table: data key, or the host's offline key (docs/agent.md). */
export interface HeldKey extends KeyInfo {
  role: 'data' | 'offline';
}

export interface PolicyShown {
  guardPoint: string;
  policy: string;
  version: number;
  document: unknown;
}

export interface Requests {
  status: [Record<string, never>, AgentStatus];
  register: [
    { manager: string; token: string; fingerprint?: string; hostname?: string },
    { hostId: string; hostName: string; manager: string },
  ];
  unregister: [Record<string, never>, { hostId: string }];
  'guard.list': [Record<string, never>, GuardPointState[]];
  'guard.add': [{ path: string }, GuardPointState];
  'guard.remove': [{ path: string }, GuardPointState];
  keys: [Record<string, never>, HeldKey[]];
  'policy.show': [{ path?: string }, PolicyShown[]];
  events: [{ follow: boolean; limit: number }, AgentEvent];
  challenge: [Record<string, never>, { hostId: string; challenge: string }];
  unlock: [{ password?: string; response?: string }, { keys: number }];
  'ldt.status': [Record<string, never>, LdtStatus];
  'ldt.pause': [{ path?: string }, LdtStatus];
  'ldt.resume': [{ path?: string }, LdtStatus];
  'ldt.set': [Partial<QosSettings>, LdtStatus];
}

export type Command = keyof Requests;

export const COMMANDS: readonly Command[] = [
  'status',
  'register',
  'unregister',
  'guard.list',
  'guard.add',
  'guard.remove',
  'keys',
  'policy.show',
  'events',
  'challenge',
  'unlock',
  'ldt.status',
  'ldt.pause',
  'ldt.resume',
  'ldt.set',
];

export interface Request<C extends Command = Command> {
  command: C;
  args: Requests[C][0];
}

export type Answer =
  { ok: true; result: unknown; more?: boolean } | { ok: false; code: string; message: string };

/** A request line is small; anything longer is not one. */
export const MAX_REQUEST_BYTES = 64 * 1024;
