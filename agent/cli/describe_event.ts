// One line per guard point event for logs. Access records follow the reference product's
// access log: who (user and uid, process and pid), what (action on a resource), which
// policy and rule, and the effect, as key=value pairs a SIEM can split.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import type { GuardPointEvent } from '../../native/core.js';
import { parseAccountFile } from '../../policies/index.js';

let userNames: Map<number, string> | undefined;

function userName(uid: number): string {
  if (userNames === undefined) {
    userNames = new Map();
    try {
      for (const [name, id] of parseAccountFile(readFileSync('/etc/passwd', 'utf8'))) {
        if (!userNames.has(id)) userNames.set(id, name);
      }
    } catch {
      // No names: uids alone still identify the users.
    }
  }
  return userNames.get(uid) ?? String(uid);
}

// Values may hold spaces (paths): quoted then, with quotes and backslashes escaped.
const value = (v: string): string => (/^[^\s"\\=]+$/.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`);

export function describeEvent(event: GuardPointEvent, guardPoint: string): string {
  const a = event.access;
  if (a === undefined) {
    const who = event.pid > 0 ? ` (uid ${event.uid}, pid ${event.pid})` : '';
    return `${event.type}: ${event.path}: ${event.message}${event.code ? ` [${event.code}]` : ''}${who}`;
  }
  const effect = [a.effect, ...(a.applyKey ? ['apply_key'] : []), ...(a.learned ? ['learned'] : [])].join(
    ',',
  );
  const fields = [
    ['time', new Date(a.time).toISOString()],
    ['guard_point', guardPoint],
    ['policy', a.policy],
    ['rule', a.rule === null ? 'none' : String(a.rule)],
    ['user', userName(event.uid)],
    ['uid', String(event.uid)],
    ['gid', String(a.gid)],
    ['process', a.executable === '' ? 'unknown' : a.executable],
    ['pid', String(event.pid)],
    ['action', a.action],
    ['resource', event.path === '.' ? guardPoint : path.join(guardPoint, event.path)],
    ['effect', effect],
    ['message', event.message],
  ];
  return `access: ${fields.map(([k, v]) => `${k}=${value(v)}`).join(' ')}`;
}
