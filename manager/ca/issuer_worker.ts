// An issuer thread: checks CSRs and signs host certificates off the manager's main thread,
// where the ASN.1 work of each one (about 2 ms) would add to every other request's wait.
import { parentPort, workerData } from 'node:worker_threads';

import { createHostIssuer, importSigningKey } from './host_issuer.js';
import type { IssueAnswer, IssueJob, IssuerSetup } from './issuer_pool.js';

const setup = workerData as IssuerSetup;
const key = await importSigningKey(setup.caPkcs8);
setup.caPkcs8.fill(0);
const issue = createHostIssuer(setup.caCertificatePem, key);
const port = parentPort;
if (port === null) throw new Error('issuer_worker.ts runs as a worker thread');

port.on('message', (job: IssueJob) => {
  let answer: IssueAnswer;
  try {
    const issued = issue(job.csrPem, job.hostId, new Date(job.now));
    answer = {
      id: job.id,
      issued: { ...issued, notBefore: issued.notBefore.getTime(), notAfter: issued.notAfter.getTime() },
    };
  } catch (error) {
    const e = error as { code?: string; message?: string };
    answer = { id: job.id, error: { code: e.code ?? 'VEIL_INTERNAL', message: e.message ?? String(error) } };
  }
  port.postMessage(answer);
});
port.postMessage({ id: -1, ready: true } satisfies IssueAnswer);
