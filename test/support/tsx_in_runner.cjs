// Loads tsx's ESM hooks into the node:test orchestrator, so that it can import the
// TypeScript reporter (test/support/summary_reporter.ts). On Node 20, `--import tsx` runs
// only in the test processes the orchestrator starts, not in the orchestrator itself;
// `--require` runs in both, and the test processes (whose execArgv has no --test) already
// have `--import tsx`. The non-empty `data` is what tells tsx it was not given to --loader.
'use strict';
if (process.execArgv.includes('--test')) {
  const { pathToFileURL } = require('node:url');
  require('node:module').register('tsx/esm', { parentURL: pathToFileURL(__filename), data: {} });
}
