// An issuer thread: signs host certificates off the manager's main thread, where the
// ASN.1 work of each one (several milliseconds) would hold up every other request.
import { parentPort, workerData } from 'node:worker_threads';

import { createHostIssuer, importSigningKey } from './host_issuer.js';
import type { IssueAnswer, IssueJob, IssuerSetup } from './issuer_pool.js';

const setup = workerData as IssuerSetup;
const key = await importSigningKey(setup.caPkcs8);
setup.caPkcs8.fill(0);
const issue = await createHostIssuer(setup.caCertificatePem, key);
const port = parentPort;
if (port === null) throw new Error('issuer_worker.ts runs as a worker thread');

port.on('message', (job: IssueJob) => {
  issue(job.csrPem, job.hostId, new Date(job.now)).then(
    (issued) =>
      port.postMessage({
        id: job.id,
        issued: { ...issued, notBefore: issued.notBefore.getTime(), notAfter: issued.notAfter.getTime() },
      } satisfies IssueAnswer),
    (error: unknown) => {
      const e = error as { code?: string; message?: string };
      port.postMessage({
        id: job.id,
        error: { code: e.code ?? 'VEIL_INTERNAL', message: e.message ?? String(error) },
      } satisfies IssueAnswer);
    },
  );
});
port.postMessage({ id: -1, ready: true } satisfies IssueAnswer);
