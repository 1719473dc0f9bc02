// docs/errors.md as the error registry tests read it: one section per boundary, one table
// row per code.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = new URL('../../', import.meta.url).pathname;

/** The rows of the section whose heading starts with `heading`: code → the cells after it. */
export function documentedCodes(heading: string): Map<string, string[]> {
  const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const start = doc.indexOf(`## ${heading}`);
  if (start === -1) throw new Error(`docs/errors.md has no section "${heading}"`);
  const next = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, next === -1 ? undefined : next);
  const rows = new Map<string, string[]>();
  for (const match of section.matchAll(/^\| `(VEIL_[A-Z_]+)` \|(.*)$/gm)) {
    rows.set(
      match[1],
      (match[2] ?? '').split('|').map((cell) => cell.trim()),
    );
  }
  return rows;
}

/** Every file under `dir` (relative to the repository) whose name matches `pattern`. */
export function filesUnder(dir: string, pattern: RegExp): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((name) => pattern.test(name))
    .map((name) => join(ROOT, dir, name));
}
