// The simulated hosts together: registration and connection with bounded concurrency, and waiting until
// every host has opened a delivery that answers a question (the first one; the one with the new version).
import { createSecureContext } from 'node:tls';

import type { HostIdentity, TransportKey } from './identity.js';
import { SimulatedHost, type Opener, type OpenedRecord } from './simulated_host.js';

export interface PhaseResult {
  succeeded: number;
  failed: number;
  /** From the first request to the last answer. */
  seconds: number;
  /** The first few distinct failure messages. */
  errors: string[];
}

/** Runs `work` on every item, at most `concurrency` at a time. */
async function bounded<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>) {
  const errors = new Map<string, number>();
  let failed = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (error) {
        failed++;
        const message = error instanceof Error ? error.message : String(error);
        errors.set(message, (errors.get(message) ?? 0) + 1);
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  const seconds = (performance.now() - started) / 1000;
  const listed = [...errors].slice(0, 5).map(([message, times]) => `${message} (${times}x)`);
  return { succeeded: items.length - failed, failed, seconds, errors: listed };
}

export class Fleet {
  readonly hosts: SimulatedHost[];
  #waiting: ((host: SimulatedHost, record: OpenedRecord) => void) | undefined;

  constructor(identities: readonly HostIdentity[], opener: Opener) {
    this.hosts = identities.map(
      (identity) => new SimulatedHost(identity, opener, (host, record) => this.#waiting?.(host, record)),
    );
  }

  /**
   * Registers every host. One TLS context trusting the manager's CA serves all their registration
   * connections: made per connection, it would cost this process a copy of the root certificate store
   * each time (a real host spends that on its own CPU). Each connection still does its full handshake.
   */
  register(url: string, caPem: string, token: string, pool: readonly TransportKey[], concurrency: number) {
    const secureContext = createSecureContext({ ca: [caPem], minVersion: 'TLSv1.2' });
    return bounded(this.hosts, concurrency, (host) =>
      host.register(url, caPem, token, pool[host.identity.transport].publicPem, secureContext),
    );
  }

  /** Opens the event stream of every registered host. */
  connect(url: string, caPem: string, concurrency: number): Promise<PhaseResult> {
    const registered = this.hosts.filter((host) => host.hostId !== undefined);
    return bounded(registered, concurrency, (host) => host.connect(url, caPem));
  }

  /** The hosts whose event stream is open now. */
  connectedHosts(): SimulatedHost[] {
    return this.hosts.filter((host) => host.connected);
  }

  /**
   * Resolves when each of `hosts` has opened a delivery `wanted` accepts, or after `timeoutMs`; answers,
   * per host, the first such delivery or undefined.
   */
  async until(
    hosts: readonly SimulatedHost[],
    wanted: (record: OpenedRecord) => boolean,
    timeoutMs: number,
  ): Promise<(OpenedRecord | undefined)[]> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      const missing = new Set(hosts.filter((host) => !host.opened.some(wanted)));
      if (missing.size === 0) done();
      this.#waiting = (host, record) => {
        if (wanted(record)) missing.delete(host);
        if (missing.size === 0) done();
      };
    });
    this.#waiting = undefined;
    return hosts.map((host) => host.opened.find(wanted));
  }

  problems(): string[] {
    return this.hosts.flatMap((host) => host.problems.map((p) => `${host.identity.name}: ${p}`));
  }

  close(): void {
    for (const host of this.hosts) host.close();
  }
}
