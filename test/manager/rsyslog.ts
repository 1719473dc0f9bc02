// A real rsyslogd (Debian's rsyslog and rsyslog-gnutls) for the SIEM tests: a child process
// with its own configuration, work directory and pid file in a temporary folder, so that it
// never meets a system rsyslog. It loads only imtcp (no imuxsock, no imklog) and listens on
// loopback: plain TCP, TLS, and TLS that wants a client certificate. Each input writes what
// it received to its own file, one JSON object a line: the raw message and rsyslog's own
// reading of its RFC 5424 header.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const INPUTS = ['tcp', 'tls', 'mtls'] as const;
export type Input = (typeof INPUTS)[number];

/** A line an input wrote: the message as received and what rsyslog made of it. */
export interface Received {
  raw: string;
  pri: string;
  hostname: string;
  app: string;
  procid: string;
  msgid: string;
  sd: string;
  msg: string;
  time: string;
}

export interface TestPki {
  caFile: string;
  /** A CA that signed nothing the receiver presents. */
  otherCaFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

export interface Rsyslog {
  readonly ports: Record<Input, number>;
  /** Every line the input wrote so far. */
  received(input: Input): Received[];
  /** Waits until `until` holds of the input's lines (polling its file), or fails after `ms`. */
  waitFor(input: Input, until: (lines: Received[]) => boolean, ms?: number): Promise<Received[]>;
  stop(): Promise<void>;
  /** Starts again on the same ports, appending to the same files. */
  restart(): Promise<void>;
}

/** Whether a socket listens on 127.0.0.1:port (read from /proc: a probe connection would be logged as an error). */
function listening(port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === local && fields[3] === '0A';
    });
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A test CA, the receiver's certificate for localhost and 127.0.0.1, a client certificate, and an unrelated CA. */
export function makeTestPki(dir: string): TestPki & { serverCertFile: string; serverKeyFile: string } {
  const f = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-subj',
    '/CN=Veil test CA',
    '-days',
    '2',
  );
  openssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('other.key'),
    '-out',
    f('other.crt'),
    '-subj',
    '/CN=Other CA',
    '-days',
    '2',
  );
  for (const [name, subject, ext] of [
    ['server', '/CN=localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
    ['client', '/CN=veil-manager', 'extendedKeyUsage=clientAuth\n'],
  ] as const) {
    openssl('req', '-new', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', subject);
    writeFileSync(f(`${name}.ext`), ext);
    openssl(
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.crt`),
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
    );
  }
  return {
    caFile: f('ca.crt'),
    otherCaFile: f('other.crt'),
    clientCertFile: f('client.crt'),
    clientKeyFile: f('client.key'),
    serverCertFile: f('server.crt'),
    serverKeyFile: f('server.key'),
  };
}

function config(dir: string, pki: ReturnType<typeof makeTestPki>, ports: Record<Input, number>): string {
  const tls = (authMode: string) =>
    `streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="${authMode}" ` +
    `streamDriver.CAFile="${pki.caFile}" streamDriver.CertFile="${pki.serverCertFile}" ` +
    `streamDriver.KeyFile="${pki.serverKeyFile}"`;
  const driver: Record<Input, string> = { tcp: '', tls: tls('anon'), mtls: tls('x509/certvalid') };
  const properties = [
    'rawmsg:raw',
    'pri',
    'hostname',
    'app-name:app',
    'procid',
    'msgid',
    'structured-data:sd',
    'msg',
  ];
  return [
    // Control characters as they came: LEEF 1.0's tabs are part of the message.
    `global(workDirectory="${dir}" parser.escapeControlCharactersOnReceive="off" maxMessageSize="64k")`,
    'module(load="imtcp" maxSessions="200")',
    'template(name="received" type="list" option.jsonf="on") {',
    ...properties.map((p) => {
      const [name, outname = name] = p.split(':');
      return `  property(outname="${outname}" name="${name}" format="jsonf")`;
    }),
    '  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")',
    '}',
    ...INPUTS.map(
      (input) =>
        `input(type="imtcp" address="127.0.0.1" port="${ports[input]}" ` +
        `listenPortFileName="${path.join(dir, `${input}.port`)}" ruleset="${input}" ${driver[input]})\n` +
        `ruleset(name="${input}") { action(type="omfile" file="${path.join(dir, `${input}.log`)}" template="received") }`,
    ),
  ].join('\n');
}

/** Starts rsyslogd in `dir`; resolves once every input listens (it writes its port file). */
export async function startRsyslog(dir: string, pki: ReturnType<typeof makeTestPki>): Promise<Rsyslog> {
  const ports: Record<Input, number> = { tcp: 0, tls: 0, mtls: 0 };
  let child: ChildProcess | undefined;
  let stderr = '';

  const launch = async () => {
    for (const input of INPUTS) rmSync(path.join(dir, `${input}.port`), { force: true });
    const file = path.join(dir, 'rsyslog.conf');
    writeFileSync(file, config(dir, pki, ports));
    const started = spawn('rsyslogd', ['-n', '-f', file, '-i', path.join(dir, 'rsyslogd.pid')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    stderr = '';
    started.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    started.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (started.exitCode !== null || started.signalCode !== null) {
        throw new Error(`rsyslogd exited at start: ${stderr}`);
      }
      if (ports.tcp === 0) {
        // rsyslog writes a port file only for a port it chose itself.
        const files = INPUTS.map((input) => path.join(dir, `${input}.port`));
        const texts = files.map((f) => (existsSync(f) ? readFileSync(f, 'utf8').trim() : ''));
        if (texts.every((t) => /^\d+$/.test(t))) {
          INPUTS.forEach((input, i) => (ports[input] = Number(texts[i])));
          return;
        }
      } else if (INPUTS.every((input) => listening(ports[input]))) return;
      if (Date.now() > deadline) throw new Error(`rsyslogd did not listen within 15 s: ${stderr}`);
      await sleep(20);
    }
  };

  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    await exited;
  };

  const received = (input: Input): Received[] => {
    const file = path.join(dir, `${input}.log`);
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Received);
  };

  try {
    await launch();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ports,
    received,
    waitFor: async (input, until, ms = 20_000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const lines = received(input);
        if (until(lines)) return lines;
        if (Date.now() > deadline) {
          throw new Error(
            `rsyslogd's ${input} input did not get what was awaited in ${ms} ms; it has ${lines.length} lines`,
          );
        }
        await sleep(25);
      }
    },
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
  };
}
