// Every API call that changes something, signs in, reads the audit trail or is refused for
// its credentials becomes one audit record once it is answered (docs/audit.md): who (the
// administrator, "host:<hostId>" or "anonymous"), with which roles, in which domain, which
// route, on what, how it ended and from where. If the record cannot be appended the call
// is answered 500 (VEIL_INTERNAL) even when its change was made: a trail that silently
// drops records would be worse than a failed answer, and the manager's log says which.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

import { ManagerError } from '../../manager-client/errors.js';
import type { AuditEntry } from '../audit/audit_record.js';
import { ROOT_DOMAIN } from '../domains.js';
import type { Caller } from '../sessions.js';
import type { ManagerStore } from '../store/store.js';
import type { Access } from './access.js';
import type { Context } from './routes.js';

type Answer = [number, unknown];

/** What dispatch learns of the caller as the call goes. */
export interface CallNotes {
  user?: Caller;
  domain?: string;
}

/** Refusals for who the caller is: recorded even on reads. */
const CREDENTIAL_REFUSALS = new Set([
  'VEIL_AUTH_ADMIN_REQUIRED',
  'VEIL_AUTH_ROLE_REQUIRED',
  'VEIL_AUTH_HOST_REQUIRED',
  'VEIL_DOMAIN_FORBIDDEN',
]);

/** The fields of an answer that name what a call made, in the order they are looked for. */
const ID_FIELDS = ['hostId', 'keyId', 'guardPointId', 'apiKeyId', 'tokenId', 'backupKeyId', 'name'] as const;

/**
 * Answered calls the service records itself, change by change: a host reports its guard
 * points every few seconds while it rekeys, and only changes of state go into the trail
 * (host.guardpoint-status, host.rekey-progress). Refused ones are recorded here as usual.
 */
const RECORDED_BY_SERVICE = new Set(['POST /v1/hosts/self/status']);

function recorded(method: string, route: string, reason: string): boolean {
  if (reason === '' && RECORDED_BY_SERVICE.has(route)) return false;
  return method !== 'GET' || route.startsWith('GET /v1/audit') || CREDENTIAL_REFUSALS.has(reason);
}

/** The host a connection's client certificate names, if it chains to this manager's CA. */
function certificateHost(connection: IncomingMessage['socket']): string | undefined {
  const socket = connection as Partial<TLSSocket>;
  if (!socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const name = socket.getPeerCertificate().subject?.CN as unknown;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * The domain of a call's record: the one the administrator's request works in, else the
 * host's, else the root domain. The one place that decides it.
 */
export function auditDomain(context: Context, notes: CallNotes, hostId?: string): string {
  if (notes.domain !== undefined) return notes.domain;
  if (notes.user) return notes.user.domain;
  return hostId === undefined ? ROOT_DOMAIN : hostDomain(context.store, hostId);
}

/** The host's domain for its records; the root domain if it cannot be read. */
function hostDomain(store: ManagerStore, hostId: string): string {
  try {
    return store.host(hostId)?.domain ?? ROOT_DOMAIN;
  } catch {
    return ROOT_DOMAIN;
  }
}

/** What the call was about: its first path parameter, else the id of what it made. */
function objectOf(params: string[], answer: unknown): string {
  if (params[0] !== undefined) return params[0];
  if (typeof answer !== 'object' || answer === null) return '';
  for (const field of ID_FIELDS) {
    const value = (answer as Record<string, unknown>)[field];
    if (typeof value === 'string') return value;
  }
  return '';
}

/** The path parameters after the first, by the names the route gives them ({version}…). */
function namedParams(route: string, params: string[]): Record<string, string> {
  const names = [...route.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1] ?? '');
  return Object.fromEntries(names.slice(1).map((name, i) => [name, params[i + 1] ?? '']));
}

/** Who signed in, from the session a login answered (its token is never recorded). */
async function signedIn(context: Context, answer: unknown): Promise<Caller | undefined> {
  const token = (answer as { token?: unknown } | null)?.token;
  if (typeof token !== 'string') return undefined;
  try {
    return await context.sessions.caller(`Bearer ${token}`);
  } catch {
    return undefined;
  }
}

/** Runs a call and records it when it is one the trail keeps. */
export async function audited(
  context: Context,
  route: { name: string; access: Access },
  params: string[],
  run: (notes: CallNotes) => Promise<Answer> | Answer,
): Promise<Answer> {
  const notes: CallNotes = {};
  let answer: Answer | undefined;
  let failure: unknown;
  try {
    answer = await run(notes);
  } catch (error) {
    failure = error;
  }
  const reason =
    failure === undefined ? '' : failure instanceof ManagerError ? failure.code : 'VEIL_INTERNAL';
  if (recorded(context.req.method ?? '', route.name, reason)) {
    const body = answer?.[1];
    if (route.name === 'POST /v1/login' && answer) notes.user = await signedIn(context, body);
    const host = route.access === 'host' ? certificateHost(context.req.socket) : undefined;
    const object = objectOf(params, body);
    const entry: AuditEntry = {
      time: Date.now(),
      actor: notes.user?.name ?? (host === undefined ? 'anonymous' : `host:${host}`),
      role: notes.user?.roles.join(',') ?? (route.access === 'host' ? 'host' : 'public'),
      domain: auditDomain(
        context,
        notes,
        host ?? (route.name === 'POST /v1/registration' ? object : undefined),
      ),
      action: route.name,
      object,
      outcome: failure === undefined ? 'success' : 'failure',
      reason,
      source: context.req.socket.remoteAddress ?? '',
      details: {
        ...namedParams(route.name, params),
        status: answer?.[0] ?? (failure instanceof ManagerError ? failure.status : 500),
        ...(notes.user?.apiKeyId ? { apiKeyId: notes.user.apiKeyId } : {}),
      },
    };
    try {
      // With the other calls of this turn: one sync to disk for all their records.
      await context.audit.appendDurably(entry);
    } catch (error) {
      throw new Error(`the audit trail could not record ${route.name}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  if (answer === undefined) throw failure;
  return answer;
}

/** Whether a refusal is one for who the caller is, which the trail keeps even on reads. */
export const isCredentialRefusal = (code: string): boolean => CREDENTIAL_REFUSALS.has(code);

/**
 * The record of a refused event stream (GET /v1/events: a WebSocket upgrade, which no route
 * runs), as a refused host call is recorded.
 */
export function refusedStreamEntry(
  req: IncomingMessage,
  store: ManagerStore,
  refusal: ManagerError,
): AuditEntry {
  const host = certificateHost(req.socket);
  return {
    time: Date.now(),
    actor: host === undefined ? 'anonymous' : `host:${host}`,
    role: 'host',
    domain: host === undefined ? ROOT_DOMAIN : hostDomain(store, host),
    action: 'GET /v1/events',
    object: '',
    outcome: 'failure',
    reason: refusal.code,
    source: req.socket.remoteAddress ?? '',
    details: { status: refusal.status },
  };
}
