// Events the hosts report (denials and audit records of guard points, tamper events, key
// problems, guard point failures): kept per host, each once by the host's event id, the newest
// KEPT_REPORTS_PER_HOST of them, for the administrators to read. Each one newly stored also
// becomes a record of the audit trail, in the same breath: a report is stored with its record or
// not at all.
import { ManagerError } from '../../manager-client/errors.js';
import {
  HOST_REPORT_TYPES,
  type HostReport,
  type HostReportQuery,
  type HostReportReceipt,
  type HostReportRecord,
  type HostReportType,
} from '../../manager-client/types.js';
import type { AuditLog } from '../audit/audit_log.js';
import { hostReportEntry } from '../audit/manager_events.js';
import { ROOT_DOMAIN } from '../domains.js';
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

/**
 * How many reports are kept per host, the newest: the audit trail keeps every one, and a host that
 * audits each access would otherwise grow the store without end. Trimmed once this many more came.
 */
export const KEPT_REPORTS_PER_HOST = 10_000;
export const PRUNE_EVERY = 1_000;

export class HostReports {
  // Reports stored since the host's were last trimmed (a restart starts again: trimmed later).
  readonly #sincePrune = new Map<string, number>();

  constructor(
    private readonly store: ManagerStore,
    private readonly now: () => number = Date.now,
    private readonly audit?: AuditLog,
    private readonly retention = { keep: KEPT_REPORTS_PER_HOST, every: PRUNE_EVERY },
  ) {}

  /**
   * Stores a host's batch whole, or refuses it whole (VEIL_HOST_REPORT_BAD_REQUEST);
   * `source` is the host's address, for the audit trail.
   */
  receive(hostId: string, body: unknown, source = 'local'): HostReportReceipt {
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
    const accepted = this.audit
      ? this.#receiveAudited(hostId, reports, rows, source, this.audit)
      : this.store.insertHostReports(rows);
    this.#trim(hostId, accepted);
    return { accepted, duplicates: rows.length - accepted };
  }

  #trim(hostId: string, stored: number): void {
    const since = (this.#sincePrune.get(hostId) ?? 0) + stored;
    if (since < this.retention.every) {
      this.#sincePrune.set(hostId, since);
      return;
    }
    this.#sincePrune.delete(hostId);
    this.store.pruneHostReports(hostId, this.retention.keep);
  }

  // One by one, so that only the reports not stored before are recorded. Two files: the
  // records are committed first, so that a failure between the two commits leaves records
  // of a batch the host sends again (recorded twice), never stored reports without records.
  #receiveAudited(
    hostId: string,
    reports: readonly HostReport[],
    rows: readonly HostReportRow[],
    source: string,
    audit: AuditLog,
  ): number {
    const host = { id: hostId, domain: this.store.host(hostId)?.domain ?? ROOT_DOMAIN };
    return this.store.transaction(() =>
      audit.batch(() =>
        rows.reduce((accepted, row, i) => {
          const report = reports[i];
          if (!report || this.store.insertHostReports([row]) === 0) return accepted;
          audit.append(hostReportEntry(host, report, source));
          return accepted + 1;
        }, 0),
      ),
    );
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
