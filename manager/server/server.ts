// The manager process: opens (or on first start makes) its data directory — master key,
// store, CA, first administrator — and serves the JSON API under /v1/ over HTTPS, TLS 1.2
// at least. Every connection may present a client certificate; the routes that need a
// host check that it chains to this CA and belongs to a registered host.
import { constants as fsConstants, existsSync, mkdirSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';

import { ManagerError } from '../../manager-client/errors.js';
import type { TokenOptions } from '../../manager-client/types.js';
import { authenticateAdmin, ensureFirstAdmin } from '../admins.js';
import { openCertificateAuthority } from '../ca/authority.js';
import { RegistrationService } from '../hosts/registration.js';
import { openFileMasterKey } from '../keys/master_key.js';
import { openSqliteStore } from '../store/sqlite_store.js';
import type { ManagerStore } from '../store/store.js';
import { readJson, sendError, sendJson } from './http.js';
import { OPENAPI } from './openapi.js';

export interface ManagerOptions {
  dataDir: string;
  host: string;
  port: number;
  /** Names the server certificate is made for on first start (localhost and 127.0.0.1 always). */
  hostnames?: string[];
  log?: (line: string) => void;
}

export interface RunningManager {
  url: string;
  port: number;
  caCertificatePem: string;
  /** The first administrator's password file, when this start made it. */
  adminPasswordFile?: string;
  close(): Promise<void>;
}

interface Context {
  req: IncomingMessage;
  registration: RegistrationService;
  store: ManagerStore;
}

type Handler = (context: Context) => Promise<[number, unknown]>;

function adminRequired(): ManagerError {
  return new ManagerError('VEIL_AUTH_ADMIN_REQUIRED', 'this request needs an administrator (HTTP Basic)');
}

function requireAdmin({ req, store }: Context): void {
  const [scheme, encoded] = (req.headers.authorization ?? '').split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !encoded) throw adminRequired();
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0 || !authenticateAdmin(store, decoded.slice(0, colon), decoded.slice(colon + 1))) {
    throw new ManagerError('VEIL_AUTH_ADMIN_REQUIRED', 'the administrator name or password is wrong');
  }
}

function requireHost({ req, registration }: Context) {
  const socket = req.socket as TLSSocket;
  const certificate = socket.getPeerCertificate();
  if (!socket.authorized || !certificate.serialNumber) {
    throw new ManagerError(
      'VEIL_AUTH_HOST_REQUIRED',
      'this request needs the client certificate of a registered host (mutual TLS)',
    );
  }
  return registration.hostByCertificate(certificate.serialNumber, String(certificate.subject.CN ?? ''));
}

const ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '/v1/openapi.json': { GET: () => Promise.resolve([200, OPENAPI]) },
  '/v1/registration': {
    POST: async ({ req, registration }) => [201, await registration.register((await readJson(req)) as never)],
  },
  '/v1/tokens': {
    POST: async (context) => {
      requireAdmin(context);
      const body = (await readJson(context.req)) as TokenOptions;
      if (typeof body !== 'object' || body === null) {
        throw new ManagerError('VEIL_REGISTRATION_BAD_REQUEST', 'token options are a JSON object');
      }
      return [201, context.registration.createToken(body)];
    },
  },
  '/v1/hosts': {
    GET: (context) => {
      requireAdmin(context);
      return Promise.resolve([200, context.registration.hosts()]);
    },
  },
  '/v1/hosts/self': { GET: (context) => Promise.resolve([200, requireHost(context)]) },
};

/** The data directory: made 0700 if missing; refused when others may write to it. */
function prepareDataDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new ManagerError('VEIL_STORE_UNAVAILABLE', `${dir} is not a directory`);
  if ((st.mode & (fsConstants.S_IWGRP | fsConstants.S_IWOTH)) !== 0) {
    throw new ManagerError('VEIL_STORE_UNAVAILABLE', `${dir} is writable by others: make it 0700`);
  }
}

export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  const log = options.log ?? ((line: string) => process.stderr.write(`veil-manager: ${line}\n`));
  const dataDir = path.resolve(options.dataDir);
  prepareDataDir(dataDir);
  const master = openFileMasterKey(path.join(dataDir, 'master.key'), { create: true });
  const store = openSqliteStore(path.join(dataDir, 'manager.db'));
  let server: Server;
  try {
    const adminPasswordFile = ensureFirstAdmin(store, dataDir);
    const ca = await openCertificateAuthority(dataDir, master, { hostnames: options.hostnames });
    const registration = new RegistrationService(store, ca);
    server = createServer(
      {
        key: ca.server.keyPem,
        cert: ca.server.certificatePem,
        ca: [ca.certificatePem],
        requestCert: true,
        rejectUnauthorized: false, // registration comes without a certificate; routes decide
        minVersion: 'TLSv1.2',
      },
      (req: IncomingMessage, res: ServerResponse) => {
        const route = ROUTES[new URL(req.url ?? '/', 'https://manager').pathname];
        const handler = route?.[req.method ?? ''];
        // A handler that throws at once is answered like one that rejects.
        const answer = handler
          ? Promise.resolve().then(() => handler({ req, registration, store }))
          : Promise.reject(
              route
                ? new ManagerError(
                    'VEIL_REQUEST_BAD_METHOD',
                    `${req.method ?? '?'} is not allowed on ${req.url ?? ''}`,
                  )
                : new ManagerError('VEIL_REQUEST_NOT_FOUND', `there is no ${req.url ?? ''} in this API`),
            );
        answer.then(
          ([status, body]) => sendJson(res, status, body),
          (error: unknown) => sendError(res, error, log),
        );
      },
    );
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    return {
      url: `https://${host}:${port}`,
      port,
      caCertificatePem: ca.certificatePem,
      adminPasswordFile,
      close: async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        store.close();
      },
    };
  } catch (error) {
    store.close();
    throw error;
  }
}
