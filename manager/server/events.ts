// The hosts' event stream, GET /v1/events: a WebSocket over the same TLS server, open only
// to registered hosts (their client certificate). On connect a host gets its offline unlock
// data, its guard points and a fresh key delivery; when it asks (a text message
// {"type":"sync"}), the same, or {"type":"current"} when the stream's last delivery is still all
// it needs; after every change that may concern it (routes.ts marks them; key dates too), its
// guard points and a fresh delivery (the offline data it already has is unchanged); after a
// new transport key, a fresh delivery; after a new offline password, its offline unlock data.
// Any other message from a host closes its stream (1008). A stream's syncs are answered at most
// once a second (MIN_RESYNC_INTERVAL_MS): those that come sooner are answered together. A host opens
// at most MAX_STREAM_OPENS_PER_MINUTE streams a minute and holds MAX_STREAMS_PER_HOST at once.
import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:https';
import type { Duplex } from 'node:stream';

import { WebSocketServer, type RawData, type WebSocket } from 'ws';

import { ManagerError } from '../../manager-client/errors.js';
import type { HostEvent } from '../../manager-client/types.js';
import type { AuditLog } from '../audit/audit_log.js';
import type { DeliveryService } from '../delivery/delivery_service.js';
import type { RegistrationService } from '../hosts/registration.js';
import type { ManagerStore } from '../store/store.js';
import { isCredentialRefusal, refusedStreamEntry } from './audit_hook.js';
import { requireHost } from './routes.js';

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

/** The largest message a host may send on its stream. */
const MAX_HOST_MESSAGE_BYTES = 1024;
const POLICY_VIOLATION = 1008;
/**
 * Hosts refreshed in one store transaction by refreshAll: their deliveries are recorded with one sync to
 * disk instead of one each (bench/manager.ts: a rotation fanned out to 1,000 hosts). The first batch is
 * small and each next one twice the size up to the most, so that the first hosts have theirs at once.
 */
const REFRESH_BATCH = 50;
const FIRST_REFRESH_BATCH = 5;
/**
 * The shortest time between two answers a stream asks for (on connect and by sync): the syncs that
 * come sooner are answered together by one at the end of it. Telling whether a stream is current
 * reads the store, and an answer that is not `current` is a delivery (an RSA encryption, a sync to
 * disk, an audit record), so a host that floods its stream with syncs would otherwise take the
 * manager's CPU and fill the audit trail; veild asks every syncIntervalSeconds.
 */
export const MIN_RESYNC_INTERVAL_MS = 1000;
/**
 * How many event streams a host may open in a minute, and hold at once: each new stream costs a
 * delivery as a sync does. Past the first, an upgrade is refused (429) until the minute is over; past
 * the second, the host's oldest stream is closed (a half-dead one a reconnect left, most likely).
 */
export const MAX_STREAM_OPENS_PER_MINUTE = 30;
export const MAX_STREAMS_PER_HOST = 4;
const TOO_MANY_STREAMS = 4008;

/** What a refresh sends to a host's streams, prepared (and its delivery recorded) before any is sent. */
interface Prepared {
  sockets: WebSocket[];
  /** The host's offline event, for `offlineTo` of its streams, ahead of the other events. */
  offline?: { event: HostEvent; to: WebSocket[] };
  events: HostEvent[];
  /** The delivery's sequence and plan (DeliveryService.deliveryPlan). */
  delivered: { sequence: string; plan: string };
}

/**
 * What a stream was last sent: a sync that would bring the same is answered `current`. The guard
 * points are the message as sent (the same string, kept: no copy).
 */
interface Delivered {
  sequence: string;
  plan: string;
  guardPoints: string;
}

/**
 * What a refresh sends: `all` (on connect and on sync) the offline event, the guard points and a
 * delivery; `changes` (after a change of keys, policies, guard points or groups) the same, the
 * offline event only to streams that have not had it yet (it changes only with the host's offline
 * password, which offlineChanged sends); `delivery` a delivery alone (a new transport key).
 */
type RefreshKind = 'all' | 'changes' | 'delivery';

/** Why a host's message is refused, or null for {"type":"sync"}. */
function refusalOf(data: RawData, isBinary: boolean): string | null {
  if (isBinary) return 'only text messages are taken';
  const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
  if (bytes.length > MAX_HOST_MESSAGE_BYTES) return `a message is at most ${MAX_HOST_MESSAGE_BYTES} bytes`;
  let message: unknown;
  try {
    message = JSON.parse(bytes.toString('utf8'));
  } catch {
    return 'a message is JSON';
  }
  const keys = typeof message === 'object' && message !== null ? Object.keys(message) : [];
  if (keys.length !== 1 || (message as { type?: unknown }).type !== 'sync') {
    return 'the only message taken is {"type":"sync"}';
  }
  return null;
}

function refuseUpgrade(socket: Duplex, error: unknown): void {
  const known =
    error instanceof ManagerError ? error : new ManagerError('VEIL_INTERNAL', 'the upgrade failed');
  const body = JSON.stringify({ error: { code: known.code, message: known.message } });
  socket.end(
    `HTTP/1.1 ${known.status} ${STATUS_TEXT[known.status] ?? 'Error'}\r\n` +
      (known.retryAfterSeconds === undefined ? '' : `retry-after: ${known.retryAfterSeconds}\r\n`) +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export class EventStream {
  // Beyond maxPayload the WebSocket layer itself closes the stream (1009).
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  readonly #connections = new Map<string, Set<WebSocket>>();
  // The TLS connections that made authenticated host requests, by host: closed when the
  // host is de-registered.
  readonly #httpConnections = new Map<string, Set<Duplex>>();
  #closed = false;
  // Streams connected in this turn, waiting for their first events (#refreshConnected).
  #connecting: { hostId: string; only: WebSocket }[] = [];
  // Streams that have had the host's offline event.
  readonly #offlineSent = new WeakSet<WebSocket>();
  readonly #delivered = new WeakMap<WebSocket, Delivered>();
  // By stream: when it was last refreshed as it asked, and the refresh due for the syncs since.
  readonly #resyncs = new WeakMap<WebSocket, { last: number; due?: NodeJS.Timeout }>();
  // By host: the minute its stream opens are counted in, and how many it has opened in it.
  readonly #opens = new Map<string, { since: number; count: number; refusalRecorded: boolean }>();
  // The TLS connection under each stream: corked while a refresh's messages are written, so that they
  // leave in one TLS record and one write instead of one each.
  readonly #streamSockets = new WeakMap<WebSocket, Duplex>();

  constructor(
    private readonly registration: RegistrationService,
    private readonly delivery: DeliveryService,
    private readonly store: ManagerStore,
    private readonly log: (line: string) => void,
    /** Where refused streams are recorded (audit_hook.ts, refusedStreamEntry). */
    private readonly audit?: AuditLog,
  ) {}

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      let hostId: string | undefined;
      try {
        if (new URL(req.url ?? '/', 'https://manager').pathname !== '/v1/events') {
          throw new ManagerError('VEIL_REQUEST_NOT_FOUND', `there is no WebSocket at ${req.url ?? ''}`);
        }
        hostId = requireHost({ req, registration: this.registration }).hostId;
        this.#countOpen(hostId);
      } catch (error) {
        this.#refuse(req, socket, error, hostId);
        return;
      }
      const opened = hostId;
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        this.#streamSockets.set(ws, socket);
        this.#connected(opened, ws);
      });
    });
  }

  /**
   * Answers a refused upgrade; once recorded in the audit trail when it is refused for who the caller
   * is, or the first time in its minute that a host opened too many streams (a host that reconnects in
   * a loop would fill the trail otherwise).
   */
  #refuse(req: IncomingMessage, socket: Duplex, error: unknown, hostId: string | undefined): void {
    const known = error instanceof ManagerError ? error : undefined;
    const recorded =
      known !== undefined &&
      (isCredentialRefusal(known.code) ||
        (known.code === 'VEIL_HOST_TOO_MANY_STREAMS' && this.#firstRefusal(hostId)));
    if (!recorded || this.audit === undefined) {
      refuseUpgrade(socket, error);
      return;
    }
    // Answered once recorded, as a refused call is.
    this.audit.appendDurably(refusedStreamEntry(req, this.store, known)).then(
      () => refuseUpgrade(socket, error),
      (failure: unknown) => {
        this.log(`the audit trail could not record a refused event stream: ${(failure as Error).message}`);
        refuseUpgrade(socket, new ManagerError('VEIL_INTERNAL', 'the refusal could not be recorded'));
      },
    );
  }

  /** Counts a stream the host opens; refuses it past MAX_STREAM_OPENS_PER_MINUTE. */
  #countOpen(hostId: string): void {
    const now = Date.now();
    let opens = this.#opens.get(hostId);
    if (opens === undefined || now - opens.since >= 60_000) {
      this.#opens.set(hostId, (opens = { since: now, count: 0, refusalRecorded: false }));
    }
    if (opens.count >= MAX_STREAM_OPENS_PER_MINUTE) {
      const seconds = Math.ceil((opens.since + 60_000 - now) / 1000);
      throw new ManagerError(
        'VEIL_HOST_TOO_MANY_STREAMS',
        `this host opened ${opens.count} event streams in the last minute, the most taken: connect again in ${seconds} s`,
        { retryAfterSeconds: seconds },
      );
    }
    opens.count += 1;
  }

  #firstRefusal(hostId: string | undefined): boolean {
    const opens = hostId === undefined ? undefined : this.#opens.get(hostId);
    if (opens === undefined || opens.refusalRecorded) return false;
    opens.refusalRecorded = true;
    return true;
  }

  /** Remembers a connection that carried a request of the host, until it closes. */
  track(hostId: string, socket: Duplex): void {
    let sockets = this.#httpConnections.get(hostId);
    if (!sockets) this.#httpConnections.set(hostId, (sockets = new Set()));
    if (sockets.has(socket)) return;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  }

  /** Tells the host it is de-registered, then closes every connection it has. */
  deregistered(hostId: string): void {
    const event: HostEvent = {
      type: 'deregistered',
      message: 'this host was de-registered: remove its guard points; its data stays encrypted',
    };
    for (const ws of this.#connections.get(hostId) ?? []) {
      ws.send(JSON.stringify(event), () => ws.close(4003, 'de-registered'));
    }
    this.#connections.delete(hostId);
    for (const socket of this.#httpConnections.get(hostId) ?? []) socket.destroy();
    this.#httpConnections.delete(hostId);
  }

  /**
   * Sends every connected host its guard points and a fresh delivery, in batches: a batch's deliveries
   * are recorded in one transaction and sent once it has committed (a sequence number is durable before
   * its delivery leaves, as for a single host), and share the keys read once; between batches the loop
   * yields, so that what was sent goes out and other requests are served. Each delivery is built from
   * the store as it is then.
   */
  refreshAll(): void {
    const hostIds = [...this.#connections.keys()];
    const batch = (from: number, size: number): void => {
      if (this.#closed) return;
      const hosts = hostIds.slice(from, from + size).filter((id) => this.#connections.has(id));
      this.#refreshTogether(
        hosts.map((hostId) => ({ hostId })),
        'changes',
      );
      if (from + size < hostIds.length) {
        setImmediate(() => batch(from + size, Math.min(REFRESH_BATCH, size * 2)));
      }
    };
    batch(0, FIRST_REFRESH_BATCH);
  }

  /**
   * Prepares the hosts' events in one store transaction and one audit transaction (each delivery in a
   * savepoint of its own: one that fails is logged and not sent, the others go), and sends them once
   * both have committed.
   */
  #refreshTogether(hosts: readonly { hostId: string; only?: WebSocket }[], kind: RefreshKind): void {
    if (hosts.length === 0) return;
    let prepared: (Prepared | undefined)[] = [];
    try {
      prepared = this.delivery.batch(() =>
        this.store.transaction(() => hosts.map(({ hostId, only }) => this.#prepare(hostId, only, kind))),
      );
    } catch (error) {
      this.log(`cannot record the deliveries of ${hosts.length} hosts: ${(error as Error).message}`);
    }
    for (const ready of prepared) if (ready) this.#send(ready);
  }

  /**
   * A newly connected stream's first events: with those of the other streams connected in the same
   * turn of the event loop (one sync to disk for their deliveries, not one each).
   */
  #refreshConnected(hostId: string, ws: WebSocket): void {
    this.#connecting.push({ hostId, only: ws });
    if (this.#connecting.length > 1) return;
    setImmediate(() => {
      const hosts = this.#connecting.filter(({ only }) => only.readyState === only.OPEN);
      this.#connecting = [];
      if (!this.#closed) this.#refreshTogether(hosts, 'all');
    });
  }

  /** The host's offline password changed: its open streams get the new `offline` event. */
  offlineChanged(hostId: string): void {
    const sockets = this.#connections.get(hostId);
    if (!sockets) return;
    const host = this.store.host(hostId);
    if (!host) return;
    let event: HostEvent;
    try {
      event = this.delivery.offlineEvent(host);
    } catch (error) {
      this.log(`cannot prepare the offline event of host ${hostId}: ${(error as Error).message}`);
      return;
    }
    for (const ws of sockets) {
      ws.send(JSON.stringify(event));
      this.#offlineSent.add(ws);
    }
  }

  /** The host has a new transport key: its open streams get a delivery wrapped to it. */
  transportKeyChanged(hostId: string): void {
    this.log(`host ${hostId}: new transport key`);
    if (this.#connections.has(hostId)) this.#refresh(hostId, undefined, 'delivery');
  }

  close(): void {
    this.#closed = true;
    for (const sockets of this.#connections.values()) for (const ws of sockets) ws.terminate();
    this.#connections.clear();
    this.#wss.close();
  }

  #connected(hostId: string, ws: WebSocket): void {
    let sockets = this.#connections.get(hostId);
    if (!sockets) this.#connections.set(hostId, (sockets = new Set()));
    sockets.add(ws);
    // A Set keeps its order: the first is the oldest.
    for (const oldest of sockets) {
      if (sockets.size <= MAX_STREAMS_PER_HOST) break;
      sockets.delete(oldest);
      oldest.close(
        TOO_MANY_STREAMS,
        `more than ${MAX_STREAMS_PER_HOST} streams of this host: the oldest is closed`,
      );
    }
    this.#resyncs.set(ws, { last: Date.now() });
    ws.on('close', () => {
      clearTimeout(this.#resyncs.get(ws)?.due);
      sockets.delete(ws);
      if (sockets.size === 0 && this.#connections.get(hostId) === sockets) this.#connections.delete(hostId);
    });
    ws.on('error', (error) => this.log(`event stream of host ${hostId}: ${error.message}`));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (ws.readyState !== ws.OPEN) return;
      const refusal = refusalOf(data, isBinary);
      if (refusal === null) {
        this.#resync(hostId, ws);
        return;
      }
      this.log(`event stream of host ${hostId}: closed: ${refusal}`);
      ws.close(POLICY_VIOLATION, refusal);
    });
    this.#refreshConnected(hostId, ws);
  }

  /** A sync the stream asked for: now, or with the others at the end of MIN_RESYNC_INTERVAL_MS. */
  #resync(hostId: string, ws: WebSocket): void {
    const resync = this.#resyncs.get(ws); // set when the stream connected
    if (resync === undefined || resync.due !== undefined) return;
    const answer = (): void => {
      resync.due = undefined;
      resync.last = Date.now();
      if (!this.#closed && ws.readyState === ws.OPEN) this.#answerSync(hostId, ws);
    };
    const wait = resync.last + MIN_RESYNC_INTERVAL_MS - Date.now();
    if (wait <= 0) answer();
    else resync.due = setTimeout(answer, wait);
  }

  /**
   * `current` when the stream has the host's last delivery and a new one would bring nothing else
   * (nor would its guard points): no delivery, no audit record, nothing for the host to install.
   * Otherwise, or when that cannot be told, everything again.
   */
  #answerSync(hostId: string, ws: WebSocket): void {
    const last = this.#delivered.get(ws);
    if (last && this.#stillCurrent(hostId, last)) {
      const current: HostEvent = { type: 'current', sequence: last.sequence };
      ws.send(JSON.stringify(current));
    } else {
      this.#refresh(hostId, ws, 'all');
    }
  }

  #stillCurrent(hostId: string, last: Delivered): boolean {
    try {
      const host = this.store.host(hostId);
      return (
        host !== undefined &&
        String(this.store.deliverySequence(hostId)) === last.sequence &&
        this.delivery.deliveryPlan(host) === last.plan &&
        JSON.stringify(this.delivery.guardPointsEvent(host)) === last.guardPoints
      );
    } catch (error) {
      this.log(`host ${hostId}: cannot compare with its last delivery: ${(error as Error).message}`);
      return false;
    }
  }

  #refresh(hostId: string, only: WebSocket | undefined, kind: RefreshKind): void {
    const ready = this.#prepare(hostId, only, kind);
    if (ready) this.#send(ready);
  }

  /** The events for the host's streams (its delivery recorded), or undefined when there is nothing to send. */
  #prepare(hostId: string, only: WebSocket | undefined, kind: RefreshKind): Prepared | undefined {
    const sockets = only ? [only] : [...(this.#connections.get(hostId) ?? [])];
    const host = this.store.host(hostId);
    if (!host) {
      for (const ws of sockets) ws.close(4001, 'this host is not registered');
      return undefined;
    }
    const offlineTo =
      kind === 'delivery'
        ? []
        : kind === 'all'
          ? sockets
          : sockets.filter((ws) => !this.#offlineSent.has(ws));
    try {
      const guardPoints = kind === 'delivery' ? undefined : this.delivery.guardPointsEvent(host);
      const delivery = this.delivery.deliveryEvent(host);
      // The offline event goes first (docs/protocol.md): a host seals its keys after a delivery.
      return {
        sockets,
        ...(offlineTo.length > 0
          ? { offline: { event: this.delivery.offlineEvent(host), to: offlineTo } }
          : {}),
        events: guardPoints ? [guardPoints, delivery] : [delivery],
        delivered: { sequence: delivery.sequence, plan: this.delivery.deliveryPlan(host) },
      };
    } catch (error) {
      this.log(`cannot prepare the events of host ${hostId}: ${(error as Error).message}`);
      return undefined;
    }
  }

  #send({ sockets, offline, events, delivered }: Prepared): void {
    const offlineMessage = offline && JSON.stringify(offline.event);
    const messages = events.map((event) => JSON.stringify(event));
    const guardPoints = messages[events.findIndex((event) => event.type === 'guardpoints')];
    for (const ws of sockets) {
      const socket = this.#streamSockets.get(ws);
      socket?.cork();
      try {
        if (offlineMessage !== undefined && offline?.to.includes(ws)) {
          ws.send(offlineMessage);
          this.#offlineSent.add(ws);
        }
        for (const message of messages) ws.send(message);
        // A delivery alone (a new transport key): the stream's guard points are still those it had.
        const had = guardPoints ?? this.#delivered.get(ws)?.guardPoints;
        if (had !== undefined) this.#delivered.set(ws, { ...delivered, guardPoints: had });
      } finally {
        socket?.uncork();
      }
    }
  }
}
