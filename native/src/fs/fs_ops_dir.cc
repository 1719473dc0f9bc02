// Directories, statfs and extended attributes.
#include <dirent.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fs/fs_ops.h"

namespace veil {

namespace {

struct DirHandle {
  DIR* dir = nullptr;
  off_t offset = 0;
  dirent* pending = nullptr;  // read but not yet sent: the reply buffer was full
  bool root = false;          // the guard point's root, where the mount hides kLdtDirName
};

DirHandle& dirOf(fuse_file_info* fi) { return *reinterpret_cast<DirHandle*>(fi->fh); }

}  // namespace

void FsOps::opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  GuardFs& g = fs(req);
  std::string path = g.pathOf(ino);
  if (path.empty()) return (void)fuse_reply_err(req, ENOENT);
  if (!g.allowed(req, kDirRead, path)) return (void)fuse_reply_err(req, EACCES);
  int fd = ::openat(g.rootFd_, path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return (void)fuse_reply_err(req, errno);
  auto* handle = new DirHandle();
  handle->root = ino == FUSE_ROOT_ID;
  handle->dir = ::fdopendir(fd);
  if (handle->dir == nullptr) {
    int err = errno;
    ::close(fd);
    delete handle;
    return (void)fuse_reply_err(req, err);
  }
  fi->fh = reinterpret_cast<uint64_t>(handle);
  if (fuse_reply_open(req, fi) != 0) {
    ::closedir(handle->dir);
    delete handle;
  }
}

void FsOps::readdir(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  DirHandle& d = dirOf(fi);
  std::vector<char> buf(size);
  if (off != d.offset) {
    ::seekdir(d.dir, off);
    d.pending = nullptr;
    d.offset = off;
  }
  size_t used = 0;
  while (true) {
    dirent* entry = d.pending;
    if (entry == nullptr) {
      errno = 0;
      entry = ::readdir(d.dir);
      if (entry == nullptr) {
        if (errno != 0 && used == 0) return (void)fuse_reply_err(req, errno);
        break;
      }
    }
    if (d.root && GuardFs::reservedName(FUSE_ROOT_ID, entry->d_name)) {
      d.pending = nullptr;
      d.offset = entry->d_off;
      continue;
    }
    struct stat st;
    std::memset(&st, 0, sizeof st);
    st.st_ino = entry->d_ino;
    st.st_mode = static_cast<mode_t>(DTTOIF(entry->d_type));
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, entry->d_name, &st, entry->d_off);
    if (need > size - used) {
      d.pending = entry;
      break;
    }
    d.pending = nullptr;
    used += need;
    d.offset = entry->d_off;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void FsOps::releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  DirHandle* d = &dirOf(fi);
  ::closedir(d->dir);
  delete d;
  fuse_reply_err(req, 0);
}

void FsOps::fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  int fd = ::dirfd(dirOf(fi).dir);
  int rc = datasync ? ::fdatasync(fd) : ::fsync(fd);
  fuse_reply_err(req, rc == 0 ? 0 : errno);
}

void FsOps::statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs st;
  if (::fstatvfs(fs(req).rootFd_, &st) != 0) return (void)fuse_reply_err(req, errno);
  fuse_reply_statfs(req, &st);
}

// xattrs go through a real descriptor (O_PATH descriptors take none); symbolic links
// have no user xattrs, and opening one with O_NOFOLLOW fails with ELOOP. Extended
// attributes are the "security" attributes of docs/policy.md; changing them is f_chg_sec
// for directories too (there is no d_chg_sec).
int GuardFs::xattrTarget(fuse_req_t req, fuse_ino_t ino, XattrAccess access, int& err) {
  auto node = inode(ino);
  std::string path = node ? inodes_.path(*node) : std::string();
  if (path.empty()) {
    err = ENOENT;
    return -1;
  }
  const uint32_t action = access == XattrAccess::Read     ? forType(*node, kFileReadSec, kDirReadSec)
                          : access == XattrAccess::Change ? static_cast<uint32_t>(kFileChangeSec)
                                                          : 0u;
  if (action != 0 && !allowed(req, action, path)) {
    err = EACCES;
    return -1;
  }
  int fd = ::openat(rootFd_, path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) err = errno;
  return fd;
}

namespace {
constexpr char kCapability[] = "security.capability";
}  // namespace

void FsOps::forgetCapability(GuardFs& g, fuse_ino_t ino, const char* name) {
  if (std::strcmp(name, kCapability) != 0) return;
  if (auto node = g.inode(ino)) node->capabilityXattr = -1;
}

void FsOps::setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
  forgetCapability(fs(req), ino, name);
  int err = 0;
  int fd = fs(req).xattrTarget(req, ino, GuardFs::XattrAccess::Change, err);
  if (fd < 0) return (void)fuse_reply_err(req, err == ELOOP ? EPERM : err);
  err = ::fsetxattr(fd, name, value, size, flags) == 0 ? 0 : errno;
  ::close(fd);
  fuse_reply_err(req, err);
}

void FsOps::getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  GuardFs& g = fs(req);
  std::shared_ptr<Inode> node = std::strcmp(name, kCapability) == 0 ? g.inode(ino) : nullptr;
  // The kernel's own question before every write and chown (is there a file capability
  // to drop?) is no read by the caller: it is not decided, nor recorded.
  if (node && node->capabilityXattr == 0) return (void)fuse_reply_err(req, ENODATA);
  int err = 0;
  int fd = g.xattrTarget(req, ino, node ? GuardFs::XattrAccess::Unchecked : GuardFs::XattrAccess::Read, err);
  if (fd < 0) return (void)fuse_reply_err(req, err == ELOOP ? ENODATA : err);
  std::vector<char> value(size);
  ssize_t n = ::fgetxattr(fd, name, size == 0 ? nullptr : value.data(), size);
  err = n < 0 ? errno : 0;
  ::close(fd);
  if (node && (n >= 0 || err == ENODATA)) node->capabilityXattr = n >= 0 ? 1 : 0;
  if (n < 0) return (void)fuse_reply_err(req, err);
  if (size == 0) return (void)fuse_reply_xattr(req, static_cast<size_t>(n));
  fuse_reply_buf(req, value.data(), static_cast<size_t>(n));
}

void FsOps::listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  int err = 0;
  int fd = fs(req).xattrTarget(req, ino, GuardFs::XattrAccess::Read, err);
  if (fd < 0 && err == ELOOP) return (void)(size == 0 ? fuse_reply_xattr(req, 0) : fuse_reply_buf(req, nullptr, 0));
  if (fd < 0) return (void)fuse_reply_err(req, err);
  std::vector<char> names(size);
  ssize_t n = ::flistxattr(fd, size == 0 ? nullptr : names.data(), size);
  err = n < 0 ? errno : 0;
  ::close(fd);
  if (n < 0) return (void)fuse_reply_err(req, err);
  if (size == 0) return (void)fuse_reply_xattr(req, static_cast<size_t>(n));
  fuse_reply_buf(req, names.data(), static_cast<size_t>(n));
}

void FsOps::removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  forgetCapability(fs(req), ino, name);
  int err = 0;
  int fd = fs(req).xattrTarget(req, ino, GuardFs::XattrAccess::Change, err);
  if (fd < 0) return (void)fuse_reply_err(req, err == ELOOP ? ENODATA : err);
  err = ::fremovexattr(fd, name) == 0 ? 0 : errno;
  ::close(fd);
  fuse_reply_err(req, err);
}

}  // namespace veil
