// The manager benchmark's CPU accounting and its RSA reference (bench/manager/proc_cpu.ts,
// rsa_reference.ts), on this machine's /proc and its real openssl.
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import {
  currentThreadId,
  processCpuSeconds,
  statCpuSeconds,
  threadCpuSeconds,
} from '../../bench/manager/proc_cpu.js';
import { parseRsaSpeed, rsaSpeed } from '../../bench/manager/rsa_reference.js';

test('a thread is told apart: its CPU time grows with its own work, not with another thread', async () => {
  const main = currentThreadId();
  assert.equal(main, process.pid, 'the main thread is the process');
  // A worker that reports its thread id, then spins for 400 ms when asked.
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     const { readFileSync } = require('node:fs');
     parentPort.postMessage(Number(readFileSync('/proc/thread-self/stat', 'utf8').split(' ', 1)[0]));
     parentPort.on('message', () => {
       const until = performance.now() + 400;
       while (performance.now() < until) {}
       parentPort.postMessage('done');
     });`,
    { eval: true },
  );
  try {
    const tid = await new Promise<number>((resolve) => worker.once('message', resolve));
    assert.notEqual(tid, main);
    const before = threadCpuSeconds(tid);
    const mainBefore = threadCpuSeconds(main);
    const done = new Promise((resolve) => worker.once('message', resolve));
    worker.postMessage('spin');
    await done;
    const used = threadCpuSeconds(tid) - before;
    // 400 ms of spinning, counted in 10 ms ticks: at most that, and a fair part of it even when
    // other tests share the CPUs.
    assert.ok(used >= 0.05 && used <= 0.45, `worker used ${used} s`);
    assert.ok(threadCpuSeconds(main) - mainBefore < 0.2, 'the main thread waited');
    assert.ok(processCpuSeconds(process.pid) >= threadCpuSeconds(tid), 'the process counts its threads');
  } finally {
    await worker.terminate();
  }
  assert.ok(statCpuSeconds('/proc/self/stat') > 0);
  assert.throws(() => statCpuSeconds('/proc/self/nothing-here'), /ENOENT/);
});

test("parseRsaSpeed reads openssl's summary line, for the size asked only", () => {
  const multi = [
    'Forked child 0',
    'Forked child 1',
    'Got: +F2:3:3072:365.000000:18134.000000 from 0',
    'Got: +F2:3:3072:334.000000:20506.000000 from 1',
    '+F2:3:3072:699.000000:38640.000000',
  ].join('\n');
  assert.equal(parseRsaSpeed(multi, 3072), 699);
  assert.equal(parseRsaSpeed(multi, 2048), undefined);
  assert.equal(parseRsaSpeed('+F2:2:2048:1158.500000:39101.000000\n', 2048), 1158.5);
  // Only children's lines (a summary that never came), no figure, a zero rate: nothing.
  assert.equal(parseRsaSpeed('Got: +F2:3:3072:365.000000:18134.000000 from 0\n', 3072), undefined);
  assert.equal(parseRsaSpeed('Doing 3072 bits private rsa sign ops\n', 3072), undefined);
  assert.equal(parseRsaSpeed('+F2:3:3072:0.000000:0.000000\n', 3072), undefined);
});

test('openssl speed agrees with node:crypto on the RSA-2048 private-key operations of one CPU', async () => {
  // The same operation through node:crypto (an OAEP unwrap, as a host's opening), for 0.5 s before and
  // after openssl's second: other tests may share the CPUs, so the faster of the two is taken.
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const oaep = { padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' };
  const wrapped = publicEncrypt({ key: publicKey, ...oaep }, randomBytes(32));
  const nodeRate = (): number => {
    let done = 0;
    const started = performance.now();
    while (performance.now() - started < 500) {
      privateDecrypt({ key: privateKey, ...oaep }, wrapped);
      done += 1;
    }
    return done / ((performance.now() - started) / 1000);
  };
  const before = nodeRate();
  const speed = await rsaSpeed(2048, 1, 1);
  const after = nodeRate();
  assert.ok(!('error' in speed), 'error' in speed ? speed.error : '');
  assert.equal(speed.command, 'openssl speed -seconds 1 -multi 1 rsa2048');
  assert.equal(speed.bits, 2048);
  // The same library underneath: the same order. Verifications (about 30 times as many) or seconds
  // per operation read by mistake would be far off.
  const ratio = speed.privateOpsPerSecond / Math.max(before, after);
  assert.ok(
    ratio > 1 / 3 && ratio < 3,
    `openssl ${speed.privateOpsPerSecond}/s, node ${before.toFixed(0)} and ${after.toFixed(0)}/s`,
  );
});

test('an openssl that cannot run is an error that says the command, not a throw', async () => {
  const speed = await rsaSpeed(1234, 1, 1);
  assert.ok('error' in speed);
  assert.equal(speed.bits, 1234);
  assert.match(speed.error, /^openssl speed -seconds 1 -multi 1 rsa1234: /);
});
