// The rekeying worker of one guard point (live data transformation, docs/ldt.md): scans
// the backing files, plans what each needs, and has the native core transform them in
// place in small steps while applications keep using them. The crypto and the per-file
// coordination with the FUSE threads are native; this loop decides what, when and how
// fast. Nothing here is needed for crash safety: every file's header says its state, so
// after a restart the next scan finds interrupted files and finishes them first.
import type { KeyInfo, LdtRequest, LdtResult, LdtScanEntry } from '../../native/core.js';
import type { DecisionTable } from '../../policies/compile.js';
import {
  planGuardPoint,
  versionName,
  type Job,
  type KeyVersionRef,
  type Plan,
  type RekeyModes,
} from './plan.js';
import { delayAfter, inWindow, type QosSettings } from './throttle.js';

/** What the worker needs of a mounted guard point. */
export interface RekeyTarget {
  scanFiles(): Promise<LdtScanEntry[]>;
  transformFiles(requests: LdtRequest[]): Promise<LdtResult[]>;
}

export interface RekeyInputs {
  table: DecisionTable;
  keyStates: readonly Pick<KeyInfo, 'keyId' | 'version' | 'state'>[];
  modes: RekeyModes;
}

export type RekeyState = 'idle' | 'scanning' | 'running' | 'paused' | 'waiting' | 'failed';

export interface RekeyProgress {
  state: RekeyState;
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
  etaSeconds: number | null;
  keyVersions: (KeyVersionRef & { files: number })[];
  plaintextFiles: number;
  /** Files whose transformation failed in the last pass (tampered, key missing), each once. */
  failedFiles: number;
  message?: string;
}

export interface RekeyerOptions {
  qos: () => QosSettings;
  paused: () => boolean;
  /** Called on every state change and at most every `progressIntervalMs` while running. */
  onProgress: (progress: RekeyProgress) => void;
  onFileError?: (path: string, error: { code: string; message: string }) => void;
  log?: (message: string) => void;
  /** Bytes of one re-encryption step (the native core holds the file for a run at a time). */
  stepBytes?: number;
  progressIntervalMs?: number;
}

const REWRAP_BATCH = 1024;
// Files this small (one group of blocks) are re-encrypted whole, many per call: the native
// core makes them durable together, with a few shared syncs instead of several per file.
const SMALL_FILE = 512 * 1024;
const SMALL_BATCH = 256;
const SMALL_BATCH_BYTES = 64 * 1024 * 1024;
const DEFAULT_STEP = 16 * 1024 * 1024;
const BUSY_RETRY_MS = 2000;
const WINDOW_POLL_MS = 30_000;

export class Rekeyer {
  #inputs: RekeyInputs | null = null;
  #dirty = false;
  #stopped = false;
  #wake: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #progress: RekeyProgress = {
    state: 'idle',
    filesTotal: 0,
    filesDone: 0,
    bytesTotal: 0,
    bytesDone: 0,
    etaSeconds: null,
    keyVersions: [],
    plaintextFiles: 0,
    failedFiles: 0,
  };
  #lastReport = 0;
  #passStart = 0;

  constructor(
    private readonly target: RekeyTarget,
    private readonly options: RekeyerOptions,
  ) {}

  progress(): RekeyProgress {
    return { ...this.#progress, keyVersions: [...this.#progress.keyVersions] };
  }

  /** New policy, key states or rekey modes: a new pass after the current one. */
  update(inputs: RekeyInputs): void {
    // The agent passes its wish on every reconcile; only a different one means work.
    if (this.#inputs !== null && sameWish(this.#inputs, inputs)) return;
    this.#inputs = inputs;
    this.#dirty = true;
    // Started on the next turn: whoever mounted says so before the first progress report.
    this.#loop ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#run());
    this.wake();
  }

  /** Settings changed (pause, resume, QoS): look again now. */
  wake(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Ends the loop after the native step in flight; the files stay consistent whenever it stops. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.wake();
    await this.#loop;
  }

  async #sleep(ms: number): Promise<void> {
    if (this.#stopped) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #set(change: Partial<RekeyProgress>, force = false): void {
    const before = this.#progress.state;
    this.#progress = { ...this.#progress, ...change };
    const now = Date.now();
    if (
      force ||
      before !== this.#progress.state ||
      now - this.#lastReport >= (this.options.progressIntervalMs ?? 5000)
    ) {
      this.#lastReport = now;
      this.options.onProgress(this.progress());
    }
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      if (!this.#dirty || this.#inputs === null) {
        await this.#sleep(60_000);
        continue;
      }
      this.#dirty = false;
      try {
        await this.#pass(this.#inputs);
      } catch (error) {
        this.#set({ state: 'failed', message: (error as Error).message }, true);
        this.options.log?.(`rekey pass failed: ${(error as Error).message}`);
        await this.#sleep(BUSY_RETRY_MS * 5);
        this.#dirty = true;
      }
    }
  }

  async #pass(inputs: RekeyInputs): Promise<void> {
    this.#set({ state: 'scanning', message: undefined });
    const entries = await this.target.scanFiles();
    const plan = planGuardPoint(entries, inputs.table, inputs.keyStates, inputs.modes);
    for (const line of plan.notes) this.options.log?.(line);
    const totals = {
      filesTotal: plan.jobs.length,
      filesDone: 0,
      bytesTotal: plan.jobs.reduce((sum, job) => sum + job.bytes, 0),
      bytesDone: 0,
      etaSeconds: null,
      keyVersions: plan.keyVersions,
      plaintextFiles: plan.plaintextFiles,
      failedFiles: 0,
    };
    if (plan.jobs.length === 0) {
      this.#set({ ...totals, state: 'idle', message: plan.notes[0] }, true);
      return;
    }
    this.options.log?.(`rekey: ${describePlan(plan)}`);
    this.#passStart = Date.now();
    this.#set({ ...totals, state: 'running' }, true);
    const busy = await this.#work(plan.jobs, inputs);
    if (this.#stopped) return;
    // Another look either way: it finds what was busy, what a newer wish moved, and, when
    // all is done, the key versions the files are under now for the manager.
    if (busy > 0) {
      this.#set({ state: 'waiting', message: `${busy} file(s) in use; retrying` }, true);
      await this.#sleep(BUSY_RETRY_MS);
    }
    this.#dirty = true;
  }

  /** Runs the jobs; the number skipped as busy. */
  async #work(jobs: readonly Job[], inputs: RekeyInputs): Promise<number> {
    let busy = 0;
    let failed = 0;
    let i = 0;
    while (i < jobs.length) {
      if (!(await this.#mayGoOn())) return busy;
      // A newer wish (a rotation, a compromise, a new policy) ends the pass after the file in
      // hand: the next scan plans again, finishing files half way first, so nothing moves
      // by a plan the wish has overtaken (a compromised version must not be rewrapped).
      if (this.#inputs !== inputs) return busy;
      const batch = jobs[i].op === 'rewrap' ? rewrapBatch(jobs, i) : smallBatch(jobs, i, this.#stepBytes());
      i += batch.length;
      const outcome = await this.#runJobs(batch);
      busy += outcome.busy;
      failed += outcome.failed;
      this.#set({ failedFiles: failed });
    }
    return busy;
  }

  async #runJobs(batch: readonly Job[]): Promise<{ busy: number; failed: number }> {
    let busy = 0;
    let failed = 0;
    const step = this.#stepBytes();
    let open = batch.map((job) => ({ job, moved: 0 }));
    while (open.length > 0) {
      const started = Date.now();
      const results = await this.target.transformFiles(
        open.map(({ job }) => ({
          path: job.path,
          op: job.op,
          keyId: job.target.keyId,
          version: job.target.version,
          maxBytes: step,
        })),
      );
      const busyMs = Date.now() - started;
      let bytes = 0;
      const next: typeof open = [];
      results.forEach((result, k) => {
        const item = open[k];
        bytes += result.bytes;
        item.moved += result.bytes;
        if (result.error) {
          failed += 1;
          this.options.onFileError?.(result.path, result.error);
          this.#finish(item.job, item.moved);
        } else if (result.skipped === 'busy') {
          busy += 1;
          this.#finish(item.job, item.moved);
        } else if (result.done || result.skipped === 'gone') {
          this.#finish(item.job, item.moved, true);
        } else {
          next.push(item);
        }
      });
      this.#progressBytes(bytes);
      open = next;
      const rest = delayAfter(this.options.qos(), bytes, busyMs);
      if (rest > 0) await this.#sleep(rest);
      if (open.length > 0 && !(await this.#mayGoOn())) break;
    }
    return { busy, failed };
  }

  #finish(job: Job, moved: number, done = false): void {
    // A job's bytes count as done once it ends, whatever it moved (a file that shrank).
    this.#set({
      filesDone: this.#progress.filesDone + (done ? 1 : 0),
      bytesDone: this.#progress.bytesDone + Math.max(0, job.bytes - moved),
      filesTotal: done ? this.#progress.filesTotal : this.#progress.filesTotal - 1,
    });
  }

  #progressBytes(bytes: number): void {
    const p = this.#progress;
    const bytesDone = Math.min(p.bytesTotal, p.bytesDone + bytes);
    const elapsed = (Date.now() - this.#passStart) / 1000;
    let eta: number | null = null;
    if (elapsed > 0.5 && bytesDone > 0 && p.bytesTotal > 0) {
      eta = Math.round(((p.bytesTotal - bytesDone) * elapsed) / bytesDone);
    } else if (elapsed > 0.5 && p.filesDone > 0) {
      eta = Math.round(((p.filesTotal - p.filesDone) * elapsed) / p.filesDone);
    }
    this.#set({ bytesDone, etaSeconds: eta });
  }

  #stepBytes(): number {
    const step = this.options.stepBytes ?? DEFAULT_STEP;
    const rate = this.options.qos().rateMBps;
    // Under a cap, steps of about a quarter second keep the pace even.
    return rate > 0 ? Math.max(128 * 4096, Math.min(step, Math.floor(rate * 1e6 * 0.25))) : step;
  }

  /** Waits while paused or outside the time windows; false once stopped. */
  async #mayGoOn(): Promise<boolean> {
    for (;;) {
      if (this.#stopped) return false;
      if (this.options.paused()) {
        this.#set({ state: 'paused', etaSeconds: null }, this.#progress.state !== 'paused');
        await this.#sleep(WINDOW_POLL_MS);
        continue;
      }
      if (!inWindow(this.options.qos().windows)) {
        this.#set({ state: 'waiting', message: 'outside the rekey time windows', etaSeconds: null });
        await this.#sleep(WINDOW_POLL_MS);
        continue;
      }
      if (this.#progress.state !== 'running') this.#set({ state: 'running', message: undefined });
      return true;
    }
  }
}

/** Whether two wishes plan the same: the policy's keys and rules, the key states, the modes. */
function sameWish(a: RekeyInputs, b: RekeyInputs): boolean {
  const key = (w: RekeyInputs) =>
    JSON.stringify([
      w.table.digest,
      w.table.keys,
      w.table.keyRules,
      w.table.transformations,
      w.table.resources,
      [...w.keyStates].map((k) => `${k.keyId}:${k.version}:${k.state}`).sort(),
      [...w.modes].sort(),
    ]);
  return key(a) === key(b);
}

function rewrapBatch(jobs: readonly Job[], from: number): Job[] {
  const batch: Job[] = [];
  for (let i = from; i < jobs.length && batch.length < REWRAP_BATCH && jobs[i].op === 'rewrap'; i += 1) {
    batch.push(jobs[i]);
  }
  return batch;
}

/**
 * Consecutive re-encryptions and encryptions of small files, or the one job at `from`. At
 * most a step's bytes, so a rate cap paces batches as it paces the runs of a big file.
 */
function smallBatch(jobs: readonly Job[], from: number, step: number): Job[] {
  const small = (job: Job | undefined): job is Job =>
    job !== undefined && job.op !== 'rewrap' && job.bytes <= SMALL_FILE;
  if (!small(jobs[from])) return [jobs[from]];
  const batch: Job[] = [];
  let bytes = 0;
  const most = Math.min(SMALL_BATCH_BYTES, step);
  for (let i = from; batch.length < SMALL_BATCH && bytes < most && small(jobs[i]); i += 1) {
    batch.push(jobs[i]);
    bytes += jobs[i].bytes;
  }
  return batch;
}

function describePlan(plan: Plan): string {
  const by = new Map<string, number>();
  for (const job of plan.jobs) {
    const key = `${job.op} to ${versionName(job.target)} (${job.reason})`;
    by.set(key, (by.get(key) ?? 0) + 1);
  }
  return [...by].map(([what, n]) => `${n} × ${what}`).join(', ');
}
