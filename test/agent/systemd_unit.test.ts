// agent/systemd/veild.service: systemd itself accepts it without a warning, and it keeps
// the settings the daemon depends on and none that would hide its mounts from the host.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const UNIT = readFileSync(path.join(root, 'agent/systemd/veild.service'), 'utf8');
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

/** The [Service] section as key → every value given, in order. */
function serviceSettings(unit: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    if (section !== 'Service' || eq === -1) continue;
    const key = line.slice(0, eq).trim();
    settings.set(key, [...(settings.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return settings;
}

// A warning line of systemd-analyze names the unit it is about: "<file>:<line>: …" or
// "<name>: …". Verifying loads the units ours names (local-fs.target, network-online.target,
// multi-user.target and what they pull in) from the host, and a host may ship one that
// draws a warning; such a line is about another unit and says nothing about ours.
const UNIT_PREFIX =
  /^(\S+?\.(?:service|socket|target|mount|automount|swap|path|timer|slice|scope|device))(?::\d+)?:\s/;

/** Runs `systemd-analyze verify` on `unit` (as veild.service in a temp dir): the exit code and the lines about it. */
function verify(unit: string): { status: number | null; ours: string[]; others: string[] } {
  const dir = mkdtempSync(path.join(tmpdir(), 'veil-unit-'));
  try {
    const file = path.join(dir, 'veild.service');
    // verify checks that ExecStart names an executable; the launcher is not installed here.
    writeFileSync(file, unit.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath}`));
    const result = spawnSync('systemd-analyze', ['verify', file], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: '' },
    });
    const ours: string[] = [];
    const others: string[] = [];
    for (const line of `${result.stdout}\n${result.stderr}`.split('\n')) {
      if (line.trim() === '') continue;
      const about = UNIT_PREFIX.exec(line)?.[1];
      // A line naming no unit is not known to be harmless: count it as ours.
      if (about !== undefined && path.basename(about) !== 'veild.service') others.push(line);
      else ours.push(line);
    }
    return { status: result.status, ours, others };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('veild.service', () => {
  test('systemd-analyze verify accepts it without a warning', { skip: !hasAnalyze }, () => {
    const { status, ours, others } = verify(UNIT);
    if (others.length > 0)
      console.log(`warnings about the host's other units, ignored:\n${others.join('\n')}`);
    assert.deepEqual(ours, [], 'systemd-analyze has something to say about veild.service');
    assert.equal(status, 0);
  });

  test('the check notices a warning about the unit', { skip: !hasAnalyze }, () => {
    // systemd only warns about an unknown key and still exits 0: the lines must be read.
    const { ours } = verify(UNIT.replace(/^LimitCORE=0$/m, 'LimitCORE=0\nProtectClok=yes'));
    assert.equal(ours.length, 1, ours.join('\n'));
    assert.match(ours[0] ?? '', /veild\.service:\d+: Unknown key 'ProtectClok'/);
  });

  test('keeps what the daemon depends on', () => {
    const settings = serviceSettings(UNIT);
    assert.deepEqual(settings.get('Type'), ['notify']);
    assert.deepEqual(settings.get('NotifyAccess'), ['main']);
    assert.deepEqual(settings.get('LimitCORE'), ['0']);
    assert.deepEqual(settings.get('LimitMEMLOCK'), ['infinity']);
    assert.deepEqual(settings.get('DeviceAllow'), ['/dev/fuse rw']);
    assert.deepEqual(settings.get('ExecStart'), ['/usr/local/bin/veild']);
  });

  test('gives the service no mount namespace of its own, so its guard points are the host’s', () => {
    const settings = serviceSettings(UNIT);
    for (const key of [
      'ProtectSystem',
      'ProtectHome',
      'PrivateTmp',
      'PrivateDevices',
      'PrivateMounts',
      'ProtectKernelTunables',
      'ProtectKernelModules',
      'ProtectKernelLogs',
      'ProtectControlGroups',
      'ProtectProc',
      'ProcSubset',
      'ReadOnlyPaths',
      'ReadWritePaths',
      'InaccessiblePaths',
      'TemporaryFileSystem',
      'BindPaths',
      'BindReadOnlyPaths',
      'RootDirectory',
      'MountFlags',
      // Not a namespace, but V8's JIT compiler writes code at run time.
      'MemoryDenyWriteExecute',
    ]) {
      assert.equal(settings.get(key), undefined, `${key}= must not be set`);
    }
  });
});
