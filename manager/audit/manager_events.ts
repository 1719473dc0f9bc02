// The entries of what happens outside an API call's answer (docs/audit.md): key states
// changed by their dates, key deliveries to hosts, and the events hosts report. Built
// here from ids, versions, states and the hosts' own words; never from key material.
import type {
  GuardPointStatus,
  GuardPointTransformation,
  HostReport,
  KeyStateChange,
} from '../../manager-client/types.js';
import type { AuditEntry } from './audit_record.js';

const system = { actor: 'system', role: 'system', source: 'local', reason: '' } as const;

/** A version moved by its activation or deactivation date. */
export function keyDateEntry(change: KeyStateChange, domain: string): AuditEntry {
  return {
    ...system,
    time: Date.now(),
    domain,
    action: 'key.state.dated',
    object: change.keyId,
    outcome: 'success',
    details: { version: change.version, from: change.from ?? '', to: change.to, cause: change.cause },
  };
}

/** One delivery to a host: which versions in which states it carries, under which sequence. */
export function deliveryEntry(
  host: { id: string; domain: string },
  delivery: { deliveryId: string; sequence: number },
  versions: readonly { keyId: string; version: number; state: string }[],
): AuditEntry {
  return {
    ...system,
    time: Date.now(),
    domain: host.domain,
    action: 'host.delivery',
    object: host.id,
    outcome: 'success',
    details: {
      deliveryId: delivery.deliveryId,
      sequence: delivery.sequence,
      versions: versions.map((v) => `${v.keyId}/${v.version}:${v.state}`).join(' '),
    },
  };
}

// What a host reports as gone wrong: a denial, tampered data, a key it lacks, a guard point
// that failed. "recovered", "unmounted" and permitted access are not failures.
function failed(report: HostReport): boolean {
  if (report.type === 'access') return report.access?.effect === 'deny';
  return report.type === 'tamper' || report.type === 'key-unavailable' || report.type === 'guard-failed';
}

/** One report a host sent, newly stored: its facts as the host gave them. */
export function hostReportEntry(
  host: { id: string; domain: string },
  report: HostReport,
  source: string,
): AuditEntry {
  const access = report.access;
  const outcome = failed(report) ? 'failure' : 'success';
  const optional = (name: string, value: string | number | undefined) =>
    value === undefined ? {} : { [name]: value };
  return {
    time: Date.now(),
    actor: `host:${host.id}`,
    role: 'host',
    domain: host.domain,
    action: `host.report.${report.type}`,
    object: host.id,
    outcome,
    reason: outcome === 'failure' ? (report.code ?? (access ? 'denied' : report.type)) : '',
    source,
    details: {
      eventId: report.eventId,
      hostTime: report.time,
      message: report.message,
      ...optional('guardPoint', report.guardPoint),
      ...optional('path', report.path),
      ...optional('code', report.code),
      ...optional('uid', report.uid),
      ...optional('pid', report.pid),
      ...(access
        ? {
            policy: access.policy,
            rule: access.rule ?? 'none',
            access: access.action,
            effect: access.effect,
            learned: access.learned,
            executable: access.executable,
          }
        : {}),
    },
  };
}

const hostActor = (host: { id: string; domain: string }, source: string) => ({
  time: Date.now(),
  actor: `host:${host.id}`,
  role: 'host',
  domain: host.domain,
  object: host.id,
  source,
});

/** A guard point whose state a host reports changed (or first reports): guarded, released, failed. */
export function guardPointStatusEntry(
  host: { id: string; domain: string },
  status: GuardPointStatus,
  from: string | undefined,
  path: string,
  source: string,
): AuditEntry {
  const failed = status.state === 'failed';
  return {
    ...hostActor(host, source),
    action: 'host.guardpoint-status',
    outcome: failed ? 'failure' : 'success',
    reason: failed ? 'guard-failed' : '',
    details: {
      guardPointId: status.guardPointId,
      guardPoint: path,
      from: from ?? '',
      to: status.state,
      ...(status.message === undefined ? {} : { message: status.message }),
    },
  };
}

/**
 * A guard point's rekey state as a host reports it, when it changed (or first appears): its
 * start, pauses and waits, completion (idle) or failure, with the counts at that moment and
 * the key versions its files are under ("keyId:version=files …").
 */
export function rekeyProgressEntry(
  host: { id: string; domain: string },
  guardPointId: string,
  t: GuardPointTransformation,
  from: string | undefined,
  path: string,
  source: string,
): AuditEntry {
  const failed = t.state === 'failed';
  const versions = t.keyVersions.map((k) => `${k.keyId}:${k.version}=${k.files}`).join(' ');
  return {
    ...hostActor(host, source),
    action: 'host.rekey-progress',
    outcome: failed ? 'failure' : 'success',
    reason: failed ? 'rekey-failed' : '',
    details: {
      guardPointId,
      guardPoint: path,
      from: from ?? '',
      to: t.state,
      filesDone: t.filesDone,
      filesTotal: t.filesTotal,
      bytesDone: t.bytesDone,
      bytesTotal: t.bytesTotal,
      plaintextFiles: t.plaintextFiles,
      keyVersions: versions.length > 2048 ? `${versions.slice(0, 2045)}...` : versions,
      ...(t.message === undefined ? {} : { message: t.message }),
    },
  };
}
