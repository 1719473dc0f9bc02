// The operator's say over live data transformation on this host, kept across restarts in
// the agent's state directory (ldt.json, 0600, written whole): paused everywhere or per
// guard point, and the QoS settings that override /etc/veil/agent.json's `rekey`.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { writeFileAtomically } from '../../common/files.js';
import { AgentError } from '../errors.js';
import { checkQos, DEFAULT_QOS, type QosSettings } from './throttle.js';

interface Stored {
  pausedAll: boolean;
  pausedPaths: string[];
  qos: Partial<QosSettings>;
}

const FILE = 'ldt.json';

export class LdtSettings {
  #stored: Stored = { pausedAll: false, pausedPaths: [], qos: {} };
  readonly #file: string | null;

  /** `directory`: where ldt.json lives (null keeps everything in memory: veil-mount). */
  constructor(
    directory: string | null,
    private readonly defaults: Partial<QosSettings> = {},
  ) {
    this.#file = directory === null ? null : path.join(directory, FILE);
    if (this.#file !== null) this.#stored = load(this.#file);
  }

  qos(): QosSettings {
    return { ...DEFAULT_QOS, ...this.defaults, ...this.#stored.qos };
  }

  paused(guardPoint: string): boolean {
    return this.#stored.pausedAll || this.#stored.pausedPaths.includes(guardPoint);
  }

  /** Pauses (or resumes) one guard point, or every one when `guardPoint` is null. */
  setPaused(guardPoint: string | null, paused: boolean): void {
    const next = { ...this.#stored };
    if (guardPoint === null) {
      next.pausedAll = paused;
      if (!paused) next.pausedPaths = [];
    } else {
      const others = next.pausedPaths.filter((p) => p !== guardPoint);
      next.pausedPaths = paused ? [...others, guardPoint] : others;
    }
    this.#save(next);
  }

  setQos(change: Partial<QosSettings>): QosSettings {
    const problem = checkQos(change);
    if (problem) throw new AgentError('VEIL_AGENT_BAD_REQUEST', problem);
    this.#save({ ...this.#stored, qos: { ...this.#stored.qos, ...change } });
    return this.qos();
  }

  #save(next: Stored): void {
    if (this.#file !== null) writeFileAtomically(this.#file, `${JSON.stringify(next, null, 2)}\n`, 0o600);
    this.#stored = next;
  }
}

function load(file: string): Stored {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { pausedAll: false, pausedPaths: [], qos: {} };
    throw new AgentError('VEIL_AGENT_STATE_INVALID', `cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    const value = JSON.parse(text) as Partial<Stored>;
    const pausedPaths = Array.isArray(value.pausedPaths)
      ? value.pausedPaths.filter((p) => typeof p === 'string')
      : [];
    const qos = typeof value.qos === 'object' && value.qos !== null ? value.qos : {};
    const problem = checkQos(qos);
    if (problem) throw new Error(problem);
    return { pausedAll: value.pausedAll === true, pausedPaths, qos };
  } catch (error) {
    throw new AgentError(
      'VEIL_AGENT_STATE_INVALID',
      `${file} is damaged: ${(error as Error).message}; remove it to start over`,
    );
  }
}
