// Live data transformation scenarios on a real veil-mount: files written under one key
// version, then the policy moved to another (or plaintext files guarded for the first
// time), and the rekeying serving process killed with SIGKILL at random moments and
// started again until it is done. Shared by test/fs/ldt.test.ts (a few kills) and
// `npm run stress` (many). Every file operation runs in a child process.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { keys, openContainer, type CipherName } from '../../native/core.js';
import { createGuardPoint, sh, type GuardPointFixture } from './mount_support.js';

export const LDT_KEY = 'c0ffee00-0000-4000-8000-00000000000a';

export type LdtScenario = 'full' | 'rewrap' | 'encrypt';

export interface LdtWorkspace {
  gp: GuardPointFixture;
  work: string;
  policyFile: string;
  keyFiles: Buffer[];
  /** Writes the policy whose key rule names LDT_KEY at `version`. */
  usePolicy(version: number): void;
  /** sha256 of every file through the mount, by name (in a child process). */
  hashes(): Map<string, string>;
  /** The key version and state in each backing file's header (the guard point must be stopped). */
  headers(): Map<string, string>;
  cleanup(): Promise<void>;
}

const policy = (version: number) => ({
  name: `ldt-v${version}`,
  securityRules: [{ actions: ['all_ops'], effect: ['permit', 'apply_key'] }],
  keyRules: [{ key: { keyId: LDT_KEY, version } }],
});

export async function ldtWorkspace(
  cipher: CipherName,
  extraArgs: string[],
  options: { encryptExisting?: boolean } = {},
): Promise<LdtWorkspace> {
  const work = mkdtempSync('/var/tmp/veil-ldt-');
  const policyFile = path.join(work, 'policy.json');
  const keyFiles = [randomBytes(32), randomBytes(32)];
  keyFiles.forEach((key, i) => writeFileSync(path.join(work, `k${i + 1}`), key, { mode: 0o600 }));
  const usePolicy = (version: number) => writeFileSync(policyFile, JSON.stringify(policy(version)));
  usePolicy(1);
  const gp = await createGuardPoint(cipher, undefined, {
    policyFile,
    extraArgs: [
      '--key',
      `${LDT_KEY}:1=${path.join(work, 'k1')}`,
      '--key',
      `${LDT_KEY}:2=${path.join(work, 'k2')}`,
      '--ldt-journal',
      path.join(work, 'journal'),
      ...(options.encryptExisting ? ['--encrypt-existing'] : ['--rekey']),
      ...extraArgs,
    ],
  });
  return {
    gp,
    work,
    policyFile,
    keyFiles,
    usePolicy,
    hashes: () => plainHashes(gp.dir),
    headers() {
      keyFiles.forEach((key, i) => keys.importRaw({ keyId: LDT_KEY, version: i + 1 }, 'active', key));
      try {
        const found = new Map<string, string>();
        const walk = (dir: string, prefix: string) => {
          for (const entry of readdirSync(dir, { withFileTypes: true })) {
            const name = `${prefix}${entry.name}`;
            if (entry.isDirectory()) {
              if (name !== './.veil-ldt') walk(path.join(dir, entry.name), `${name}/`);
              continue;
            }
            const bytes = readFileSync(path.join(dir, entry.name));
            if (bytes.length < 512 || bytes.subarray(1, 5).toString() !== 'VEIL') {
              found.set(name, 'plaintext');
              continue;
            }
            const container = openContainer(bytes.subarray(0, 512));
            found.set(name, `${container.key.keyId}:${container.key.version} ${container.state}`);
            container.close();
          }
        };
        walk(gp.dir, './');
        return found;
      } finally {
        keys.remove({ keyId: LDT_KEY, version: 1 });
        keys.remove({ keyId: LDT_KEY, version: 2 });
      }
    },
    async cleanup() {
      await gp.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** Random files of mixed sizes (a few bigger than 1 MiB): `count` of them, `totalMiB` about. */
export function writeFiles(dir: string, count: number, totalMiB: number, seed: number): void {
  const lines: string[] = [`cd '${dir}'`, 'mkdir -p sub/deeper'];
  let rng = seed >>> 0;
  const next = () => {
    rng = (Math.imul(rng, 1664525) + 1013904223) >>> 0;
    return rng / 2 ** 32;
  };
  const average = (totalMiB * 1024 * 1024) / count;
  for (let i = 0; i < count; i++) {
    const size = i % 7 === 0 ? 0 : Math.floor(next() * 2 * average) + (i % 5);
    const where = i % 3 === 0 ? 'sub/' : i % 3 === 1 ? 'sub/deeper/' : '';
    lines.push(`head -c ${size} /dev/urandom > '${where}f${i}'`);
  }
  lines.push('sync');
  sh(lines.join('\n'));
}

/** How many rekey passes the serving process has finished with nothing left to do. */
export const idleCount = (log: string): number => (log.match(/rekey: .*\] +\d+% .* idle/g) ?? []).length;

export async function waitUntilIdle(gp: GuardPointFixture, after: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (idleCount(gp.log()) <= after) {
    if (Date.now() > deadline)
      throw new Error(`the rekey did not finish in ${ms} ms:\n${gp.log().slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** What a run of kills did: how many were sent, and how many of them found work still left. */
export interface Kills {
  sent: number;
  landed: number;
}

/**
 * Starts the guard point with the target policy and kills it at random moments of the
 * transformation, then lets it finish: `kills` kills, or with `untilLanded`, until `kills`
 * of them have landed while work was left (at most four times as many sent). A kill that
 * finds the work done halves the longest delay: each landed kill leaves less work for the
 * next start, so a fixed window would put more and more of the later kills after the end.
 */
export async function rekeyUnderKills(
  ws: LdtWorkspace,
  kills: number,
  maxDelayMs: number,
  untilLanded = false,
  random: () => number = Math.random,
): Promise<Kills> {
  const done = { sent: 0, landed: 0 };
  let window = maxDelayMs;
  while (untilLanded ? done.landed < kills && done.sent < 4 * kills : done.sent < kills) {
    const idleBefore = idleCount(ws.gp.log());
    await ws.gp.start();
    await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * window)));
    if (idleCount(ws.gp.log()) === idleBefore) done.landed += 1;
    else window = Math.max(10, window / 2);
    await ws.gp.crash();
    done.sent += 1;
  }
  const idleBefore = idleCount(ws.gp.log());
  await ws.gp.start();
  await waitUntilIdle(ws.gp, idleBefore, 300_000);
  return done;
}

export interface KillScenario {
  scenario: LdtScenario;
  cipher: CipherName;
  kills: number;
  maxDelayMs: number;
  files: number;
  totalMiB: number;
  /** Rekey rate cap in MB/s, so that the kills land during the work. */
  rate?: number;
  seed: number;
  /** `kills` counts only kills that land during the work (rekeyUnderKills). */
  untilLanded?: boolean;
}

/**
 * Files written under version 1 (or, for `encrypt`, plaintext written before the guard
 * point), the policy moved to version 2, the serving process killed `kills` times during
 * the transformation: afterwards every file reads as before and its header names version
 * 2, stable. Throws (assert) otherwise; returns the kills sent and landed during the work.
 */
export async function killScenario(s: KillScenario, keep: (ws: LdtWorkspace) => void): Promise<Kills> {
  const extra = [
    ...(s.scenario === 'encrypt' ? [] : ['--rekey-mode', s.scenario]),
    ...(s.rate === undefined ? [] : ['--rate', String(s.rate)]),
  ];
  const ws = await ldtWorkspace(s.cipher, extra, { encryptExisting: s.scenario === 'encrypt' });
  keep(ws);
  let before: Map<string, string>;
  if (s.scenario === 'encrypt') {
    await ws.gp.stop();
    // Written while nothing guards the directory: plaintext, as on a host before Veil.
    writeFiles(ws.gp.dir, s.files, s.totalMiB, s.seed);
    before = plainHashes(ws.gp.dir);
  } else {
    writeFiles(ws.gp.dir, s.files, s.totalMiB, s.seed);
    before = ws.hashes();
    await ws.gp.stop();
  }
  ws.usePolicy(2);
  const kills = await rekeyUnderKills(ws, s.kills, s.maxDelayMs, s.untilLanded);
  assert.ok(before.size > 0);
  assert.deepEqual(ws.hashes(), before, 'a file reads differently after the transformation');
  await ws.gp.stop();
  const headers = ws.headers();
  assert.equal(headers.size, before.size, 'files appeared or vanished');
  for (const [name, state] of headers)
    assert.equal(state, `${LDT_KEY}:2 stable`, `${name} is not under version 2`);
  return kills;
}

function plainHashes(dir: string): Map<string, string> {
  return new Map(
    sh(`cd '${dir}' && find . -type f -print0 | sort -z | xargs -0 -r sha256sum`)
      .trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => [line.slice(66), line.slice(0, 64)] as [string, string]),
  );
}
