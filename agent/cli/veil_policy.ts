// veil-policy: checks a policy file, and turns the access records of learn mode into
// suggested sets and rules (docs/policy.md, "Learn mode").
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

import { Command } from 'commander';

import { VeilError } from '../../common/errors.js';
import { compilePolicy, loadPolicyFile, policyDigest, type KeyRuleSpec } from '../../policies/index.js';
import { parseAccessLine, suggestRules, type AccessRecord } from '../../policies/suggest.js';

function fail(error: unknown): never {
  const code = error instanceof VeilError ? ` (${String(error.code)})` : '';
  process.stderr.write(
    `veil-policy: error: ${error instanceof Error ? error.message : String(error)}${code}\n`,
  );
  process.exit(1);
}

async function readRecords(files: string[]): Promise<AccessRecord[]> {
  const records: AccessRecord[] = [];
  const sources = files.length === 0 ? [process.stdin] : files.map((f) => createReadStream(f, 'utf8'));
  for (const [i, source] of sources.entries()) {
    const name = files[i] ?? 'standard input';
    try {
      for await (const line of createInterface({ input: source, crlfDelay: Infinity })) {
        const record = parseAccessLine(line);
        if (record !== undefined) records.push(record);
      }
    } catch (error) {
      throw new Error(`cannot read ${name}: ${(error as Error).message}`, { cause: error });
    }
  }
  return records;
}

const program = new Command()
  .name('veil-policy')
  .description('Check policies, and turn what learn mode recorded into suggested rules.')
  .showHelpAfterError();

program
  .command('check')
  .description('validate a policy file; with --host, also resolve its users and groups on this host')
  .argument('<file>', 'the policy (docs/policy.md)')
  .option('--host', 'compile it for this host: every user and group must exist here (keys are not checked)')
  .option('--json', 'with --host, print the compiled decision table')
  .action((file: string, options: { host?: boolean; json?: boolean }) => {
    try {
      const policy = loadPolicyFile(file);
      if (!options.host) {
        const rules = policy.securityRules.length;
        process.stdout.write(`${file}: valid: ${rules} security rules, sha256 ${policyDigest(policy)}\n`);
        return;
      }
      // Keys are not checked here: each named key counts as present, at the version named
      // (a key named without a version, at version 1, active).
      const named = (spec: KeyRuleSpec) =>
        typeof spec === 'object' ? [{ keyId: spec.keyId, version: spec.version ?? 1 }] : [];
      const knownKeys = [
        ...policy.keyRules.flatMap((r) => named(r.key)),
        ...(policy.dataTransformationRules ?? []).flatMap((r) => [
          ...named(r.currentKey),
          ...named(r.transformationKey),
        ]),
      ];
      const table = compilePolicy(policy, { knownKeys, source: file });
      if (options.json) process.stdout.write(`${JSON.stringify(table, null, 2)}\n`);
      else
        process.stdout.write(
          `${file}: valid on this host: ${table.rules.length} rules, sha256 ${table.digest}\n`,
        );
    } catch (error) {
      fail(error);
    }
  });

program
  .command('suggest')
  .description(
    'read access records (veil-mount or agent logs) and suggest rules for what learn mode let through',
  )
  .argument('[logs...]', 'log files (default: standard input)')
  .action(async (logs: string[]) => {
    try {
      const records = await readRecords(logs);
      const suggestion = suggestRules(records);
      if (suggestion.records === 0) {
        process.stderr.write(
          `veil-policy: no learned access records among ${records.length} access records\n`,
        );
      }
      process.stdout.write(`${JSON.stringify(suggestion, null, 2)}\n`);
    } catch (error) {
      fail(error);
    }
  });

await program.parseAsync();
