// A walk over the regular files of a guard point's backing tree, through the descriptor of
// its root (the mount hides the tree's path). The mount's start-up check and the rekeying
// worker's scan both walk it this way.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

namespace veil {

// Depth first, one directory descriptor open at a time (subdirectories wait as paths, so a
// deep tree costs no descriptors), never following symlinks, and leaving out `hiddenTop`
// in the top directory. For each regular file (by its directory entry's type, or a stat
// where the filesystem gives none) calls visit(path, dirFd, name); `path` is relative to
// the root, and `dirFd` is open on its directory for the call. Stops before the next
// directory or file once keepGoing() is false. Unreadable directories are skipped: a
// file that cannot be reached is the visitor's to notice, not the walk's.
template <typename KeepGoing, typename Visit>
void forEachBackingFile(int rootFd, const char* hiddenTop, KeepGoing keepGoing, Visit visit) {
  std::vector<std::string> pending = {"."};
  while (!pending.empty() && keepGoing()) {
    const std::string dir = std::move(pending.back());
    pending.pop_back();
    int fd = ::openat(rootFd, dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      continue;
    }
    while (dirent* entry = ::readdir(d)) {
      if (!keepGoing()) break;
      const std::string name = entry->d_name;
      if (name == "." || name == ".." || (dir == "." && name == hiddenTop)) continue;
      std::string path = dir == "." ? name : dir + "/" + name;
      unsigned char type = entry->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (::fstatat(::dirfd(d), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      }
      if (type == DT_DIR) {
        pending.push_back(std::move(path));
      } else if (type == DT_REG) {
        visit(path, ::dirfd(d), entry->d_name);
      }
    }
    ::closedir(d);
  }
}

}  // namespace veil
