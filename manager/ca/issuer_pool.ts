// Issuer threads for the CA: host certificates are signed on worker threads, in turn,
// so that registrations in bulk keep the main thread free for the other requests. The CA
// key reaches each thread once, as PKCS#8, and both copies are wiped once imported.
import { Worker } from 'node:worker_threads';

import { ManagerError, type ManagerErrorCode } from '../../manager-client/errors.js';
import type { HostIssuer, IssuedCertificate } from './host_issuer.js';

export interface IssuerSetup {
  caCertificatePem: string;
  caPkcs8: Uint8Array;
}

export interface IssueJob {
  id: number;
  csrPem: string;
  hostId: string;
  now: number;
}

export type IssueAnswer =
  | { id: number; ready: true }
  | {
      id: number;
      issued: Omit<IssuedCertificate, 'notBefore' | 'notAfter'> & { notBefore: number; notAfter: number };
    }
  | { id: number; error: { code: string; message: string } };

export interface IssuerPool {
  issue: HostIssuer;
  close(): Promise<void>;
}

const WORKER = new URL('./issuer_worker.ts', import.meta.url);
// Resolved here: an eval'd worker resolves bare names from the working directory, which
// need not be this installation's.
const TSX_API = import.meta.resolve('tsx/esm/api');

export async function startIssuerPool(setup: IssuerSetup, threads: number): Promise<IssuerPool> {
  const pending = new Map<number, { resolve(issued: IssuedCertificate): void; reject(error: Error): void }>();
  let failed: Error | undefined;
  const fail = (error: Error) => {
    failed = new ManagerError('VEIL_INTERNAL', `a certificate issuer thread failed: ${error.message}`);
    for (const waiting of pending.values()) waiting.reject(failed);
    pending.clear();
  };
  const workers = Array.from({ length: threads }, () => {
    // TypeScript: the thread registers tsx's loader itself, as bin/veil-manager.js does.
    const worker = new Worker(
      `import(${JSON.stringify(TSX_API)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(WORKER.href)}); });`,
      { eval: true, workerData: setup },
    );
    // Idle issuers do not keep the manager alive; close() ends them with it.
    worker.unref();
    return worker;
  });
  setup.caPkcs8.fill(0);
  await Promise.all(
    workers.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.on('message', (answer: IssueAnswer) => {
            if ('ready' in answer) {
              worker.off('error', reject);
              worker.on('error', fail);
              resolve();
              return;
            }
            const waiting = pending.get(answer.id);
            pending.delete(answer.id);
            if ('issued' in answer) {
              const { notBefore, notAfter } = answer.issued;
              waiting?.resolve({
                ...answer.issued,
                notBefore: new Date(notBefore),
                notAfter: new Date(notAfter),
              });
            } else {
              waiting?.reject(new ManagerError(answer.error.code as ManagerErrorCode, answer.error.message));
            }
          });
        }),
    ),
  );
  let next = 0;
  return {
    issue: (csrPem, hostId, now) =>
      new Promise((resolve, reject) => {
        if (failed !== undefined) {
          reject(failed);
          return;
        }
        const id = next++;
        pending.set(id, { resolve, reject });
        workers[id % workers.length]?.postMessage({
          id,
          csrPem,
          hostId,
          now: now.getTime(),
        } satisfies IssueJob);
      }),
    close: async () => {
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
