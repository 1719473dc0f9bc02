// agentctl's side of the control socket.
import { connect } from 'node:net';

import { VeilError } from '../../common/errors.js';
import { AgentError } from '../errors.js';
import type { Answer, Command, Requests } from './protocol.js';

/** An error veild answered with: its code may come from any registry (agent, manager, native). */
export class RemoteError extends VeilError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'RemoteError';
  }
}

export function callAgent<C extends Command>(
  socketFile: string,
  command: C,
  args: Requests[C][0],
  onMore?: (result: Requests[C][1]) => void,
): Promise<Requests[C][1]> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketFile);
    let buffered = '';
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
      socket.destroy();
    };
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ command, args })}\n`));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        let answer: Answer;
        try {
          answer = JSON.parse(line) as Answer;
        } catch {
          settle(() =>
            reject(new AgentError('VEIL_AGENT_BAD_REQUEST', 'veild answered something that is not JSON')),
          );
          return;
        }
        if (!answer.ok) {
          settle(() => reject(new RemoteError(answer.code, answer.message)));
        } else if (answer.more) {
          onMore?.(answer.result as Requests[C][1]);
        } else {
          settle(() => resolve(answer.result as Requests[C][1]));
        }
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const denied = error.code === 'EACCES' || error.code === 'EPERM';
      settle(() =>
        reject(
          denied
            ? new AgentError('VEIL_AGENT_PERMISSION_DENIED', `${socketFile}: only root may drive veild`)
            : new AgentError(
                'VEIL_AGENT_NOT_RUNNING',
                `veild is not running (${socketFile}: ${error.code ?? error.message}); start it with systemctl start veild`,
              ),
        ),
      );
    });
    socket.on('close', () =>
      settle(() =>
        reject(new AgentError('VEIL_AGENT_NOT_RUNNING', 'veild closed the connection without an answer')),
      ),
    );
  });
}
