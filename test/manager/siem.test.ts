// SIEM forwarding of the audit trail (docs/siem.md). The formatters, read back by parsers
// written apart from them, with escaping's edge cases: quotes, backslashes, ']', '=', '|',
// '^', line breaks, tabs, non-ASCII. Then a real rsyslogd (test/manager/rsyslog.ts) as the
// receiver, fed from the manager's real audit trail (AuditLog): every format over TCP and
// TLS (with and without a client certificate), each line rsyslog wrote read back and
// compared field by field with the record, and rsyslog's own reading of the header; a
// receiver whose certificate does not chain to the CA file; a receiver down while records
// come, and a forwarder stopped and started again, losing nothing. UDP against a node
// receiver. Last, the real manager process: `veil-manager siem add/list/show/remove`.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { ManagerClient } from '../../manager-client/client.js';
import { ManagerError } from '../../manager-client/errors.js';
import type { NewSiemDestination, SiemDestinationView, SiemFormat } from '../../manager-client/types.js';
import { AuditLog } from '../../manager/audit/audit_log.js';
import type { AuditEntry, AuditRecord } from '../../manager/audit/audit_record.js';
import { escapeCefHeader, escapeCefValue, formatCef } from '../../manager/audit/siem/cef.js';
import { checkNewDestination, loadDestinations } from '../../manager/audit/siem/destinations.js';
import { truncateUtf8 } from '../../manager/audit/siem/formats.js';
import { escapeLeefValue, formatLeef } from '../../manager/audit/siem/leef.js';
import { escapeParamValue, formatRfc5424, paramName } from '../../manager/audit/siem/rfc5424.js';
import { startSiemForwarding, type SiemForwarding } from '../../manager/audit/siem/siem_forwarding.js';
import { PRODUCT_VERSION, actionCategory, type Sender } from '../../manager/audit/siem/syslog_header.js';
import { openFileMasterKey } from '../../manager/keys/master_key.js';
import { makeTestPki, startRsyslog, type Input, type Received, type Rsyslog } from './rsyslog.js';
import {
  parse5424,
  parseCef,
  parseLeef,
  recordFrom5424,
  recordFromCef,
  recordFromLeef,
  withStringDetails,
} from './siem_parsers.js';
import { refusedWithCode, startManagerProcess } from './support.js';

const work = mkdtempSync('/var/tmp/veil-siem-');
let pki: ReturnType<typeof makeTestPki>;
let rsyslog: Rsyslog | undefined;
const FAST = { confirmAfterMs: 150, backoffMs: 100, maxBackoffMs: 400 };
const SENDER: Sender = { hostname: 'mgr.example', procId: '4242', facility: 'authpriv' };

before(async () => {
  mkdirSync(path.join(work, 'pki'));
  mkdirSync(path.join(work, 'rsyslog'));
  pki = makeTestPki(path.join(work, 'pki'));
  rsyslog = await startRsyslog(path.join(work, 'rsyslog'), pki);
});

after(async () => {
  await rsyslog?.stop();
  rmSync(work, { recursive: true, force: true });
});

function receiver(): Rsyslog {
  assert.ok(rsyslog, 'rsyslogd runs');
  return rsyslog;
}

/** Entries whose every text field holds something some format must escape. */
const TRICKY: AuditEntry[] = [
  {
    time: Date.UTC(2027, 0, 31, 12, 34, 56, 789),
    actor: 'al"ice\\',
    role: 'admin,key-admin',
    domain: 'root',
    action: 'POST /v1/keys/{keyId}/rotate',
    object: 'k]ey|=1 ^x',
    outcome: 'success',
    reason: '',
    source: '192.0.2.7',
    details: { version: 2, note: 'a=b\\c|d^e]f"g\th\ni\rj', ünï: 'çødé ✓ 𝄞', flag: true },
  },
  {
    time: Date.UTC(2027, 1, 1, 0, 0, 0, 1),
    actor: 'host:0d6e4b1c-2b39-4f5e-9a59-2a7a4a1b9d11',
    role: 'host',
    domain: 'dömäin',
    action: 'host.report.tamper',
    object: '/data/a\tb\nc\\d',
    outcome: 'failure',
    reason: 'VEIL_CRYPTO_AUTH_FAILED',
    source: '2001:db8::1',
    details: {},
  },
  {
    time: Date.UTC(2027, 1, 2, 3, 4, 5, 6),
    actor: 'système',
    role: 'system',
    domain: 'root',
    action: 'DELETE /v1/users/{name}',
    object: 'bob^^',
    outcome: 'failure',
    reason: 'VEIL_AUTH_ROLE_REQUIRED',
    source: 'local',
    details: { 'bad key=with space"]': 'v=1 \\ ]', count: 3.5 },
  },
];

const recordOf = (entry: AuditEntry, seq: number): AuditRecord => ({ ...entry, seq, mac: 'ab'.repeat(32) });

/** The details an RFC 5424 message can carry: names made SD-NAMEs, values strings. */
function detailsAs5424(record: AuditRecord): Record<string, string> {
  return Object.fromEntries(Object.entries(record.details).map(([k, v]) => [paramName(k), String(v)]));
}

test('RFC 5424: PRI, header, structured data escaped per §6.3.3, a BOM before a UTF-8 summary', () => {
  assert.equal(escapeParamValue('a"b\\c]d=e|f\tg\nh'), 'a\\"b\\\\c\\]d=e|f\tg\nh');
  assert.equal(paramName('bad key=with space"]'), 'bad_key_with_space__');
  assert.equal(paramName('ünï'), '_n_');
  assert.equal(paramName('x'.repeat(40)), 'x'.repeat(32));
  const pri = { success: 10 * 8 + 5, failure: 10 * 8 + 4 }; // authpriv.notice, authpriv.warning
  TRICKY.forEach((entry, i) => {
    const record = recordOf(entry, i + 1);
    const text = formatRfc5424(record, SENDER);
    assert.doesNotMatch(text.split(' [')[0] ?? '', /[^\x20-\x7e]/, 'the header is ASCII');
    const message = parse5424(text);
    assert.equal(message.pri, pri[record.outcome]);
    assert.equal(message.version, 1);
    assert.equal(message.timestamp, new Date(record.time).toISOString());
    assert.equal(message.hostname, 'mgr.example');
    assert.equal(message.appName, 'veil-manager');
    assert.equal(message.procId, '4242');
    assert.equal(message.msgId, actionCategory(record.action));
    assert.ok(message.bom, 'MSG is UTF-8 after a BOM');
    assert.doesNotMatch(message.msg, /\p{Cc}/u, 'the summary is one line');
    assert.deepEqual(recordFrom5424(message), {
      ...withStringDetails(record),
      details: detailsAs5424(record),
    });
  });
  assert.equal(actionCategory('POST /v1/keys/{keyId}/rotate'), 'api.keys');
  assert.equal(actionCategory('host.report.tamper'), 'host');
  const local4 = parse5424(formatRfc5424(recordOf(TRICKY[1], 2), { ...SENDER, facility: 'local4' }));
  assert.equal(local4.pri, 20 * 8 + 4);
  // No details: no second element.
  assert.equal(parse5424(formatRfc5424(recordOf(TRICKY[1], 2), SENDER)).sd.size, 1);
});

test('CEF: pipes and backslashes escaped in the header, =, \\ and line breaks in the extension', () => {
  assert.equal(escapeCefHeader('a|b\\c\nd'), 'a\\|b\\\\c d');
  assert.equal(escapeCefValue('a=b\\c|d\ne\rf'), 'a\\=b\\\\c|d\\ne\\rf');
  TRICKY.forEach((entry, i) => {
    const record = recordOf(entry, i + 1);
    const message = parse5424(formatCef(record, SENDER));
    assert.equal(message.sdText, '-');
    assert.ok(!message.bom, 'CEF starts the MSG');
    assert.doesNotMatch(message.msg, /[\r\n]/, 'one line');
    const cef = parseCef(message.msg);
    assert.deepEqual(
      [cef.version, cef.vendor, cef.product, cef.productVersion, cef.signatureId, cef.severity],
      ['0', 'Veil', 'veil-manager', PRODUCT_VERSION, record.action, record.outcome === 'success' ? '3' : '6'],
    );
    assert.deepEqual(recordFromCef(cef), record);
    assert.equal(cef.extension.get('dvchost'), 'mgr.example');
    // src only for addresses.
    assert.equal(cef.extension.has('src'), record.source !== 'local');
  });
  const piped = parseCef(parse5424(formatCef(recordOf({ ...TRICKY[0], action: 'x|y\\z' }, 1), SENDER)).msg);
  assert.equal(piped.signatureId, 'x|y\\z');
});

test('LEEF 1.0 and 2.0: tab or ^ separated, the separator and line breaks escaped', () => {
  assert.equal(escapeLeefValue('a\tb\\c^d=e\nf', '\t'), 'a\\tb\\\\c^d=e\\nf');
  assert.equal(escapeLeefValue('a\tb\\c^d=e\rf', '^'), 'a\tb\\\\c\\^d=e\\rf');
  for (const version of ['1.0', '2.0'] as const) {
    TRICKY.forEach((entry, i) => {
      const record = recordOf(entry, i + 1);
      const message = parse5424(formatLeef(record, SENDER, version));
      assert.equal(message.sdText, '-');
      assert.doesNotMatch(message.msg, /[\r\n]/);
      const leef = parseLeef(message.msg);
      assert.deepEqual(
        [leef.version, leef.vendor, leef.product, leef.productVersion, leef.eventId, leef.delimiter],
        [version, 'Veil', 'veil-manager', PRODUCT_VERSION, record.action, version === '1.0' ? '\t' : '^'],
      );
      assert.deepEqual(recordFromLeef(leef), record);
      assert.equal(leef.attributes.get('sev'), record.outcome === 'success' ? '3' : '6');
      assert.equal(leef.attributes.get('usrName'), record.actor);
      if (version === '1.0') {
        // The tabs left are the separators: one fewer than the attributes.
        const attributes = message.msg.split('|').slice(5).join('|');
        assert.equal(attributes.split('\t').length, leef.attributes.size);
      }
    });
  }
});

test('a message is cut before a UTF-8 character, never inside one', () => {
  const text = Buffer.from('ab€𝄞c', 'utf8'); // 1 + 1 + 3 + 4 + 1 bytes
  assert.equal(truncateUtf8(text, 100), text);
  assert.equal(truncateUtf8(text, 4).toString('utf8'), 'ab');
  assert.equal(truncateUtf8(text, 5).toString('utf8'), 'ab€');
  assert.equal(truncateUtf8(text, 8).toString('utf8'), 'ab€');
  assert.equal(truncateUtf8(text, 9).toString('utf8'), 'ab€𝄞');
});

test('a destination is checked before it is kept; a damaged destinations.json stops nothing silently', (t) => {
  const refused = (body: unknown, pattern: RegExp) =>
    assert.throws(
      () => checkNewDestination(body),
      (error: unknown) =>
        error instanceof ManagerError &&
        error.code === 'VEIL_SIEM_BAD_REQUEST' &&
        pattern.test(error.message),
    );
  const base = { name: 'siem-1', transport: 'tcp', host: 'siem.example.com', port: 514, format: 'cef' };
  refused({ ...base, name: '../x' }, /name is 1 to 64/);
  refused({ ...base, name: 'a.b' }, /name is 1 to 64/);
  refused({ ...base, port: 0 }, /port must be >= 1/);
  refused({ ...base, format: 'json' }, /format must be equal to one of the allowed values: rfc5424/);
  refused({ ...base, transport: 'http' }, /transport must be equal/);
  refused({ ...base, host: 'bad host' }, /host is a host name or an IP address/);
  refused({ ...base, colour: 'red' }, /colour is not a field here/);
  refused({ ...base, caFile: pki.caFile }, /only for the tls transport/);
  refused({ ...base, transport: 'tls' }, /needs caFile/);
  refused({ ...base, transport: 'tls', caFile: 'ca.crt' }, /absolute path/);
  refused({ ...base, transport: 'tls', caFile: '/nonexistent/ca.crt' }, /cannot be read: ENOENT/);
  refused({ ...base, transport: 'tls', caFile: pki.clientKeyFile }, /holds no usable PEM certificate/);
  refused(
    { ...base, transport: 'tls', caFile: pki.caFile, certFile: pki.clientCertFile },
    /both certFile and keyFile/,
  );
  refused(
    { ...base, transport: 'tls', caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.caFile },
    /no usable unencrypted PEM private key/,
  );
  refused(
    {
      ...base,
      transport: 'tls',
      caFile: pki.caFile,
      certFile: pki.clientCertFile,
      keyFile: path.join(path.dirname(pki.caFile), 'server.key'),
    },
    /is not the key of the certificate/,
  );
  refused({ ...base, maxMessageBytes: 1000 }, /only for udp/);
  refused({ ...base, transport: 'udp', maxMessageBytes: 100 }, /maxMessageBytes must be >= 480/);
  const { destination, from } = checkNewDestination({ ...base, host: '2001:db8::5' });
  assert.equal(destination.facility, 'authpriv');
  assert.equal(from, 'start');

  const { dataDir, audit } = openTrail(t, 'checked');
  const siem = startSiemForwarding(dataDir, audit, () => undefined, FAST);
  later(t, () => siem.close());
  siem.add({ ...base, host: '127.0.0.1', port: 9 });
  assert.throws(() => siem.add({ ...base, host: '127.0.0.1', port: 9 }), /VEIL_SIEM_NAME_TAKEN|already/);
  const file = path.join(dataDir, 'siem', 'destinations.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
  assert.equal(loadDestinations(dataDir)[0]?.name, 'siem-1');
  writeFileSync(file, JSON.stringify({ version: 1, destinations: [{ ...base, facility: 'authpriv' }] }));
  assert.throws(
    () => loadDestinations(dataDir),
    (error: unknown) =>
      error instanceof ManagerError &&
      error.code === 'VEIL_SIEM_UNAVAILABLE' &&
      /createdAt is missing/.test(error.message),
  );
  writeFileSync(file, '{"version":1,');
  assert.throws(
    () => startSiemForwarding(dataDir, audit, () => undefined),
    /VEIL_SIEM_UNAVAILABLE|cannot be read as JSON/,
  );
});

/** A real audit trail in its own data directory, closed after the test. */
function openTrail(t: TestContext, name: string): { dataDir: string; audit: AuditLog } {
  const dataDir = path.join(work, name);
  mkdirSync(dataDir, { mode: 0o700 });
  const master = openFileMasterKey(path.join(dataDir, 'master.key'), { create: true });
  const audit = AuditLog.open(dataDir, master);
  later(t, () => audit.close());
  return { dataDir, audit };
}

const cleanups = new WeakMap<TestContext, (() => unknown)[]>();

/**
 * Runs `close` after the test, before what was opened earlier: a forwarder stops before
 * the trail it reads closes, as in the manager.
 */
function later(t: TestContext, close: () => unknown): void {
  let stack = cleanups.get(t);
  if (!stack) {
    const created: (() => unknown)[] = [];
    stack = created;
    cleanups.set(t, created);
    t.after(async () => {
      for (const step of created.reverse()) await step();
    });
  }
  stack.push(close);
}

function forward(t: TestContext, dataDir: string, audit: AuditLog): SiemForwarding {
  const siem = startSiemForwarding(dataDir, audit, (line) => t.diagnostic(line), FAST);
  later(t, () => siem.close());
  return siem;
}

function formatOf(message: ReturnType<typeof parse5424>): SiemFormat {
  if (message.sdText !== '-') return 'rfc5424';
  if (message.msg.startsWith('CEF:')) return 'cef';
  return message.msg.startsWith('LEEF:1.0|') ? 'leef1' : 'leef2';
}

/** The lines of one trail (told apart by its macs) in one format: seq → the lines that carried it. */
function linesOf(lines: Received[], records: AuditRecord[], format: SiemFormat): Map<number, Received[]> {
  const macs = new Set(records.map((r) => r.mac));
  const bySeq = new Map<number, Received[]>();
  for (const line of lines) {
    const message = parse5424(line.raw);
    if (formatOf(message) !== format) continue;
    const record = recordFromLine(message, format);
    if (!macs.has(record.mac)) continue;
    bySeq.set(record.seq, [...(bySeq.get(record.seq) ?? []), line]);
  }
  return bySeq;
}

function recordFromLine(message: ReturnType<typeof parse5424>, format: SiemFormat) {
  if (format === 'rfc5424') return recordFrom5424(message);
  if (format === 'cef') return recordFromCef(parseCef(message.msg));
  return recordFromLeef(parseLeef(message.msg));
}

const allSeqs = (records: AuditRecord[]) => (bySeq: Map<number, Received[]>) =>
  records.every((r) => bySeq.has(r.seq));

test('every format over TCP and TLS (and TLS with a client certificate) reaches rsyslog; each line reads back as its record', async (t) => {
  const { dataDir, audit } = openTrail(t, 'formats');
  const siem = forward(t, dataDir, audit);
  const { ports } = receiver();
  const destinations: { input: Input; format: SiemFormat; body: NewSiemDestination }[] = [];
  for (const format of ['rfc5424', 'cef', 'leef1', 'leef2'] as const) {
    for (const input of ['tcp', 'tls'] as const) {
      const tls = input === 'tls' ? { caFile: pki.caFile } : {};
      // By name for TLS, so that the certificate's DNS name is checked; by address for TCP.
      const host = input === 'tls' ? 'localhost' : '127.0.0.1';
      destinations.push({
        input,
        format,
        body: { name: `${format}-${input}`, transport: input, host, port: ports[input], format, ...tls },
      });
    }
  }
  destinations.push({
    input: 'mtls',
    format: 'rfc5424',
    body: {
      name: 'mutual',
      transport: 'tls',
      host: '127.0.0.1',
      port: ports.mtls,
      format: 'rfc5424',
      facility: 'local4',
      caFile: pki.caFile,
      certFile: pki.clientCertFile,
      keyFile: pki.clientKeyFile,
    },
  });
  // Some records before the destinations exist (sent from the trail's start), some after.
  audit.append(TRICKY[0]);
  for (const { body } of destinations) siem.add(body);
  for (const entry of TRICKY) audit.append(entry);
  const records = audit.recordsAfter(0, 1000);
  assert.equal(records.length, 1 + 1 + TRICKY.length, 'the trail: created, then the entries');

  for (const { input, format, body } of destinations) {
    const lines = await receiver().waitFor(input, (l) => allSeqs(records)(linesOf(l, records, format)));
    const bySeq = linesOf(lines, records, format);
    for (const record of records) {
      const [line] = bySeq.get(record.seq) ?? [];
      assert.ok(line, `${body.name}: record ${record.seq}`);
      const message = parse5424(line.raw);
      const facility = body.facility === 'local4' ? 20 : 10;
      const pri = facility * 8 + (record.outcome === 'success' ? 5 : 4);
      // rsyslog's own reading of the header agrees.
      assert.deepEqual(
        [line.pri, line.hostname, line.app, line.procid, line.msgid, line.sd],
        [
          String(pri),
          hostname(),
          'veil-manager',
          String(process.pid),
          actionCategory(record.action),
          message.sdText,
        ],
        body.name,
      );
      assert.equal(Date.parse(line.time), record.time);
      assert.equal(message.pri, pri);
      const expected =
        format === 'rfc5424' ? { ...withStringDetails(record), details: detailsAs5424(record) } : record;
      assert.deepEqual(recordFromLine(message, format), expected, `${body.name}: record ${record.seq}`);
      assert.equal(line.msg, format === 'rfc5424' ? `\uFEFF${message.msg}` : message.msg);
    }
  }
  // Every destination's cursor reaches the trail's end once its connection outlived the sends.
  await waitUntil(
    () => siem.list().every((d) => d.status.cursor === audit.lastSeq()),
    'every cursor at the end',
  );
  for (const d of siem.list()) {
    assert.equal(d.status.lag, 0);
    assert.equal(d.status.connected, true, d.name);
    assert.equal(d.status.lastError, null, d.name);
    assert.equal(
      readFileSync(path.join(dataDir, 'siem', `${d.name}.cursor`), 'utf8'),
      `${audit.lastSeq()}\n`,
    );
  }
});

async function waitUntil(condition: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

test('TLS: a receiver whose certificate does not chain to the CA file gets nothing, and the records wait', async (t) => {
  const { dataDir, audit } = openTrail(t, 'wrong-ca');
  const siem = forward(t, dataDir, audit);
  const { ports } = receiver();
  siem.add({
    name: 'wrong',
    transport: 'tls',
    host: 'localhost',
    port: ports.tls,
    format: 'rfc5424',
    caFile: pki.otherCaFile,
  });
  audit.append(TRICKY[1]);
  await waitUntil(() => siem.list().every((d) => d.status.lastError !== null), 'refused');
  assert.match(siem.get('wrong').status.lastError ?? '', /certificate/i);
  for (const d of siem.list()) assert.deepEqual([d.status.cursor, d.status.lag], [0, audit.lastSeq()]);
  const records = audit.recordsAfter(0, 100);
  assert.equal(linesOf(receiver().received('tls'), records, 'rfc5424').size, 0);
});

test('a receiver that is down loses nothing: the trail holds the records, sent once it is back', async (t) => {
  const { dataDir, audit } = openTrail(t, 'down');
  const siem = forward(t, dataDir, audit);
  const { ports } = receiver();
  siem.add({ name: 'tcp', transport: 'tcp', host: '127.0.0.1', port: ports.tcp, format: 'leef2' });
  siem.add({
    name: 'tls',
    transport: 'tls',
    host: 'localhost',
    port: ports.tls,
    format: 'cef',
    caFile: pki.caFile,
  });
  for (let i = 0; i < 5; i += 1) audit.append({ ...TRICKY[0], object: `before ${i}` });
  let records = audit.recordsAfter(0, 1000);
  await receiver().waitFor('tcp', (l) => allSeqs(records)(linesOf(l, records, 'leef2')));
  await receiver().waitFor('tls', (l) => allSeqs(records)(linesOf(l, records, 'cef')));
  await waitUntil(
    () => siem.list().every((d) => d.status.cursor === audit.lastSeq()),
    'cursors before the stop',
  );

  await receiver().stop();
  for (let i = 0; i < 40; i += 1) audit.append({ ...TRICKY[i % 3], object: `while down ${i}` });
  await waitUntil(
    () => siem.list().every((d) => d.status.lastError !== null && !d.status.connected),
    'both down',
  );
  // A few retries while down: each one fails, none moves a cursor.
  await sleep(600);
  const downAt = audit.lastSeq() - 40;
  for (const d of siem.list()) {
    assert.equal(d.status.cursor, downAt, d.name);
    assert.equal(d.status.lag, 40, d.name);
  }

  await receiver().restart();
  for (let i = 0; i < 5; i += 1) audit.append({ ...TRICKY[2], object: `after ${i}` });
  records = audit.recordsAfter(0, 1000);
  for (const [input, format] of [
    ['tcp', 'leef2'],
    ['tls', 'cef'],
  ] as const) {
    const lines = await receiver().waitFor(
      input,
      (l) => allSeqs(records)(linesOf(l, records, format)),
      30_000,
    );
    const bySeq = linesOf(lines, records, format);
    // None lost; some may have come twice (sent into a connection that then broke).
    assert.deepEqual(
      [...bySeq.keys()].sort((a, b) => a - b),
      records.map((r) => r.seq),
    );
    for (const record of records) {
      const [line] = bySeq.get(record.seq) ?? [];
      assert.deepEqual(recordFromLine(parse5424(line?.raw ?? ''), format), record);
    }
  }
  await waitUntil(() => siem.list().every((d) => d.status.cursor === audit.lastSeq()), 'cursors at the end');
});

test('a forwarder stopped and started again goes on from its cursor: nothing lost, nothing twice', async (t) => {
  const { dataDir, audit } = openTrail(t, 'restart');
  const { ports } = receiver();
  const first = startSiemForwarding(dataDir, audit, (line) => t.diagnostic(line), FAST);
  later(t, () => first.close());
  first.add({
    name: 'tcp',
    transport: 'tcp',
    host: '127.0.0.1',
    port: ports.tcp,
    format: 'rfc5424',
    from: 'now',
  });
  for (let i = 0; i < 3; i += 1) audit.append({ ...TRICKY[1], object: `first ${i}` });
  // Closing sends what is left and keeps what a cleanly ended connection carried.
  await first.close();
  assert.equal(readFileSync(path.join(dataDir, 'siem', 'tcp.cursor'), 'utf8'), `${audit.lastSeq()}\n`);
  for (let i = 0; i < 3; i += 1) audit.append({ ...TRICKY[0], object: `between ${i}` });
  forward(t, dataDir, audit);
  for (let i = 0; i < 3; i += 1) audit.append({ ...TRICKY[2], object: `second ${i}` });
  // from: now skipped the trail's first record (audit.trail.created).
  const records = audit.recordsAfter(1, 1000);
  const lines = await receiver().waitFor('tcp', (l) => allSeqs(records)(linesOf(l, records, 'rfc5424')));
  const bySeq = linesOf(lines, audit.recordsAfter(0, 1000), 'rfc5424');
  assert.deepEqual(
    [...bySeq.keys()].sort((a, b) => a - b),
    records.map((r) => r.seq),
  );
  assert.ok(
    [...bySeq.values()].every((l) => l.length === 1),
    'each record once',
  );
});

test('UDP: one datagram per record, a long one cut to maxMessageBytes before a UTF-8 character', async (t) => {
  const socket = createSocket('udp4');
  const datagrams: Buffer[] = [];
  socket.on('message', (message) => datagrams.push(message));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => socket.close());
  const { dataDir, audit } = openTrail(t, 'udp');
  const siem = forward(t, dataDir, audit);
  const port = socket.address().port;
  siem.add({
    name: 'udp',
    transport: 'udp',
    host: '127.0.0.1',
    port,
    format: 'rfc5424',
    maxMessageBytes: 600,
  });
  audit.append(TRICKY[1]);
  audit.append({ ...TRICKY[0], details: { long: '€'.repeat(400) } });
  await waitUntil(() => datagrams.length >= 3, 'three datagrams');
  const records = audit.recordsAfter(0, 100);
  const [created, tamper, long] = datagrams;
  assert.deepEqual(recordFrom5424(parse5424(created?.toString('utf8') ?? '')), withStringDetails(records[0]));
  assert.deepEqual(recordFrom5424(parse5424(tamper?.toString('utf8') ?? '')), withStringDetails(records[1]));
  assert.ok(long && long.length <= 600 && long.length > 590, `cut to at most 600 bytes: ${long?.length}`);
  assert.equal(new TextDecoder('utf-8', { fatal: true }).decode(long), long.toString('utf8'), 'still UTF-8');
  // What ties it to the chain comes first and survives the cut.
  assert.match(long.toString('utf8'), new RegExp(`\\[veil@32473 seq="3" mac="${records[2]?.mac ?? ''}"`));

  // A port nobody listens on answers "port unreachable": nothing counts as sent.
  const gone = createSocket('udp4');
  await new Promise<void>((resolve) => gone.bind(0, '127.0.0.1', resolve));
  const gonePort = gone.address().port;
  await new Promise<void>((resolve) => gone.close(resolve));
  siem.add({ name: 'nobody', transport: 'udp', host: '127.0.0.1', port: gonePort, format: 'cef' });
  await waitUntil(() => /ECONNREFUSED/.test(siem.get('nobody').status.lastError ?? ''), 'port unreachable');
  assert.equal(siem.get('nobody').status.cursor, 0);
});

test('the manager: veil-manager siem add, list, show and remove; its own records reach rsyslog', async (t) => {
  const dataDir = path.join(work, 'manager');
  const manager = await startManagerProcess(dataDir);
  t.after(() => manager.stop());
  const { ports } = receiver();
  const added = manager.cli(
    'siem',
    'add',
    'soc',
    '--transport',
    'tls',
    '--target',
    `localhost:${ports.tls}`,
    '--format',
    'rfc5424',
    '--tls-ca-file',
    pki.caFile,
    '--facility',
    'local4',
  );
  assert.equal(added.status, 0, added.err);
  const view = JSON.parse(added.out) as SiemDestinationView;
  assert.deepEqual(
    [view.name, view.transport, view.host, view.port, view.format, view.facility, view.caFile],
    ['soc', 'tls', 'localhost', ports.tls, 'rfc5424', 'local4', pki.caFile],
  );
  const refused = manager.cli(
    'siem',
    'add',
    'bad',
    '--transport',
    'tls',
    '--target',
    'localhost:1',
    '--format',
    'cef',
  );
  assert.equal(refused.status, 1);
  assert.deepEqual(JSON.parse(refused.out), {
    ok: false,
    code: 'VEIL_SIEM_BAD_REQUEST',
    message: "the tls transport needs caFile: the CA certificate the receiver's certificate chains to",
  });
  // The trail from its start: the manager's start, and the call that added the destination.
  const lines = await receiver().waitFor('tls', (l) =>
    l.some(
      (line) => line.raw.includes('action="POST /v1/siem/destinations"') && line.raw.includes('object="soc"'),
    ),
  );
  const call = lines.map((line) => parse5424(line.raw)).find((m) => m.sdText.includes('object="soc"'));
  assert.ok(call);
  assert.equal(call.pri, 20 * 8 + 5);
  assert.equal(recordFrom5424(call).actor, 'admin');
  assert.ok(lines.some((line) => line.raw.includes('action="manager.started"')));

  const listed = manager.cli('siem', 'list');
  assert.equal(listed.status, 0, listed.err);
  const [soc] = JSON.parse(listed.out) as SiemDestinationView[];
  assert.equal(soc?.name, 'soc');
  assert.equal(soc?.status.lastError, null);
  assert.ok((soc?.status.lastSeq ?? 0) >= 3);
  assert.equal((JSON.parse(manager.cli('siem', 'show', 'soc').out) as SiemDestinationView).name, 'soc');
  assert.equal(
    (JSON.parse(manager.cli('siem', 'show', 'nope').out) as { code: string }).code,
    'VEIL_SIEM_UNKNOWN',
  );

  // The destination survives a restart of the manager, which goes on from its cursor; a
  // manager that stops sends its last record first.
  await manager.stop();
  await receiver().waitFor('tls', (l) => l.some((line) => line.raw.includes('action="manager.stopped"')));
  const again = await startManagerProcess(dataDir);
  t.after(() => again.stop());
  assert.equal((await again.admin().siemDestinations())[0]?.name, 'soc');
  await receiver().waitFor(
    'tls',
    (l) => l.filter((line) => line.raw.includes('action="manager.started"')).length >= 2,
  );
  // A domain's own administrator neither sees nor changes where every domain's records go.
  await again.admin().createDomain({ name: 'branch' });
  const password = readFileSync(path.join(dataDir, 'admin-password'), 'utf8').trim();
  const client = (name: string, pass: string, domain?: string) =>
    new ManagerClient({ url: again.url, caPem: again.caPem(), admin: { name, password: pass }, domain });
  await client('admin', password, 'branch').createUser({
    name: 'branch-admin',
    password: 'branch admin password',
    roles: ['admin'],
  });
  const branch = client('branch-admin', 'branch admin password');
  await assert.rejects(branch.siemDestinations(), refusedWithCode('VEIL_DOMAIN_FORBIDDEN'));
  await assert.rejects(
    branch.addSiemDestination({ name: 'leak', transport: 'udp', host: '127.0.0.1', port: 9, format: 'cef' }),
    refusedWithCode('VEIL_DOMAIN_FORBIDDEN'),
  );
  // The root domain's auditor sees where the trail goes, and changes nothing.
  await client('admin', password).createUser({
    name: 'watcher',
    password: 'watcher password 1',
    roles: ['auditor'],
  });
  const auditor = client('watcher', 'watcher password 1');
  assert.equal((await auditor.siemDestination('soc')).name, 'soc');
  await assert.rejects(auditor.removeSiemDestination('soc'), refusedWithCode('VEIL_AUTH_ROLE_REQUIRED'));

  const removed = again.cli('siem', 'remove', 'soc');
  assert.equal(removed.status, 0, removed.err);
  assert.deepEqual(await again.admin().siemDestinations(), []);
  assert.ok(!existsSync(path.join(dataDir, 'siem', 'soc.cursor')));
});
