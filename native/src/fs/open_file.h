// The plaintext view of one backing container while it is open: reads and writes at any
// offset and length become whole-block crypto on the container (read-modify-write at
// the edges), in the crash order of docs/format.md. One per inode, shared by every open
// descriptor, so its lock keeps blocks consistent between concurrent writers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <shared_mutex>

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

 private:
  int readBlocks(uint64_t first, size_t count, uint8_t* plain);
  int writeBlocks(uint64_t first, size_t count, const uint8_t* plain);
  int storeBlocks(uint64_t first, size_t count, const uint8_t* data, uint8_t* tags, const HeaderBytes* header);
  int writeLocked(const uint8_t* in, size_t length, uint64_t offset);
  int writeZeroBlocks(uint64_t first, uint64_t end);
  int writeHeader(const HeaderBytes& header);
  int settleLength();
  int resize(uint64_t size);

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
};

// Sets a container's length to `want` (docs/format.md: the length carries the size).
int setContainerLength(int fd, uint64_t current, uint64_t want);

// The logical size in a container's header, unverified (no key is used): for the mount's
// walk, which only ever shortens a container to it. `isContainer` says whether the magic is there.
std::optional<uint64_t> peekHeaderSize(int fd, bool& isContainer);

}  // namespace veil
