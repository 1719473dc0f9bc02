// Readers of what the manager sends SIEMs, written from the specifications (RFC 5424, CEF,
// LEEF 1.0 and 2.0) and apart from the formatters, so that a test can read a message back
// into the record it came from and compare field by field.
import type { AuditRecord } from '../../manager/audit/audit_record.js';

export interface Syslog5424 {
  pri: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  /** SD-ID → its params, in order; values unescaped. */
  sd: Map<string, [string, string][]>;
  /** The raw STRUCTURED-DATA text ("-" when none). */
  sdText: string;
  msg: string;
  bom: boolean;
}

export function parse5424(text: string): Syslog5424 {
  const header = /^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) /.exec(text);
  if (!header) throw new Error(`not an RFC 5424 message: ${text.slice(0, 80)}`);
  const [, pri, version, timestamp, hostname, appName, procId, msgId] = header;
  let i = header[0].length;
  const sd = new Map<string, [string, string][]>();
  const sdStart = i;
  if (text[i] === '-') i += 1;
  else {
    while (text[i] === '[') {
      i += 1;
      const idEnd = text.slice(i).search(/[ \]]/) + i;
      const id = text.slice(i, idEnd);
      i = idEnd;
      const params: [string, string][] = [];
      while (text[i] === ' ') {
        const eq = text.indexOf('=', i);
        const name = text.slice(i + 1, eq);
        if (text[eq + 1] !== '"') throw new Error(`param ${name} has no opening quote`);
        i = eq + 2;
        let value = '';
        while (text[i] !== '"') {
          if (i >= text.length) throw new Error('unterminated PARAM-VALUE');
          if (text[i] === '\\' && ['"', '\\', ']'].includes(text[i + 1] ?? '')) {
            value += text[i + 1];
            i += 2;
          } else {
            // §6.3.3: a backslash before anything else is a backslash.
            value += text[i];
            i += 1;
          }
        }
        i += 1;
        params.push([name, value]);
      }
      if (text[i] !== ']') throw new Error(`SD-ELEMENT ${id} not closed at ${i}`);
      i += 1;
      sd.set(id, params);
    }
  }
  const sdText = text.slice(sdStart, i);
  let msg = text[i] === ' ' ? text.slice(i + 1) : text.slice(i);
  const bom = msg.startsWith('\uFEFF');
  if (bom) msg = msg.slice(1);
  return {
    pri: Number(pri),
    version: Number(version),
    timestamp: timestamp ?? '',
    hostname: hostname ?? '',
    appName: appName ?? '',
    procId: procId ?? '',
    msgId: msgId ?? '',
    sd,
    sdText,
    msg,
    bom,
  };
}

/** Splits on `separator` where it is not escaped by a backslash; stops after `limit` fields (the rest is the last). */
function splitUnescaped(text: string, separator: string, limit = Infinity): string[] {
  const fields: string[] = [];
  let current = '';
  let i = 0;
  for (; i < text.length && fields.length < limit - 1; i += 1) {
    const c = text[i] ?? '';
    if (c === '\\' && i + 1 < text.length) {
      current += c + (text[i + 1] ?? '');
      i += 1;
    } else if (c === separator) {
      fields.push(current);
      current = '';
    } else current += c;
  }
  fields.push(current + text.slice(i));
  return fields;
}

const unescapeHeader = (field: string) => field.replace(/\\([\\|])/g, '$1');

export interface Cef {
  version: string;
  vendor: string;
  product: string;
  productVersion: string;
  signatureId: string;
  name: string;
  severity: string;
  extension: Map<string, string>;
}

export function parseCef(msg: string): Cef {
  if (!msg.startsWith('CEF:')) throw new Error(`not CEF: ${msg.slice(0, 40)}`);
  const fields = splitUnescaped(msg.slice(4), '|', 8);
  if (fields.length !== 8) throw new Error('a CEF header has 7 fields');
  const [version, vendor, product, productVersion, signatureId, name, severity, ext = ''] = fields.map(
    (f, i) => (i < 7 ? unescapeHeader(f) : f),
  );
  // A key is a word before an unescaped '=' that follows a space (or starts the extension).
  const extension = new Map<string, string>();
  const keys = [...ext.matchAll(/(?:^| )([A-Za-z0-9_]+)=/g)].filter((m) => {
    let backslashes = 0;
    for (let j = (m.index ?? 0) + m[0].length - 2; ext[j] === '\\'; j -= 1) backslashes += 1;
    return backslashes === 0;
  });
  keys.forEach((m, k) => {
    const start = (m.index ?? 0) + m[0].length;
    const end = keys[k + 1]?.index ?? ext.length;
    const value = ext
      .slice(start, end)
      .replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
    extension.set(m[1] ?? '', value);
  });
  return {
    version: version ?? '',
    vendor: vendor ?? '',
    product: product ?? '',
    productVersion: productVersion ?? '',
    signatureId: signatureId ?? '',
    name: name ?? '',
    severity: severity ?? '',
    extension,
  };
}

export interface Leef {
  version: string;
  vendor: string;
  product: string;
  productVersion: string;
  eventId: string;
  delimiter: string;
  attributes: Map<string, string>;
}

export function parseLeef(msg: string): Leef {
  const version = /^LEEF:(1\.0|2\.0)\|/.exec(msg)?.[1];
  if (!version) throw new Error(`not LEEF: ${msg.slice(0, 40)}`);
  const headerFields = version === '1.0' ? 5 : 6;
  const fields = splitUnescaped(msg, '|', headerFields + 1);
  const [, vendor, product, productVersion, eventId] = fields.map(unescapeHeader);
  const delimiterField = version === '2.0' ? (fields[5] ?? '') : '\t';
  const delimiter = /^(?:0x|x)([0-9a-fA-F]{2,4})$/.test(delimiterField)
    ? String.fromCharCode(parseInt(delimiterField.replace(/^0?x/, ''), 16))
    : delimiterField;
  const attributes = new Map<string, string>();
  for (const pair of splitUnescaped(fields[headerFields] ?? '', delimiter)) {
    const eq = pair.indexOf('=');
    const value = pair
      .slice(eq + 1)
      .replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c));
    attributes.set(pair.slice(0, eq), value);
  }
  return {
    version,
    vendor: vendor ?? '',
    product: product ?? '',
    productVersion: productVersion ?? '',
    eventId: eventId ?? '',
    delimiter,
    attributes,
  };
}

type Fields = Omit<AuditRecord, 'details' | 'time'> & { time: number; details: AuditRecord['details'] };

const details = (json: string | undefined): AuditRecord['details'] =>
  json === undefined ? {} : (JSON.parse(json) as AuditRecord['details']);

/** The record an RFC 5424 message carries: its structured data, the time from the header; details as strings. */
export function recordFrom5424(message: Syslog5424): Fields {
  const params = new Map(message.sd.get('veil@32473') ?? []);
  const get = (name: string) => params.get(name) ?? '';
  return {
    seq: Number(get('seq')),
    mac: get('mac'),
    time: Date.parse(message.timestamp),
    actor: get('actor'),
    role: get('role'),
    domain: get('domain'),
    action: get('action'),
    object: get('object'),
    outcome: get('outcome') as AuditRecord['outcome'],
    reason: get('reason'),
    source: get('source'),
    details: Object.fromEntries(message.sd.get('veilDetails@32473') ?? []),
  };
}

export function recordFromCef(cef: Cef): Fields {
  const e = cef.extension;
  const labelled = (label: string) => {
    for (const [key, value] of e) {
      if (key.endsWith('Label') && value === label) return e.get(key.slice(0, -'Label'.length)) ?? '';
    }
    return '';
  };
  return {
    seq: Number(labelled('seq')),
    mac: labelled('mac'),
    time: Number(e.get('rt')),
    actor: e.get('suser') ?? '',
    role: e.get('spriv') ?? '',
    domain: labelled('domain'),
    action: e.get('act') ?? '',
    object: labelled('object'),
    outcome: (e.get('outcome') ?? '') as AuditRecord['outcome'],
    reason: e.get('reason') ?? '',
    source: e.get('src') ?? e.get('shost') ?? '',
    details: details(labelled('details') || undefined),
  };
}

export function recordFromLeef(leef: Leef): Fields {
  const a = leef.attributes;
  const get = (name: string) => a.get(name) ?? '';
  return {
    seq: Number(get('seq')),
    mac: get('mac'),
    time: Date.parse(get('devTime')),
    actor: get('usrName'),
    role: get('role'),
    domain: get('domain'),
    action: get('action'),
    object: get('resource'),
    outcome: get('outcome') as AuditRecord['outcome'],
    reason: get('reason'),
    source: get('source'),
    details: details(a.get('details')),
  };
}

/** A record as a message can carry it: details as the strings RFC 5424 structured data has. */
export function withStringDetails(record: AuditRecord): Fields {
  return {
    ...record,
    details: Object.fromEntries(Object.entries(record.details).map(([k, v]) => [k, String(v)])),
  };
}
