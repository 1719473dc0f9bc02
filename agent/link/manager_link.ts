// The agent's link to its manager: mutual TLS with the host certificate, the event stream
// kept open (reconnect with exponential backoff and full jitter), a periodic resync so a
// missed event is never a lost change, and certificate renewal before expiry. Before each
// stream opens, the transport public key of this process is registered again: the native
// core makes a new pair at every start and the private half never leaves it.
import { X509Certificate } from 'node:crypto';

import type WebSocket from 'ws';

import { ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';
import type { HostEvent } from '../../manager-client/types.js';
import { transportPublicKey } from '../mounts/host_native.js';
import type { AgentState, Enrollment, HostCredentials } from '../state/agent_state.js';
import { hostKeyAndCsr } from './enrollment.js';

export interface LinkHandlers {
  onEvent(event: HostEvent): void;
  /** The manager closed the stream as de-registered (4003). */
  onDeregistered(message: string): void;
  log(level: 'info' | 'warning' | 'error', message: string): void;
}

export interface LinkTiming {
  syncIntervalSeconds: number;
  maxBackoffSeconds: number;
  /** Renew when fewer days than this are left; default: a third of the certificate's life. */
  certificateRenewalDays?: number;
}

const DEREGISTERED_CLOSE = 4003;
const NORMAL_CLOSE = 1000;
const DAY = 24 * 60 * 60 * 1000;
/** Renew when less than this part of the certificate's life is left. */
const RENEW_AT_REMAINING = 1 / 3;

export class ManagerLink {
  #client: ManagerClient;
  #credentials: HostCredentials;
  #socket: WebSocket | undefined;
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;
  #sync: NodeJS.Timeout | undefined;
  #renewal: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The stream reopen() closed: its close is no news to log. */
  #reopening: WebSocket | undefined;
  connected = false;
  lastContact: Date | null = null;
  lastError: string | null = null;

  constructor(
    readonly enrollment: Enrollment,
    private readonly state: AgentState,
    private readonly timing: LinkTiming,
    private readonly handlers: LinkHandlers,
  ) {
    this.#credentials = state.credentials();
    this.#client = this.#makeClient();
  }

  #makeClient(): ManagerClient {
    return new ManagerClient({
      url: this.enrollment.managerUrl,
      caPem: this.#credentials.caPem,
      host: { keyPem: this.#credentials.keyPem, certificatePem: this.#credentials.certificatePem },
    });
  }

  /** The client for host requests (status, reports); it follows certificate renewals. */
  get client(): ManagerClient {
    return this.#client;
  }

  certificateNotAfter(): Date | null {
    try {
      return new Date(new X509Certificate(this.#credentials.certificatePem).validTo);
    } catch {
      return null;
    }
  }

  start(): void {
    this.#stopped = false;
    void this.#connect();
    // A stream may stay open for months: renewal is checked twice a day as well.
    clearInterval(this.#renewal);
    this.#renewal = setInterval(
      () => void this.#renewIfDue().catch((error: unknown) => this.#fail(error)),
      DAY / 2,
    );
    this.#renewal.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearInterval(this.#sync);
    clearInterval(this.#renewal);
    this.#socket?.removeAllListeners('close');
    this.#socket?.terminate();
    this.#socket = undefined;
    this.connected = false;
  }

  /** Asks the manager whether this stream is current: it answers `current`, or with everything again. */
  resync(): boolean {
    if (!this.#socket || this.#socket.readyState !== this.#socket.OPEN) return false;
    this.#socket.send(JSON.stringify({ type: 'sync' }));
    return true;
  }

  /** Closes the stream and opens a new one, whose first events are everything again. */
  reopen(why: string): void {
    const socket = this.#socket;
    if (!socket) return;
    this.handlers.log('info', `reopening the event stream: ${why}`);
    this.#reopening = socket;
    socket.close(NORMAL_CLOSE, 'reopening');
  }

  #fail(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (message !== this.lastError)
      this.handlers.log('warning', `manager ${this.enrollment.managerUrl}: ${message}`);
    this.lastError = message;
  }

  #scheduleReconnect(): void {
    if (this.#stopped) return;
    const ceiling = Math.min(this.timing.maxBackoffSeconds, 2 ** Math.min(this.#attempt, 16));
    this.#attempt += 1;
    // Full jitter: many hosts cut off together do not all come back in the same second.
    const delay = Math.random() * ceiling * 1000;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => void this.#connect(), delay);
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#renewIfDue();
      await this.#client.setTransportKey(transportPublicKey());
    } catch (error) {
      this.#fail(error);
      this.#scheduleReconnect();
      return;
    }
    if (this.#stopped) return;
    const socket = this.#client.events(
      (event) => {
        this.lastContact = new Date();
        this.handlers.onEvent(event);
      },
      (error: ManagerError) => this.#fail(error),
    );
    this.#socket = socket;
    socket.on('open', () => {
      this.connected = true;
      this.lastContact = new Date();
      this.lastError = null;
      this.#attempt = 0;
      this.handlers.log('info', `connected to the manager ${this.enrollment.managerUrl}`);
      clearInterval(this.#sync);
      this.#sync = setInterval(() => this.resync(), this.timing.syncIntervalSeconds * 1000);
    });
    socket.on('close', (code: number, reason: Buffer) => {
      const wasConnected = this.connected;
      this.connected = false;
      clearInterval(this.#sync);
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      if (code === DEREGISTERED_CLOSE) {
        this.#stopped = true;
        this.handlers.onDeregistered(reason.toString('utf8') || 'the manager de-registered this host');
        return;
      }
      if (wasConnected && this.#reopening !== socket)
        this.handlers.log('warning', `the manager closed the event stream (${code}); reconnecting`);
      this.#scheduleReconnect();
    });
  }

  /** A new key and certificate when a third of the certificate's life (or the days set) is left. */
  async #renewIfDue(now = Date.now()): Promise<void> {
    const certificate = new X509Certificate(this.#credentials.certificatePem);
    const from = new Date(certificate.validFrom).getTime();
    const to = new Date(certificate.validTo).getTime();
    const days = this.timing.certificateRenewalDays;
    const margin = days === undefined ? Math.max((to - from) * RENEW_AT_REMAINING, DAY) : days * DAY;
    if (to - now > margin) return;
    const { keyPem, csrPem } = await hostKeyAndCsr(this.enrollment.hostName);
    const renewed = await this.#client.renewCertificate(csrPem);
    this.state.saveCertificate(renewed.certificate, keyPem);
    this.#credentials = { ...this.#credentials, certificatePem: renewed.certificate, keyPem };
    this.#client = this.#makeClient();
    this.handlers.log(
      'info',
      `renewed the host certificate (valid until ${this.certificateNotAfter()?.toISOString()})`,
    );
  }
}
