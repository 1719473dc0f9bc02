// The plaintext view of one backing container while it is open: reads and writes at any
// offset and length become whole-block crypto on the container (read-modify-write at
// the edges), in the crash order of docs/format.md. One per inode, shared by every open
// descriptor, so its lock keeps blocks consistent between concurrent writers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>

#include "format/container.h"

namespace veil {

class OpenFile {
 public:
  // Takes ownership of `fd` (the backing file, read-write) and of the open container.
  OpenFile(int fd, std::shared_ptr<Container> container);
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
  int writeLocked(const uint8_t* in, size_t length, uint64_t offset);
  int writeZeroBlocks(uint64_t first, uint64_t end);
  int writeHeader(const HeaderBytes& header);
  int resize(uint64_t size);

  const int fd_;
  const std::shared_ptr<Container> container_;
  const size_t cipherBS_;
  const bool sparseHoles_;  // XTS: unwritten blocks read as zeros; GCM writes every block

  // Lock order: mutex_, then stripes in ascending index. Reads, and writes inside the
  // current size, hold mutex_ shared and the stripes of their blocks (shared for reads,
  // exclusive for writes), so they run in parallel on different blocks; a read never sees
  // a half-written block. Writes that extend the file and truncate hold mutex_ exclusive.
  static constexpr size_t kStripes = 64;
  class StripeLock;
  mutable std::shared_mutex mutex_;
  mutable std::array<std::shared_mutex, kStripes> stripes_;
  uint64_t size_;  // guarded by mutex_
};

// Reads the logical size from a container header without verifying it (for stat); -1
// when the file is not a Veil container.
int64_t peekLogicalSize(int fd);

}  // namespace veil
