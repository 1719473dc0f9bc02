// Reports for the manager (denials, audit records, tamper events, guard point failures):
// queued in memory and in a 0600 file of the state directory, so neither an unreachable
// manager nor a restart loses them, and sent in batches. Each report carries an id the
// manager deduplicates by, so a batch resent after a lost answer is stored once.
import { randomUUID } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';

import { writeFileAtomically } from '../../common/files.js';
import { ManagerError } from '../../manager-client/errors.js';
import type { HostReport } from '../../manager-client/types.js';

/** The most the manager takes in one batch. */
const MAX_BATCH = 500;
const MAX_MESSAGE = 1024;
/** Beyond this the oldest reports give way: a host cut off for weeks must not fill its disk. */
const MAX_QUEUED = 100_000;

export type NewReport = Omit<HostReport, 'eventId' | 'time'> & { time?: string };

export class ReportQueue {
  #queue: HostReport[] = [];
  #sending = false;
  #batch = MAX_BATCH;
  /** Reports given up on: pushed out by a full queue, or refused by the manager as malformed. */
  dropped = 0;

  constructor(private readonly file: string) {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line === '') continue;
        try {
          this.#queue.push(JSON.parse(line) as HostReport);
        } catch {
          // A line a crash cut short: the rest are still good.
        }
      }
    } catch {
      // No queue yet.
    }
  }

  get length(): number {
    return this.#queue.length;
  }

  add(report: NewReport): void {
    const full: HostReport = {
      ...report,
      message: report.message.slice(0, MAX_MESSAGE),
      eventId: randomUUID(),
      time: report.time ?? new Date().toISOString(),
    };
    this.#queue.push(full);
    if (this.#queue.length > MAX_QUEUED) {
      this.dropped += this.#queue.length - MAX_QUEUED;
      this.#queue.splice(0, this.#queue.length - MAX_QUEUED);
      this.#rewrite();
    } else {
      appendFileSync(this.file, `${JSON.stringify(full)}\n`, { mode: 0o600 });
    }
  }

  /**
   * Sends what is queued, a batch at a time, and keeps what is not accepted. A batch too
   * large is split; a report the manager refuses as malformed is dropped (it would be
   * refused for ever); any other failure stops the flush until the next one.
   */
  async flush(send: (batch: HostReport[]) => Promise<unknown>): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.slice(0, this.#batch);
        try {
          await send(batch);
          this.#remove(batch);
        } catch (error) {
          if (!(error instanceof ManagerError)) throw error;
          if (error.code === 'VEIL_REQUEST_TOO_LARGE' && batch.length > 1) {
            this.#batch = Math.max(1, Math.floor(batch.length / 2));
          } else if (
            error.code === 'VEIL_REQUEST_TOO_LARGE' ||
            error.code === 'VEIL_HOST_REPORT_BAD_REQUEST'
          ) {
            const index = Number(/\/events\/(\d+)/.exec(error.message)?.[1] ?? NaN);
            const bad = Number.isInteger(index) && batch[index] ? [batch[index]] : batch;
            this.dropped += bad.length;
            this.#remove(bad);
          } else {
            throw error;
          }
        }
      }
      this.#batch = MAX_BATCH;
    } finally {
      this.#sending = false;
    }
  }

  /** Takes these reports out of the queue (wherever they are now) and rewrites the file. */
  #remove(reports: HostReport[]): void {
    const gone = new Set(reports.map((r) => r.eventId));
    this.#queue = this.#queue.filter((r) => !gone.has(r.eventId));
    this.#rewrite();
  }

  clear(): void {
    this.#queue = [];
    this.#rewrite();
  }

  #rewrite(): void {
    writeFileAtomically(this.file, this.#queue.map((r) => `${JSON.stringify(r)}\n`).join(''), 0o600);
  }
}
