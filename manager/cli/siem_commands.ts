// veil-manager siem …: where the manager forwards its audit trail (docs/siem.md). The TLS
// files are paths on the manager's machine, read by the manager: --tls-ca-file and not
// --ca-file, which names the manager's own CA certificate for this command's connection.
import { type Command, InvalidArgumentError, Option } from 'commander';

import {
  SIEM_FORMATS,
  SIEM_TRANSPORTS,
  SYSLOG_FACILITIES,
  type SiemDestinationView,
  type SiemFormat,
  type SiemTransport,
  type SyslogFacility,
} from '../../manager-client/types.js';
import type { CommandHelpers } from './command_helpers.js';

type Helpers<C> = CommandHelpers<C>;

interface AddOptions {
  transport: SiemTransport;
  target: { host: string; port: number };
  format: SiemFormat;
  facility?: SyslogFacility;
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  maxMessageBytes?: number;
  fromNow?: boolean;
}

function target(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) {
    throw new InvalidArgumentError('expected HOST:PORT, e.g. siem.example.com:6514 or [::1]:514');
  }
  return { host: match[1] ?? match[2] ?? '', port };
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!/^\d{1,6}$/.test(value)) throw new InvalidArgumentError('a whole number');
  return n;
}

const address = (d: SiemDestinationView): string =>
  `${d.transport}://${d.host.includes(':') ? `[${d.host}]` : d.host}:${d.port}`;

/** A destination in full, with how far forwarding got. */
function describe(d: SiemDestinationView): string {
  const s = d.status;
  const lines = [
    `${d.name}  ${address(d)}  ${d.format}  facility ${d.facility}`,
    `  sent up to record ${s.cursor} of ${s.lastSeq} (lag ${s.lag}), ${s.connected ? 'connected' : 'not connected'}` +
      (s.lastSentAt ? `, last sent ${s.lastSentAt}` : ''),
  ];
  if (d.caFile) lines.push(`  CA file ${d.caFile}${d.certFile ? `, client certificate ${d.certFile}` : ''}`);
  if (s.lastError) lines.push(`  last error ${s.lastErrorAt ?? ''}: ${s.lastError}`);
  return lines.join('\n');
}

export function addSiemCommands<C>(program: Command, { connectionOptions, act }: Helpers<C>): void {
  const siem = program
    .command('siem')
    .description('SIEM destinations the audit trail is forwarded to (syslog: RFC 5424, CEF, LEEF)');
  connectionOptions(
    siem
      .command('add <name>')
      .description(
        'forward the audit trail to a SIEM from its first record (or, with --from-now, from now on)',
      )
      .addOption(new Option('--transport <transport>', 'how').choices(SIEM_TRANSPORTS).makeOptionMandatory())
      .requiredOption('--target <host:port>', "the receiver's address", target)
      .addOption(new Option('--format <format>', 'what it gets').choices(SIEM_FORMATS).makeOptionMandatory())
      .addOption(
        new Option('--facility <facility>', 'syslog facility (default authpriv)').choices(SYSLOG_FACILITIES),
      )
      .option(
        '--tls-ca-file <file>',
        "tls: the CA certificate(s) the receiver's certificate chains to (PEM, on the manager)",
      )
      .option('--tls-cert-file <file>', 'tls: a client certificate to present (PEM, on the manager)')
      .option('--tls-key-file <file>', "tls: the client certificate's key (PEM, on the manager)")
      .option(
        '--max-message-bytes <n>',
        'udp: cut longer messages to this many bytes (default 8192)',
        wholeNumber,
      )
      .option('--from-now', "send only the records appended from now on, not the trail's past"),
  ).action((name: string, options: C & AddOptions) =>
    act(
      options,
      (api) =>
        api.addSiemDestination({
          name,
          transport: options.transport,
          host: options.target.host,
          port: options.target.port,
          format: options.format,
          facility: options.facility,
          caFile: options.tlsCaFile,
          certFile: options.tlsCertFile,
          keyFile: options.tlsKeyFile,
          maxMessageBytes: options.maxMessageBytes,
          from: options.fromNow ? 'now' : 'start',
        }),
      (d) => `added ${describe(d)}`,
    ),
  );
  connectionOptions(
    siem.command('list').description('every SIEM destination and how far forwarding got'),
  ).action((options: C) =>
    act(
      options,
      (api) => api.siemDestinations(),
      (list) => (list.length === 0 ? 'no SIEM destinations' : list.map(describe).join('\n')),
    ),
  );
  connectionOptions(
    siem.command('show <name>').description('one SIEM destination and how far forwarding got'),
  ).action((name: string, options: C) => act(options, (api) => api.siemDestination(name), describe));
  connectionOptions(
    siem.command('remove <name>').description('stop forwarding to a SIEM destination and forget it'),
  ).action((name: string, options: C) =>
    act(
      options,
      (api) => api.removeSiemDestination(name),
      (d) => `removed ${d.name} (${address(d)}); it got records up to ${d.status.cursor}`,
    ),
  );
}
