// `npm run bench -- manager` end to end with 20 hosts: the JSON line's shape, every host registered,
// connected and given the rotation, and nothing left behind (the manager process, its data directory).
// No timing is asserted: the figures depend on the machine.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function bench(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', 'manager', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const scratch = (): string[] =>
  readdirSync(tmpdir()).filter((name) => name.startsWith('veil-bench-manager-'));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('20 hosts: registered, connected, every one opens the rotation; one JSON line last', async () => {
  const before = new Set(scratch());
  const { code, stdout, stderr } = await bench('--hosts', '20', '--transport-keys', '2', '--timeout', '120');
  assert.equal(code, 0, stderr);
  const lines = stdout.trimEnd().split('\n');
  const result = JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
  assert.equal(result.benchmark, 'manager');
  assert.equal(result.hosts, 20);
  assert.equal(result.registered, 20);
  assert.equal(result.registrationFailures, 0);
  assert.equal(result.connectedHosts, 20);
  assert.equal(result.firstDeliveriesOpened, 20);
  assert.equal(result.fanoutHosts, 20);
  assert.equal(result.fanoutOpened, 20, 'every host opened the delivery with the new version');
  for (const field of [
    'registrationsPerSecond',
    'fanoutP50Ms',
    'fanoutP95Ms',
    'fanoutP99Ms',
    'fanoutMaxMs',
    'fanoutReceivedP50Ms',
    'fanoutReceivedP99Ms',
    'fanoutOpeningsAloneP50Ms',
    'fanoutOpeningsAloneP99Ms',
    'fanoutP99ToOpeningsAlone',
    'rotateAnswerMs',
    'managerIdleRssKiB',
    'managerIdleHwmKiB',
    'managerAfterFanoutRssKiB',
    'managerAfterFanoutHwmKiB',
  ]) {
    assert.equal(typeof result[field], 'number', field);
    assert.ok((result[field] as number) >= 0, field);
  }
  // This machine has /proc/stat: each phase's share of stolen CPU time is a fraction.
  const steal = result.stealShare as Record<string, unknown>;
  assert.deepEqual(Object.keys(steal).sort(), ['fanout', 'registration']);
  for (const share of Object.values(steal)) {
    assert.equal(typeof share, 'number');
    assert.ok((share as number) >= 0 && (share as number) <= 1, String(share));
  }
  assert.match(stdout, /CPU stolen by the hypervisor: registration \/ fan-out +\d+\.\d % \/ \d+\.\d %/);
  // Where the fan-out's CPU went: every part measured, and the parts add up to the whole.
  const cpu = result.fanoutCpuSeconds as Record<string, number>;
  for (const part of ['manager', 'openers', 'benchRest', 'all', 'targetAllows']) {
    assert.equal(typeof cpu[part], 'number', part);
    assert.ok(cpu[part] >= 0, part);
  }
  assert.ok(cpu.openers > 0, 'the opener threads did the openings');
  assert.ok(Math.abs(cpu.manager + cpu.openers + cpu.benchRest - cpu.all) < 0.05, JSON.stringify(cpu));
  assert.equal(cpu.targetAllows, 2 * (result.cpus as number));
  // The RSA reference: openssl speed on all CPUs, and what 20 unwraps need at that rate.
  const rsa = result.rsaReference as { command: string; privateOpsPerSecond: number; hostsUnwrapMs: number };
  assert.equal(rsa.command, `openssl speed -seconds 2 -multi ${String(result.cpus)} rsa3072`);
  assert.ok(rsa.privateOpsPerSecond > 0);
  assert.ok(Math.abs(rsa.hostsUnwrapMs - (20 / rsa.privateOpsPerSecond) * 1000) < 0.1);
  assert.match(
    stdout,
    /^fan-out CPU: manager \/ openings \/ rest of benchmark +\d+\.\d\d \/ \d+\.\d\d \/ \d+\.\d\d s$/m,
  );
  assert.match(stdout, /^RSA-3072 private ops, \d+ CPUs \(openssl speed\) +\d+\/s$/m);
  assert.deepEqual(result.targets, { connectedHosts: 1000, registrationsPerSecond: 100, fanoutP99Ms: 2000 });
  const met = result.met as Record<string, unknown>;
  assert.deepEqual(Object.keys(met).sort(), ['connectedHosts', 'fanoutP99Ms', 'registrationsPerSecond']);
  for (const value of Object.values(met)) assert.equal(typeof value, 'boolean');
  assert.equal(met.connectedHosts, false, 'the target is 1,000 connected hosts: 20 do not meet it');
  assert.ok(Array.isArray(result.notes));
  assert.match(stdout, /^metric +value +target +met\?$/m, 'the table comes before the JSON line');
  assert.match(stdout, /transport keys shared/);

  const pid = Number(/manager pid (\d+)/.exec(stderr)?.[1]);
  assert.ok(pid > 0, stderr);
  assert.equal(alive(pid), false, 'the manager process is gone');
  assert.deepEqual(
    scratch().filter((name) => !before.has(name)),
    [],
    'the data directory is removed',
  );
});

test('--help prints the usage; a bad option is a usage error (exit 2) and starts nothing', async () => {
  const help = await bench('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: npm run bench -- manager/);
  assert.match(help.stdout, /--hosts N/);
  for (const args of [['--hosts', '0'], ['--hosts', '1.5'], ['--concurrency', 'x'], ['--nope']]) {
    const bad = await bench(...args);
    assert.equal(bad.code, 2, args.join(' '));
    assert.match(bad.stderr, /usage: npm run bench -- manager/);
    assert.doesNotMatch(bad.stderr, /manager pid/);
  }
});
