// The routes of the audit trail (docs/audit.md): its records with filters, its
// verification (optionally against a checkpoint an auditor kept) and its newest signed
// checkpoint. The auditor's role, in access.ts. An administrator of a domain other than
// the root reads only its domain's records; the chain itself is the whole manager's.
import { ManagerError } from '../../manager-client/errors.js';
import { parseCheckpoint } from '../audit/audit_verify.js';
import type { RecordFilter } from '../audit/audit_db.js';
import { ROOT_DOMAIN } from '../domains.js';
import { readJson } from './http.js';
import type { Authorized, Route } from './routes.js';

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;

const PARAMETERS = ['after', 'since', 'until', 'actor', 'action', 'outcome', 'domain', 'limit', 'newest'];

const bad = (message: string) => new ManagerError('VEIL_AUDIT_BAD_REQUEST', message);

function wholeNumber(search: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const text = search.get(name);
  if (text === null) return undefined;
  const n = Number(text);
  if (!/^\d{1,16}$/.test(text) || n < min || n > max) {
    throw bad(`${name} is a whole number from ${min} to ${max}, not ${text}`);
  }
  return n;
}

function date(search: URLSearchParams, name: string): number | undefined {
  const text = search.get(name);
  if (text === null) return undefined;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw bad(`${name} is an ISO 8601 date, e.g. 2027-01-31T00:00:00Z, not ${text}`);
  return ms;
}

function text(search: URLSearchParams, name: string): string | undefined {
  const value = search.get(name);
  if (value !== null && (value === '' || value.length > 1024)) throw bad(`${name} is 1 to 1,024 characters`);
  return value ?? undefined;
}

/** The filter of GET /v1/audit, checked; any other parameter is refused. */
export function auditFilter(search: URLSearchParams, domain: string): RecordFilter {
  for (const name of search.keys()) {
    if (!PARAMETERS.includes(name)) throw bad(`${name} is not a parameter here (${PARAMETERS.join(', ')})`);
  }
  const outcome = search.get('outcome');
  if (outcome !== null && outcome !== 'success' && outcome !== 'failure') {
    throw bad(`outcome is success or failure, not ${outcome}`);
  }
  const newest = search.get('newest');
  if (newest !== null && newest !== 'true' && newest !== 'false') throw bad('newest is true or false');
  return {
    after: wholeNumber(search, 'after', 0, Number.MAX_SAFE_INTEGER),
    since: date(search, 'since'),
    until: date(search, 'until'),
    actor: text(search, 'actor'),
    action: text(search, 'action'),
    outcome: outcome ?? undefined,
    // The root domain's administrators read every domain's records, or one they filter on.
    domain: domain === ROOT_DOMAIN ? text(search, 'domain') : domain,
    limit: wholeNumber(search, 'limit', 1, MAX_AUDIT_LIMIT) ?? DEFAULT_AUDIT_LIMIT,
    newest: newest === 'true',
  };
}

// A body that may be left out: no checkpoint then.
async function optionalObject(context: Authorized): Promise<Record<string, unknown>> {
  const { req } = context;
  if (req.headers['content-length'] === '0' || !req.headers['content-type']) return {};
  const body = await readJson(req);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad('the body is a JSON object: {"checkpoint": {…}} or {}');
  }
  return body as Record<string, unknown>;
}

export const AUDIT_ROUTES: Route[] = [
  {
    method: 'GET',
    path: /^\/v1\/audit$/,
    handler: ({ req, audit, domain = ROOT_DOMAIN }) => [
      200,
      audit.find(auditFilter(new URL(req.url ?? '/', 'https://manager').searchParams, domain)),
    ],
  },
  { method: 'GET', path: /^\/v1\/audit\/verify$/, handler: ({ audit }) => [200, audit.verify()] },
  {
    method: 'POST',
    path: /^\/v1\/audit\/verify$/,
    handler: async (context) => {
      const { checkpoint } = await optionalObject(context);
      return [200, context.audit.verify(checkpoint === undefined ? undefined : parseCheckpoint(checkpoint))];
    },
  },
  {
    method: 'GET',
    path: /^\/v1\/audit\/checkpoint$/,
    handler: ({ audit }) => {
      const checkpoint = audit.checkpoint();
      if (!checkpoint) throw new ManagerError('VEIL_AUDIT_UNAVAILABLE', 'the audit trail has no records yet');
      return [200, checkpoint];
    },
  },
];
