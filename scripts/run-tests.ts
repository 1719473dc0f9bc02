// Runs the test suite with the built-in node:test runner. Node 20 takes no globs after
// --test, so this finds the files: every *.test.ts under test/ and beside the code.
//
//   npm test                              all tests
//   npm test -- native test/x/y.test.ts   only files under these paths (dirs or files)
//   npm test -- kat                       only files whose path contains "kat"
//   npm test -- --test-name-pattern=gcm   arguments starting with -- go to node
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SEARCHED = ['test', 'agent', 'manager', 'manager-client', 'native', 'policies', 'common'];
const SKIPPED_DIRS = new Set(['node_modules', 'build', '.git']);

function findTests(dir: string, found: string[] = []): string[] {
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory() && !SKIPPED_DIRS.has(entry.name)) findTests(full, found);
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(full);
  }
  return found;
}

function fail(message: string): never {
  process.stderr.write(`run-tests: ${message}\n`);
  process.exit(2);
}

const nodeOptions: string[] = [];
const filters: string[] = [];
for (const arg of process.argv.slice(2)) (arg.startsWith('--') ? nodeOptions : filters).push(arg);

const all = SEARCHED.flatMap((dir) => findTests(path.join(root, dir))).sort();
let files = all;
if (filters.length > 0) {
  // npm runs scripts from the package root; paths are meant from where the user typed them.
  const userCwd = process.env.INIT_CWD ?? process.cwd();
  const selected = new Set<string>();
  for (const filter of filters) {
    const target = path.resolve(userCwd, filter);
    const matches = existsSync(target)
      ? statSync(target).isDirectory()
        ? findTests(target)
        : [target]
      : all.filter((file) => path.relative(root, file).includes(filter));
    if (matches.length === 0) fail(`no test file matches "${filter}"`);
    for (const file of matches) selected.add(file);
  }
  files = [...selected].sort();
}
if (files.length === 0) fail(`no *.test.ts files found under ${SEARCHED.join(', ')}`);

const args = [
  // See test/support/tsx_in_runner.cjs: lets the Node 20 orchestrator load the .ts reporter.
  '--require',
  './test/support/tsx_in_runner.cjs',
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=2',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  '--test-reporter=./test/support/summary_reporter.ts',
  '--test-reporter-destination=stdout',
  ...nodeOptions,
  ...files.map((file) => path.relative(root, file)),
];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  process.exit(signal !== null ? 128 + constants.signals[signal] : (code ?? 1));
});
