// The benchmark dispatcher: `npm run bench -- <name> [options]`. Each benchmark is a module with a
// `run(args)` export, loaded only when chosen so that one missing piece does not stop the others.

export interface Benchmark {
  /** May set process.exitCode (2 for a usage error); a throw exits 1. */
  run(args: string[]): void | Promise<void>;
}

interface Entry {
  summary: string;
  load(): Promise<Benchmark>;
}

const BENCHMARKS: Record<string, Entry> = {
  crypto: {
    summary: 'native block path (AES-256-GCM, AES-256-XTS) against `openssl speed`',
    load: () => import('./crypto.js'),
  },
  fs: {
    summary:
      'filesystem: plain directory, gocryptfs, Veil GCM and XTS, Veil GCM under a policy (dd, fio, tar, find)',
    load: () => import('./fs.js'),
  },
  rekey: {
    summary:
      'live data transformation: full re-encryption MB/s (per core), rewrap files/s, foreground reads during a capped rekey',
    load: () => import('./rekey.js'),
  },
  manager: {
    summary: 'key manager: registrations/s, one rotation fanned out to N mutual-TLS hosts (p50/p99), memory',
    load: () => import('./manager.js'),
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(BENCHMARKS).map((name) => name.length));
  const lines = Object.entries(BENCHMARKS).map(
    ([name, entry]) => `  ${name.padEnd(width)}  ${entry.summary}`,
  );
  return [
    'usage: npm run bench -- <name> [options]',
    '       npm run bench -- <name> --help',
    '',
    'benchmarks:',
    ...lines,
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h') {
    console.log(usage());
    return 0;
  }
  if (name === undefined) {
    console.error(usage());
    return 2;
  }
  const entry = Object.hasOwn(BENCHMARKS, name) ? BENCHMARKS[name] : undefined;
  if (entry === undefined) {
    console.error(`unknown benchmark '${name}'\n\n${usage()}`);
    return 2;
  }
  const benchmark = await entry.load();
  await benchmark.run(rest);
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  },
);
