// The password-guessing brake on its own, with a clock the test moves: how long a run of wrong
// passwords waits (1 s past the free ones, doubling, at most 15 minutes), keyed by name and
// address, and by address across names; a right password ends the run.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ManagerError } from '../../manager-client/errors.js';
import {
  FREE_FAILURES_PER_ADDRESS,
  FREE_FAILURES_PER_NAME,
  SignInThrottle,
} from '../../manager/sign_in_throttle.js';

function clocked(): { throttle: SignInThrottle; advance: (ms: number) => void } {
  let now = 1_800_000_000_000;
  return { throttle: new SignInThrottle(() => now), advance: (ms) => (now += ms) };
}

/** The wait check() names, in seconds, or 0 when the attempt may be checked now. */
function waitOf(throttle: SignInThrottle, name: string, source: string): number {
  try {
    throttle.check(name, source);
    return 0;
  } catch (error) {
    assert.ok(error instanceof ManagerError);
    assert.equal(error.code, 'VEIL_AUTH_TOO_MANY_FAILURES');
    return Number(/try again in (\d+) s/.exec(error.message)?.[1]);
  }
}

test('past the free wrong passwords a name waits 1 s, twice as long after each next one, at most 15 minutes', () => {
  const { throttle, advance } = clocked();
  for (let i = 0; i < FREE_FAILURES_PER_NAME; i++) {
    assert.equal(waitOf(throttle, 'ann', '10.0.0.1'), 0, `wrong password ${i + 1} is free`);
    throttle.failed('ann', '10.0.0.1');
  }
  const waits: number[] = [];
  for (let i = 0; i < 14; i++) {
    assert.equal(waitOf(throttle, 'ann', '10.0.0.1'), 0);
    throttle.failed('ann', '10.0.0.1');
    const wait = waitOf(throttle, 'ann', '10.0.0.1');
    waits.push(wait);
    advance(wait * 1000);
  }
  assert.deepEqual(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900, 900]);
  // Another name and another address are free; a right password ends the run.
  assert.equal(waitOf(throttle, 'bob', '10.0.0.1'), 0);
  assert.equal(waitOf(throttle, 'ann', '10.0.0.2'), 0);
  throttle.failed('ann', '10.0.0.1');
  assert.ok(waitOf(throttle, 'ann', '10.0.0.1') > 0);
  throttle.succeeded('ann', '10.0.0.1');
  assert.equal(waitOf(throttle, 'ann', '10.0.0.1'), 0);
});

test('one address trying many names waits too, for every name', () => {
  const { throttle } = clocked();
  for (let i = 0; i < FREE_FAILURES_PER_ADDRESS; i++) {
    assert.equal(waitOf(throttle, `name-${i}`, '10.0.0.9'), 0);
    throttle.failed(`name-${i}`, '10.0.0.9');
  }
  assert.equal(waitOf(throttle, 'fresh-name', '10.0.0.9'), 0);
  throttle.failed('fresh-name', '10.0.0.9');
  assert.equal(waitOf(throttle, 'yet-another', '10.0.0.9'), 1);
  assert.equal(waitOf(throttle, 'yet-another', '10.0.0.10'), 0);
});
