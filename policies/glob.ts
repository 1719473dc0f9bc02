// Path patterns of resource sets (docs/policy.md, "Paths and patterns"). A path is
// relative to the guard point: segments joined by '/', no leading '/', "" for the guard
// point itself (zero segments). In a pattern, `*` matches any characters within one
// segment (none included, a leading dot included), `?` exactly one character, and a
// segment that is exactly `**` matches zero or more whole segments. Everything else
// matches itself. Characters are Unicode code points; the native matcher must count a
// UTF-8 sequence as one character too.
//
// Both levels use the greedy match with one backtrack point, so the cost stays
// O(pattern × path) with no exponential cases, whatever the policy holds.

function segments(path: string): string[] {
  return path === '' ? [] : path.split('/');
}

function segmentMatch(pattern: readonly string[], name: readonly string[]): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (p < pattern.length && (pattern[p] === '?' || (pattern[p] !== '*' && pattern[p] === name[n]))) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = n;
    } else if (star !== -1) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** Whether `path` (relative to the guard point) matches `pattern`. */
export function globMatch(pattern: string, path: string): boolean {
  const pat = segments(pattern).map((segment) => Array.from(segment));
  const name = segments(path).map((segment) => Array.from(segment));
  let p = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  const isGlobstar = (i: number): boolean => pat[i].length === 2 && pat[i][0] === '*' && pat[i][1] === '*';
  while (n < name.length) {
    if (p < pat.length && isGlobstar(p)) {
      star = p++;
      resume = n;
    } else if (p < pat.length && segmentMatch(pat[p], name[n])) {
      p++;
      n++;
    } else if (star !== -1) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pat.length && isGlobstar(p)) p++;
  return p === pat.length;
}
