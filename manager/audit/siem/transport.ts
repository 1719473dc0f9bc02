// What carries a destination's messages: UDP (udp_transport.ts), or TCP and TLS with RFC
// 6587 octet counting (stream_transport.ts). A transport only says when the network took
// the bytes and when a connection broke; what was confirmed is the forwarder's business.
import type { SiemDestination } from './destinations.js';
import { StreamTransport } from './stream_transport.js';
import { UdpTransport } from './udp_transport.js';

export interface Transport {
  /**
   * Hands the messages, in order, to the network (connecting first when needed): resolves
   * once the kernel took all of them, rejects when it could not. After a rejection the
   * next call connects again.
   */
  send(messages: Buffer[]): Promise<void>;
  /** Whether the connection the last send went out on is still up. */
  readonly connected: boolean;
  /** Counts connections: a send and a later check with the same number were on one connection. */
  readonly generation: number;
  /**
   * Ends the connection after what was written; resolves true when it ended cleanly (the
   * receiver closed its side without a reset), false when it had to be cut.
   */
  close(timeoutMs: number): Promise<boolean>;
}

/** `broken` hears of a connection that failed between sends (closed by the receiver, reset). */
export function openTransport(destination: SiemDestination, broken: (error: Error) => void): Transport {
  if (destination.transport === 'udp') return new UdpTransport(destination, broken);
  return new StreamTransport(destination, broken);
}
