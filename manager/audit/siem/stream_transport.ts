// Syslog over TCP (RFC 6587) and over TLS (RFC 5425): each message framed by octet
// counting, "MSG-LEN SP SYSLOG-MSG", so that a message may hold any byte, line breaks
// included. TLS verifies the receiver's certificate against the destination's CA file
// (and its name against the host), and may present a client certificate.
import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

import type { SiemDestination } from './destinations.js';
import type { Transport } from './transport.js';

/** A connection not made in this time counts as failed. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Bytes the kernel did not take in this time (a receiver that stopped reading) break the connection. */
const WRITE_TIMEOUT_MS = 30_000;

export function octetCounted(messages: Buffer[]): Buffer {
  return Buffer.concat(messages.flatMap((m) => [Buffer.from(`${m.length} `, 'ascii'), m]));
}

export class StreamTransport implements Transport {
  readonly #destination: SiemDestination;
  readonly #broken: (error: Error) => void;
  #socket: Socket | undefined;
  #generation = 0;

  constructor(destination: SiemDestination, broken: (error: Error) => void) {
    this.#destination = destination;
    this.#broken = broken;
  }

  get connected(): boolean {
    return this.#socket !== undefined;
  }

  get generation(): number {
    return this.#generation;
  }

  async send(messages: Buffer[]): Promise<void> {
    const socket = this.#socket ?? (await this.#connect());
    const generation = this.#generation;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new Error(`${this.#target()} took nothing for ${WRITE_TIMEOUT_MS / 1000} s`);
        this.#lost(generation, error);
        reject(error);
      }, WRITE_TIMEOUT_MS);
      // The callback runs once the bytes are flushed to the kernel, or with the error
      // that destroyed the socket first.
      socket.write(octetCounted(messages), (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      });
    });
    if (generation !== this.#generation || socket.destroyed) {
      throw new Error(`the connection to ${this.#target()} broke while sending`);
    }
  }

  close(timeoutMs: number): Promise<boolean> {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#generation += 1; // what happens to the old socket now is no break to report
    if (!socket) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let clean = true;
      const timer = setTimeout(() => {
        clean = false;
        socket.destroy();
      }, timeoutMs);
      socket.on('error', () => (clean = false));
      socket.once('close', (hadError) => {
        clearTimeout(timer);
        resolve(clean && !hadError);
      });
      socket.end();
    });
  }

  #target(): string {
    const { host, port } = this.#destination;
    return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  }

  async #connect(): Promise<Socket> {
    const { host, port, transport, caFile, certFile, keyFile } = this.#destination;
    const socket =
      transport === 'tls'
        ? tlsConnect({
            host,
            port,
            // Read at each connection: a CA or client certificate renewed on disk takes
            // effect at the next one.
            ca: readFileSync(caFile ?? ''),
            cert: certFile === undefined ? undefined : readFileSync(certFile),
            key: keyFile === undefined ? undefined : readFileSync(keyFile),
            servername: isIP(host) === 0 ? host : undefined,
            minVersion: 'TLSv1.2',
          })
        : netConnect({ host, port });
    // An error after the one that failed the connection must not go unheard (and crash).
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy(new Error(`no connection to ${this.#target()} within ${CONNECT_TIMEOUT_MS / 1000} s`));
      }, CONNECT_TIMEOUT_MS);
      const failed = (error: Error) => {
        clearTimeout(timer);
        reject(error);
      };
      socket.once('error', failed);
      socket.once(transport === 'tls' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', failed);
        resolve();
      });
    });
    socket.setKeepAlive(true, 60_000);
    this.#generation += 1;
    const generation = this.#generation;
    this.#socket = socket;
    // A syslog receiver sends nothing back: reading only lets the end of the connection
    // be seen as soon as it comes, before the next message is written into a dead socket.
    socket.resume();
    socket.on('end', () => this.#lost(generation, new Error(`${this.#target()} closed the connection`)));
    socket.on('error', (error: Error) => this.#lost(generation, error));
    socket.on('close', () => this.#lost(generation, new Error(`the connection to ${this.#target()} closed`)));
    return socket;
  }

  #lost(generation: number, error: Error): void {
    if (generation !== this.#generation || !this.#socket) return;
    const socket = this.#socket;
    this.#socket = undefined;
    this.#generation += 1;
    socket.destroy();
    this.#broken(error);
  }
}
