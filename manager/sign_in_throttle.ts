// Slows password guessing (NIST SP 800-63B §5.2.2): after a run of wrong passwords for one
// administrator from one address, or from one address whatever the names, further password
// sign-ins from there wait — 1 s, then twice as long after each wrong one, up to 15 minutes —
// and are refused (429) without a password check until then. A right password ends the run.
// Keyed by address too, so that a guesser elsewhere does not lock the administrator out, and
// one address cannot try many names. Bearer tokens and API keys are not guessable (32 random
// bytes) and are not slowed. In memory: a restart forgets, which costs a guesser a restart.
import { ManagerError } from '../manager-client/errors.js';

/** Wrong passwords in a row that are free: for one name from one address, and from one address. */
export const FREE_FAILURES_PER_NAME = 10;
export const FREE_FAILURES_PER_ADDRESS = 50;
const FIRST_WAIT_MS = 1000;
const LONGEST_WAIT_MS = 15 * 60 * 1000;
/** Past this many runs remembered, those whose wait is over are forgotten. */
const MOST_REMEMBERED = 10_000;

interface Run {
  failures: number;
  /** When the next attempt may be checked (0: at once). */
  until: number;
}

export class SignInThrottle {
  readonly #runs = new Map<string, Run>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Throws VEIL_AUTH_TOO_MANY_FAILURES while `name` from `source` must wait. */
  check(name: string, source: string): void {
    const now = this.now();
    for (const key of keys(name, source)) {
      const run = this.#runs.get(key);
      if (run === undefined || run.until <= now) continue;
      const seconds = Math.ceil((run.until - now) / 1000);
      throw new ManagerError(
        'VEIL_AUTH_TOO_MANY_FAILURES',
        `too many wrong passwords ${key.startsWith('name') ? `for ${name} ` : ''}from ${source}: ` +
          `try again in ${seconds} s`,
        { retryAfterSeconds: seconds },
      );
    }
  }

  failed(name: string, source: string): void {
    const now = this.now();
    for (const [key, free] of [
      [nameKey(name, source), FREE_FAILURES_PER_NAME],
      [addressKey(source), FREE_FAILURES_PER_ADDRESS],
    ] as const) {
      const run = this.#runs.get(key) ?? { failures: 0, until: 0 };
      run.failures += 1;
      const over = run.failures - free;
      if (over > 0) run.until = now + Math.min(LONGEST_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.min(over - 1, 20));
      this.#runs.set(key, run);
    }
    if (this.#runs.size > MOST_REMEMBERED) this.#forgetEnded(now);
  }

  succeeded(name: string, source: string): void {
    for (const key of keys(name, source)) this.#runs.delete(key);
  }

  #forgetEnded(now: number): void {
    for (const [key, run] of this.#runs) if (run.until <= now) this.#runs.delete(key);
  }
}

const nameKey = (name: string, source: string): string => `name\n${name}\n${source}`;
const addressKey = (source: string): string => `address\n${source}`;
const keys = (name: string, source: string): string[] => [nameKey(name, source), addressKey(source)];
