// User and group names of the host, for compiling a policy's names into ids. Read from
// /etc/passwd and /etc/group themselves: names only a directory service knows (LDAP,
// SSSD) are not there, and a caller on such a host passes resolvers of its own.
import { readFileSync } from 'node:fs';

/** Resolves a name to its id, or undefined when the host has no such account. */
export type Resolver = (name: string) => number | undefined;

const ID = /^(0|[1-9][0-9]{0,9})$/;
const MAX_ID = 4294967294; // 4294967295 is (uid_t)-1, "no id"

/**
 * Name → id from the text of /etc/passwd or /etc/group (`name:password:id:…`). Comments,
 * NIS `+`/`-` entries and lines without a valid id are skipped; when a name appears twice
 * the first entry wins, as it does for getpwnam(3) reading the same file.
 */
export function parseAccountFile(text: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (!name || name.startsWith('#') || name.startsWith('+') || name.startsWith('-')) continue;
    if (id === undefined || !ID.test(id) || Number(id) > MAX_ID || ids.has(name)) continue;
    ids.set(name, Number(id));
  }
  return ids;
}

function lazyFile(path: string): Resolver {
  let ids: Map<string, number> | undefined;
  return (name) => {
    if (ids === undefined) {
      try {
        ids = parseAccountFile(readFileSync(path, 'utf8'));
      } catch (error) {
        throw new Error(`cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
          cause: error,
        });
      }
    }
    return ids.get(name);
  };
}

/** Resolvers over this host's files, each read once, on its first use. */
export function localAccounts(paths = { passwd: '/etc/passwd', group: '/etc/group' }): {
  resolveUser: Resolver;
  resolveGroup: Resolver;
} {
  return { resolveUser: lazyFile(paths.passwd), resolveGroup: lazyFile(paths.group) };
}
