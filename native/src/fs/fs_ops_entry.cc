// Names and attributes: lookup, forget, getattr, setattr, readlink, and the operations
// that create, remove, rename and link names.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <optional>

#include "fs/fs_ops.h"

namespace veil {

namespace {
constexpr double kAttrTimeout = 1.0;
constexpr const char* kTruncateByName =
    "permitted without apply_key: in the encrypted view a file is truncated through a descriptor open for "
    "writing (O_TRUNC, ftruncate), not by its name";
constexpr uint32_t kMaxWrite = 1 << 20;
}  // namespace

void FsOps::init(void*, fuse_conn_info* conn) {
  // Large requests: one native crypto batch per request instead of many small ones.
  conn->max_write = kMaxWrite;
  conn->max_readahead = kMaxWrite;
  // The kernel gathers small writes in its page cache and writes back in parallel; reads
  // and writes reach one OpenFile per inode whatever descriptor they came through, and
  // O_APPEND is the kernel's business in this mode (writes carry their offsets).
  if (conn->capable & FUSE_CAP_WRITEBACK_CACHE) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  // Clearing setuid/setgid bits on write, truncate and chown is this process's job
  // (clearPrivileges): otherwise the kernel asks for the file's attributes before every
  // chown to work out the new mode itself, a round trip per file that tar or cp -p
  // restores. libfuse 3.14 does not pass this on: GuardFs::writeDevice asks the kernel.
}

void FsOps::lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  GuardFs& g = fs(req);
  auto dir = g.inode(parent);
  if (!dir || GuardFs::reservedName(parent, name)) return (void)fuse_reply_err(req, ENOENT);
  std::string path = g.inodes_.childPath(*dir, name);
  if (path.empty()) return (void)fuse_reply_err(req, ENOENT);
  // A lookup is no action of its own (docs/policy.md): what is then done with the name is.
  fuse_entry_param e;
  if (int err = g.entryFor(dir, name, path, e)) return (void)fuse_reply_err(req, err);
  fuse_reply_entry(req, &e);
}

void FsOps::forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  fs(req).inodes_.forget(ino, nlookup);
  fuse_reply_none(req);
}

void FsOps::forgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) fs(req).inodes_.forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

int GuardFs::doGetattr(fuse_ino_t ino, struct stat& st) {
  auto node = inode(ino);
  if (!node) return ENOENT;
  if (node->stale) return ESTALE;
  return attrFor(*node, st);
}

void FsOps::getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  GuardFs& g = fs(req);
  if (auto node = g.inode(ino); node && !g.allowed(req, GuardFs::forType(*node, kFileReadAttr, kDirReadAttr),
                                                   g.inodes_.path(*node))) {
    return (void)fuse_reply_err(req, EACCES);
  }
  struct stat st;
  if (int err = g.doGetattr(ino, st)) return (void)fuse_reply_err(req, err);
  fuse_reply_attr(req, &st, kAttrTimeout);
}

// What a setattr asks for: a size change is a write; the modification and change times
// alone, through a descriptor open for writing, are what the kernel sets after writing
// (writeback cache), so that descriptor's write decision covers them; anything else
// changes attributes.
int GuardFs::admitSetattr(fuse_req_t req, const Inode& node, const std::string& path, int toSet,
                          fuse_file_info* fi) {
  if (!gate_.table()) return 0;
  constexpr int kTimes = FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
  const bool written = fi != nullptr && handleOf(fi).writeAction != 0;
  if (written && (toSet & ~kTimes) == 0) return recheck(handleOf(fi), node.id, true);
  Requester who = requester(req);
  if (toSet & FUSE_SET_ATTR_SIZE) {
    if (written) {
      if (recheck(handleOf(fi), node.id, true) != 0) return EACCES;
    } else if (!decideData(who, kFileWrite, path, *gate_.table(), false, kTruncateByName).permit) {
      return EACCES;
    }
  }
  if ((toSet & ~FUSE_SET_ATTR_SIZE) != 0 && !allowed(who, forType(node, kFileChangeAttr, kDirChangeAttr), path)) {
    return EACCES;
  }
  return 0;
}

int GuardFs::doSetattr(fuse_req_t req, fuse_ino_t ino, const struct stat& attr, int toSet, fuse_file_info* fi,
                       struct stat& out) {
  auto node = inode(ino);
  if (!node) return ENOENT;
  if (node->stale) return ESTALE;
  std::string path = inodes_.path(*node);
  if (path.empty()) return ENOENT;
  if (int err = admitSetattr(req, *node, path, toSet, fi)) return err;
  // Not while the transformation worker replaces the file: the change would be lost.
  std::unique_ptr<FileRegistry::Pin> pin;
  if (node->type == S_IFREG) {
    int err = 0;
    if (!(pin = pinFile(*node, err))) return err;
  }
  if ((toSet & FUSE_SET_ATTR_MODE) && ::fchmodat(rootFd_, path.c_str(), attr.st_mode & 07777, 0) != 0) return errno;
  if (toSet & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    uid_t uid = (toSet & FUSE_SET_ATTR_UID) ? attr.st_uid : static_cast<uid_t>(-1);
    gid_t gid = (toSet & FUSE_SET_ATTR_GID) ? attr.st_gid : static_cast<gid_t>(-1);
    if (::fchownat(rootFd_, path.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  }
  std::optional<off_t> rawSize;
  if (toSet & FUSE_SET_ATTR_SIZE) {
    if (node->type != S_IFREG) return EINVAL;
    if (fi != nullptr && handleOf(fi).passesThrough()) {
      if (::ftruncate(handleOf(fi).rawFd, attr.st_size) != 0) return errno;
      if (handleOf(fi).raw()) rawSize = attr.st_size;
    } else if (int err = truncatePlaintext(req, node, path, static_cast<uint64_t>(attr.st_size), fi)) {
      return err;
    }
  }
  if (toSet & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
    struct timespec times[2];
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_nsec = UTIME_OMIT;
    if (toSet & FUSE_SET_ATTR_ATIME_NOW) {
      times[0].tv_nsec = UTIME_NOW;
    } else if (toSet & FUSE_SET_ATTR_ATIME) {
      times[0] = attr.st_atim;
    }
    if (toSet & FUSE_SET_ATTR_MTIME_NOW) {
      times[1].tv_nsec = UTIME_NOW;
    } else if (toSet & FUSE_SET_ATTR_MTIME) {
      times[1] = attr.st_mtim;
    }
    if (::utimensat(rootFd_, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  }
  if (node->type == S_IFREG && (toSet & FUSE_SET_ATTR_MODE) == 0) {
    if (int err = clearPrivileges(req, path, toSet)) return err;
  }
  if (int err = attrFor(*node, out)) return err;
  // The encrypted view's writer sees the length it set (its inode number is retired at close).
  if (rawSize) out.st_size = *rawSize;
  return 0;
}

namespace {

// Whether the process has CAP_FSETID in its effective set (from /proc/<pid>/status; a
// process that is gone or unreadable counts as not having it).
bool mayKeepSetId(pid_t pid) {
  constexpr int kCapFsetid = 4;
  if (pid <= 0) return false;
  char name[64];
  std::snprintf(name, sizeof name, "/proc/%d/status", static_cast<int>(pid));
  FILE* status = std::fopen(name, "re");
  if (status == nullptr) return false;
  char line[256];
  unsigned long long effective = 0;
  bool found = false;
  while (!found && std::fgets(line, sizeof line, status) != nullptr) {
    found = std::sscanf(line, "CapEff: %llx", &effective) == 1;
  }
  std::fclose(status);
  return found && (effective >> kCapFsetid & 1) != 0;
}

}  // namespace

// With FUSE_CAP_HANDLE_KILLPRIV the kernel takes the setuid/setgid bits out of what it
// sends and leaves clearing them here, with the rules it would have applied (as the
// kernel's own FUSE code does without the capability: setuid always, setgid only with
// group execute). A chown does it in the backing filesystem (done as root, which clears
// them whatever the new owner); chown(f, -1, -1) arrives as a change of ctime alone. A
// truncation, and a write (an empty setattr from the writer, before the data is cached),
// clear them when the caller lacks CAP_FSETID. File capabilities the kernel removes
// itself (removexattr).
int GuardFs::clearPrivileges(fuse_req_t req, const std::string& path, int toSet, bool* cleared) {
  if (toSet == FUSE_SET_ATTR_CTIME) {
    return ::fchownat(rootFd_, path.c_str(), static_cast<uid_t>(-1), static_cast<gid_t>(-1), AT_SYMLINK_NOFOLLOW) == 0
               ? 0
               : errno;
  }
  if (toSet != 0 && (toSet & FUSE_SET_ATTR_SIZE) == 0) return 0;
  struct stat st;
  if (::fstatat(rootFd_, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  const bool setuid = (st.st_mode & S_ISUID) != 0;
  const bool setgid = (st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
  if (!setuid && !setgid) return 0;
  if (mayKeepSetId(fuse_req_ctx(req)->pid)) return 0;
  const mode_t mode = (st.st_mode & 07777) & ~(setuid ? S_ISUID : 0) & ~(setgid ? S_ISGID : 0);
  if (::fchmodat(rootFd_, path.c_str(), mode, 0) != 0) return errno;
  if (cleared != nullptr) *cleared = true;
  return 0;
}

int GuardFs::truncatePlaintext(fuse_req_t req, const std::shared_ptr<Inode>& node, const std::string& path,
                               uint64_t size, fuse_file_info* fi) {
  if (fi == nullptr && (keptClear(path) || servedPlain(*node))) {
    int fd = -1;
    if (int err = openPlainFile(path, 0, fd)) return err;
    if (fd >= 0) {
      const int err = ::ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
      ::close(fd);
      return err;
    }
  }
  std::optional<ViewTicket> ticket;
  if (fi == nullptr) {
    if (int err = enterView(*node, false, true)) return err;
    ticket.emplace(*node, false, true);
  }
  try {
    int err = 0;
    std::shared_ptr<OpenFile> open = fi != nullptr ? openFileOf(fi) : openFile(node, path, err);
    if (!open) return err;
    return open->truncate(size);
  } catch (const std::exception& error) {
    return failure(error, path, req);
  }
}

void FsOps::setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int toSet, fuse_file_info* fi) {
  struct stat st;
  if (int err = fs(req).doSetattr(req, ino, *attr, toSet, fi, st)) return (void)fuse_reply_err(req, err);
  fuse_reply_attr(req, &st, kAttrTimeout);
}

void FsOps::readlink(fuse_req_t req, fuse_ino_t ino) {
  GuardFs& g = fs(req);
  std::string path = g.pathOf(ino);
  if (path.empty()) return (void)fuse_reply_err(req, ENOENT);
  if (!g.allowed(req, kFileReadAttr, path)) return (void)fuse_reply_err(req, EACCES);
  char target[PATH_MAX + 1];
  ssize_t n = ::readlinkat(g.rootFd_, path.c_str(), target, sizeof target - 1);
  if (n < 0) return (void)fuse_reply_err(req, errno);
  target[n] = '\0';
  fuse_reply_readlink(req, target);
}

// mknod, mkdir and symlink: make the name, give it to the caller, reply with its entry.
int GuardFs::doMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev,
                     const char* symlinkTarget, fuse_entry_param& e) {
  auto dir = inode(parent);
  if (!dir) return ENOENT;
  if (reservedName(parent, name)) return EACCES;
  std::string path = inodes_.childPath(*dir, name);
  if (path.empty()) return ENOENT;
  if (!allowed(req, S_ISDIR(mode) ? kDirMake : kFileCreate, path)) return EACCES;
  int rc;
  if (symlinkTarget != nullptr) {
    rc = ::symlinkat(symlinkTarget, rootFd_, path.c_str());
  } else if (S_ISDIR(mode)) {
    rc = ::mkdirat(rootFd_, path.c_str(), mode & 07777);
  } else if (S_ISFIFO(mode) || S_ISSOCK(mode)) {
    rc = ::mknodat(rootFd_, path.c_str(), mode, rdev);
  } else {
    return EPERM;  // regular files come through create; device nodes are not allowed here
  }
  if (rc != 0) return errno;
  if (int err = ownByCaller(req, path)) {
    ::unlinkat(rootFd_, path.c_str(), S_ISDIR(mode) ? AT_REMOVEDIR : 0);
    return err;
  }
  return entryFor(dir, name, path, e);
}

void FsOps::mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  fuse_entry_param e;
  if (int err = fs(req).doMknod(req, parent, name, mode, rdev, nullptr, e)) return (void)fuse_reply_err(req, err);
  fuse_reply_entry(req, &e);
}

void FsOps::mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  fuse_entry_param e;
  if (int err = fs(req).doMknod(req, parent, name, mode | S_IFDIR, 0, nullptr, e)) {
    return (void)fuse_reply_err(req, err);
  }
  fuse_reply_entry(req, &e);
}

void FsOps::symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  fuse_entry_param e;
  if (int err = fs(req).doMknod(req, parent, name, S_IFLNK, 0, link, e)) return (void)fuse_reply_err(req, err);
  fuse_reply_entry(req, &e);
}

int GuardFs::doUnlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool directory) {
  auto dir = inode(parent);
  if (!dir || reservedName(parent, name)) return ENOENT;
  std::string path = inodes_.childPath(*dir, name);
  if (path.empty()) return ENOENT;
  if (!allowed(req, directory ? kDirRemove : kFileRemove, path)) return EACCES;
  if (::unlinkat(rootFd_, path.c_str(), directory ? AT_REMOVEDIR : 0) != 0) return errno;
  inodes_.detach(*dir, name);
  return 0;
}

void FsOps::unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, fs(req).doUnlink(req, parent, name, false));
}

void FsOps::rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  fuse_reply_err(req, fs(req).doUnlink(req, parent, name, true));
}

int GuardFs::doRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newParent,
                      const char* newName, unsigned flags) {
  auto from = inode(parent), to = inode(newParent);
  if (!from || !to) return ENOENT;
  if (reservedName(parent, name) || reservedName(newParent, newName)) return EACCES;
  std::string oldPath = inodes_.childPath(*from, name), newPath = inodes_.childPath(*to, newName);
  if (oldPath.empty() || newPath.empty()) return ENOENT;
  Requester who = requester(req);
  if (!allowed(who, kFileRename, oldPath) || !allowed(who, kFileRename, newPath)) return EACCES;
  if (::renameat2(rootFd_, oldPath.c_str(), rootFd_, newPath.c_str(), flags) != 0) return errno;
  inodes_.rename(from, name, to, newName, (flags & RENAME_EXCHANGE) != 0);
  return 0;
}

void FsOps::rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newParent, const char* newName,
                   unsigned int flags) {
  fuse_reply_err(req, fs(req).doRename(req, parent, name, newParent, newName, flags));
}

int GuardFs::doLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newParent, const char* newName, fuse_entry_param& e) {
  auto node = inode(ino), dir = inode(newParent);
  if (!node || !dir) return ENOENT;
  if (reservedName(newParent, newName)) return EACCES;
  std::string oldPath = inodes_.path(*node), newPath = inodes_.childPath(*dir, newName);
  if (oldPath.empty() || newPath.empty()) return ENOENT;
  if (!allowed(req, kFileCreate, newPath)) return EACCES;
  if (::linkat(rootFd_, oldPath.c_str(), rootFd_, newPath.c_str(), 0) != 0) return errno;
  return entryFor(dir, newName, newPath, e);
}

void FsOps::link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newParent, const char* newName) {
  fuse_entry_param e;
  if (int err = fs(req).doLink(req, ino, newParent, newName, e)) return (void)fuse_reply_err(req, err);
  fuse_reply_entry(req, &e);
}

}  // namespace veil
