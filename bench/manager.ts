// `npm run bench -- manager [--hosts N] [--concurrency N]`: a real `veil-manager serve` process and N
// simulated hosts on loopback, each with its own P-256 key and certificate and its own mutual-TLS event
// stream. Measures registrations per second, then one key rotation fanned out to every host — the time
// from just before the rotate request until each host has opened (decrypted and checked) the delivery
// with the new version — against the same openings alone (the reference, the manager idle) and
// `openssl speed` of RSA-3072 private-key operations (one per opening) — and the manager's resident
// memory. Prints a table, then as its last line one JSON object:
// {"benchmark":"manager", ..., "targets": {...}, "met": {...}}.
import { cpus, loadavg } from 'node:os';
import path from 'node:path';

import { optionsToRun, type Parsed as ParsedArgs } from './args.js';
import { Fleet } from './manager/fleet.js';
import { identities, TRANSPORT_BITS, transportPool } from './manager/identity.js';
import { startManager, type ManagerUnderTest } from './manager/manager_process.js';
import { openerFor, type Openers } from './manager/openers.js';
import { report, TARGETS, type Measured } from './manager/report.js';
import { rsaSpeed } from './manager/rsa_reference.js';
import type { Opener, OpenedRecord, SimulatedHost } from './manager/simulated_host.js';
import { cpuTimes, stealShare } from './manager/steal.js';

/** One opener thread per CPU by default (at most 16). */
const DEFAULT_OPENERS = Math.min(16, Math.max(1, cpus().length));
const GROUP = 'bench';
/** How long openssl speed measures the transport key's RSA operations. */
const RSA_SPEED_SECONDS = 2;
const POLICY = 'bench';

interface Options {
  hosts: number;
  concurrency: number;
  transportKeys: number;
  openers: number;
  timeoutSeconds: number;
  profileDir: string | undefined;
}

const HELP = `usage: npm run bench -- manager [--hosts N] [--concurrency N] [--transport-keys N]
                                  [--openers N] [--timeout SECONDS] [--profile DIR]

Starts a real 'veil-manager serve' on a free loopback port (data directory in a
temporary folder, removed afterwards) and simulates N hosts in this process: each
registers with its own P-256 key and CSR (POST /v1/registration), then opens its
own mutual-TLS WebSocket to /v1/events and opens its first delivery. Then one key
rotation is fanned out to all of them: for each host, the time from just before the
rotate request until it has opened the delivery holding the new version (RSA-OAEP
unwrap and AES-256-GCM, docs/protocol.md). The reference, side by side: the same
openings again, all at once on the same threads, with the manager idle (the hosts'
own work on this machine), and 'openssl speed' of RSA-3072 private-key operations on
all CPUs (the least time the openings can take here). The fan-out's CPU time is split
between the manager, the openings and the rest of this process, next to the 2 s on each
CPU that the p99 target leaves. Also samples the manager's VmRSS/VmHWM,
and reports the CPU time per registration of the manager (all its threads) and of this
process. The registration connections share one TLS context trusting the manager's CA
(made per connection it would cost this process a copy of the root store each time, which
real hosts spend on their own CPUs); each still does its full TLS handshake.
Targets: ${TARGETS.connectedHosts} connected hosts, fan-out p99 <= ${TARGETS.fanoutP99Ms} ms, registration >= ${TARGETS.registrationsPerSecond}/s.

  --hosts N           simulated hosts (default 1000, 1 to 10000)
  --concurrency N     registrations and connections in flight at once (default 50, 1 to 1000)
  --transport-keys N  RSA-3072 transport keys made beforehand and shared by the hosts in turn
                      (default 8, 1 to 64; making one per host would take minutes)
  --openers N         worker threads that open deliveries (RSA-OAEP unwrap), at a lower priority
                      than the manager; 0 opens them on the main thread (default one per CPU,
                      here ${DEFAULT_OPENERS}; 0 to 16)
  --timeout SECONDS   how long to wait for the deliveries of a phase (default 120, 1 to 3600)
  --profile DIR       run the manager with --cpu-prof, writing its profile into DIR`;

type Parsed = ParsedArgs<Options>;

const RANGES = {
  '--hosts': [1, 10_000],
  '--concurrency': [1, 1000],
  '--transport-keys': [1, 64],
  '--openers': [0, 16],
  '--timeout': [1, 3600],
} as const;

function parseArgs(args: string[]): Parsed {
  const options: Options = {
    hosts: 1000,
    concurrency: 50,
    transportKeys: 8,
    openers: DEFAULT_OPENERS,
    timeoutSeconds: 120,
    profileDir: undefined,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--profile') {
      const dir = args[++i];
      if (dir === undefined || dir === '') return { kind: 'error', message: '--profile takes a directory' };
      options.profileDir = path.resolve(dir);
    } else if (Object.hasOwn(RANGES, arg)) {
      const [min, max] = RANGES[arg as keyof typeof RANGES];
      const text = args[++i];
      const value = Number(text);
      if (text === undefined || !/^\d+$/.test(text) || value < min || value > max) {
        return { kind: 'error', message: `${arg} takes a whole number from ${min} to ${max}` };
      }
      if (arg === '--hosts') options.hosts = value;
      else if (arg === '--concurrency') options.concurrency = value;
      else if (arg === '--transport-keys') options.transportKeys = value;
      else if (arg === '--openers') options.openers = value;
      else options.timeoutSeconds = value;
    } else {
      return { kind: 'error', message: `unknown option '${arg}'` };
    }
  }
  return { kind: 'run', options };
}

const progress = (line: string): void => void process.stderr.write(`  ${line}\n`);

/** The policy: every version not destroyed of the key, for a guard point on every host of the group. */
async function provision(manager: ManagerUnderTest, hosts: number) {
  const admin = await manager.admin();
  const { token } = await admin.createToken({
    lifetimeSeconds: 3600,
    maxUses: hosts,
    hostGroup: GROUP,
    namePrefix: 'bench-',
  });
  const key = await admin.createKey({ name: 'bench-key' });
  await admin.putPolicy({
    name: POLICY,
    resourceSets: { all: { include: ['**'] } },
    securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
    keyRules: [{ key: { keyId: key.keyId } }],
  });
  await admin.addGuardPoint({ path: '/srv/bench', policy: POLICY, hostGroup: GROUP });
  return { token, keyId: key.keyId };
}

const holds =
  (keyId: string, version: number) =>
  (record: OpenedRecord): boolean =>
    record.entries.some(
      (e) => e.keyId === keyId && e.version === version && e.state === 'active' && e.installed,
    );

/**
 * The reference for the fan-out: the same openings again, all asked at once, through the same opener
 * threads, with the manager idle: how long the hosts' own work takes on this machine alone. Each time is
 * ms from the start until that opening was done.
 */
async function openingsAlone(
  open: Opener,
  done: readonly { host: SimulatedHost; record: OpenedRecord }[],
): Promise<number[]> {
  const started = performance.now();
  return await Promise.all(
    done.map(async ({ host, record }) => {
      await open(record.blob, host.hostId as string, host.identity.transport);
      return performance.now() - started;
    }),
  );
}

async function measure(
  options: Options,
  manager: ManagerUnderTest,
  fleet: Fleet,
  pool: Awaited<ReturnType<typeof transportPool>>,
  openers: Openers,
): Promise<Measured> {
  const loadStart = loadavg()[0] ?? 0;
  const { token, keyId } = await provision(manager, options.hosts);
  const timeoutMs = options.timeoutSeconds * 1000;

  progress(`registering ${options.hosts} hosts, ${options.concurrency} at a time`);
  let cpu = manager.cpuSeconds();
  const benchRegistrationCpu = process.cpuUsage();
  const registrationTimes = cpuTimes();
  const registration = await fleet.register(manager.url, manager.caPem, token, pool, options.concurrency);
  const registrationSteal = stealShare(registrationTimes, cpuTimes());
  const registrationCpu = manager.cpuSeconds() - cpu;
  const benchRegistrationUsed = process.cpuUsage(benchRegistrationCpu);
  progress(`registered ${registration.succeeded} in ${registration.seconds.toFixed(2)} s`);

  progress('connecting the event streams');
  cpu = manager.cpuSeconds();
  const connectStart = performance.now();
  const connect = await fleet.connect(manager.url, manager.caPem, options.concurrency);
  const streams = fleet.connectedHosts();
  const first = await fleet.until(streams, holds(keyId, 1), timeoutMs);
  const allOpenSeconds = (performance.now() - connectStart) / 1000;
  const connectCpu = manager.cpuSeconds() - cpu;
  const firstDeliveries = first.filter((r) => r !== undefined).length;
  progress(
    `${streams.length} streams open, ${firstDeliveries} first deliveries opened in ${allOpenSeconds.toFixed(2)} s`,
  );

  // Idle: the streams are open and every first delivery is handled; let the manager settle.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const idle = manager.memory();

  progress('rotating the key');
  const admin = await manager.admin();
  const hosts = fleet.connectedHosts();
  cpu = manager.cpuSeconds();
  const benchCpu = process.cpuUsage();
  const openersCpu = openers.cpuSeconds();
  const loop = performance.eventLoopUtilization();
  const fanoutTimes = cpuTimes();
  const started = performance.now();
  const rotated = await admin.rotateKey(keyId);
  const rotateAnswerMs = performance.now() - started;
  const newVersion = Math.max(...rotated.versions.map((v) => v.version));
  const got = await fleet.until(hosts, holds(keyId, newVersion), timeoutMs);
  const fanoutSteal = stealShare(fanoutTimes, cpuTimes());
  const fanoutCpu = manager.cpuSeconds() - cpu;
  const benchUsed = process.cpuUsage(benchCpu);
  const openersCpuAfter = openers.cpuSeconds();
  const benchFanout = {
    cpuSeconds: (benchUsed.user + benchUsed.system) / 1e6,
    openersCpuSeconds: openersCpu === null || openersCpuAfter === null ? null : openersCpuAfter - openersCpu,
    mainThreadBusy: performance.eventLoopUtilization(loop).utilization,
  };
  const afterFanout = manager.memory();
  const arrived = got.filter((r): r is OpenedRecord => r !== undefined);
  progress(`${arrived.length} of ${hosts.length} hosts opened version ${newVersion}`);
  progress('opening the same deliveries again with the manager idle (the reference)');
  const aloneMs = await openingsAlone(
    openers.open,
    got.flatMap((record, i) => {
      const host = hosts[i];
      return record && host ? [{ host, record }] : [];
    }),
  );
  progress(
    `measuring RSA-${TRANSPORT_BITS} private-key operations on all ${cpus().length} CPUs (openssl speed)`,
  );
  const rsa = await rsaSpeed(TRANSPORT_BITS, cpus().length, RSA_SPEED_SECONDS);
  return {
    registration,
    connect: { ...connect, connected: streams.length, firstDeliveries, allOpenSeconds },
    rotateAnswerMs,
    fanoutHosts: hosts.length,
    openedMs: arrived.map((r) => r.openedAt - started),
    receivedMs: arrived.map((r) => r.receivedAt - started),
    unwrapMs: arrived.map((r) => r.openMs),
    aloneMs,
    rsa,
    cpus: cpus().length,
    idle,
    afterFanout,
    managerCpu: { registration: registrationCpu, connect: connectCpu, fanout: fanoutCpu },
    benchFanout,
    benchRegistrationCpuSeconds: (benchRegistrationUsed.user + benchRegistrationUsed.system) / 1e6,
    load: { start: loadStart, end: loadavg()[0] ?? 0 },
    steal: { registration: registrationSteal, fanout: fanoutSteal },
    problems: fleet.problems(),
  };
}

export async function run(args: string[]): Promise<void> {
  const options = optionsToRun(parseArgs(args), HELP);
  if (options === undefined) return;
  const notes: string[] = [
    `${options.transportKeys} RSA-3072 transport keys shared by the ${options.hosts} simulated hosts in turn; the manager still wraps each delivery to each host's registered key`,
    `hosts simulated in this process, on the same ${cpus().length}-CPU machine as the manager; deliveries opened ${options.openers === 0 ? 'on the main thread' : `on ${options.openers} worker threads at nice 10, taking them from one queue (real hosts open theirs on their own CPUs: here the RSA unwraps take only CPU time the manager leaves)`}`,
    'admin requests on a session token (login), not a password: a password costs a scrypt per request',
    "hosts are given the manager's CA certificate: no GET /v1/ca pinning step before registering",
    "the registration connections share one TLS context trusting that CA (each still does its full handshake): made per connection, it costs this process a copy of the root store, which real hosts spend on their own CPUs; each host's event stream has a context of its own (its key and certificate)",
    "'CPU per registration': the manager's CPU time (all its threads) and this process's, in the registration phase, per host registered",
    "'CPU stolen by the hypervisor': the share of this machine's CPU time (all CPUs, /proc/stat steal) that a shared virtual machine's host gave to other guests in the phase; it slows every figure here alike",
    "'received': the delivery message arrived; 'opened': the host has unwrapped, decrypted and checked it; 'had each host its own CPU': received + that host's own unwrap time (no waiting for a shared CPU), for information, not the target",
    "'the same openings alone': after the fan-out, every host's delivery opened again, all asked at once, on the same opener threads with the manager idle: the simulated hosts' own work on this machine, which no manager could make shorter; the ratio is the fan-out's p99 to it",
    "'fan-out CPU': the CPU seconds from the rotate request until every host had opened: the manager's (all its threads), this process's opener threads' (the hosts' openings) and the rest of this process's (reading the streams); with p99 <= 2 s the whole fan-out has about 2 s of each CPU, which is the second figure",
    `'openssl speed': RSA-${TRANSPORT_BITS} private-key operations per second on all CPUs at once, measured after the fan-out with the manager idle; each host's opening is one (the unwrap of its one-time key), so on this machine the hosts' openings alone take at least hosts / that rate, before any work of the manager`,
  ];
  console.log(
    `manager: ${options.hosts} simulated hosts, ${options.concurrency} requests in flight; ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs; node ${process.version}`,
  );

  progress(
    `making ${options.transportKeys} transport keys and ${options.hosts} host keys and CSRs (not timed)`,
  );
  const prepared = performance.now();
  const pool = await transportPool(options.transportKeys);
  const made = await identities(options.hosts, options.transportKeys);
  progress(`prepared in ${((performance.now() - prepared) / 1000).toFixed(1)} s`);

  const opener = openerFor(pool, options.openers);
  const fleet = new Fleet(made, opener.open);
  const profile =
    options.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profileDir];
  let manager: ManagerUnderTest | undefined;
  let measured: Measured;
  try {
    // Inside: a manager that does not start must not leave the opener threads holding this process.
    manager = await startManager({ nodeArgs: profile });
    progress(`manager pid ${manager.pid} at ${manager.url}`);
    measured = await measure(options, manager, fleet, pool, opener);
  } finally {
    fleet.close();
    await opener.close();
    await manager?.stop();
  }
  report(options, measured, notes);
}
