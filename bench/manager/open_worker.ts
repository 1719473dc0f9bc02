// A worker thread of openers.ts: opens the deliveries it is sent with the pool's transport keys. It runs
// at a lower priority (on Linux the nice value is per thread): real hosts open their deliveries on their
// own CPUs, so here the opening takes only the CPU time that the manager leaves.
import { createPrivateKey } from 'node:crypto';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

import { openDelivery } from './open_delivery.js';
import { currentThreadId } from './proc_cpu.js';

interface Job {
  id: number;
  blob: Uint8Array;
  hostId: string;
  transport: number;
}

const OPENER_NICE = 10;
try {
  setPriority(OPENER_NICE);
} catch {
  // Not allowed here: the opening then competes with the manager on equal terms.
}

const keys = (workerData as { keys: string[] }).keys.map((pem) => createPrivateKey(pem));
// First, which thread this is: the benchmark reads its CPU time from /proc (openers.ts).
parentPort?.postMessage({ threadId: currentThreadId() });

parentPort?.on('message', (job: Job) => {
  const key = keys[job.transport];
  try {
    if (key === undefined) throw new Error(`no transport key ${job.transport}`);
    const started = performance.now();
    const opened = openDelivery(
      Buffer.from(job.blob.buffer, job.blob.byteOffset, job.blob.byteLength),
      job.hostId,
      key,
    );
    parentPort?.postMessage({ id: job.id, opened: { ...opened, openMs: performance.now() - started } });
  } catch (error) {
    parentPort?.postMessage({ id: job.id, error: (error as Error).message });
  }
});
