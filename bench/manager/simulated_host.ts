// One simulated host: registers with its token, CSR and transport public key (POST /v1/registration),
// then keeps its event stream open over mutual TLS with the certificate it got, through the same client
// the agent uses (ManagerClient.events, the `ws` package). Every delivery is opened as the native core
// would open it (open_delivery.ts): for this host, with a sequence number above the last one accepted.
import type { SecureContext } from 'node:tls';

import type WebSocket from 'ws';

import { ManagerClient } from '../../manager-client/client.js';
import type { HostEvent } from '../../manager-client/types.js';
import type { HostIdentity } from './identity.js';
import type { OpenedEntry } from './open_delivery.js';
import type { Opened } from './openers.js';

/** Opens a blob for a host with transport key number `transport` of the pool. */
export type Opener = (blob: Buffer, hostId: string, transport: number) => Promise<Opened>;

export interface OpenedRecord {
  sequence: bigint;
  /** performance.now() when the delivery message arrived, and when the blob was open. */
  receivedAt: number;
  openedAt: number;
  /** How long the opening itself took (RSA unwrap and GCM), waiting for an opener not counted. */
  openMs: number;
  entries: OpenedEntry[];
  /** The blob as it came, for the benchmark's reference run of the same openings. */
  blob: Buffer;
}

export class SimulatedHost {
  hostId: string | undefined;
  #certificatePem: string | undefined;
  #socket: WebSocket | undefined;
  #lastSequence = 0n;
  #closing = false;
  readonly opened: OpenedRecord[] = [];
  /** Failures of this host after registration: a stream error or close, a delivery that did not open. */
  readonly problems: string[] = [];

  constructor(
    readonly identity: HostIdentity,
    private readonly opener: Opener,
    private readonly onOpened: (host: SimulatedHost, record: OpenedRecord) => void,
  ) {}

  /**
   * Registers with the token. `secureContext`: the TLS context that trusts the manager's CA, made once
   * for all the simulated hosts (a real host makes its own, on its own CPU).
   */
  async register(
    url: string,
    caPem: string,
    token: string,
    transportPublicKey: string,
    secureContext?: SecureContext,
  ): Promise<void> {
    const registered = await new ManagerClient({ url, caPem, secureContext, timeoutMs: 120_000 }).register({
      token,
      csr: this.identity.csrPem,
      transportPublicKey,
      hostname: this.identity.name,
    });
    this.hostId = registered.hostId;
    this.#certificatePem = registered.certificate;
  }

  /** Opens the event stream; resolves when the WebSocket is open, rejects if it cannot be. */
  connect(url: string, caPem: string): Promise<void> {
    if (this.hostId === undefined || this.#certificatePem === undefined) {
      return Promise.reject(new Error(`${this.identity.name} is not registered`));
    }
    const client = new ManagerClient({
      url,
      caPem,
      host: { keyPem: this.identity.keyPem, certificatePem: this.#certificatePem },
    });
    return new Promise((resolve, reject) => {
      const socket = client.events(
        (event) => this.#event(event, performance.now()),
        (error) => {
          this.problems.push(`stream: ${error.message}`);
          reject(error);
        },
      );
      this.#socket = socket;
      socket.once('open', () => resolve());
      socket.once('close', (code: number, reason: Buffer) => {
        if (!this.#closing) this.problems.push(`stream closed (${code}) ${reason.toString('utf8')}`);
        reject(new Error(`stream closed (${code})`));
      });
    });
  }

  get connected(): boolean {
    return this.#socket !== undefined && this.#socket.readyState === this.#socket.OPEN;
  }

  close(): void {
    this.#closing = true;
    this.#socket?.terminate();
  }

  #event(event: HostEvent, receivedAt: number): void {
    if (event.type !== 'delivery') return;
    const hostId = this.hostId as string;
    const sequence = BigInt(event.sequence);
    // As the native core does, before opening: a sequence number not above the last one is a replay.
    if (sequence <= this.#lastSequence) {
      this.problems.push(`delivery ${sequence} after ${this.#lastSequence}: replayed`);
      return;
    }
    this.#lastSequence = sequence;
    const blob = Buffer.from(event.blob, 'base64');
    this.opener(blob, hostId, this.identity.transport).then(
      (opened) => {
        if (opened.sequence !== sequence || opened.deliveryId !== event.deliveryId) {
          this.problems.push(`delivery ${sequence}: the blob says ${opened.sequence} ${opened.deliveryId}`);
          return;
        }
        const record: OpenedRecord = {
          sequence,
          receivedAt,
          openedAt: performance.now(),
          openMs: opened.openMs,
          entries: opened.entries,
          blob,
        };
        this.opened.push(record);
        this.onOpened(this, record);
      },
      (error: unknown) => this.problems.push(`delivery ${sequence}: ${(error as Error).message}`),
    );
  }
}
