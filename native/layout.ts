// Where a container keeps each block, and how its length carries the logical size: the
// TypeScript twin of native/src/format/layout.h (docs/format.md, "Layout"). core.ts checks
// at load time that these constants are the native core's.

export const PAGE_SIZE = 4096;
/** Blocks per group: one tag page, then one data page per block. */
export const GROUP_BLOCKS = 128;
/** A GCM block's nonce (12) and tag (16). */
export const TAG_ENTRY_SIZE = 28;
/** Where a tag page's entries start (group 0's tag page holds the header before them). */
export const TAG_ENTRIES_OFFSET = 512;

const groupStart = (index: number): number =>
  (GROUP_BLOCKS + 1) * Math.floor(index / GROUP_BLOCKS) * PAGE_SIZE;

export const blockCount = (size: number): number => Math.ceil(size / PAGE_SIZE);

export function blockOffset(index: number): number {
  return groupStart(index) + PAGE_SIZE * (1 + (index % GROUP_BLOCKS));
}

/** GCM only: the block's nonce || tag. */
export function entryOffset(index: number): number {
  return groupStart(index) + TAG_ENTRIES_OFFSET + TAG_ENTRY_SIZE * (index % GROUP_BLOCKS);
}

/** Blocks from `first` in its group, at most `count`: their pages and entries are contiguous. */
export function runLength(first: number, count: number): number {
  return Math.min(count, GROUP_BLOCKS - (first % GROUP_BLOCKS));
}

/** The end of the last of `blocks` blocks, where the zero tail starts. */
export function storedEnd(blocks: number): number {
  return blocks === 0 ? PAGE_SIZE : blockOffset(blocks - 1) + PAGE_SIZE;
}

export function containerLength(size: number): number {
  return storedEnd(blockCount(size)) + (size % PAGE_SIZE);
}

/** The logical size a container length says; undefined when no size gives that length. */
export function sizeFromLength(length: number): number | undefined {
  if (!Number.isSafeInteger(length) || length < PAGE_SIZE) return undefined;
  const tail = length % PAGE_SIZE;
  const pages = (length - tail) / PAGE_SIZE;
  if (pages > 1 && pages % (GROUP_BLOCKS + 1) === 1) return undefined; // ends in a bare tag page
  const blocks = pages - Math.ceil(pages / (GROUP_BLOCKS + 1));
  if (tail === 0) return blocks * PAGE_SIZE;
  return blocks === 0 ? undefined : (blocks - 1) * PAGE_SIZE + tail;
}
