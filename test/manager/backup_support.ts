// Helpers of the backup tests: the offline veil-manager commands (restore, verify, show),
// a fingerprint of a directory tree to prove it unchanged, and a manager filled with a bit
// of everything a backup must carry.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { MANAGER_CLI, registerHostByHand, type ManagerProcess } from './support.js';

export interface CliAnswer {
  status: number;
  json: Record<string, unknown>;
  err: string;
}

/** `veil-manager ARGS --json` with no manager to reach (restore, verify, show). */
export function veilManager(...args: string[]): CliAnswer {
  const result = spawnSync(process.execPath, [MANAGER_CLI, ...args, '--json'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(result.stdout) as Record<string, unknown>;
  } catch {
    // Left empty: the assertion on status shows stdout and stderr.
  }
  return { status: result.status ?? -1, json, err: `${result.stdout}${result.stderr}` };
}

/** A manager.cli answer, parsed; fails the test unless it succeeded. */
export function cliJson<T>(answer: { status: number; out: string; err: string }): T {
  assert.equal(answer.status, 0, answer.out + answer.err);
  return JSON.parse(answer.out) as T;
}

/** Every file under `dir` with its mode and SHA-256, by relative path; `skip` leaves some out. */
export function tree(dir: string, skip: RegExp = /^$/): Record<string, string> {
  const files: Record<string, string> = {};
  const visit = (relative: string): void => {
    for (const entry of readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const child = path.join(relative, entry.name);
      if (entry.isDirectory()) visit(child);
      else if (!skip.test(entry.name)) {
        const full = path.join(dir, child);
        const mode = (statSync(full).mode & 0o777).toString(8);
        files[child] = `${mode} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`;
      }
    }
  };
  visit('');
  return files;
}

/** The names beside `dir` that a restore of it left behind (staging, replaced data). */
export function leftovers(dir: string): string[] {
  const base = path.basename(dir);
  return readdirSync(path.dirname(dir)).filter((name) => name.startsWith(`.${base}.`));
}

export const policyFor = (name: string, keyId: string, users: string[]): Record<string, unknown> => ({
  name,
  resourceSets: { all: { include: ['**'] } },
  userSets: { owner: { users } },
  securityRules: [
    { userSet: 'owner', actions: ['all_ops'], effect: ['permit', 'apply_key'] },
    { actions: ['d_rd', 'd_rd_att', 'f_rd_att'], effect: ['permit'] },
    { actions: ['all_ops'], effect: ['deny'] },
  ],
  keyRules: [{ resourceSet: 'all', key: { keyId } }],
});

/**
 * A bit of everything: keys with versions in several states, a host registered by hand
 * with a guard point and its policy, a host group, a domain, users of two roles.
 */
export async function fillManager(
  manager: ManagerProcess,
  work: string,
  passwords: Record<string, string>,
): Promise<void> {
  const admin = manager.admin();
  const rotated = await admin.createKey({ name: 'rotated' });
  await admin.rotateKey(rotated.keyId);
  await admin.revokeKey(rotated.keyId, 1, 'key-compromise');
  const suspended = await admin.createKey({ name: 'suspended', algorithm: 'aes-128' });
  await admin.setKeyState(suspended.keyId, 1, 'suspended');
  await admin.createHostGroup('web');
  const transport = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
  const host = await registerHostByHand(manager, path.join(work, 'host.key'), 'backup-host', transport);
  await admin.putPolicy(policyFor('before-backup', rotated.keyId, ['root']));
  await admin.addGuardPoint({ path: '/srv/backed-up', policy: 'before-backup', hostId: host.id });
  await admin.createDomain({ name: 'sales', keyAlgorithm: 'aes-128' });
  for (const [name, password] of Object.entries(passwords)) {
    await admin.createUser({ name, password, roles: name.includes('audit') ? ['auditor'] : ['key-admin'] });
  }
}
