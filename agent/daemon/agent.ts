// veild's control plane: the registration, the link to the manager, and what it sends
// applied to this host (guard points mounted with compiled policies, key deliveries handed
// unopened to the native core), reports queued back, and agentctl's requests answered.
import path from 'node:path';

import type { GuardPointTransformation, HostEvent, HostReport } from '../../manager-client/types.js';
import type { GuardPointEvent } from '../../native/core.js';
import { describeEvent } from '../cli/describe_event.js';
import type { AgentConfig } from '../config/agent_config.js';
import type {
  AgentEvent,
  AgentStatus,
  GuardPointState,
  HeldKey,
  PolicyShown,
  Request,
} from '../control/protocol.js';
import { AgentError } from '../errors.js';
import { handleLdt } from '../ldt/ldt_control.js';
import { LdtSettings } from '../ldt/ldt_settings.js';
import type { RekeyModes } from '../ldt/plan.js';
import type { RekeyProgress } from '../ldt/rekeyer.js';
import { register } from '../link/enrollment.js';
import { ManagerLink } from '../link/manager_link.js';
import { ReportQueue } from '../link/report_queue.js';
import { installDelivery, keys, offline } from '../mounts/host_native.js';
import { ManagedGuardPoints, wipeKeys, type WantedGuardPoint } from '../mounts/managed.js';
import {
  AgentState,
  parseOfflineInfo,
  type Enrollment,
  type OfflineInfo,
  type SealedKeys,
} from '../state/agent_state.js';
import { parseGuardPoints, parseRekeyModes } from './guard_points_event.js';
import type { Log } from './logger.js';

const KEPT_EVENTS = 1000;
/** How long new guard points wait for the delivery that follows them. */
const DELIVERY_WAIT_MS = 1000;

/** A string argument of a control request (required unless `required` is false). */
function text(args: object, name: string, required?: true): string;
function text(args: object, name: string, required: false): string | undefined;
function text(args: object, name: string, required = true): string | undefined {
  const value = (args as Record<string, unknown>)[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096 || value.includes('\0')) {
    throw new AgentError('VEIL_AGENT_BAD_REQUEST', `${name} must be a non-empty string`);
  }
  return value;
}

export class Agent {
  readonly #state: AgentState;
  readonly #guardPoints: ManagedGuardPoints;
  readonly #reports: ReportQueue;
  #enrollment: Enrollment | undefined;
  #link: ManagerLink | undefined;
  #wanted: WantedGuardPoint[] = [];
  #modes: RekeyModes = new Map();
  readonly #ldt: LdtSettings;
  #manual = new Set<string>();
  #offline: OfflineInfo | undefined;
  /**
   * Keys are here: from the first delivery of this process, or an offline unlock. Until
   * then the guard points are mounted locked (refusing everything).
   */
  #keysReady = false;
  #sequence = 0n;
  #lastUpdate: Date | null = null;
  #reconciling: Promise<unknown> = Promise.resolve();
  #pendingReconcile: NodeJS.Timeout | undefined;
  #linkError: string | null = null;
  readonly #lastRekeyState = new Map<string, string>();
  #reportTimer: NodeJS.Timeout | undefined;
  readonly #events: AgentEvent[] = [];
  readonly #followers = new Set<(event: AgentEvent) => void>();
  #firstApplied: () => void = () => {};
  readonly #applied = new Promise<void>((resolve) => (this.#firstApplied = resolve));

  constructor(
    private readonly config: AgentConfig,
    private readonly log: Log,
  ) {
    this.#state = new AgentState(config.stateDirectory);
    this.#state.prepare();
    this.#reports = new ReportQueue(this.#state.path('reports.jsonl'));
    this.#ldt = new LdtSettings(config.stateDirectory, config.rekey);
    this.#guardPoints = new ManagedGuardPoints(
      {
        cipher: config.cipher,
        threads: config.threads,
        stateDirectory: config.stateDirectory,
        ldt: this.#ldt,
        onRekeyProgress: (id, progress) => this.#rekeyProgress(id, progress),
        log: (line) => this.log('info', line),
      },
      (guardPoint, event) => this.#guardPointEvent(guardPoint, event),
    );
  }

  start(): void {
    this.#enrollment = this.#state.enrollment();
    this.#manual = new Set(this.#state.manualGuardPoints());
    if (this.#enrollment) {
      this.#offline = this.#state.offline();
      const saved = this.#state.guardPoints();
      if (saved !== undefined) {
        try {
          this.#wanted = parseGuardPoints(saved);
          this.#modes = parseRekeyModes(saved);
        } catch {
          this.log('warning', 'the saved guard points are damaged; waiting for the manager');
        }
      }
      // Locked until keys come: mounted at once, so nothing is written under them in the clear.
      if (this.#wanted.length > 0) void this.#reconcile();
      this.#startLink(this.#enrollment);
    } else {
      this.log('info', 'not registered: run agentctl register --manager URL --token TOKEN');
      this.#firstApplied();
    }
    this.#reportTimer = setInterval(() => void this.#sendReports(), this.config.reportIntervalSeconds * 1000);
  }

  /** Resolves once the guard points are up (or there are none to wait for), or after `ms`. */
  ready(ms: number): Promise<boolean> {
    return Promise.race([
      this.#applied.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref()),
    ]);
  }

  summary(): string {
    const states = this.#guardPoints.states();
    const guarded = states.filter((s) => s.status === 'guarded').length;
    if (!this.#enrollment) return 'not registered';
    const locked = states.filter((s) => s.status === 'locked').length;
    return (
      `${guarded} of ${states.length} guard points guarded` +
      `${locked > 0 ? `, ${locked} locked (agentctl unlock, or wait for the manager)` : ''}; ` +
      `manager ${this.#link?.connected ? 'connected' : 'unreachable'}`
    );
  }

  #startLink(enrollment: Enrollment): void {
    try {
      this.#link = new ManagerLink(enrollment, this.#state, this.config, {
        onEvent: (event) => this.#managerEvent(event),
        onDeregistered: (message) => void this.#forget(`de-registered by the manager: ${message}`),
        log: (level, message) => this.log(level, message),
      });
      this.#link.start();
      this.#linkError = null;
    } catch (error) {
      // No link (a host key that does not unseal here, say): the guard points stay locked,
      // and an offline unlock still works.
      this.#linkError = (error as Error).message;
      this.log('error', `cannot reach the manager: ${this.#linkError}`);
    }
  }

  #managerEvent(event: HostEvent): void {
    this.#lastUpdate = new Date();
    switch (event.type) {
      case 'guardpoints': {
        let wanted: WantedGuardPoint[];
        let modes: RekeyModes;
        try {
          wanted = parseGuardPoints(event);
          modes = parseRekeyModes(event);
        } catch (error) {
          this.#record('manager', `ignored guard points the manager sent: ${(error as Error).message}`);
          return;
        }
        this.#state.saveGuardPoints(event);
        this.#wanted = wanted;
        this.#modes = modes;
        // The manager follows guard points with a delivery of the keys they need: applied
        // now, a new guard point would fail for want of a key that is a moment away.
        if (this.#keysReady) {
          clearTimeout(this.#pendingReconcile);
          this.#pendingReconcile = setTimeout(() => void this.#reconcile(), DELIVERY_WAIT_MS);
        }
        return;
      }
      case 'delivery':
        this.#deliver(event.blob, event.sequence);
        return;
      case 'current':
        // The answer to a sync when nothing changed. A stream whose last delivery this host does
        // not hold (it refused it, say) is reopened: a new stream brings everything again.
        if (event.sequence !== String(this.#sequence)) {
          this.#link?.reopen(
            `the manager's last delivery on this stream is #${String(event.sequence)}; this host holds #${this.#sequence}`,
          );
        }
        return;
      case 'deregistered':
        void this.#forget(`de-registered by the manager: ${event.message}`);
        return;
      case 'offline':
        try {
          this.#offline = parseOfflineInfo(event);
        } catch (error) {
          this.#record(
            'manager',
            `ignored offline unlock data the manager sent: ${(error as Error).message}`,
          );
          return;
        }
        this.#state.saveOffline(this.#offline);
        this.#seal();
        return;
      default:
        this.log(
          'warning',
          `the manager sent an event of unknown type ${JSON.stringify((event as { type?: unknown }).type)}`,
        );
    }
  }

  #deliver(blob: unknown, sequence: unknown): void {
    const enrollment = this.#enrollment;
    if (!enrollment || typeof blob !== 'string' || typeof sequence !== 'string') return;
    try {
      const result = installDelivery(Buffer.from(blob, 'base64'), {
        hostId: enrollment.hostId,
        afterSequence: this.#sequence,
      });
      this.#sequence = result.sequence;
      const entries = result.entries.map((e) => `${e.keyId}:${e.version} ${e.action} ${e.state}`);
      this.#record(
        'delivery',
        `key delivery ${result.deliveryId} (#${result.sequence}): ${entries.join(', ') || 'nothing'}`,
      );
      this.#keysReady = true;
      this.#seal();
      void this.#reconcile();
    } catch (error) {
      const message = `refused key delivery #${sequence}: ${(error as Error).message}`;
      this.#record('delivery', message);
      this.#reports.add({ type: 'key-unavailable', code: (error as { code?: string }).code, message });
    }
  }

  /**
   * Writes the sealed key file (docs/protocol.md, "Offline unlock"): every key version the
   * native core holds, sealed there under the host's offline key, which never leaves it.
   */
  #seal(): void {
    const enrollment = this.#enrollment;
    const info = this.#offline;
    if (!enrollment || !info || !this.#keysReady) return;
    const ref = { keyId: info.offlineKeyId, version: info.offlineKeyVersion };
    const held = keys.list();
    if (!held.some((k) => k.keyId === ref.keyId && k.version === ref.version)) return;
    try {
      const sealed = offline.seal(enrollment.hostId, ref);
      this.#state.saveSealedKeys({
        sealed: sealed.toString('base64'),
        keys: held
          .filter((k) => k.keyId !== ref.keyId)
          .map(({ keyId, version, state }) => ({ keyId, version, state })),
        sealedAt: new Date().toISOString(),
      });
    } catch (error) {
      this.log('error', `cannot write the sealed key file: ${(error as Error).message}`);
    }
  }

  #reconcile(): Promise<unknown> {
    clearTimeout(this.#pendingReconcile);
    this.#reconciling = this.#reconciling.then(async () => {
      const before = new Map(this.#guardPoints.states().map((s) => [s.guardPointId, s]));
      const locked = !this.#keysReady;
      const states = await this.#guardPoints.reconcile(this.#wanted, this.#manual, locked, this.#modes);
      for (const state of states) {
        const old = before.get(state.guardPointId);
        if (
          old?.status === state.status &&
          old.message === state.message &&
          old.policyVersion === state.policyVersion
        ) {
          continue;
        }
        const line = `${state.path}: ${state.status}${state.message ? ` (${state.message})` : ''}, policy ${state.policy} v${state.policyVersion}`;
        this.#record('guard', line, state.path);
        if (state.status === 'failed') {
          this.#reports.add({
            type: 'guard-failed',
            guardPoint: state.path,
            message: state.message ?? 'failed',
          });
        }
      }
      if (!locked) this.#firstApplied();
      await this.#reportStatus(states);
    });
    return this.#reconciling;
  }

  /** A rekeying worker's state changed, or it moved on: the log and the manager hear of it. */
  #rekeyProgress(guardPointId: string, progress: RekeyProgress): void {
    const state = this.#guardPoints.states().find((s) => s.guardPointId === guardPointId);
    if (state && this.#lastRekeyState.get(guardPointId) !== progress.state) {
      this.#lastRekeyState.set(guardPointId, progress.state);
      const done = `${progress.filesDone}/${progress.filesTotal} files`;
      this.#record(
        'rekey',
        `${state.path}: rekey ${progress.state} (${done})${progress.message ? `: ${progress.message}` : ''}`,
        state.path,
      );
    }
    void this.#reportStatus(this.#guardPoints.states());
  }

  async #reportStatus(states: GuardPointState[]): Promise<void> {
    const link = this.#link;
    if (!link?.connected) return;
    try {
      await link.client.reportStatus(
        states.map((s) =>
          s.status === 'locked'
            ? { guardPointId: s.guardPointId, state: 'failed' as const, message: 'locked: no keys yet' }
            : {
                guardPointId: s.guardPointId,
                state: s.status,
                ...(s.message ? { message: s.message } : {}),
                ...(s.transformation ? { transformation: transformationReport(s.transformation) } : {}),
              },
        ),
      );
    } catch (error) {
      this.log('debug', `guard point status not reported: ${(error as Error).message}`);
    }
  }

  async #sendReports(): Promise<void> {
    const link = this.#link;
    if (!link?.connected || this.#reports.length === 0) return;
    try {
      await this.#reports.flush((batch: HostReport[]) => link.client.reportEvents(batch));
    } catch (error) {
      this.log('debug', `reports kept for later: ${(error as Error).message}`);
    }
  }

  #guardPointEvent(guardPoint: string, event: GuardPointEvent): void {
    this.#record(event.type, describeEvent(event, guardPoint), guardPoint);
    const { access } = event;
    this.#reports.add({
      type: event.type,
      guardPoint,
      path: event.path,
      ...(event.code ? { code: event.code } : {}),
      message: event.message,
      uid: event.uid,
      pid: event.pid,
      ...(access
        ? {
            time: new Date(access.time).toISOString(),
            access: {
              policy: access.policy,
              digest: access.digest,
              rule: access.rule,
              action: access.action,
              effect: access.effect,
              applyKey: access.applyKey,
              learned: access.learned,
              gid: access.gid,
              executable: access.executable,
            },
          }
        : {}),
    });
  }

  #record(type: string, line: string, guardPoint?: string): void {
    const event: AgentEvent = {
      time: new Date().toISOString(),
      type,
      line,
      ...(guardPoint ? { guardPoint } : {}),
    };
    this.#events.push(event);
    if (this.#events.length > KEPT_EVENTS) this.#events.shift();
    if (type !== 'access') this.log(type === 'guard' && line.includes(': failed') ? 'warning' : 'info', line);
    for (const follower of this.#followers) follower(event);
  }

  /** Guard points released, keys wiped, registration forgotten; the data stays encrypted. */
  async #forget(reason: string): Promise<void> {
    const enrollment = this.#enrollment;
    if (!enrollment) return;
    this.#enrollment = undefined;
    this.#link?.stop();
    this.#link = undefined;
    clearTimeout(this.#pendingReconcile);
    await this.#reconciling;
    await this.#guardPoints.reconcile([], new Set());
    const wiped = wipeKeys();
    this.#state.clear();
    this.#reports.clear();
    this.#wanted = [];
    this.#manual.clear();
    this.#offline = undefined;
    this.#lastUpdate = null;
    this.#keysReady = false;
    this.#sequence = 0n;
    this.#record(
      'registration',
      `host ${enrollment.hostId} ${reason}: guard points released, ${wiped} key versions wiped`,
    );
  }

  status(): AgentStatus {
    const link = this.#link;
    const enrollment = this.#enrollment;
    const sealed = enrollment ? this.#state.sealedKeys() : undefined;
    return {
      registered: enrollment !== undefined,
      ...(enrollment ? { hostId: enrollment.hostId, hostName: enrollment.hostName } : {}),
      ...(enrollment
        ? {
            manager: {
              url: enrollment.managerUrl,
              connected: link?.connected ?? false,
              lastContact: link?.lastContact?.toISOString() ?? null,
              lastUpdate: this.#lastUpdate?.toISOString() ?? null,
              lastError: link ? link.lastError : this.#linkError,
              certificateNotAfter: link?.certificateNotAfter()?.toISOString() ?? null,
            },
          }
        : {}),
      hostKey: this.#state.hostKeyProtection(),
      locked: enrollment !== undefined && !this.#keysReady,
      offline: enrollment
        ? {
            passwordSet: Boolean(this.#offline?.passwordWrapper),
            sealedKeys: sealed?.keys.length ?? 0,
            sealedAt: sealed?.sealedAt ?? null,
          }
        : null,
      guardPoints: this.#guardPointList(),
      keys: this.#keyList().filter((k) => k.role === 'data').length,
      reportsQueued: this.#reports.length,
    };
  }

  /** Every guard point the manager assigned, applied or still waiting for keys. */
  #guardPointList(): GuardPointState[] {
    const applied = new Map(this.#guardPoints.states().map((s) => [s.guardPointId, s]));
    return this.#wanted
      .map(
        (w): GuardPointState =>
          applied.get(w.guardPointId) ?? {
            guardPointId: w.guardPointId,
            path: w.path,
            automatic: w.automatic,
            config: w.automatic ? 'automatic' : this.#manual.has(w.guardPointId) ? 'on' : 'off',
            policy: w.policy.name,
            policyVersion: w.policy.version,
            keys: [],
            status: 'released',
            message: 'waiting for keys from the manager',
          },
      )
      .sort((a, b) => a.path.localeCompare(b.path));
  }

  #requireEnrollment(): Enrollment {
    if (!this.#enrollment) {
      throw new AgentError(
        'VEIL_AGENT_NOT_REGISTERED',
        'this host is not registered: run agentctl register first',
      );
    }
    return this.#enrollment;
  }

  async #setManual(target: string, on: boolean): Promise<GuardPointState> {
    this.#requireEnrollment();
    const wanted = path.resolve(target);
    const guardPoint = this.#wanted.find((w) => w.path === wanted);
    if (!guardPoint) {
      throw new AgentError(
        'VEIL_AGENT_NO_GUARD_POINT',
        `the manager assigned no guard point at ${wanted} to this host (agentctl guard list shows those it did)`,
      );
    }
    if (guardPoint.automatic) {
      throw new AgentError(
        'VEIL_AGENT_GUARD_AUTOMATIC',
        `${wanted} is an automatic guard point: it follows the manager, which guards it while assigned`,
      );
    }
    if (on) this.#manual.add(guardPoint.guardPointId);
    else this.#manual.delete(guardPoint.guardPointId);
    this.#state.saveManualGuardPoints([...this.#manual]);
    await this.#reconcile();
    const state = this.#guardPointList().find((s) => s.guardPointId === guardPoint.guardPointId);
    if (!state)
      throw new AgentError('VEIL_AGENT_NO_GUARD_POINT', `${wanted} is no longer assigned to this host`);
    return state;
  }

  /** The key table (never material), the host's offline key told apart from data keys. */
  #keyList(): HeldKey[] {
    const offlineKeyId = this.#offline?.offlineKeyId;
    return keys.list().map((k) => ({ ...k, role: k.keyId === offlineKeyId ? 'offline' : 'data' }));
  }

  #requireLocked(): { enrollment: Enrollment; info: OfflineInfo; sealed: SealedKeys } {
    const enrollment = this.#requireEnrollment();
    if (this.#keysReady) {
      throw new AgentError('VEIL_AGENT_NOT_LOCKED', 'this host has its keys: there is nothing to unlock');
    }
    const info = this.#offline;
    const sealed = this.#state.sealedKeys();
    if (!info || !sealed) {
      throw new AgentError(
        'VEIL_AGENT_NO_SEALED_KEYS',
        'this host holds no sealed keys (it never had keys with offline unlock from its manager): wait for the manager',
      );
    }
    return { enrollment, info, sealed };
  }

  #unlock(args: { password?: string; response?: string }): { keys: number } {
    const locked = this.#requireLocked();
    const { enrollment, info } = locked;
    const sealed = Buffer.from(locked.sealed.sealed, 'base64');
    const ref = { keyId: info.offlineKeyId, version: info.offlineKeyVersion };
    let installed: { keyId: string }[];
    if (args.password !== undefined) {
      const wrapper = info.passwordWrapper;
      if (!wrapper) {
        throw new AgentError(
          'VEIL_AGENT_NO_OFFLINE_PASSWORD',
          'the manager set no offline password for this host: use agentctl challenge',
        );
      }
      installed = offline.unlockPassword(
        sealed,
        enrollment.hostId,
        ref,
        {
          salt: Buffer.from(wrapper.salt, 'base64'),
          N: wrapper.N,
          r: wrapper.r,
          p: wrapper.p,
          nonce: Buffer.from(wrapper.nonce, 'base64'),
          ciphertext: Buffer.from(wrapper.ciphertext, 'base64'),
        },
        Buffer.from(args.password, 'utf8'),
      );
    } else {
      const response = args.response ?? '';
      if (!/^[A-Za-z0-9_-]{64}$/.test(response)) {
        throw new AgentError(
          'VEIL_AGENT_BAD_REQUEST',
          'the response is the 64 characters veil-manager host respond printed',
        );
      }
      installed = offline.unlockResponse(
        sealed,
        enrollment.hostId,
        ref,
        Buffer.from(info.managerPublicKey, 'base64'),
        Buffer.from(response, 'base64url'),
      );
    }
    this.#keysReady = true;
    const how = args.password !== undefined ? 'password' : 'challenge-response';
    const count = installed.filter((k) => k.keyId !== info.offlineKeyId).length;
    this.#record('unlock', `unlocked offline (${how}): ${count} key versions`);
    return { keys: count };
  }

  async handle(
    request: Request,
    send: (result: unknown) => boolean,
    closed: Promise<void>,
  ): Promise<unknown> {
    switch (request.command) {
      case 'status':
        return this.status();
      case 'register': {
        if (this.#enrollment) {
          throw new AgentError(
            'VEIL_AGENT_ALREADY_REGISTERED',
            `this host is registered with ${this.#enrollment.managerUrl} as ${this.#enrollment.hostName}: run agentctl unregister first`,
          );
        }
        const args = request.args as Record<string, unknown>;
        const { enrollment, credentials } = await register({
          manager: text(args, 'manager'),
          token: text(args, 'token'),
          fingerprint: text(args, 'fingerprint', false),
          hostname: text(args, 'hostname', false),
        });
        this.#state.saveRegistration(enrollment, credentials);
        this.#enrollment = enrollment;
        this.#record(
          'registration',
          `registered with ${enrollment.managerUrl} as ${enrollment.hostName} (${enrollment.hostId})`,
        );
        this.#startLink(enrollment);
        return { hostId: enrollment.hostId, hostName: enrollment.hostName, manager: enrollment.managerUrl };
      }
      case 'unregister': {
        const enrollment = this.#requireEnrollment();
        await this.#forget('unregistered by agentctl');
        return { hostId: enrollment.hostId };
      }
      case 'guard.list':
        return this.#guardPointList();
      case 'guard.add':
        return this.#setManual(text(request.args, 'path'), true);
      case 'guard.remove':
        return this.#setManual(text(request.args, 'path'), false);
      case 'keys':
        return this.#keyList();
      case 'policy.show': {
        const target = text(request.args, 'path', false);
        const wanted = target === undefined ? undefined : path.resolve(target);
        const shown: PolicyShown[] = this.#wanted
          .filter((w) => wanted === undefined || w.path === wanted)
          .map((w) => ({
            guardPoint: w.path,
            policy: w.policy.name,
            version: w.policy.version,
            document: w.policy.document,
          }));
        if (wanted !== undefined && shown.length === 0) {
          throw new AgentError('VEIL_AGENT_NO_GUARD_POINT', `there is no guard point at ${wanted}`);
        }
        return shown;
      }
      case 'challenge': {
        const { enrollment } = this.#requireLocked();
        const challenge = offline.challenge().toString('base64url');
        this.#record('unlock', 'challenge issued for an offline unlock');
        return { hostId: enrollment.hostId, challenge };
      }
      case 'unlock': {
        const password = text(request.args, 'password', false);
        const response = text(request.args, 'response', false);
        if ((password === undefined) === (response === undefined)) {
          throw new AgentError(
            'VEIL_AGENT_BAD_REQUEST',
            'unlock takes a password or a response, one of them',
          );
        }
        const result = this.#unlock({ password, response });
        await this.#reconcile();
        return result;
      }
      case 'ldt.status':
      case 'ldt.pause':
      case 'ldt.resume':
      case 'ldt.set':
        return handleLdt(
          {
            settings: this.#ldt,
            states: () => this.#guardPoints.states(),
            wake: () => this.#guardPoints.wakeRekeyers(),
          },
          request.command,
          request.args,
        );
      case 'events': {
        const { follow, limit } = request.args as { follow?: unknown; limit?: unknown };
        if (typeof follow !== 'boolean' || !Number.isInteger(limit)) {
          throw new AgentError(
            'VEIL_AGENT_BAD_REQUEST',
            'events takes follow (a boolean) and limit (an integer)',
          );
        }
        const count = Math.max(0, Math.min(limit as number, KEPT_EVENTS));
        for (const event of count === 0 ? [] : this.#events.slice(-count)) send(event);
        if (!follow) return null;
        this.#followers.add(send);
        await closed;
        this.#followers.delete(send);
        return null;
      }
    }
  }

  /** SIGTERM: guard points released (the kernel flushes), keys wiped, reports kept on disk. */
  async stop(): Promise<void> {
    clearInterval(this.#reportTimer);
    clearTimeout(this.#pendingReconcile);
    this.#link?.stop();
    await this.#reconciling;
    await this.#guardPoints.unmountAll();
    wipeKeys();
  }
}

/** What the manager hears of a rekeying worker (GuardPointTransformation in manager-client/types.ts). */
function transformationReport(p: RekeyProgress): GuardPointTransformation {
  const failed = p.failedFiles > 0 ? `${p.failedFiles} file(s) could not be transformed` : undefined;
  const message = [p.message, failed].filter((m) => m !== undefined).join('; ');
  return {
    state: p.state,
    filesTotal: p.filesTotal,
    filesDone: p.filesDone,
    bytesTotal: p.bytesTotal,
    bytesDone: p.bytesDone,
    etaSeconds: p.etaSeconds,
    keyVersions: p.keyVersions,
    plaintextFiles: p.plaintextFiles,
    ...(message ? { message: message.slice(0, 1000) } : {}),
  };
}
