// SIEM forwarding as the manager runs it (docs/siem.md): one forwarder per destination of
// siem/destinations.json, each following the audit trail through AuditRecordSource from
// its own cursor; destinations added and removed while running (siem_routes.ts).
import { rmSync } from 'node:fs';
import path from 'node:path';

import { ManagerError } from '../../../manager-client/errors.js';
import type { SiemDestinationView } from '../../../manager-client/types.js';
import type { AuditRecordSource } from '../audit_record.js';
import {
  type SiemDestination,
  checkNewDestination,
  loadDestinations,
  saveDestinations,
  siemDir,
} from './destinations.js';
import { Forwarder, type ForwarderOptions } from './forwarder.js';
import { localSender } from './syslog_header.js';
import { writeFileAtomically } from '../../../common/files.js';

/** What tests may shorten. */
export type ForwardingTimings = Pick<ForwarderOptions, 'confirmAfterMs' | 'backoffMs' | 'maxBackoffMs'>;

export class SiemForwarding {
  readonly #dataDir: string;
  readonly #source: AuditRecordSource;
  readonly #log: (line: string) => void;
  readonly #timings: ForwardingTimings;
  readonly #running = new Map<string, { destination: SiemDestination; forwarder: Forwarder }>();
  #closed = false;

  constructor(
    dataDir: string,
    source: AuditRecordSource,
    log: (line: string) => void,
    timings: ForwardingTimings = {},
  ) {
    this.#dataDir = dataDir;
    this.#source = source;
    this.#log = log;
    this.#timings = timings;
    for (const destination of loadDestinations(dataDir)) this.#start(destination, 0);
  }

  list(): SiemDestinationView[] {
    return [...this.#running.values()]
      .map(({ destination, forwarder }) => ({ ...destination, status: forwarder.status() }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): SiemDestinationView {
    const running = this.#running.get(name);
    if (!running) throw new ManagerError('VEIL_SIEM_UNKNOWN', `there is no SIEM destination ${name}`);
    return { ...running.destination, status: running.forwarder.status() };
  }

  /** Adds a destination from a request body and starts forwarding to it. */
  add(body: unknown): SiemDestinationView {
    this.#open();
    const { destination, from } = checkNewDestination(body);
    if (this.#running.has(destination.name)) {
      throw new ManagerError(
        'VEIL_SIEM_NAME_TAKEN',
        `there is a SIEM destination ${destination.name} already`,
      );
    }
    // The cursor before the list: a crash in between leaves a cursor without a destination,
    // which a later destination of that name would find; removing one deletes its cursor.
    const startAfter = from === 'now' ? this.#source.lastSeq() : 0;
    const cursorFile = this.#cursorFile(destination.name);
    try {
      writeFileAtomically(cursorFile, `${startAfter}\n`, 0o600);
    } catch (error) {
      throw new ManagerError(
        'VEIL_SIEM_UNAVAILABLE',
        `cannot write ${cursorFile}: ${(error as Error).message}`,
      );
    }
    saveDestinations(this.#dataDir, [...this.#destinations(), destination]);
    this.#start(destination, startAfter);
    return this.get(destination.name);
  }

  /** Stops forwarding to a destination and forgets it and its cursor. */
  async remove(name: string): Promise<SiemDestinationView> {
    this.#open();
    const view = this.get(name);
    const running = this.#running.get(name);
    saveDestinations(
      this.#dataDir,
      this.#destinations().filter((d) => d.name !== name),
    );
    this.#running.delete(name);
    await running?.forwarder.close();
    // Unless a destination of that name came meanwhile: the cursor is its own by now.
    if (!this.#running.has(name)) rmSync(this.#cursorFile(name), { force: true });
    return view;
  }

  /** Stops every forwarder; what they sent is kept in their cursors. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#running.values()].map(({ forwarder }) => forwarder.close()));
  }

  #open(): void {
    if (this.#closed) throw new ManagerError('VEIL_SIEM_UNAVAILABLE', 'SIEM forwarding has stopped');
  }

  #destinations(): SiemDestination[] {
    return [...this.#running.values()].map(({ destination }) => destination);
  }

  #cursorFile(name: string): string {
    return path.join(siemDir(this.#dataDir), `${name}.cursor`);
  }

  #start(destination: SiemDestination, startAfter: number): void {
    const forwarder = new Forwarder({
      destination,
      source: this.#source,
      cursorFile: this.#cursorFile(destination.name),
      startAfter,
      sender: localSender(destination.facility),
      log: this.#log,
      ...this.#timings,
    });
    this.#running.set(destination.name, { destination, forwarder });
    forwarder.start();
  }
}

/**
 * Starts forwarding the trail to every configured destination; throws
 * VEIL_SIEM_UNAVAILABLE when siem/destinations.json is unreadable or invalid.
 */
export function startSiemForwarding(
  dataDir: string,
  source: AuditRecordSource,
  log: (line: string) => void,
  timings: ForwardingTimings = {},
): SiemForwarding {
  return new SiemForwarding(dataDir, source, log, timings);
}
