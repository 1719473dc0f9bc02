// Live data transformation on real guard points (veil-mount --rekey): full re-encryption,
// header-only rewrap and initial encryption of plaintext, each with the serving process
// killed (SIGKILL) at random moments and restarted; XTS files re-encrypted whole; and the
// fsx-style checker reading and writing a file while it is re-encrypted under it.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';

import { runFsx } from './fsx_runner.js';
import { idleCount, killScenario, ldtWorkspace, waitUntilIdle, type LdtWorkspace } from './ldt_support.js';
import { removeGuardPoints } from './mount_support.js';

const workspaces: LdtWorkspace[] = [];
after(async () => {
  for (const ws of workspaces.splice(0)) await ws.cleanup();
  await removeGuardPoints();
});

async function workspace(...args: Parameters<typeof ldtWorkspace>): Promise<LdtWorkspace> {
  const ws = await ldtWorkspace(...args);
  workspaces.push(ws);
  return ws;
}

describe('live data transformation', () => {
  const keep = (ws: LdtWorkspace) => workspaces.push(ws);

  test('full re-encryption survives SIGKILL at random moments', async () => {
    const { landed } = await killScenario(
      {
        scenario: 'full',
        cipher: 'aes-256-gcm',
        kills: 3,
        maxDelayMs: 1500,
        files: 30,
        totalMiB: 24,
        rate: 8,
        seed: 11,
      },
      keep,
    );
    assert.ok(landed >= 1, 'no kill landed during the transformation');
  });

  test('header-only rewrap survives SIGKILL at random moments', async () => {
    await killScenario(
      {
        scenario: 'rewrap',
        cipher: 'aes-256-gcm',
        kills: 2,
        maxDelayMs: 300,
        files: 400,
        totalMiB: 2,
        seed: 12,
      },
      keep,
    );
  });

  test('initial encryption of plaintext files survives SIGKILL at random moments', async () => {
    await killScenario(
      {
        scenario: 'encrypt',
        cipher: 'aes-256-gcm',
        kills: 3,
        maxDelayMs: 1200,
        files: 30,
        totalMiB: 16,
        rate: 8,
        seed: 13,
      },
      keep,
    );
  });

  test('XTS files are re-encrypted whole', async () => {
    await killScenario(
      {
        scenario: 'full',
        cipher: 'aes-256-xts',
        kills: 1,
        maxDelayMs: 300,
        files: 20,
        totalMiB: 8,
        rate: 25,
        seed: 14,
      },
      keep,
    );
  });

  test('the fsx-style checker sees no mismatch while its file is re-encrypted', async () => {
    const ws = await workspace('aes-256-gcm', ['--rekey-mode', 'full', '--rate', '2']);
    await waitUntilIdle(ws.gp, 0, 20_000); // the first pass: nothing to do yet
    const idle = idleCount(ws.gp.log());
    const fsx = runFsx({ dir: ws.gp.dir, ops: 3000, seed: 4242, maxSize: 2 * 1024 * 1024 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    ws.usePolicy(2);
    ws.gp.reloadPolicy();
    await ws.gp.waitForLog(/rekey: .* running/, 20_000);
    const result = await fsx;
    assert.ok(result.ok, result.output);
    await waitUntilIdle(ws.gp, idle, 120_000);
    assert.match(ws.gp.log(), /reencrypt to c0ffee00-0000-4000-8000-00000000000a:2/);
  });
});
