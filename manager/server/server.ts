// The manager process: opens (or on first start makes) its data directory — master key,
// store, CA, first administrator — and serves the JSON API under /v1/ over HTTPS, TLS 1.2
// at least. Every connection may present a client certificate; the routes that need a
// host check that it chains to this CA and belongs to a registered host.
import { constants as fsConstants, existsSync, mkdirSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { ManagerError } from '../../manager-client/errors.js';
import { ensureFirstAdmin } from '../admins.js';
import { AuditLog } from '../audit/audit_log.js';
import { keyDateEntry } from '../audit/manager_events.js';
import { startSiemForwarding, type SiemForwarding } from '../audit/siem/siem_forwarding.js';
import { openCertificateAuthority } from '../ca/authority.js';
import { DeliveryService } from '../delivery/delivery_service.js';
import { openImportKey } from '../keys/import_key.js';
import { openFileMasterKey } from '../keys/master_key.js';
import { ROOT_DOMAIN } from '../domains.js';
import { openSqliteStore } from '../store/sqlite_store.js';
import { BackupService } from '../backup/backup_service.js';
import { EventStream } from './events.js';
import { FileAnswer, sendError, sendFile, sendJson } from './http.js';
import { claimPidFile } from './pid_file.js';
import { dispatch } from './routes.js';
import { serviceDirectory } from './services.js';

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
  /** SHA-256 of the CA certificate, "AB:CD:…": what hosts pin. */
  caFingerprint: string;
  /** The first administrator's password file, when this start made it. */
  adminPasswordFile?: string;
  close(): Promise<void>;
}

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
  let audit: AuditLog | undefined;
  let siem: SiemForwarding | undefined;
  let releasePid: (() => void) | undefined;
  let closeCa: (() => Promise<void>) | undefined;
  try {
    // An offline restore refuses a data directory a manager serves (docs/backup.md).
    releasePid = claimPidFile(dataDir);
    audit = AuditLog.open(dataDir, master, { log });
    const trail = audit;
    siem = startSiemForwarding(dataDir, trail, log);
    const forwarding = siem;
    const adminPasswordFile = ensureFirstAdmin(store, dataDir);
    const ca = await openCertificateAuthority(dataDir, master, { hostnames: options.hostnames });
    closeCa = () => ca.close();
    const services = serviceDirectory({ store, master, ca, log, audit: trail });
    const { registration, keys, assignments, offline } = services.system;
    const importKey = openImportKey(dataDir, master);
    const backups = new BackupService(dataDir, master, ca.fingerprint);
    const authority = {
      caPem: ca.certificatePem,
      serverPem: ca.server.certificatePem,
      caFingerprint: ca.fingerprint,
    };
    const delivery = new DeliveryService(store, keys, assignments, offline, trail);
    const events = new EventStream(registration, delivery, store, log, trail);
    // Activation and deactivation dates take effect within seconds of coming.
    const applyDates = () => {
      try {
        const changes = keys.applyDates();
        for (const change of changes) {
          log(
            `key ${change.keyId} version ${change.version}: ${change.from ?? '-'} -> ${change.to} (${change.cause})`,
          );
          trail.append(keyDateEntry(change, store.key(change.keyId)?.domain ?? ROOT_DOMAIN));
        }
        if (changes.length > 0) events.refreshAll();
      } catch (error) {
        log(`applying key dates failed: ${(error as Error).message}`);
      }
    };
    const dateTimer = setInterval(applyDates, 5000);
    dateTimer.unref();
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
        // A handler that throws at once is answered like one that rejects.
        const answer = Promise.resolve().then(() =>
          dispatch({
            req,
            ...services.system,
            system: services.system,
            inDomain: services.inDomain,
            events,
            audit: trail,
            siem: forwarding,
            importKey,
            authority,
            backups,
          }),
        );
        answer.then(
          ([status, body]) =>
            body instanceof FileAnswer ? sendFile(res, status, body) : sendJson(res, status, body),
          (error: unknown) => sendError(res, error, log),
        );
      },
    );
    events.attach(server);
    applyDates();
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const host = options.host.includes(':') ? `[${options.host}]` : options.host;
    trail.append({ ...trail.systemEntry('manager.started'), details: { listen: `${host}:${port}` } });
    return {
      url: `https://${host}:${port}`,
      port,
      caCertificatePem: ca.certificatePem,
      caFingerprint: ca.fingerprint,
      adminPasswordFile,
      close: async () => {
        clearInterval(dateTimer);
        events.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        try {
          registration.flush();
          trail.append(trail.systemEntry('manager.stopped'));
        } finally {
          await ca.close();
          await forwarding.close();
          trail.close();
          store.close();
          releasePid?.();
        }
      },
    };
  } catch (error) {
    await closeCa?.();
    await siem?.close();
    audit?.close();
    store.close();
    releasePid?.();
    throw error;
  }
}
