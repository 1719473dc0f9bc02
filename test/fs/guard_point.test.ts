// Guard points on real FUSE mounts, served by `veil-mount` processes: every operation is
// done by child processes, compared with the same operations on a plain directory, and
// the backing files are checked with the reference decoder of docs/format.md.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { STANDALONE_KEY } from '../../agent/mounts/standalone.js';
import type { CipherName } from '../../native/core.js';
import { blockOffset, containerLength, decodeContainer, keyringOf } from '../reference/container_codec.js';
import { runFsx } from './fsx_runner.js';
import { createGuardPoint, isMounted, removeGuardPoints, sh, shStatus } from './mount_support.js';

const SIZES = [0, 1, 15, 16, 17, 4095, 4096, 4097, 65536, 1048579];

// Deterministic output only: names, sizes, modes, hashes, link counts, fixed times.
const SCRIPT = String.raw`
set -euo pipefail
cd "$TARGET"
for n in ${SIZES.join(' ')}; do cp "$SRC/d$n" f$n; done
sha256sum f*
stat -c '%n %s %a %F' f* | sort
cat "$SRC/d4097" >> f4095; printf 'x' >> f0; sha256sum f4095 f0
printf 'HELLO' | dd of=f65536 bs=1 seek=4094 conv=notrunc status=none; sha256sum f65536
printf 'END' | dd of=hole bs=1 seek=100000 status=none; stat -c '%s' hole; sha256sum hole
truncate -s 10000 f4097; sha256sum f4097; truncate -s 3 f4097; sha256sum f4097
truncate -s 9000 f4097; sha256sum f4097; stat -c %s f4097
cp f1048579 shrunk; truncate -s 600000 shrunk; printf 'xyz' | dd of=shrunk bs=1 seek=2000000 conv=notrunc status=none
sha256sum shrunk; stat -c %s shrunk; rm shrunk
mkdir -p a/b/c; mv f1 a/b/c/moved; ln a/b/c/moved hard; ln -s a/b/c/moved sym
readlink sym; sha256sum < sym; stat -c '%h' hard
mv f15 f16; sha256sum f16; ls
echo A > xa; echo B > xb; cat xa xb > /dev/null
python3 -c "import ctypes; print(ctypes.CDLL(None).renameat2(-100, b'xa', -100, b'xb', 2))"
cat xa xb; echo A2 >> xa; cat xa xb
chmod 640 f16; touch -d '2001-02-03 04:05:06' f17; stat -c '%a' f16; stat -c '%Y' f17
rm f17; rmdir a/b/c 2>/dev/null || echo 'rmdir refused'
long=$(printf 'n%.0s' $(seq 255)); echo long > "$long"; cat "$long"
target=$(printf 'x%.0s' $(seq 4000)); ln -s "$target" longlink; readlink longlink | wc -c
printf '#!/bin/sh\necho script-ran\n' > run.sh; chmod +x run.sh; ./run.sh
cp /bin/true mytrue; ./mytrue && echo binary-ran
python3 -c "import os; os.setxattr('f0', 'user.veil', b'v1'); print(os.getxattr('f0', 'user.veil'), os.listxattr('f0'))"
mkdir many; (cd many && seq 1 3000 | xargs touch); ls many | wc -l
find . | sort | sha256sum
du -s --apparent-size f4096 | cut -f1
stat -f -c '%S %b' . | cut -d' ' -f1
`;

let src: string;
let plain: string;

before(() => {
  src = mkdtempSync('/var/tmp/veil-src-');
  plain = mkdtempSync('/var/tmp/veil-plain-');
  for (const n of SIZES) writeFileSync(path.join(src, `d${n}`), randomBytes(n));
});

after(async () => {
  await removeGuardPoints();
  rmSync(src, { recursive: true, force: true });
  rmSync(plain, { recursive: true, force: true });
});

function runScript(target: string): string {
  return sh(`TARGET='${target}' SRC='${src}' bash -c '${SCRIPT.replace(/'/g, `'\\''`)}'`);
}

for (const cipher of ['aes-256-gcm', 'aes-256-xts'] as const satisfies readonly CipherName[]) {
  describe(`guard point, ${cipher}`, () => {
    test('every operation behaves as on a plain directory, and the backing files decode', async () => {
      const gp = await createGuardPoint(cipher);
      const expected = runScript(mkdtempSync(path.join(plain, `${cipher}-`)));
      assert.equal(runScript(gp.dir), expected);
      await gp.stop();
      assert.equal(isMounted(gp.dir), false);
      const keyring = keyringOf([{ ...STANDALONE_KEY, material: gp.key }]);
      // f16 holds what was f15 (renamed over it); f0 had 'x' appended.
      for (const [name, n] of [
        ['f0', 0],
        ['f16', 15],
        ['f4096', 4096],
        ['f65536', 65536],
        ['f1048579', 1048579],
      ] as const) {
        const backing = readFileSync(path.join(gp.dir, name));
        const original = readFileSync(path.join(src, `d${n}`));
        const size = n === 0 ? 1 : n;
        assert.equal(backing.length, containerLength(size), `${name}: the length carries the size`);
        const first = Math.min(size, 4096);
        assert.notDeepEqual(backing.subarray(4096, 4096 + first), original.subarray(0, first));
        const decoded = decodeContainer(backing, keyring);
        if (n === 65536) original.write('HELLO', 4094);
        if (n === 0) assert.deepEqual(decoded, Buffer.from('x'));
        else assert.deepEqual(decoded, original, name);
      }
    });

    test('the fsx-style checker finds no mismatch (writes, truncates, holes, mmap)', async () => {
      const gp = await createGuardPoint(cipher);
      for (const seed of [1, 2]) {
        const result = await runFsx({ dir: gp.dir, ops: 1500, seed, maxSize: 1024 * 1024 });
        assert.ok(result.ok, result.output);
      }
    });
  });
}

test('files belong to the user who creates them; POSIX permissions apply', async () => {
  const gp = await createGuardPoint('aes-256-gcm');
  sh(
    `mkdir -m 1777 '${gp.dir}/shared' && echo secret > '${gp.dir}/shared/root-only' && chmod 600 '${gp.dir}/shared/root-only'`,
  );
  sh(`echo mine > '${gp.dir}/shared/by-nobody'`, { user: 'nobody' });
  assert.equal(sh(`stat -c '%U %G' '${gp.dir}/shared/by-nobody'`).trim(), 'nobody nogroup');
  assert.equal(sh(`cat '${gp.dir}/shared/by-nobody'`, { user: 'nobody' }), 'mine\n');
  const denied = shStatus(`cat '${gp.dir}/shared/root-only'`, { user: 'nobody' });
  assert.notEqual(denied.status, 0);
  assert.match(denied.stderr, /Permission denied/);
  const backing = statSync(path.join(gp.dir, 'shared'));
  assert.ok(backing.isDirectory());
});

test('writing to a setuid file as another user clears the setuid bit, as on a local filesystem', async () => {
  const gp = await createGuardPoint('aes-256-gcm');
  const plainDir = mkdtempSync('/var/tmp/veil-suid-');
  try {
    sh(`chmod 755 '${plainDir}'`);
    for (const dir of [plainDir, gp.dir]) {
      sh(`for f in w t o c n rw rt ro; do cp /bin/true '${dir}/'$f && chmod 6777 '${dir}/'$f; done`);
      // o: opened with O_TRUNC and closed, nothing written.
      sh(`printf x >> '${dir}/w' && truncate -s 10 '${dir}/t' && : > '${dir}/o'`, { user: 'nobody' });
      sh(`chown nobody '${dir}/c'`);
      // chown(f, -1, -1) changes no owner and still clears the bits; root (CAP_FSETID) keeps
      // them when it writes or truncates.
      sh(`python3 -c "import os; os.chown('${dir}/n', -1, -1)"`);
      sh(`printf x >> '${dir}/rw' && truncate -s 10 '${dir}/rt' && : > '${dir}/ro'`);
    }
    const modes = (dir: string): string => sh(`stat -c '%n %a' w t o c n rw rt ro`, { cwd: dir });
    assert.equal(modes(plainDir), 'w 777\nt 777\no 777\nc 777\nn 777\nrw 6777\nrt 6777\nro 6777\n');
    assert.equal(modes(gp.dir), modes(plainDir));
  } finally {
    rmSync(plainDir, { recursive: true, force: true });
  }
});

test('a file capability is kept until the file is written, as on a local filesystem', async () => {
  const gp = await createGuardPoint('aes-256-xts');
  const plainDir = mkdtempSync('/var/tmp/veil-cap-');
  // A VFS_CAP_REVISION_2 blob granting cap_net_bind_service (bit 10), effective.
  const script = (dir: string): string =>
    sh(`cd '${dir}' && printf a > f && printf b >> f && python3 -c "
import os, struct
blob = struct.pack('<IIIII', 0x02000001, 1 << 10, 0, 0, 0)
os.setxattr('f', 'security.capability', blob)
print('set', os.getxattr('f', 'security.capability') == blob)
with open('f', 'ab') as out: out.write(b'c')
print('after write', 'security.capability' in os.listxattr('f'))
os.setxattr('f', 'security.capability', blob)
print('set again', 'security.capability' in os.listxattr('f'))
" && cat f`);
  try {
    const expected = script(plainDir);
    assert.equal(expected, 'set True\nafter write False\nset again True\nabc');
    assert.equal(script(gp.dir), expected);
  } finally {
    rmSync(plainDir, { recursive: true, force: true });
  }
});

test('a tampered block reads as EIO and raises an event; other files stay readable', async () => {
  const gp = await createGuardPoint('aes-256-gcm');
  sh(`head -c 20000 /dev/urandom > '${gp.dir}/victim' && echo fine > '${gp.dir}/bystander'`);
  await gp.stop();
  const file = path.join(gp.dir, 'victim');
  const bytes = readFileSync(file);
  bytes[blockOffset(1) + 100] ^= 1; // inside block 1's ciphertext
  writeFileSync(file, bytes);
  await gp.start();
  const read = shStatus(`cat '${gp.dir}/victim' > /dev/null`);
  assert.notEqual(read.status, 0);
  assert.match(read.stderr, /Input\/output error/);
  assert.equal(sh(`head -c 4096 '${gp.dir}/victim' | wc -c`).trim(), '4096'); // block 0 is intact
  assert.equal(sh(`cat '${gp.dir}/bystander'`), 'fine\n');
  await gp.waitForLog(/tamper: victim: authentication failed/);
});

test('a length a crash left past the header size is set back by the next mount', async () => {
  const gp = await createGuardPoint('aes-256-gcm');
  sh(`head -c 5000 /dev/urandom > '${gp.dir}/grown' && sha256sum < '${gp.dir}/grown' > '${gp.dir}.sum'`);
  await gp.stop();
  const file = path.join(gp.dir, 'grown');
  assert.equal(statSync(file).size, containerLength(5000));
  // What a crash between an extending write's blocks and its header leaves: a longer container.
  sh(`truncate -s ${containerLength(4 * 4096 + 7)} '${file}'`);
  await gp.start();
  try {
    await gp.waitForLog(/recovered: grown: the container was longer than its header's size/);
    assert.equal(sh(`stat -c %s '${gp.dir}/grown'`), '5000\n');
    assert.equal(sh(`sha256sum < '${gp.dir}/grown'`), readFileSync(`${gp.dir}.sum`, 'utf8'));
    await gp.stop();
    assert.equal(statSync(file).size, containerLength(5000));
  } finally {
    rmSync(`${gp.dir}.sum`, { force: true });
  }
});

test('after a crash of the serving process the mount is recovered by the next start', async () => {
  const gp = await createGuardPoint('aes-256-xts');
  sh(`echo before > '${gp.dir}/kept' && sync`);
  await gp.crash();
  assert.match(shStatus(`ls '${gp.dir}'`).stderr, /Transport endpoint is not connected/);
  await gp.start();
  assert.equal(sh(`cat '${gp.dir}/kept'`), 'before\n');
});

test('the serving process keeps /dev/fuse close-on-exec', async () => {
  const gp = await createGuardPoint('aes-256-gcm');
  const fds = readdirSync(`/proc/${gp.pid()}/fd`);
  const fuse = fds.filter((fd) => sh(`readlink /proc/${gp.pid()}/fd/${fd} || true`).trim() === '/dev/fuse');
  assert.ok(fuse.length > 0, 'no /dev/fuse descriptor found');
  for (const fd of fuse) {
    const flags = /^flags:\s+(\d+)/m.exec(readFileSync(`/proc/${gp.pid()}/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0';
    assert.ok((parseInt(flags, 8) & 0o2000000) !== 0, `/dev/fuse descriptor ${fd} is inherited by children`);
  }
});

test('tens of thousands of files need no descriptor each', async () => {
  const gp = await createGuardPoint('aes-256-xts');
  sh(`cd '${gp.dir}' && mkdir t && cd t && seq 1 25000 | xargs touch`);
  assert.equal(sh(`find '${gp.dir}/t' -type f | wc -l`).trim(), '25000');
  assert.equal(sh(`find '${gp.dir}/t' -type f -size 0 | wc -l`).trim(), '25000');
  const descriptors = readdirSync(`/proc/${gp.pid()}/fd`).length;
  assert.ok(descriptors < 200, `the serving process holds ${descriptors} descriptors`);
  sh(`mv '${gp.dir}/t' '${gp.dir}/renamed' && rm -r '${gp.dir}/renamed'`);
  assert.equal(sh(`ls -A '${gp.dir}'`), '');
});

test('a file over 4 GiB (sparse, XTS) keeps its size and its far bytes', async () => {
  const gp = await createGuardPoint('aes-256-xts');
  const offset = 5 * 1024 * 1024 * 1024 + 123;
  sh(`printf 'far' | dd of='${gp.dir}/big' bs=1 seek=${offset} status=none`);
  assert.equal(sh(`stat -c %s '${gp.dir}/big'`).trim(), String(offset + 3));
  assert.equal(sh(`tail -c 3 '${gp.dir}/big'`), 'far');
  assert.equal(
    sh(`dd if='${gp.dir}/big' bs=4096 skip=1000 count=1 status=none | tr -d '\\0' | wc -c`).trim(),
    '0',
  );
});

test('concurrent writers to one file keep every block consistent', async () => {
  const gp = await createGuardPoint('aes-256-gcm');
  const file = `${gp.dir}/shared-file`;
  // Eight processes at once, each writing its own interleaved 3000-byte stripes, which
  // straddle 4 KiB blocks: a block shared by two writers must keep both their bytes.
  sh(`truncate -s 0 '${file}'
for w in 0 1 2 3 4 5 6 7; do
  python3 -c "
import os, sys
w = int(sys.argv[1]); fd = os.open('${file}', os.O_WRONLY)
for i in range(w, 96, 8):
    os.pwrite(fd, bytes([65 + w]) * 3000, i * 3000)
" $w &
done
wait`);
  const stripes = sh(`python3 -c "
d = open('${file}', 'rb').read()
bad = [i for i in range(0, len(d), 3000) if d[i:i+3000] != bytes([65 + (i // 3000) % 8]) * 3000]
print(len(d), len(bad))
"`);
  assert.equal(stripes.trim(), `${96 * 3000} 0`);
});
