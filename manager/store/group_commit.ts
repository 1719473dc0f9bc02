// Group commit: units of work that arrive in the same turn of the event loop (and, under load,
// in the turns until the next group is due) are written in one transaction, so that they share
// one sync to disk (synchronous = FULL) instead of paying one each. Each unit runs in a
// savepoint of its own: one that throws is undone alone and rejects alone; the others commit.
// Every promise settles only once the shared transaction has committed (or failed), so nothing
// is answered before it is durable.

/** Runs `work` in one transaction, a savepoint when nested (ManagerStore.transaction, AuditLog.batch…). */
export type Transaction = <T>(work: () => T) => T;

/**
 * Under load, groups are written at most this often: the units of several turns then share one sync
 * to disk (each takes about a millisecond here, during which the event loop stands still). A group
 * after a quiet spell is written at once.
 */
const MIN_FLUSH_INTERVAL_MS = 20;

interface Unit {
  work: () => unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class GroupCommit {
  #queue: Unit[] = [];
  #scheduled = false;
  #lastFlush = -Infinity;

  /**
   * `outer` wraps the whole group (one commit); `inner` wraps each unit (a savepoint inside it).
   * For a SQLite store both are its transaction(): better-sqlite3 nests it as a savepoint.
   */
  constructor(
    private readonly outer: Transaction,
    private readonly inner: Transaction = outer,
  ) {}

  /** Runs `work` with the others of its group; resolves with its result once they have committed. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        const wait = this.#lastFlush + MIN_FLUSH_INTERVAL_MS - performance.now();
        if (wait > 0) setTimeout(() => this.flush(), wait);
        else setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is waiting now (also called when the owner closes). */
  flush(): void {
    this.#scheduled = false;
    this.#lastFlush = performance.now();
    const units = this.#queue;
    this.#queue = [];
    if (units.length === 0) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.outer(() => {
        for (const unit of units) {
          try {
            outcomes.push({ ok: true, value: this.inner(unit.work) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed: nothing of the group is written.
      for (const unit of units) unit.reject(error);
      return;
    }
    units.forEach((unit, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) unit.resolve(outcome.value);
      else unit.reject(outcome?.error);
    });
  }
}
