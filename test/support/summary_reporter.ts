// A node:test reporter that prints one closing line, `N passed, N failed, N skipped`,
// counting leaf tests only: suites and tests with subtests are containers, not tests.
// A container still counts as failed when it fails for its own reason (a hook, code
// after its subtests), and a test file that fails before it defines any test counts as
// one failed test, so the line never reads `0 failed` for a run that failed.
import type { TestEvent } from 'node:test/reporters';

type Result = Extract<TestEvent, { type: 'test:pass' | 'test:fail' }>;

/** Per file: `hasChildren[n]` says a test at nesting n finished since its parent last did. */
const hasChildrenByFile = new Map<string, boolean[]>();

function isLeaf(event: Result): boolean {
  const { nesting, file = '' } = event.data;
  let hasChildren = hasChildrenByFile.get(file);
  if (hasChildren === undefined) {
    hasChildren = [];
    hasChildrenByFile.set(file, hasChildren);
  }
  // Subtests finish before their parent, so this result closes every level below it.
  const leaf = hasChildren[nesting + 1] !== true && event.data.details.type !== 'suite';
  hasChildren.length = nesting + 1;
  hasChildren[nesting] = true;
  return leaf;
}

/** The wrapper node:test reports for a file that defines no test of its own. */
function isFileWrapper(event: Result): boolean {
  return event.data.nesting === 0 && event.data.file !== undefined && event.data.name === event.data.file;
}

export default async function* summaryReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const leaf = isLeaf(event);
    const skip = event.data.skip !== undefined || event.data.todo !== undefined;
    if (event.type === 'test:fail') {
      // A failing todo test does not fail the run: node:test reports it, the line skips it.
      const failureType = (event.data.details.error as { failureType?: string }).failureType;
      if (leaf && skip) skipped++;
      else if (leaf || failureType !== 'subtestsFailed') failed++;
    } else if (leaf && !isFileWrapper(event)) {
      if (skip) skipped++;
      else passed++;
    }
  }
  yield `${passed} passed, ${failed} failed, ${skipped} skipped\n`;
}
