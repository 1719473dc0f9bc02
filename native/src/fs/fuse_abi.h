#pragma once

// The kernel's FUSE request and reply layout (include/uapi/linux/fuse.h, a stable ABI), which
// libfuse does not install: what the serving loop and the device hooks of GuardFs read of the
// raw messages, and nothing more.

#include <cstddef>
#include <cstdint>

namespace veil::fuse_abi {

// Every request starts with this header, then the operation's arguments.
struct InHeader {
  uint32_t len;
  uint32_t opcode;
  uint64_t unique;
  uint64_t nodeid;
  uint32_t uid;
  uint32_t gid;
  uint32_t pid;
  uint16_t totalExtlen;
  uint16_t padding;
};
static_assert(sizeof(InHeader) == 40, "fuse_in_header");

// Every reply starts with this header.
struct OutHeader {
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
static_assert(sizeof(OutHeader) == 16, "fuse_out_header");

// fuse_write_in, as far as needed.
struct WriteIn {
  uint64_t fh;
  uint64_t offset;
  uint32_t size;
};

// FATTR_SIZE in fuse_setattr_in.valid (its first field).
constexpr uint32_t kFattrSize = 1u << 3;

// The flags word of fuse_init_in and of fuse_init_out: both at this offset of the arguments.
constexpr size_t kInitFlagsOffset = 12;
constexpr uint32_t kHandleKillpriv = 1u << 19;  // FUSE_HANDLE_KILLPRIV

enum Opcode : uint32_t {
  kLookup = 1,
  kForget = 2,
  kGetattr = 3,
  kSetattr = 4,
  kReadlink = 5,
  kSymlink = 6,
  kMknod = 8,
  kMkdir = 9,
  kUnlink = 10,
  kRmdir = 11,
  kRename = 12,
  kLink = 13,
  kWrite = 16,
  kStatfs = 17,
  kRelease = 18,
  kSetxattr = 21,
  kGetxattr = 22,
  kListxattr = 23,
  kRemovexattr = 24,
  kInit = 26,
  kOpendir = 27,
  kReaddir = 28,
  kReleasedir = 29,
  kAccess = 34,
  kCreate = 35,
  kInterrupt = 36,
  kDestroy = 38,
  kBatchForget = 42,
  kReaddirplus = 44,
  kRename2 = 45,
};

}  // namespace veil::fuse_abi
