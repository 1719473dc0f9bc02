// The fan-out's independent reference: what this machine's RSA can do. Each simulated host's opening is
// one RSA-3072 private-key operation (the unwrap of K; OAEP adds only a few hashes), so `openssl speed`
// of RSA-3072 private-key operations on every CPU at once gives the least time the hosts' openings need
// here, whatever the manager does: N hosts / that rate.
import { execFile } from 'node:child_process';

export interface RsaSpeed {
  /** The command that measured it, as run. */
  command: string;
  bits: number;
  /** Private-key operations (openssl's "sign") per second, all its processes together. */
  privateOpsPerSecond: number;
}

/**
 * The private-key operations per second in `openssl speed -mr` output for `bits`: its summary line
 * `+F2:<index>:<bits>:<sign/s>:<verify/s>` (with -multi the children's lines come first, as "Got: ...").
 */
export function parseRsaSpeed(output: string, bits: number): number | undefined {
  const summary = /^\+F2:\d+:(\d+):([0-9.]+):([0-9.]+)$/gm;
  let rate: number | undefined;
  for (const match of output.matchAll(summary)) {
    if (Number(match[1]) === bits) rate = Number(match[2]);
  }
  return rate !== undefined && Number.isFinite(rate) && rate > 0 ? rate : undefined;
}

/**
 * Runs `openssl speed` for RSA-`bits` private-key operations in `processes` processes at once (one per
 * CPU), `seconds` each for signing and verifying; resolves with what it measured or why it could not.
 */
export function rsaSpeed(
  bits: number,
  processes: number,
  seconds: number,
): Promise<RsaSpeed | { bits: number; error: string }> {
  const args = ['speed', '-mr', '-seconds', String(seconds), '-multi', String(processes), `rsa${bits}`];
  const command = `openssl ${args.filter((arg) => arg !== '-mr').join(' ')}`;
  return new Promise((resolve) => {
    execFile('openssl', args, { encoding: 'utf8', timeout: (4 * seconds + 30) * 1000 }, (error, stdout) => {
      if (error) {
        resolve({ bits, error: `${command}: ${error.message.split('\n')[0] ?? ''}` });
        return;
      }
      const rate = parseRsaSpeed(stdout, bits);
      resolve(
        rate === undefined
          ? { bits, error: `${command}: no RSA-${bits} figure in its output` }
          : { command, bits, privateOpsPerSecond: rate },
      );
    });
  });
}
