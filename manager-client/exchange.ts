// One HTTPS request to the manager and its JSON answer: a connection per request, every
// failure a ManagerError (the manager's own code, or VEIL_MANAGER_UNREACHABLE).
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';

import { isManagerErrorCode, ManagerError } from './errors.js';
import type { ErrorBody } from './types.js';

export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** https://host:port of the manager, checked. */
export function managerBase(url: string): URL {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    throw new ManagerError('VEIL_MANAGER_UNREACHABLE', `${url} is not a URL`);
  }
  if (base.protocol !== 'https:') {
    throw new ManagerError(
      'VEIL_MANAGER_UNREACHABLE',
      `the manager is reached over https, not ${base.protocol}`,
    );
  }
  return base;
}

export interface ExchangeOptions {
  body?: unknown;
  authorization?: string;
  /** The domain an administrator's request works in (X-Veil-Domain). */
  domain?: string;
  tls: { ca?: string[]; key?: string; cert?: string; rejectUnauthorized?: boolean };
  timeoutMs: number;
  maxAnswerBytes: number;
  /** The answer is a file (application/octet-stream, e.g. a backup): it is answered as a Buffer. */
  binary?: boolean;
  /** Answer the DER of the server's certificate too (it costs a copy of it on every answer). */
  peerCertificate?: boolean;
}

/** The answer, and (when asked for) the DER of the certificate the server presented. */
export function exchange<T>(
  base: URL,
  method: string,
  path: string,
  options: ExchangeOptions,
): Promise<{ answer: T; peerCertificate: Buffer | undefined }> {
  const { body, authorization, domain, tls, timeoutMs, maxAnswerBytes, binary } = options;
  const wantsPeer = options.peerCertificate === true;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  const headers: Record<string, string> = {
    accept: binary ? 'application/octet-stream, application/json' : 'application/json',
  };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  if (authorization) headers.authorization = authorization;
  if (domain) headers['x-veil-domain'] = domain;
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers,
        ...tls,
        minVersion: 'TLSv1.2',
        timeout: timeoutMs,
        // A connection per request: a kept-alive one that the manager closes as idle just
        // as it is reused fails the request ("socket hang up").
        agent: false,
      },
      (res) => {
        const peer = wantsPeer ? (res.socket as TLSSocket).getPeerCertificate?.() : undefined;
        const peerCertificate = peer && 'raw' in peer ? peer.raw : undefined;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxAnswerBytes) req.destroy(new Error('the answer is too large'));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
          if (binary && ok) {
            if ((res.headers['content-type'] ?? '').startsWith('application/octet-stream')) {
              resolve({ answer: Buffer.concat(chunks) as T, peerCertificate });
            } else {
              reject(
                new ManagerError(
                  'VEIL_MANAGER_UNREACHABLE',
                  `the manager's answer to ${method} ${path} is not a file`,
                ),
              );
            }
            return;
          }
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            reject(
              new ManagerError(
                'VEIL_MANAGER_UNREACHABLE',
                `the manager's answer to ${method} ${path} is not JSON`,
              ),
            );
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve({ answer: parsed as T, peerCertificate });
            return;
          }
          reject(
            refusalFrom(status, parsed) ??
              new ManagerError('VEIL_INTERNAL', `the manager answered ${status}`),
          );
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) =>
      reject(
        new ManagerError(
          'VEIL_MANAGER_UNREACHABLE',
          `cannot reach the manager at ${base.origin}: ${error.message}`,
          { cause: error },
        ),
      ),
    );
    req.end(payload);
  });
}

/** The error a refusal's body names ({"error": {code, message}}), or undefined if it names none. */
export function refusalFrom(status: number, body: unknown): ManagerError | undefined {
  const error = (body as Partial<ErrorBody> | null)?.error;
  if (!isManagerErrorCode(error?.code)) return undefined;
  return new ManagerError(error.code, error.message ?? `the manager answered ${status}`);
}
