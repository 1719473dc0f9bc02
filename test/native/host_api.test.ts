// The daemon's two host calls: SO_PEERCRED on real Unix connections (one end in this
// process, one end in a child), and sd_notify datagrams caught by a python3 receiver (Node
// has no Unix datagram sockets) at a path and at an abstract address.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';

import { peerCredentials, systemdNotify } from '../../native/core.js';
import { assertNativeError } from './kat_support.js';

/** The descriptor under a net.Socket or net.Server, as the daemon reads it. */
function fdOf(handleOwner: net.Socket | net.Server): number {
  const fd = (handleOwner as unknown as { _handle: { fd: number } | null })._handle?.fd;
  assert.ok(typeof fd === 'number' && fd >= 0, 'the socket has no descriptor');
  return fd;
}

/** A python3 child; every one is killed in after() whatever the tests did. */
const children = new Set<ChildProcess>();

function python(script: string, args: string[]): ChildProcess {
  const child = spawn('python3', ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** The child's stdout line by line; null once it has ended. */
function lineReader(child: ChildProcess): () => Promise<string | null> {
  const lines = createInterface({ input: child.stdout as Readable })[Symbol.asyncIterator]();
  return async () => {
    const next = await lines.next();
    return next.done === true ? null : next.value;
  };
}

let dir = '';
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'veil-host-'));
});
after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('peerCredentials', () => {
  test('both ends of a Unix connection in this process see this process', async () => {
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const socketPath = path.join(dir, 'pair.sock');
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const client = net.connect(socketPath);
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      const serverEnd = await accepted;
      try {
        const self = { pid: process.pid, uid: process.getuid?.(), gid: process.getgid?.() };
        assert.deepEqual(peerCredentials(fdOf(serverEnd)), self);
        assert.deepEqual(peerCredentials(fdOf(client)), self);
      } finally {
        serverEnd.destroy();
      }
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('the accepted end of a connection from a child names the child', async () => {
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const socketPath = path.join(dir, 'child.sock');
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    // Connects, then waits until this process closes the connection.
    const child = python(
      'import socket, sys\n' +
        's = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n' +
        's.settimeout(30)\n' +
        's.connect(sys.argv[1])\n' +
        's.recv(1)\n',
      [socketPath],
    );
    try {
      const serverEnd = await accepted;
      try {
        assert.deepEqual(peerCredentials(fdOf(serverEnd)), {
          pid: child.pid,
          uid: process.getuid?.(),
          gid: process.getgid?.(),
        });
      } finally {
        serverEnd.destroy();
      }
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('what is not a connected Unix stream socket is refused', async () => {
    for (const fd of [-1, 1.5, Number.NaN, 2 ** 31]) {
      assertNativeError(() => peerCredentials(fd), ['VEIL_INVALID_ARGUMENT'], `peerCredentials(${fd})`);
    }
    assertNativeError(() => peerCredentials('3' as unknown as number), ['VEIL_INVALID_ARGUMENT'], 'a string');
    // Far above the host's open-descriptor limit, so never open.
    assertNativeError(() => peerCredentials(1_000_000), ['VEIL_INVALID_ARGUMENT'], 'a closed descriptor');
    const file = openSync(path.join(dir, 'regular'), 'w');
    try {
      const error = assertNativeError(() => peerCredentials(file), ['VEIL_INVALID_ARGUMENT'], 'a file');
      assert.match(error.message, /not a socket/);
    } finally {
      closeSync(file);
    }

    // A listening socket would answer with this process's own credentials: not a peer.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'listen.sock'), resolve));
    try {
      const error = assertNativeError(
        () => peerCredentials(fdOf(server)),
        ['VEIL_INVALID_ARGUMENT'],
        'a listening socket',
      );
      assert.match(error.message, /not connected/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }

    // TCP would answer pid 0 and the overflow uid.
    const tcp = net.createServer();
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    const { port } = tcp.address() as net.AddressInfo;
    const client = net.connect(port, '127.0.0.1');
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      const error = assertNativeError(
        () => peerCredentials(fdOf(client)),
        ['VEIL_INVALID_ARGUMENT'],
        'a TCP socket',
      );
      assert.match(error.message, /not a Unix socket/);
    } finally {
      client.destroy();
      tcp.close();
    }
  });
});

// Binds a Unix datagram socket at argv[1] ('@name': abstract), says "ready", prints the
// one datagram it receives as hex and exits.
const RECEIVER =
  'import socket, sys\n' +
  'address = sys.argv[1]\n' +
  's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n' +
  "s.bind('\\0' + address[1:] if address.startswith('@') else address)\n" +
  's.settimeout(30)\n' +
  "print('ready', flush=True)\n" +
  'print(s.recv(65536).hex(), flush=True)\n';

/** Runs `body` with NOTIFY_SOCKET set to `value` (undefined: unset), then puts it back. */
function withNotifySocket<T>(value: string | undefined, body: () => T): T {
  const saved = process.env.NOTIFY_SOCKET;
  if (value === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = value;
  try {
    return body();
  } finally {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
  }
}

/** Sends `state` to a receiver bound at `address` and returns the bytes it got. */
async function roundTrip(address: string, state: string): Promise<Buffer> {
  const receiver = python(RECEIVER, [address]);
  let stderr = '';
  receiver.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const nextLine = lineReader(receiver);
    assert.equal(await nextLine(), 'ready', `the receiver did not start: ${stderr}`);
    assert.equal(
      withNotifySocket(address, () => systemdNotify(state)),
      true,
    );
    const hex = await nextLine();
    assert.ok(hex !== null, `the receiver got nothing: ${stderr}`);
    return Buffer.from(hex, 'hex');
  } finally {
    receiver.kill('SIGKILL');
  }
}

describe('systemdNotify', () => {
  test('returns false when not started by systemd', () => {
    assert.equal(
      withNotifySocket(undefined, () => systemdNotify('READY=1')),
      false,
    );
    assert.equal(
      withNotifySocket('', () => systemdNotify('READY=1')),
      false,
    );
  });

  const STATE = 'READY=1\nSTATUS=guarding 2 directories — /srv/données';

  test('sends the exact bytes as one datagram to a path', async () => {
    const received = await roundTrip(path.join(dir, 'notify.sock'), STATE);
    assert.deepEqual(received, Buffer.from(STATE, 'utf8'));
  });

  test('sends the exact bytes to an abstract address', async () => {
    const received = await roundTrip(`@veil-test-${process.pid}-${randomBytes(6).toString('hex')}`, STATE);
    assert.deepEqual(received, Buffer.from(STATE, 'utf8'));
  });

  test('a notification of 4096 bytes arrives whole', async () => {
    const state = `STATUS=${'x'.repeat(4096 - 'STATUS='.length)}`;
    const received = await roundTrip(path.join(dir, 'long.sock'), state);
    assert.equal(received.length, 4096);
    assert.deepEqual(received, Buffer.from(state));
  });

  test('a receiver that does not read makes the send fail after a while, not hang', async () => {
    const address = path.join(dir, 'full.sock');
    const receiver = python(
      'import socket, sys, time\n' +
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n' +
        's.bind(sys.argv[1])\n' +
        "print('ready', flush=True)\n" +
        'time.sleep(60)\n',
      [address],
    );
    try {
      assert.equal(await lineReader(receiver)(), 'ready');
      const start = Date.now();
      // The queue of a Unix datagram socket holds net.unix.max_dgram_qlen (10 by default) messages.
      const error = withNotifySocket(address, () =>
        assertNativeError(
          () => {
            for (let i = 0; i < 100_000; i++) systemdNotify(`STATUS=message ${i}`);
          },
          ['VEIL_SYSTEMD_NOTIFY_FAILED'],
          'a full queue',
        ),
      );
      const seconds = (Date.now() - start) / 1000;
      assert.match(error.message, /no room in its queue/);
      assert.ok(seconds >= 1.5 && seconds < 10, `gave up after ${seconds} s`);
    } finally {
      receiver.kill('SIGKILL');
    }
  });

  test('a bad notification is refused before anything is sent', () => {
    // An address where sending would fail: a refusal must come from the checks, not the send.
    withNotifySocket(path.join(dir, 'nobody-listens.sock'), () => {
      for (const [state, what] of [
        ['', 'an empty notification'],
        ['READY=1\0', 'a NUL'],
        [`STATUS=${'x'.repeat(4090)}`, '4097 bytes'],
        [`STATUS=${'é'.repeat(2045)}`, '4097 bytes of UTF-8 in 2052 characters'],
        [42, 'a number'],
      ] as const) {
        assertNativeError(() => systemdNotify(state as string), ['VEIL_INVALID_ARGUMENT'], what);
      }
    });
  });

  test('an unusable NOTIFY_SOCKET is an error naming why', () => {
    const cases: [string, RegExp][] = [
      [path.join(dir, 'nobody-listens.sock'), /No such file or directory/],
      ['relative/notify.sock', /neither an absolute path nor an abstract address/],
      [`/${'a'.repeat(107)}`, /longer than 107 bytes/],
      [`@${'a'.repeat(108)}`, /abstract address/],
      ['@', /abstract address/],
    ];
    for (const [address, why] of cases) {
      const error = withNotifySocket(address, () =>
        assertNativeError(() => systemdNotify('READY=1'), ['VEIL_SYSTEMD_NOTIFY_FAILED'], address),
      );
      assert.match(error.message, why);
    }
  });
});
