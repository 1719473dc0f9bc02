// Policies enforced on a real mount, for real users: test users and a group are created for
// this file (and removed after it, even when it fails), and every file operation runs as
// one of them in a child process. The guard point's policy file is rewritten and reloaded
// (SIGUSR1) between steps, as an operator would.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { STANDALONE_KEY } from '../../agent/mounts/standalone.js';
import { containerLength, decodeContainer, keyringOf } from '../reference/container_codec.js';
import {
  createGuardPoint,
  removeGuardPoints,
  sh,
  shStatus,
  VEIL_MOUNT,
  type GuardPointFixture,
} from './mount_support.js';

const ALICE = 'veiltest_alice'; // in the group below
const BOB = 'veiltest_bob';
const HR = 'veiltest_hr';

function removeUsers(): void {
  spawnSync('bash', [
    '-c',
    `userdel ${ALICE} 2>/dev/null; userdel ${BOB} 2>/dev/null; groupdel ${HR} 2>/dev/null; true`,
  ]);
}

type Rule = Record<string, unknown>;

/** A standalone policy: the sets every step uses, and the rules given. */
function policy(name: string, rules: Rule[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify(
    {
      name,
      resourceSets: {
        all: { include: ['**'] },
        public: { include: ['public/**'] },
        hr: { include: ['hr/**'] },
        logs: { include: ['logs/**'] },
        secret: { include: ['secret/**'] },
        tools: { include: ['tools/**'] },
        raw: { include: ['raw/**'] },
      },
      userSets: { root: { uids: [0] }, hr: { groups: [HR] }, bob: { users: [BOB] } },
      signatureSets: { 'trusted-cat': { sha256: [trustedCatHash] } },
      processSets: { 'trusted-cat': { executables: [trustedCat], signatureSet: 'trusted-cat' } },
      securityRules: rules,
      keyRules: [{ resourceSet: 'all', key: STANDALONE_KEY }],
      ...extra,
    },
    null,
    2,
  );
}

const OPEN: Rule = { actions: ['all_ops'], effect: ['permit', 'apply_key'] };
const RULES: Rule[] = [
  { resourceSet: 'secret', userSet: 'root', actions: ['all_ops'], effect: ['deny'] },
  { resourceSet: 'secret', processSet: 'trusted-cat', actions: ['read'], effect: ['permit', 'apply_key'] },
  { resourceSet: 'hr', userSet: 'hr', actions: ['all_ops'], effect: ['permit', 'apply_key', 'audit'] },
  { resourceSet: 'logs', actions: ['read', 'f_wr_app', 'f_cre'], effect: ['permit', 'apply_key'] },
  { resourceSet: 'tools', actions: ['read'], effect: ['permit', 'apply_key'] },
  { resourceSet: 'raw', userSet: 'bob', actions: ['read'], effect: ['permit'] },
  { resourceSet: 'public', ...OPEN },
  { resourceSet: 'all', actions: ['d_rd', 'd_rd_att', 'f_rd_att'], effect: ['permit'] },
];

let work: string;
let trustedCat: string;
let trustedCatHash: string;
let policyFile: string;
let gp: GuardPointFixture;

/** Writes the policy file, signals a reload, and resolves once the log says `expected`. */
async function reload(text: string, expected: string): Promise<void> {
  const seen = gp.log().length;
  writeFileSync(policyFile, text);
  gp.reloadPolicy();
  const deadline = Date.now() + 5000;
  while (!gp.log().slice(seen).includes(expected)) {
    if (Date.now() > deadline) throw new Error(`no "${expected}" in the log:\n${gp.log().slice(seen)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function install(text: string, name: string): Promise<void> {
  await reload(text, `policy: now ${name} `);
}

/** Runs as `user` in the guard point; the exit status and output. */
function as(user: string, script: string): { status: number; out: string; err: string } {
  const result = spawnSync('runuser', ['-u', user, '--', 'bash', '-c', `cd '${gp.dir}' && ${script}`], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status ?? -1, out: result.stdout, err: result.stderr };
}

before(async () => {
  removeUsers();
  sh(`groupadd ${HR} && useradd -M -N -s /bin/bash -G ${HR} ${ALICE} && useradd -M -N -s /bin/bash ${BOB}`);
  work = mkdtempSync('/var/tmp/veil-policy-');
  sh(`chmod 755 '${work}' && mkdir -m 755 '${work}/bin' && mkdir -m 1777 '${work}/tmp'`);
  trustedCat = path.join(work, 'bin', 'cat');
  copyFileSync('/usr/bin/cat', trustedCat);
  sh(`chmod 755 '${trustedCat}'`);
  trustedCatHash = createHash('sha256').update(readFileSync(trustedCat)).digest('hex');
  policyFile = path.join(work, 'policy.json');
  writeFileSync(policyFile, policy('open', [OPEN]));
  gp = await createGuardPoint('aes-256-gcm', undefined, { policyFile });
  // Set up under the open policy; modes let every user in, so only the policy decides.
  sh(`cd '${gp.dir}' && mkdir public hr logs secret tools raw && echo public > public/a && echo salary > hr/pay &&
      echo line1 > logs/app.log && echo top > secret/s && cp /bin/true tools/true && echo stored > raw/r &&
      chmod -R a+rwX . && chmod 755 tools/true`);
});

after(async () => {
  await removeGuardPoints();
  removeUsers();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('a policy decides per user, group, process, signature and action', () => {
  before(async () => install(policy('rules', RULES), 'rules'));

  test('a group member reads (audited); another user is denied, and the denial is recorded', async () => {
    assert.deepEqual(as(ALICE, 'cat hr/pay'), { status: 0, out: 'salary\n', err: '' });
    const bob = as(BOB, 'cat hr/pay');
    assert.notEqual(bob.status, 0);
    assert.match(bob.err, /Permission denied/);
    const log = await gp.waitForLog(new RegExp(`user=${BOB} .*action=f_rd resource=\\S+/hr/pay effect=deny`));
    assert.match(
      log,
      new RegExp(`policy=rules rule=2 user=${ALICE} .*action=f_rd .*effect=permit,apply_key`),
    );
  });

  test('append is permitted where overwriting is not', () => {
    const append = as(BOB, 'echo line2 >> logs/app.log');
    assert.equal(append.status, 0, `${append.err}\n${gp.log()}`);
    const overwrite = as(BOB, 'echo replaced > logs/app.log');
    assert.notEqual(overwrite.status, 0);
    assert.match(overwrite.err, /Permission denied/);
    assert.equal(as(BOB, 'cat logs/app.log').out, 'line1\nline2\n');
  });

  test('a process set with a signature: the trusted binary reads, others and a patched copy do not', () => {
    assert.equal(as(BOB, `'${trustedCat}' secret/s`).out, 'top\n');
    assert.notEqual(as(BOB, 'cat secret/s').status, 0, '/usr/bin/cat is not the trusted path');
    sh(`cp '${trustedCat}' '${work}/bin/cat.orig' && printf 'x' >> '${trustedCat}'`);
    try {
      const patched = as(BOB, `'${trustedCat}' secret/s`);
      assert.notEqual(patched.status, 0, 'a patched binary at the trusted path must not match');
      assert.match(patched.err, /Permission denied/);
    } finally {
      sh(`cp '${work}/bin/cat.orig' '${trustedCat}'`);
    }
    assert.equal(as(BOB, `'${trustedCat}' secret/s`).out, 'top\n', 'the original binary matches again');
  });

  test('root is just a user: denied plaintext by a rule about uid 0', () => {
    const root = shStatus(`cat '${gp.dir}/secret/s'`);
    assert.notEqual(root.status, 0);
    assert.match(root.stderr, /Permission denied/);
    assert.notEqual(
      shStatus(`'${trustedCat}' '${gp.dir}/secret/s'`).status,
      0,
      'the first matching rule wins',
    );
  });

  test('read without exec: the binary can be copied but not run', () => {
    assert.equal(as(BOB, 'cat tools/true > /dev/null').status, 0);
    const run = as(BOB, './tools/true');
    assert.notEqual(run.status, 0);
    assert.match(run.err, /Permission denied/);
  });

  test('a permit without apply_key gives the stored bytes, never plaintext', () => {
    const raw = as(BOB, 'cat raw/r | od -An -c | head -c 64');
    assert.equal(raw.status, 0, raw.err);
    assert.match(raw.out, /V +E +I +L/, 'the container starts with its magic');
    assert.doesNotMatch(as(BOB, 'cat raw/r').out, /stored/);
    assert.equal(as(BOB, './raw/r').status === 0, false, 'the encrypted view of a file is never run');
  });

  test('no matching rule denies', () => {
    assert.notEqual(as(BOB, 'echo x > new-at-top').status, 0);
  });
});

describe('the encrypted view: backup and restore without plaintext', () => {
  // The owner works with plaintext; the backup user reads and writes the stored bytes.
  const VAULT: Rule[] = [
    { resourceSet: 'vault', userSet: 'owner', ...OPEN },
    {
      resourceSet: 'vault',
      userSet: 'bob',
      actions: ['read', 'write', 'f_cre', 'f_rd_att', 'd_rd', 'd_rd_att'],
      effect: ['permit', 'audit'],
    },
    { resourceSet: 'all', actions: ['d_rd', 'd_rd_att', 'f_rd_att'], effect: ['permit'] },
  ];
  const vaultPolicy = (): string => {
    const doc = JSON.parse(policy('vault', VAULT)) as Record<string, Record<string, unknown>>;
    doc.resourceSets.vault = { include: ['vault/**'] };
    doc.userSets.owner = { users: [ALICE] };
    return JSON.stringify(doc);
  };
  const original = Buffer.from(
    Array.from({ length: 700 }, (_, i) => `line ${i} of the owner's document\n`).join(''),
  );
  let backup: string;
  let keyring: ReturnType<typeof keyringOf>;

  before(async () => {
    await install(policy('open', [OPEN]), 'open');
    sh(`mkdir -m 777 '${gp.dir}/vault'`);
    await install(vaultPolicy(), 'vault');
    backup = path.join(work, 'tmp', 'backup');
    writeFileSync(path.join(work, 'tmp', 'original'), original);
    const put = as(ALICE, `cp '${work}/tmp/original' vault/doc && chmod 666 vault/doc`);
    assert.equal(put.status, 0, put.err);
    keyring = keyringOf([{ ...STANDALONE_KEY, material: gp.key }]);
  });

  test('a backup through the encrypted view is the container, which decodes to the plaintext', async () => {
    assert.equal(
      as(ALICE, 'cat vault/doc').out,
      original.toString(),
      'the owner reads plaintext (now cached)',
    );
    const copy = as(BOB, `cat vault/doc > '${backup}'`);
    assert.equal(copy.status, 0, copy.err);
    const stored = readFileSync(backup);
    assert.equal(stored.length, containerLength(original.length));
    assert.equal(stored.includes(Buffer.from('owner')), false, 'no plaintext in the backup');
    assert.deepEqual(decodeContainer(stored, keyring), original);
    await gp.waitForLog(new RegExp(`user=${BOB} .*action=f_rd resource=\\S+/vault/doc effect=permit `));
    // Both views through one inode: neither page cache fed the other.
    assert.equal(as(ALICE, 'cat vault/doc').out, original.toString());
    assert.deepEqual(Buffer.from(as(BOB, 'base64 -w0 vault/doc').out, 'base64'), stored);
  });

  test('a mapping of the encrypted view maps stored bytes, and leaves no trace in the plaintext view', () => {
    const mapped = as(
      BOB,
      `python3 -c "import mmap, os, sys; fd = os.open('vault/doc', os.O_RDONLY); ` +
        `m = mmap.mmap(fd, 4096 * 3, access=mmap.ACCESS_COPY); sys.stdout.write(m[:8192].hex())"`,
    );
    assert.equal(mapped.status, 0, mapped.err);
    assert.equal(mapped.out, readFileSync(backup).subarray(0, 8192).toString('hex'));
    assert.equal(as(ALICE, 'cat vault/doc').out, original.toString());
  });

  test('restore over a changed file and into a new one: the owner reads the original', () => {
    assert.equal(as(ALICE, 'echo changed > vault/doc').status, 0);
    const over = as(BOB, `cat '${backup}' > vault/doc`);
    assert.equal(over.status, 0, over.err);
    // Straight after: the size is the plaintext's again, and so are the contents.
    assert.equal(as(ALICE, 'stat -c %s vault/doc').out.trim(), String(original.length));
    assert.equal(as(ALICE, 'cat vault/doc').out, original.toString());
    const fresh = as(BOB, `cp '${backup}' vault/restored && stat -c %s vault/restored`);
    assert.equal(fresh.status, 0, fresh.err);
    assert.equal(as(ALICE, 'cat vault/restored').out, original.toString());
    assert.equal(as(ALICE, 'stat -c %s vault/restored').out.trim(), String(original.length));
  });

  test('a file open in one view waits, then is refused (EBUSY), to the other', () => {
    const clash = shStatus(
      `cd '${gp.dir}' && (runuser -u ${ALICE} -- bash -c 'exec 3<vault/doc; head -c 5 <&3 >/dev/null; sleep 4' &)
       sleep 1; runuser -u ${BOB} -- cat vault/doc > /dev/null`,
    );
    assert.notEqual(clash.status, 0);
    assert.match(clash.stderr, /Device or resource busy/);
    sh('sleep 3');
    assert.equal(as(BOB, 'cat vault/doc | wc -c').out.trim(), String(containerLength(original.length)));
  });

  test('while an open waits for the other view, the mount serves every other request', () => {
    // Bob's open waits (up to 2 s) for Alice's descriptor to close, then fails. Alice's
    // listing, new file and removal, made meanwhile, are answered before it gives up: a
    // thread blocked in an open does not hold up the rest of the mount.
    const order = sh(
      `cd '${gp.dir}' && (runuser -u ${ALICE} -- bash -c 'exec 3<vault/doc; head -c 5 <&3 >/dev/null; sleep 4' &)
       sleep 1; (runuser -u ${BOB} -- cat vault/doc > /dev/null 2>&1; echo bob >> '${work}/order') &
       sleep 0.3
       runuser -u ${ALICE} -- bash -c 'ls -l vault > /dev/null && echo x > vault/meanwhile && stat vault/meanwhile > /dev/null && rm vault/meanwhile'
       echo alice >> '${work}/order'
       wait; sleep 3; cat '${work}/order'; rm '${work}/order'`,
    );
    assert.equal(order, 'alice\nbob\n', 'the other requests waited for the blocked open');
  });

  test('a tampered restore fails with EIO and an event, never wrong plaintext', async () => {
    const tampered = readFileSync(backup);
    tampered[4096 + 100] ^= 1;
    writeFileSync(path.join(work, 'tmp', 'tampered'), tampered);
    assert.equal(as(BOB, `cat '${work}/tmp/tampered' > vault/doc`).status, 0);
    const read = as(ALICE, 'cat vault/doc');
    assert.notEqual(read.status, 0);
    assert.match(read.err, /Input\/output error/);
    await gp.waitForLog(/tamper: vault\/doc: authentication failed/);
    assert.equal(as(BOB, `cat '${backup}' > vault/doc`).status, 0);
    assert.equal(as(ALICE, 'cat vault/doc').out, original.toString());
  });
});

test("key rules choose each new file's key, or keep it plaintext (clear_key)", async () => {
  const second = { keyId: '7b0c5a5e-2f1e-4c3b-9a8d-000000000002', version: 1 };
  const secondKey = randomBytes(32);
  const secondFile = path.join(work, 'second.key');
  writeFileSync(secondFile, secondKey, { mode: 0o600 });
  const keyedPolicy = path.join(work, 'keyed.json');
  writeFileSync(
    keyedPolicy,
    JSON.stringify({
      ...JSON.parse(policy('keyed', [OPEN])),
      keyRules: [
        { resourceSet: 'public', key: 'clear_key' },
        { resourceSet: 'hr', key: second },
        { key: STANDALONE_KEY },
      ],
    }),
  );
  const keyed = await createGuardPoint('aes-256-gcm', undefined, {
    policyFile: keyedPolicy,
    extraArgs: ['--key', `${second.keyId}:1=${secondFile}`],
  });
  const script = `mkdir public hr other && printf 'hello world\\n' > public/a && echo more >> public/a &&
    printf 'J' | dd of=public/a bs=1 seek=0 conv=notrunc status=none && truncate -s 20000 public/b &&
    printf salary > hr/pay && printf other > other/o && cat public/a && stat -c %s public/a public/b`;
  const expected = 'Jello world\nmore\n';
  assert.equal(sh(script, { cwd: keyed.dir }), `${expected}17\n20000\n`);
  await keyed.stop();
  const both = keyringOf([
    { ...STANDALONE_KEY, material: keyed.key },
    { ...second, material: secondKey },
  ]);
  const standaloneOnly = keyringOf([{ ...STANDALONE_KEY, material: keyed.key }]);
  assert.equal(
    readFileSync(path.join(keyed.dir, 'public/a'), 'utf8'),
    expected,
    'clear_key: plaintext on disk',
  );
  assert.equal(readFileSync(path.join(keyed.dir, 'public/b')).length, 20000);
  const pay = readFileSync(path.join(keyed.dir, 'hr/pay'));
  assert.equal(pay.includes(Buffer.from('salary')), false);
  assert.deepEqual(decodeContainer(pay, both), Buffer.from('salary'));
  assert.throws(() => decodeContainer(pay, standaloneOnly), 'hr/ is under the second key');
  assert.deepEqual(
    decodeContainer(readFileSync(path.join(keyed.dir, 'other/o')), standaloneOnly),
    Buffer.from('other'),
  );
  // The plaintext files are where the key rules keep them: the next mount takes them.
  await keyed.start();
  assert.equal(sh('cat public/a hr/pay other/o', { cwd: keyed.dir }), `${expected}salaryother`);
  // Without a rule for every file, a new file where none holds it has no key.
  writeFileSync(
    keyedPolicy,
    JSON.stringify({
      ...JSON.parse(policy('keyed-partly', [OPEN])),
      keyRules: [{ resourceSet: 'hr', key: second }],
    }),
  );
  keyed.reloadPolicy();
  await keyed.waitForLog(/policy: now keyed-partly/);
  const orphan = shStatus(`cd '${keyed.dir}' && printf x > other/new`);
  assert.notEqual(orphan.status, 0);
  assert.match(orphan.stderr, /Required key not available/);
  await keyed.waitForLog(/other\/new: no key rule of the policy holds this path/);
  assert.equal(sh('printf y > hr/more && cat hr/more', { cwd: keyed.dir }), 'y');
});

test('a policy change takes effect on a file already open and read', async () => {
  await install(policy('rules', RULES), 'rules');
  const ready = path.join(work, 'tmp', 'ready');
  const go = path.join(work, 'tmp', 'go');
  const script = `import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.pread(fd, 100, 0).decode().strip(), flush=True)
open(sys.argv[2], 'w').close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.02)
try:
    print('read again:', os.pread(fd, 100, 0).decode().strip())
except PermissionError:
    print('denied')`;
  const reader = spawn('runuser', [
    '-u',
    ALICE,
    '--',
    'python3',
    '-c',
    script,
    `${gp.dir}/hr/pay`,
    ready,
    go,
  ]);
  let out = '';
  reader.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const done = new Promise<void>((resolve) => reader.once('exit', () => resolve()));
  try {
    const deadline = Date.now() + 10_000;
    while (!existsSync(ready)) {
      if (Date.now() > deadline) throw new Error(`the reader did not start: ${out}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await install(
      policy(
        'no-hr',
        RULES.filter((rule) => rule.resourceSet !== 'hr'),
      ),
      'no-hr',
    );
    writeFileSync(go, '');
    await done;
    assert.equal(out, 'salary\ndenied\n');
  } finally {
    reader.kill();
    rmSync(ready, { force: true });
    rmSync(go, { force: true });
  }
});

test('learn mode permits what would be denied, and records it', async () => {
  await install(policy('learning', RULES, { learnMode: true }), 'learning');
  assert.equal(as(BOB, 'cat hr/pay').out, 'salary\n');
  await gp.waitForLog(
    new RegExp(
      `policy=learning rule=none user=${BOB} .*resource=\\S+/hr/pay effect=permit,apply_key,learned`,
    ),
  );
});

test('a bad policy file is refused with its place, at start and on reload (the policy in force stays)', async () => {
  const bad = path.join(work, 'bad.json');
  const dir = mkdtempSync('/var/tmp/veil-policy-refused-');
  const key = path.join(work, 'key');
  writeFileSync(key, Buffer.alloc(32, 7), { mode: 0o600 });
  const refuse = (text: string): string => {
    writeFileSync(bad, text);
    const result = spawnSync(
      process.execPath,
      [VEIL_MOUNT, dir, '--key-file', key, '--policy', bad, '--foreground'],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    assert.equal(result.status, 1, result.stderr);
    return result.stderr;
  };
  try {
    assert.match(refuse('{ "name": "x", '), /VEIL_POLICY_INVALID/);
    assert.match(
      refuse(
        policy('unknown-key', [OPEN]).replace(STANDALONE_KEY.keyId, '00000000-0000-4000-8000-000000000000'),
      ),
      /\/keyRules\/0\/key/,
    );
    assert.match(
      refuse(policy('unknown-user', [{ userSet: 'nobody-here', ...OPEN }])),
      /\/securityRules\/0\/userSet/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await install(policy('rules', RULES), 'rules');
  await reload('{ "name": ', 'policy: not reloaded');
  assert.notEqual(as(BOB, 'cat hr/pay').status, 0, 'the policy in force stays');
});
