// The host's TLS private key, sealed to this machine with systemd-creds when it is there:
// encrypted under the machine's credential secret (/var/lib/systemd/credential.secret, or
// a TPM's), which lives outside the state directory. A copy of /var/lib/veil alone then
// cannot speak to the manager as this host. Without systemd-creds the key is a 0600 file.
import { spawnSync } from 'node:child_process';

import { AgentError } from '../errors.js';

const NAME = 'veil-host-key';

let available: boolean | undefined;

export function canSeal(): boolean {
  available ??= spawnSync('systemd-creds', ['--version'], { stdio: 'ignore' }).status === 0;
  return available;
}

export function sealHostKey(keyPem: string): Buffer {
  const result = spawnSync('systemd-creds', ['encrypt', '--with-key=host', `--name=${NAME}`, '-', '-'], {
    input: keyPem,
    maxBuffer: 1 << 20,
  });
  if (result.status !== 0) {
    throw new AgentError(
      'VEIL_AGENT_STATE_INVALID',
      `systemd-creds cannot seal the host key: ${result.stderr.toString('utf8').trim()}`,
    );
  }
  return result.stdout;
}

export function unsealHostKey(file: string): string {
  const result = spawnSync('systemd-creds', ['decrypt', `--name=${NAME}`, file, '-'], { maxBuffer: 1 << 20 });
  if (result.status !== 0) {
    throw new AgentError(
      'VEIL_AGENT_STATE_INVALID',
      `${file} does not unseal with this machine's credential secret (was the state directory copied from ` +
        `another machine?): ${result.stderr.toString('utf8').trim()}`,
    );
  }
  return result.stdout.toString('utf8');
}
