// The plaintext view of one backing container while it is open: reads and writes at any
// offset and length become whole-block crypto on the container (read-modify-write at
// the edges), in the crash order of docs/format.md. One per inode, shared by every open
// descriptor, so its lock keeps blocks consistent between concurrent writers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "format/container.h"

namespace veil {

class OpenFile {
 public:
  // Takes ownership of `fd` (the backing file, read-write) and of the open container. A
  // length that a crash left wrong is set back to the header's (docs/format.md).
  // `length`: the backing file's, when the caller knows it (a file it just created).
  OpenFile(int fd, std::shared_ptr<Container> container, std::optional<uint64_t> length = std::nullopt);
  ~OpenFile();
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;

  // Each returns 0 or an errno value. Tampered or truncated data throws VeilException,
  // which the caller turns into EIO and an event.
  // A read returns `got` bytes of plaintext in this thread's scratch space, valid until
  // the thread's next read (null when `got` is 0 or on an error in `err`).
  const uint8_t* read(size_t length, uint64_t offset, size_t& got, int& err);
  int write(const uint8_t* in, size_t length, uint64_t offset);
  int truncate(uint64_t size);
  int sync(bool dataOnly);

  uint64_t size() const;
  int fd() const { return fd_; }
  Header header() const { return container_->header(); }

  // Live data transformation (docs/format.md). Each holds the file alone, so foreground
  // reads and writes see the header before or after, never in between.
  // Wraps slot A under another key version: one 512-byte write. `changed` is false when
  // slot A was under it already.
  int rewrap(const KeyLookup& keys, const Uuid& keyId, uint32_t version, bool& changed);
  // State 1 toward (keyId, version): slot B, progress 0, the header durable.
  int beginReencryption(const KeyLookup& keys, const Uuid& keyId, uint32_t version);
  // The blocks a run is about to overwrite, as stored (pages, tag entries): the journal's.
  // A run may span groups; the pages and entries are each contiguous in memory.
  using BeforeOverwrite = std::function<int(uint64_t first, uint32_t count, const uint8_t* data, const uint8_t* tags)>;
  // Re-encrypts the next run from the progress mark (at most `maxBlocks`, and 8 groups)
  // under slot B and advances the mark; at the end, makes every block durable and
  // moves slot B to slot A. `checked`: the leading blocks known to be under slot B (the
  // caller keeps it between calls); blocks before the mark beyond it are checked first,
  // and those still under slot A (a mark that reached the disk before its run) redone.
  // `visited`: blocks read; `bytes`: plaintext bytes re-encrypted; `finished`: stable now.
  int reencryptRun(const KeyLookup& keys, uint64_t maxBlocks, const BeforeOverwrite& journal, uint64_t& checked,
                   uint64_t& visited, uint64_t& bytes, bool& finished);

  // Batched re-encryption of a whole small file (GuardFs::reencryptBatch): its blocks fit
  // in one run of group 0, so one journal record and a few shared syncs cover it.
  struct Staged {
    uint64_t count = 0;   // blocks
    uint64_t bytes = 0;   // plaintext bytes
    uint64_t writes = 0;  // the file's write count when staged
    std::vector<uint8_t> data;
    std::vector<uint8_t> tags;  // kHeaderSize bytes of room, then the tag entries
  };
  // Toward (keyId, version): state 1 in memory only, every block read and verified, their
  // stored bytes handed to `journal`, and their ciphertext under slot B kept in `staged`.
  // Nothing is written to the file. `already`: slot A is the target, nothing to do.
  // EAGAIN: not for a batch (too big, XTS, state 1 toward another key).
  int stageWhole(const KeyLookup& keys, const Uuid& keyId, uint32_t version, uint64_t maxBlocks,
                 const BeforeOverwrite& journal, Staged& staged, bool& already);
  // Once the journal is durable: the staged blocks, then a state-1 header with the mark at
  // the end. ESTALE: the file was written or resized since it was staged (nothing written).
  int writeStaged(Staged& staged);
  // Once every block under slot B is durable: slot B becomes slot A (header written, not
  // synced). EAGAIN: a foreground resize left blocks past the mark; a later run finishes.
  int finishStaged(const KeyLookup& keys, const Staged& staged);

 private:
  int readBlocks(uint64_t first, size_t count, uint8_t* plain);
  int writeBlocks(uint64_t first, size_t count, const uint8_t* plain);
  int storeBlocks(uint64_t first, size_t count, const uint8_t* data, uint8_t* tags, const HeaderBytes* header);
  int writeLocked(const uint8_t* in, size_t length, uint64_t offset);
  int writeZeroBlocks(uint64_t first, uint64_t end);
  int writeHeader(const HeaderBytes& header);
  int settleLength();
  int resize(uint64_t size);
  int finishReencryption(const KeyLookup& keys);
  // Reads the stored bytes of a run into this thread's scratch space.
  int readStored(uint64_t first, uint64_t count, uint8_t*& data, uint8_t*& tags);
  int rewriteUnderTarget(uint64_t first, uint64_t count, uint8_t* data, uint8_t* tags, const BeforeOverwrite& journal);

  const int fd_;
  const std::shared_ptr<Container> container_;
  const bool gcm_;  // GCM keeps tag entries and writes every block; XTS holes read as zeros

  // Lock order: mutex_, then stripes in ascending index. Reads, and writes inside the
  // current size, hold mutex_ shared and the stripes of their blocks (shared for reads,
  // exclusive for writes), so they run in parallel on different blocks; a read never sees
  // a half-written block. Writes that extend the file and truncate hold mutex_ exclusive.
  static constexpr size_t kStripes = 64;
  class StripeLock;
  mutable std::shared_mutex mutex_;
  mutable std::array<std::shared_mutex, kStripes> stripes_;
  uint64_t size_;    // guarded by mutex_
  // The backing file's length: grown by any write past it (writes inside the size run in
  // parallel, and may extend a short XTS container), settled under mutex_ exclusive.
  std::atomic<uint64_t> length_;
  // Writes and resizes so far: a batch's staged blocks are stale once it moves.
  std::atomic<uint64_t> writes_{0};
};

// Sets a container's length to `want` (docs/format.md: the length carries the size).
int setContainerLength(int fd, uint64_t current, uint64_t want);

// The logical size in a container's header, unverified (no key is used): for the mount's
// walk, which only ever shortens a container to it. `isContainer` says whether the magic is there.
std::optional<uint64_t> peekHeaderSize(int fd, bool& isContainer);

}  // namespace veil
