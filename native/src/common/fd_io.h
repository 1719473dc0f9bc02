// Whole positioned reads and writes on a descriptor: retried on EINTR and on short
// transfers, an errno value back (0 on success).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace veil {

// Reads up to `length` bytes; stops early only at end of file (`got` says how many).
inline int preadAll(int fd, uint8_t* buf, size_t length, uint64_t offset, size_t& got) {
  got = 0;
  while (got < length) {
    ssize_t n = ::pread(fd, buf + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return 0;
}

// Reads exactly `length` bytes; ENODATA when the file ends first (it changed behind us).
inline int preadExact(int fd, uint8_t* buf, size_t length, uint64_t offset) {
  size_t got = 0;
  if (int err = preadAll(fd, buf, length, offset, got)) return err;
  return got == length ? 0 : ENODATA;
}

inline int pwriteAll(int fd, const uint8_t* buf, size_t length, uint64_t offset) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pwrite(fd, buf + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace veil
