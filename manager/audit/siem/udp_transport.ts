// Syslog over UDP (RFC 5426): one message per datagram, cut to the destination's
// maxMessageBytes (default 8,192) before a UTF-8 character when longer. UDP has no
// delivery at all: a datagram the kernel took counts as sent. The socket is connected, so
// that an ICMP "port unreachable" comes back as an error, which sends the records again.
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';

import type { SiemDestination } from './destinations.js';
import { truncateUtf8 } from './formats.js';
import type { Transport } from './transport.js';

export const DEFAULT_UDP_MAX_BYTES = 8192;

export class UdpTransport implements Transport {
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
    const socket = this.#socket ?? (await this.#open());
    const max = this.#destination.maxMessageBytes ?? DEFAULT_UDP_MAX_BYTES;
    for (const message of messages) {
      await new Promise<void>((resolve, reject) =>
        socket.send(truncateUtf8(message, max), (error) => (error ? reject(error) : resolve())),
      );
    }
  }

  close(): Promise<boolean> {
    const socket = this.#socket;
    this.#socket = undefined;
    this.#generation += 1;
    if (!socket) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => socket.close(() => resolve(true)));
  }

  async #open(): Promise<Socket> {
    const { host, port } = this.#destination;
    const { address, family } = await lookup(host);
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error) => {
        socket.close();
        reject(error);
      };
      socket.once('error', failed);
      socket.connect(port, address, () => {
        socket.off('error', failed);
        resolve();
      });
    });
    this.#generation += 1;
    const generation = this.#generation;
    this.#socket = socket;
    socket.on('error', (error) => {
      if (generation !== this.#generation) return;
      this.#socket = undefined;
      this.#generation += 1;
      socket.close();
      this.#broken(error);
    });
    return socket;
  }
}
