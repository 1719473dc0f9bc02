// Where the simulated hosts open their deliveries. Unwrapping K is an RSA-3072 private-key operation
// (2 to 3 ms here): on real hosts each does its own on its own CPU, but 1,000 in a row on one thread of
// the benchmark would take seconds and measure the benchmark, not the manager. So by default worker
// threads open them while the main thread keeps reading the streams; 0 workers opens them inline.
// Each answer says how long its opening took, so a report can tell the two apart.
import { Worker } from 'node:worker_threads';

import type { TransportKey } from './identity.js';
import { openDelivery, type OpenedDelivery } from './open_delivery.js';
import { threadCpuSeconds } from './proc_cpu.js';

const WORKER = new URL('./open_worker.ts', import.meta.url);

/** An opened delivery, and the milliseconds the opening itself took. */
export interface Opened extends OpenedDelivery {
  openMs: number;
}

export interface Openers {
  open: (blob: Buffer, hostId: string, transport: number) => Promise<Opened>;
  /**
   * CPU seconds the opener threads have used so far (all of them), or null when the openings run on
   * the main thread (0 workers) or a thread has not said which it is yet.
   */
  cpuSeconds: () => number | null;
  close: () => Promise<void>;
}

type Answer = { threadId: number } | { id: number; opened?: Opened; error?: string };

export function openerFor(pool: readonly TransportKey[], workers: number): Openers {
  if (workers === 0) {
    return {
      open: (blob, hostId, transport) =>
        Promise.resolve().then(() => {
          const started = performance.now();
          const opened = openDelivery(blob, hostId, pool[transport].privateKey);
          return { ...opened, openMs: performance.now() - started };
        }),
      cpuSeconds: () => null,
      close: () => Promise.resolve(),
    };
  }
  const pending = new Map<number, { resolve(opened: Opened): void; reject(error: Error): void }>();
  // Jobs not given to a thread yet, and how many each thread has: a thread gets the next job as it
  // answers one (a shared queue), so one that gets less CPU (the threads share the CPUs with the
  // manager and other work) holds no queue of its own while the other idles. A real host opens its
  // delivery at once, on its own CPU.
  const backlog: { id: number; blob: Buffer; hostId: string; transport: number }[] = [];
  const given: number[] = Array.from({ length: workers }, () => 0);
  const dispatch = (): void => {
    for (let thread = 0; thread < workers && backlog.length > 0; thread++) {
      // Two each: the next job is there when one is answered.
      while ((given[thread] ?? 0) < 2 && backlog.length > 0) {
        given[thread] = (given[thread] ?? 0) + 1;
        threads[thread]?.postMessage(backlog.shift());
      }
    }
  };
  let failed: Error | undefined;
  const threadIds: number[] = [];
  const threads = Array.from({ length: workers }, (_, index) => {
    // The worker is TypeScript: it registers tsx's loader itself, as bin/veil-manager.js does (a worker
    // does not inherit the loader the main thread was started with).
    const worker = new Worker(
      `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER.href)}); });`,
      { eval: true, workerData: { keys: pool.map((key) => key.privatePem) } },
    );
    worker.on('message', (answer: Answer) => {
      if ('threadId' in answer) {
        threadIds.push(answer.threadId);
        return;
      }
      const waiting = pending.get(answer.id);
      pending.delete(answer.id);
      given[index] = (given[index] ?? 1) - 1;
      if (answer.opened !== undefined) waiting?.resolve(answer.opened);
      else waiting?.reject(new Error(answer.error ?? 'the delivery did not open'));
      dispatch();
    });
    worker.on('error', (error) => {
      failed = new Error(`an opener thread failed: ${error.message}`);
      for (const waiting of pending.values()) waiting.reject(failed);
      pending.clear();
    });
    return worker;
  });
  let next = 0;
  return {
    open: (blob, hostId, transport) =>
      new Promise((resolve, reject) => {
        if (failed !== undefined) {
          reject(failed);
          return;
        }
        const id = next++;
        pending.set(id, { resolve, reject });
        backlog.push({ id, blob, hostId, transport });
        dispatch();
      }),
    cpuSeconds: () =>
      threadIds.length < workers ? null : threadIds.reduce((sum, tid) => sum + threadCpuSeconds(tid), 0),
    close: async () => {
      await Promise.all(threads.map((worker) => worker.terminate()));
    },
  };
}
