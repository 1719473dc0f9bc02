// The control socket: a Unix socket in the runtime directory (0700), itself 0600, and each
// caller's credentials checked by the kernel's word (SO_PEERCRED): only root, or the user
// veild runs as, is served. One request per connection.
import { chmodSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';

import { errorReport } from '../../common/errors.js';
import { AgentError } from '../errors.js';
import { peerCredentials } from '../mounts/host_native.js';
import { COMMANDS, MAX_REQUEST_BYTES, type Answer, type Command, type Request } from './protocol.js';

/** Answers a request: returns the result, or streams with `send` and resolves when done. */
export type Handler = (
  request: Request,
  send: (result: unknown) => boolean,
  closed: Promise<void>,
) => Promise<unknown>;

function answer(socket: Socket, value: Answer): boolean {
  if (socket.destroyed || !socket.writable) return false;
  return socket.write(`${JSON.stringify(value)}\n`);
}

function failure(error: unknown): Answer {
  return { ok: false, ...errorReport(error) };
}

function parseRequest(line: string): Request {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new AgentError('VEIL_AGENT_BAD_REQUEST', 'the request is not JSON');
  }
  const { command, args } = (value ?? {}) as { command?: unknown; args?: unknown };
  if (typeof command !== 'string' || !COMMANDS.includes(command as Command)) {
    throw new AgentError('VEIL_AGENT_BAD_REQUEST', `unknown command ${JSON.stringify(command)}`);
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw new AgentError('VEIL_AGENT_BAD_REQUEST', 'args must be a JSON object');
  }
  return { command: command as Command, args } satisfies Request;
}

function serve(socket: Socket, handler: Handler): void {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
  let uid = -1;
  try {
    uid = peerCredentials(fd).uid;
  } catch {
    // Unknown caller: refused below like any other.
  }
  if (uid !== 0 && uid !== process.getuid?.()) {
    answer(socket, failure(new AgentError('VEIL_AGENT_PERMISSION_DENIED', 'only root may drive veild')));
    socket.end();
    return;
  }
  let buffered = '';
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  const onData = (chunk: string): void => {
    buffered += chunk;
    const end = buffered.indexOf('\n');
    if (end === -1 && buffered.length <= MAX_REQUEST_BYTES) return;
    socket.off('data', onData);
    const line = end === -1 ? '' : buffered.slice(0, end);
    void (async () => {
      try {
        if (end === -1 || end > MAX_REQUEST_BYTES) {
          throw new AgentError('VEIL_AGENT_BAD_REQUEST', 'the request is too long');
        }
        const request = parseRequest(line);
        const result = await handler(
          request,
          (more) => answer(socket, { ok: true, result: more, more: true }),
          closed,
        );
        answer(socket, { ok: true, result });
      } catch (error) {
        answer(socket, failure(error));
      }
      socket.end();
    })();
  };
  socket.on('data', onData);
}

async function someoneListens(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Listens on `file`; a socket left by a dead veild is replaced, a live one is an error. */
export async function startControlServer(file: string, handler: Handler): Promise<Server> {
  const directory = path.dirname(file);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  if ((statSync(directory).mode & 0o077) !== 0) chmodSync(directory, 0o700);
  if (await someoneListens(file)) {
    throw new AgentError('VEIL_AGENT_ALREADY_RUNNING', `another veild already serves ${file}`);
  }
  rmSync(file, { force: true });
  const server = createServer((socket) => serve(socket, handler));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(file, () => resolve());
  });
  chmodSync(file, 0o600);
  return server;
}
