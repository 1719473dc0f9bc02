// `npm run bench -- crypto [--quick]`: the native block path the FUSE threads use (benchmarkBlocks, one
// thread) against `openssl speed -evp` on the same machine, for each cipher and request size. Runs are
// interleaved and repeated, and the best of each kept, since a shared machine is noisy. MB/s = 1e6 bytes/s.
// Prints a table, then as its last line one JSON object: {"bench":"crypto","rows":[...]}.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';

import { optionsToRun, type Parsed as ParsedArgs } from './args.js';
import type { CipherName } from '../native/core.js';

/** Loaded on first use, so that --help works before the addon is built. */
let benchmarkBlocks: (typeof import('../native/core.js'))['benchmarkBlocks'];

const CIPHERS: readonly CipherName[] = ['aes-256-gcm', 'aes-256-xts'];
const BLOCKS = [4096, 65536] as const;
/** The goal: Veil within 10% of OpenSSL at 4 KiB requests. */
const TARGET = { block: 4096, ratio: 0.9 };

interface Options {
  rounds: number;
  seconds: number;
}

export interface CryptoRow {
  cipher: CipherName;
  block: number;
  /** Veil encryption, benchmarkBlocks(cipher, block, seconds, false). */
  veilMBps: number;
  /** `openssl speed -evp <cipher> -bytes <block>`: the headline comparison. */
  opensslMBps: number;
  ratio: number;
  /** GCM only: `openssl speed -aead`, which sets a new IV and computes a tag per message as Veil does. */
  opensslAeadMBps?: number;
  ratioAead?: number;
  veilDecryptMBps: number;
  opensslDecryptMBps: number;
  decryptRatio: number;
  opensslAeadDecryptMBps?: number;
  decryptRatioAead?: number;
  rounds: number;
  seconds: number;
}

const HELP = `usage: npm run bench -- crypto [--quick] [--rounds N] [--seconds N]

Measures AES-256-GCM and AES-256-XTS with 4096- and 65536-byte requests through the
native block path on one thread, and the same with 'openssl speed -evp' (plus
'-aead' for GCM), encryption and decryption, interleaved; keeps the best of each.

  --quick        1 round of 1 second each (a smoke run)
  --rounds N     rounds (default 3)
  --seconds N    whole seconds per measurement (default 2; openssl takes whole seconds)`;

type Parsed = ParsedArgs<Options>;

function parseArgs(args: string[]): Parsed {
  const options: Options = { rounds: 3, seconds: 2 };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') return { kind: 'help' };
    if (arg === '--quick') {
      options.rounds = 1;
      options.seconds = 1;
    } else if (arg === '--rounds' || arg === '--seconds') {
      const value = Number(args[++i]);
      const max = arg === '--rounds' ? 20 : 60;
      if (!Number.isInteger(value) || value < 1 || value > max) {
        return { kind: 'error', message: `${arg} takes a whole number from 1 to ${max}` };
      }
      if (arg === '--rounds') options.rounds = value;
      else options.seconds = value;
    } else {
      return { kind: 'error', message: `unknown option '${String(arg)}'` };
    }
  }
  return { kind: 'run', options };
}

function veil(cipher: CipherName, block: number, seconds: number, decrypt: boolean): number {
  const result = benchmarkBlocks(cipher, block, seconds, decrypt);
  return result.bytes / result.seconds / 1e6;
}

/**
 * Runs `openssl speed -mr` and reads its `+R:<count>:<name>:<seconds>` line (OpenSSL 3 writes it to stderr,
 * the `+F:` summary to stdout).
 */
function openssl(
  cipher: CipherName,
  block: number,
  seconds: number,
  mode: { aead: boolean; decrypt: boolean },
): number {
  const args = ['speed', '-mr', '-seconds', String(seconds), '-bytes', String(block)];
  if (mode.aead) args.push('-aead');
  if (mode.decrypt) args.push('-decrypt');
  args.push('-evp', cipher);
  const command = `openssl ${args.join(' ')}`;
  const result = spawnSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error !== undefined) throw new Error(`'${command}' could not run: ${result.error.message}`);
  const output = `${result.stdout}\n${result.stderr}`;
  if (result.status !== 0) throw new Error(`'${command}' exited with ${String(result.status)}:\n${output}`);
  const match = /^\+R:(\d+):[^:]+:([0-9.]+)\s*$/m.exec(output);
  if (match === null) throw new Error(`no +R: line in the output of '${command}':\n${output}`);
  const count = Number(match[1]);
  const elapsed = Number(match[2]);
  if (!(count > 0 && elapsed > 0)) throw new Error(`'${command}' reported ${count} runs in ${elapsed} s`);
  return (count * block) / elapsed / 1e6;
}

type Measure = 'veil' | 'openssl' | 'opensslAead' | 'veilDecrypt' | 'opensslDecrypt' | 'opensslAeadDecrypt';

function measures(cipher: CipherName): Measure[] {
  return cipher === 'aes-256-gcm'
    ? ['veil', 'openssl', 'opensslAead', 'veilDecrypt', 'opensslDecrypt', 'opensslAeadDecrypt']
    : ['veil', 'openssl', 'veilDecrypt', 'opensslDecrypt'];
}

function measure(what: Measure, cipher: CipherName, block: number, seconds: number): number {
  switch (what) {
    case 'veil':
      return veil(cipher, block, seconds, false);
    case 'veilDecrypt':
      return veil(cipher, block, seconds, true);
    case 'openssl':
      return openssl(cipher, block, seconds, { aead: false, decrypt: false });
    case 'opensslAead':
      return openssl(cipher, block, seconds, { aead: true, decrypt: false });
    case 'opensslDecrypt':
      return openssl(cipher, block, seconds, { aead: false, decrypt: true });
    case 'opensslAeadDecrypt':
      return openssl(cipher, block, seconds, { aead: true, decrypt: true });
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;

function opensslVersion(): string {
  try {
    return execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error("the 'openssl' command is needed for the comparison and was not found on PATH");
  }
}

function table(rows: CryptoRow[]): string {
  const head = [
    'cipher',
    'block',
    'Veil enc',
    'OpenSSL',
    'ratio',
    '-aead',
    'ratio',
    'Veil dec',
    'OpenSSL',
    'ratio',
    '-aead',
    'ratio',
  ];
  const fmt = (x: number | undefined, digits: number): string => (x === undefined ? '-' : x.toFixed(digits));
  const body = rows.map((r) => [
    r.cipher,
    String(r.block),
    fmt(r.veilMBps, 1),
    fmt(r.opensslMBps, 1),
    fmt(r.ratio, 3),
    fmt(r.opensslAeadMBps, 1),
    fmt(r.ratioAead, 3),
    fmt(r.veilDecryptMBps, 1),
    fmt(r.opensslDecryptMBps, 1),
    fmt(r.decryptRatio, 3),
    fmt(r.opensslAeadDecryptMBps, 1),
    fmt(r.decryptRatioAead, 3),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export async function run(args: string[]): Promise<void> {
  const options = optionsToRun(parseArgs(args), HELP);
  if (options === undefined) return;
  const { rounds, seconds } = options;
  ({ benchmarkBlocks } = await import('../native/core.js'));
  const version = opensslVersion();
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `crypto: ${rounds} round(s) of ${seconds} s per measurement, best of rounds; MB/s = 1e6 bytes/s`,
  );
  console.log(`${cpu}, ${cpus().length} CPUs; node ${process.version}; ${version}; Veil on one thread`);

  const best = new Map<string, Partial<Record<Measure, number>>>();
  const key = (cipher: CipherName, block: number): string => `${cipher}/${block}`;
  for (let round = 0; round < rounds; round++) {
    for (const cipher of CIPHERS) {
      for (const block of BLOCKS) {
        // Alternate the order each round so neither side always runs right after the other.
        const order = round % 2 === 0 ? measures(cipher) : measures(cipher).reverse();
        const slot = best.get(key(cipher, block)) ?? {};
        for (const what of order) {
          const mbps = measure(what, cipher, block, seconds);
          process.stderr.write(
            `  round ${round + 1}/${rounds} ${cipher} ${block} ${what}: ${mbps.toFixed(1)} MB/s\n`,
          );
          slot[what] = Math.max(slot[what] ?? 0, mbps);
        }
        best.set(key(cipher, block), slot);
      }
    }
  }

  const rows: CryptoRow[] = [];
  for (const cipher of CIPHERS) {
    for (const block of BLOCKS) {
      const m = best.get(key(cipher, block)) as Record<Measure, number>;
      const row: CryptoRow = {
        cipher,
        block,
        veilMBps: round1(m.veil),
        opensslMBps: round1(m.openssl),
        ratio: round3(m.veil / m.openssl),
        veilDecryptMBps: round1(m.veilDecrypt),
        opensslDecryptMBps: round1(m.opensslDecrypt),
        decryptRatio: round3(m.veilDecrypt / m.opensslDecrypt),
        rounds,
        seconds,
      };
      if (cipher === 'aes-256-gcm') {
        row.opensslAeadMBps = round1(m.opensslAead);
        row.ratioAead = round3(m.veil / m.opensslAead);
        row.opensslAeadDecryptMBps = round1(m.opensslAeadDecrypt);
        row.decryptRatioAead = round3(m.veilDecrypt / m.opensslAeadDecrypt);
      }
      rows.push(row);
    }
  }

  console.log('');
  console.log(table(rows));
  console.log('');
  const verdicts = rows
    .filter((r) => r.block === TARGET.block)
    .map((r) => `${r.cipher} ${r.ratio.toFixed(3)} ${r.ratio >= TARGET.ratio ? 'met' : 'MISSED'}`);
  console.log(
    `target: encryption ratio >= ${TARGET.ratio} at ${TARGET.block} bytes vs 'openssl speed -evp': ${verdicts.join(', ')}`,
  );
  console.log(JSON.stringify({ bench: 'crypto', rows }));
}
