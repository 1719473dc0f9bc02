// The executable behind a caller, for process sets: its path and, only when a rule binds
// a signature set, the SHA-256 of its contents. The hash is taken from /proc/<pid>/exe
// itself (the very file the process runs, even if its path was replaced since) and cached
// by device, inode, size and modification time, so an unchanged binary is hashed once.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace veil {

using Sha256 = std::array<uint8_t, 32>;

// What /proc/<pid>/exe names; empty when the process is gone. Reading the link touches no
// filesystem, so it is safe for a binary under the guard point too.
std::string executableOf(pid_t pid);

// The supplementary groups of a process, from /proc/<pid>/status; empty when it is gone.
std::vector<gid_t> groupsOf(pid_t pid);

class ExecutableHashes {
 public:
  // `guardPoint` is the mount this serves: a binary under it is never opened from here, as
  // a FUSE server that does I/O on its own mount can deadlock itself.
  explicit ExecutableHashes(std::string guardPoint) : guardPoint_(std::move(guardPoint)) {}

  // nullopt when the process is gone, its executable cannot be read, or it runs from the
  // guard point. `path` is what /proc/<pid>/exe names (Caller::executable()).
  std::optional<Sha256> of(pid_t pid, const std::string& path);

 private:
  using Identity = std::tuple<dev_t, ino_t, off_t, int64_t, long>;  // dev, inode, size, mtime s, ns
  static constexpr size_t kMaxEntries = 4096;
  const std::string guardPoint_;
  std::mutex mutex_;
  std::map<Identity, Sha256> cache_;
};

}  // namespace veil
