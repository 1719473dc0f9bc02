// Forwards the audit trail to one destination, in order, at least once. The trail itself
// is the queue: the forwarder keeps only a cursor, the seq of the last record known to be
// sent, in siem/<name>.cursor (written whole or not at all), and reads the records after
// it from the trail in batches; a receiver that is down costs nothing but lag.
//
// Over TCP and TLS the kernel taking the bytes does not mean the receiver got them: a
// receiver that went away may reset the connection after the write. So a sent record is
// confirmed, and the cursor moved past it, only once the connection it went out on has
// stayed up for a moment (confirmAfterMs) after the write; a connection that breaks first
// sends everything after the cursor again. Records are therefore never lost to a receiver
// that is down or goes away, and one may arrive twice (after a break or a crash).
import { readFileSync } from 'node:fs';

import type { SiemStatus } from '../../../manager-client/types.js';
import { writeFileAtomically } from '../../../common/files.js';
import type { AuditRecordSource } from '../audit_record.js';
import type { SiemDestination } from './destinations.js';
import { formatRecord } from './formats.js';
import type { Sender } from './syslog_header.js';
import { openTransport, type Transport } from './transport.js';

export interface ForwarderOptions {
  destination: SiemDestination;
  source: AuditRecordSource;
  /** Where the cursor is kept; its content is the seq and a line break. */
  cursorFile: string;
  /** Where forwarding starts when there is no cursor file yet. */
  startAfter: number;
  sender: Sender;
  log: (line: string) => void;
  /** How long a connection must outlive a write for its records to count as sent (default 500 ms). */
  confirmAfterMs?: number;
  /** The wait after the first failure, doubled after each further one up to maxBackoffMs (default 500 ms, 30 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** For tests: a transport in place of the destination's. */
  transport?: (broken: (error: Error) => void) => Transport;
}

/** Records read from the trail at a time: what the forwarder holds in memory at most. */
const BATCH = 100;
/** How long close() waits for a send under way and for the connection to end. */
const CLOSE_WAIT_MS = 2000;

function readCursor(file: string, fallback: number, log: (line: string) => void): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    log(`cannot read ${file} (${(error as Error).message}): sending the whole trail again`);
    return 0;
  }
  const seq = Number(text.trim());
  if (!/^\d{1,16}$/.test(text.trim()) || !Number.isSafeInteger(seq)) {
    log(`${file} holds no sequence number: sending the whole trail again`);
    return 0;
  }
  return seq;
}

export class Forwarder {
  readonly #options: ForwarderOptions;
  readonly #transport: Transport;
  readonly #confirmAfterMs: number;
  /** Every record up to here was sent and confirmed; kept in the cursor file. */
  #cursor: number;
  /** Every record up to here was handed to the current connection. */
  #sent: number;
  /** Moves on at every failure: a send that began before one must not move #sent. */
  #epoch = 0;
  #failures = 0;
  #pumping: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #confirm: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #lastSentAt: number | undefined;
  #lastError: { message: string; at: number } | undefined;

  constructor(options: ForwarderOptions) {
    this.#options = options;
    this.#confirmAfterMs = options.confirmAfterMs ?? 500;
    const broken = (error: Error) => this.#fail(error);
    this.#transport = options.transport?.(broken) ?? openTransport(options.destination, broken);
    let cursor = readCursor(options.cursorFile, options.startAfter, options.log);
    const last = options.source.lastSeq();
    if (cursor > last) {
      // A trail restored from an older copy: its next records take seqs already sent.
      options.log(`${this.name}: cursor ${cursor} is past the trail's end ${last}: going on from ${last}`);
      cursor = last;
    }
    this.#cursor = cursor;
    this.#sent = cursor;
  }

  get name(): string {
    return this.#options.destination.name;
  }

  /** Sends what the trail holds after the cursor, then each record as it is appended. */
  start(): void {
    this.#unsubscribe = this.#options.source.onAppend(() => this.#wake());
    this.#wake();
  }

  status(): SiemStatus {
    let lastSeq = this.#cursor;
    try {
      lastSeq = this.#options.source.lastSeq();
    } catch {
      // A closed trail: the cursor is all there is to say.
    }
    return {
      cursor: this.#cursor,
      lastSeq,
      lag: Math.max(0, lastSeq - this.#cursor),
      connected: this.#transport.connected,
      lastSentAt: this.#lastSentAt === undefined ? null : new Date(this.#lastSentAt).toISOString(),
      lastError: this.#lastError?.message ?? null,
      lastErrorAt: this.#lastError === undefined ? null : new Date(this.#lastError.at).toISOString(),
    };
  }

  /**
   * Stops: sends what is left (the manager's last records) for a moment when the receiver
   * is up, ends the connection, and keeps as sent what a cleanly ended connection
   * carried. Reads nothing from the trail afterwards.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  async #shutDown(): Promise<void> {
    this.#unsubscribe?.();
    if (!this.#retry) {
      this.#wake();
      if (this.#pumping) await Promise.race([this.#pumping, delay(CLOSE_WAIT_MS)]);
    }
    this.#closed = true;
    clearTimeout(this.#retry);
    clearTimeout(this.#confirm);
    const pumping = this.#pumping;
    if (pumping) await Promise.race([pumping, delay(CLOSE_WAIT_MS)]);
    const epoch = this.#epoch;
    const clean = await this.#transport.close(CLOSE_WAIT_MS);
    if (pumping) await pumping;
    if (clean && epoch === this.#epoch) this.#advance(this.#sent);
  }

  #wake(): void {
    if (this.#closed || this.#retry) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#again = false;
    // Deferred: the records a burst of appends makes go out as one batch.
    this.#pumping = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.#pump())
      .finally(() => {
        this.#pumping = undefined;
        // An append heard after the pump's last look at the trail.
        if (this.#again) this.#wake();
      });
  }

  async #pump(): Promise<void> {
    do {
      this.#again = false;
      while (!this.#closed && !this.#retry) {
        const epoch = this.#epoch;
        let sentTo: number;
        try {
          const records = this.#options.source.recordsAfter(this.#sent, BATCH);
          if (records.length === 0) break;
          const { format } = this.#options.destination;
          await this.#transport.send(records.map((r) => formatRecord(format, r, this.#options.sender)));
          sentTo = records[records.length - 1]?.seq ?? this.#sent;
        } catch (error) {
          this.#fail(error as Error);
          return;
        }
        if (epoch !== this.#epoch) return;
        this.#sent = sentTo;
        this.#lastSentAt = Date.now();
        this.#confirmLater();
      }
    } while (this.#again && !this.#closed && !this.#retry);
  }

  // One confirmation at a time: a later one takes what was sent since.
  #confirmLater(): void {
    if (this.#confirm || this.#closed) return;
    const seq = this.#sent;
    const epoch = this.#epoch;
    const generation = this.#transport.generation;
    this.#confirm = setTimeout(() => {
      this.#confirm = undefined;
      if (epoch !== this.#epoch || this.#closed) return;
      if (!this.#transport.connected || this.#transport.generation !== generation) return;
      // Only a connection that outlived its writes ends a run of failures: one that takes
      // the bytes and then resets them must not be retried at the shortest wait forever.
      this.#failures = 0;
      this.#advance(seq);
      if (this.#sent > seq) this.#confirmLater();
    }, this.#confirmAfterMs);
  }

  #advance(seq: number): void {
    if (seq <= this.#cursor) return;
    this.#cursor = seq;
    try {
      writeFileAtomically(this.#options.cursorFile, `${seq}\n`, 0o600);
    } catch (error) {
      // Only a restart would notice: it sends these records again.
      this.#options.log(`${this.name}: cannot keep the cursor at ${seq}: ${(error as Error).message}`);
    }
  }

  /** Back to the cursor; a retry after a wait that grows with each failure in a row. */
  #fail(error: Error): void {
    this.#lastError = { message: error.message, at: Date.now() };
    const unconfirmed = this.#sent > this.#cursor;
    this.#epoch += 1;
    this.#sent = this.#cursor;
    clearTimeout(this.#confirm);
    this.#confirm = undefined;
    if (this.#closed || this.#retry) return;
    // A receiver that closes an idle connection (a restart) is no failure: the next
    // record connects again.
    if (!unconfirmed && !this.#pumping) return;
    const { backoffMs = 500, maxBackoffMs = 30_000 } = this.#options;
    const wait = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(this.#failures, 16));
    this.#failures += 1;
    if (this.#failures === 1) this.#options.log(`${this.name}: ${error.message}; retrying`);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#wake();
    }, wait);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
