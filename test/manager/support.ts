// The real manager for tests: a `veil-manager serve` process on a free loopback port,
// with its data directory in a temporary folder; stopped with SIGTERM.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const MANAGER_CLI = path.join(root, 'bin/veil-manager.js');

export interface ManagerProcess {
  readonly url: string;
  readonly dataDir: string;
  /** The CA fingerprint of the startup line. */
  readonly caFingerprint: string;
  /** What the process wrote to stderr so far. */
  log(): string;
  caPem(): string;
  /** A client with the first administrator's password. */
  admin(): ManagerClient;
  /** Runs `veil-manager ARGS --manager URL --data-dir DIR --json`. */
  cli(...args: string[]): { status: number; out: string; err: string };
  stop(): Promise<void>;
}

/** `listen`: HOST:PORT, by default a free loopback port. */
export async function startManagerProcess(dataDir: string, listen = '127.0.0.1:0'): Promise<ManagerProcess> {
  let stderr = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [MANAGER_CLI, 'serve', '--data-dir', dataDir, '--listen', listen, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const { url, caFingerprint } = await new Promise<{ url: string; caFingerprint: string }>(
    (resolve, reject) => {
      let out = '';
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (!out.includes('\n')) return;
        const line = JSON.parse(out.split('\n')[0] ?? '{}') as {
          ok?: boolean;
          url?: string;
          caFingerprint?: string;
        };
        if (line.ok && line.url) resolve({ url: line.url, caFingerprint: line.caFingerprint ?? '' });
        else reject(new Error(`veil-manager refused to start: ${out}`));
      });
      child.once('exit', (code) => reject(new Error(`veil-manager exited (${code}): ${stderr}`)));
    },
  );
  const caPem = () => readFileSync(path.join(dataDir, 'ca.crt'), 'utf8');
  return {
    url,
    dataDir,
    caFingerprint,
    log: () => stderr,
    caPem,
    admin: () =>
      new ManagerClient({
        url,
        caPem: caPem(),
        admin: { name: 'admin', password: readFileSync(path.join(dataDir, 'admin-password'), 'utf8').trim() },
      }),
    cli: (...args) => {
      const result = spawnSync(
        process.execPath,
        [MANAGER_CLI, ...args, '--manager', url, '--data-dir', dataDir, '--json'],
        { encoding: 'utf8', timeout: 60_000 },
      );
      return { status: result.status ?? -1, out: result.stdout, err: result.stderr };
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A CSR made by the openssl command line, as an operator would; its private key goes to `keyFile`. */
export function opensslCsr(keyFile: string, subject = '/CN=host', key = 'ec'): string {
  const options = key === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', key];
  return execFileSync(
    'openssl',
    ['req', '-new', ...options, '-nodes', '-keyout', keyFile, '-subj', subject],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
}

/** A host registered as an operator would by hand: an openssl CSR, its key in `keyFile`. */
export interface HandRegisteredHost {
  id: string;
  keyPem: string;
  certificatePem: string;
}

export async function registerHostByHand(
  manager: ManagerProcess,
  keyFile: string,
  name: string,
  transportPublicKey: string,
  /** Who makes the token (its domain is the host's): the first administrator by default. */
  admin: ManagerClient = manager.admin(),
  hostGroup?: string,
): Promise<HandRegisteredHost> {
  const { token } = await admin.createToken({ lifetimeSeconds: 600, maxUses: 1, hostGroup });
  const registered = await new ManagerClient({ url: manager.url, caPem: manager.caPem() }).register({
    token,
    csr: opensslCsr(keyFile, `/CN=${name}`),
    transportPublicKey,
    hostname: name,
  });
  return {
    id: registered.hostId,
    keyPem: readFileSync(keyFile, 'utf8'),
    certificatePem: registered.certificate,
  };
}

/** The host's client of the manager as it runs now (mutual TLS with the host's certificate). */
export function hostClient(manager: ManagerProcess, host: HandRegisteredHost): ManagerClient {
  return new ManagerClient({
    url: manager.url,
    caPem: manager.caPem(),
    host: { keyPem: host.keyPem, certificatePem: host.certificatePem },
  });
}

/** For assert.rejects: the call failed with the manager's `code`. */
export const refusedWithCode =
  (code: string) =>
  (error: unknown): boolean =>
    error instanceof ManagerError && error.code === code;

/** The ManagerError a call was refused with; fails the test if it was not refused. */
export async function failure(call: Promise<unknown>): Promise<ManagerError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ManagerError) return error;
    throw error;
  }
  assert.fail('the call was not refused');
}
