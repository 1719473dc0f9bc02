// A record as the bytes a destination gets, in the destination's format (docs/siem.md):
// all four are syslog messages with an RFC 5424 header, UTF-8.
import type { SiemFormat } from '../../../manager-client/types.js';
import type { AuditRecord } from '../audit_record.js';
import { formatCef } from './cef.js';
import { formatLeef } from './leef.js';
import { formatRfc5424 } from './rfc5424.js';
import type { Sender } from './syslog_header.js';

export function formatRecord(format: SiemFormat, record: AuditRecord, sender: Sender): Buffer {
  switch (format) {
    case 'rfc5424':
      return Buffer.from(formatRfc5424(record, sender), 'utf8');
    case 'cef':
      return Buffer.from(formatCef(record, sender), 'utf8');
    case 'leef1':
      return Buffer.from(formatLeef(record, sender, '1.0'), 'utf8');
    case 'leef2':
      return Buffer.from(formatLeef(record, sender, '2.0'), 'utf8');
  }
}

/**
 * At most `max` bytes of a UTF-8 message, cut before a character rather than inside one
 * (RFC 5424 §6.1 lets a transport truncate; a receiver must still see valid UTF-8).
 */
export function truncateUtf8(message: Buffer, max: number): Buffer {
  if (message.length <= max) return message;
  let end = max;
  // Back off continuation bytes (10xxxxxx) to the start of the character they belong to.
  while (end > 0 && ((message[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return message.subarray(0, end);
}
