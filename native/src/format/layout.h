// Where a container keeps each block, and how its length carries the logical size
// (docs/format.md, "Layout"). Every block fills a page of its own, so whole-block writes
// never make the backing filesystem read a page first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "format/header.h"

namespace veil {

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kGroupBlocks = 128;         // GCM blocks per tag page
inline constexpr size_t kTagEntrySize = 12 + 16;       // nonce || tag
inline constexpr uint64_t kTagEntriesOffset = 512;     // within a tag page, after the header's room
static_assert(kTagEntriesOffset + kGroupBlocks * kTagEntrySize == kPageSize, "a tag page holds one group");

class Layout {
 public:
  // Bytes per block of a run as the JavaScript API passes it: the ciphertext of every
  // block, then (GCM) every tag entry.
  static size_t runUnit(Cipher cipher) { return kPageSize + (cipher == Cipher::Gcm ? kTagEntrySize : 0); }

  // The same for both ciphers: XTS leaves its tag pages empty.
  static uint64_t blockOffset(uint64_t index) { return kPageSize * (groupStartPage(index) + 1 + index % kGroupBlocks); }

  // GCM only: the block's nonce || tag.
  static uint64_t entryOffset(uint64_t index) {
    return kPageSize * groupStartPage(index) + kTagEntriesOffset + kTagEntrySize * (index % kGroupBlocks);
  }

  // Blocks from `first` that share its group (so their pages and entries are contiguous),
  // at most `count`.
  static uint64_t runLength(uint64_t first, uint64_t count) {
    const uint64_t left = kGroupBlocks - first % kGroupBlocks;
    return count < left ? count : left;
  }

  // The end of the last of `blocks` blocks: where the zero tail starts.
  static uint64_t storedEnd(uint64_t blocks) { return blocks == 0 ? kPageSize : blockOffset(blocks - 1) + kPageSize; }

  static uint64_t containerLength(uint64_t size) { return storedEnd(blockCount(size)) + size % kPageSize; }

  // The logical size a container length says, whatever the cipher; nullopt when no size
  // gives that length.
  static std::optional<uint64_t> sizeFromLength(uint64_t length) {
    if (length < kPageSize) return std::nullopt;
    const uint64_t tail = length % kPageSize;
    const uint64_t pages = length / kPageSize;
    if (pages > 1 && pages % (kGroupBlocks + 1) == 1) return std::nullopt;  // ends in a bare tag page
    const uint64_t blocks = pages - (pages + kGroupBlocks) / (kGroupBlocks + 1);
    if (tail == 0) return blocks * kPageSize;
    if (blocks == 0) return std::nullopt;
    return (blocks - 1) * kPageSize + tail;
  }

 private:
  static uint64_t groupStartPage(uint64_t index) { return (kGroupBlocks + 1) * (index / kGroupBlocks); }
};

}  // namespace veil
