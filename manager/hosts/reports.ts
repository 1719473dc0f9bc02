// Events the hosts report (denials and audit records of guard points, tamper events, key
// problems, guard point failures): kept per host, each once by the host's event id, for the
// administrators to read. These records will also feed the manager's audit trail.
import { ManagerError } from '../../manager-client/errors.js';
import {
  HOST_REPORT_TYPES,
  type HostReport,
  type HostReportQuery,
  type HostReportReceipt,
  type HostReportRecord,
  type HostReportType,
} from '../../manager-client/types.js';
import type { HostReportRow, ManagerStore } from '../store/store.js';
import { checkReportBatch } from './report_schema.js';

export const DEFAULT_REPORT_LIMIT = 100;
export const MAX_REPORT_LIMIT = 1000;

const badQuery = (message: string) => new ManagerError('VEIL_HOST_REPORT_BAD_REQUEST', message);

/** limit and type from a query string, checked; any other parameter is refused. */
export function reportQuery(
  search: URLSearchParams,
): Required<Pick<HostReportQuery, 'limit'>> & HostReportQuery {
  for (const name of search.keys()) {
    if (name !== 'limit' && name !== 'type') throw badQuery(`${name} is not a parameter here (limit, type)`);
  }
  const limitText = search.get('limit');
  const limit = limitText === null ? DEFAULT_REPORT_LIMIT : Number(limitText);
  if (!/^\d{1,4}$/.test(limitText ?? '1') || limit < 1 || limit > MAX_REPORT_LIMIT) {
    throw badQuery(`limit is a whole number from 1 to ${MAX_REPORT_LIMIT}, not ${limitText ?? ''}`);
  }
  const type = search.get('type');
  if (type !== null && !HOST_REPORT_TYPES.includes(type as HostReportType)) {
    throw badQuery(`type is one of ${HOST_REPORT_TYPES.join(', ')}, not ${type}`);
  }
  return { limit, ...(type === null ? {} : { type: type as HostReportType }) };
}

export class HostReports {
  constructor(
    private readonly store: ManagerStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores a host's batch whole, or refuses it whole (VEIL_HOST_REPORT_BAD_REQUEST). */
  receive(hostId: string, body: unknown): HostReportReceipt {
    const reports = checkReportBatch(body);
    const receivedAt = this.now();
    const rows: HostReportRow[] = reports.map((report) => ({
      hostId,
      eventId: report.eventId,
      time: Date.parse(report.time),
      receivedAt,
      type: report.type,
      report: JSON.stringify(report),
    }));
    const accepted = this.store.insertHostReports(rows);
    return { accepted, duplicates: rows.length - accepted };
  }

  /** A host's reports, newest first; the host may be de-registered. */
  list(hostId: string, query: HostReportQuery = {}): HostReportRecord[] {
    if (!this.store.host(hostId)) throw new ManagerError('VEIL_HOST_UNKNOWN', `there is no host ${hostId}`);
    const rows = this.store.hostReports(hostId, {
      limit: query.limit ?? DEFAULT_REPORT_LIMIT,
      type: query.type,
    });
    return rows.map((row) => ({
      ...(JSON.parse(row.report) as HostReport),
      hostId: row.hostId,
      receivedAt: new Date(row.receivedAt).toISOString(),
    }));
  }
}
