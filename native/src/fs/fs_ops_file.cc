// File contents: open, create, read, write, release, fsync.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fs/fs_ops.h"

namespace veil {

int GuardFs::doOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto node = inode(ino);
  if (!node) return ENOENT;
  if (node->type != S_IFREG) return node->type == S_IFDIR ? EISDIR : EINVAL;
  std::string path = inodes_.path(*node);
  if (path.empty()) return ENOENT;
  if (!allowed(req, Operation::Open, path)) return EACCES;
  try {
    int err = 0;
    auto open = openFile(node, path, err);
    if (!open) return err;
    if (fi->flags & O_TRUNC) {
      if (int e = open->truncate(0)) return e;
    }
    fi->fh = reinterpret_cast<uint64_t>(new std::shared_ptr<OpenFile>(std::move(open)));
    return 0;
  } catch (const std::exception& error) {
    return failure(error, path, req);
  }
}

void FsOps::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (int err = fs(req).doOpen(req, ino, fi)) return (void)fuse_reply_err(req, err);
  if (fuse_reply_open(req, fi) != 0) delete &openFileOf(fi);  // the kernel gave up on the open
}

// A new file is a new container: the header is on disk before the name is handed out.
int GuardFs::doCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi,
                      fuse_entry_param& e) {
  auto dir = inode(parent);
  if (!dir) return ENOENT;
  std::string path = inodes_.childPath(*dir, name);
  if (path.empty()) return ENOENT;
  if (!allowed(req, Operation::Create, path)) return EACCES;
  int fd = ::openat(rootFd_, path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
  if (fd < 0) return errno;
  try {
    auto container = Container::create(keys_, config_.keyId, config_.keyVersion, config_.cipher);
    // The header page: an empty container is exactly one page long (docs/format.md).
    uint8_t page[kPageSize] = {};
    const HeaderBytes header = container->setSize(0);
    std::memcpy(page, header.data(), header.size());
    if (::pwrite(fd, page, sizeof page, 0) != static_cast<ssize_t>(sizeof page)) {
      int err = errno != 0 ? errno : EIO;
      ::close(fd);
      ::unlinkat(rootFd_, path.c_str(), 0);
      return err;
    }
    if (int err = ownByCaller(req, path, fd)) {
      ::close(fd);
      ::unlinkat(rootFd_, path.c_str(), 0);
      return err;
    }
    // The new file's attributes come from its descriptor: no second open to read a size.
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      int err = errno;
      ::close(fd);
      ::unlinkat(rootFd_, path.c_str(), 0);
      return err;
    }
    st.st_size = 0;
    auto open = std::make_shared<OpenFile>(fd, std::move(container));
    entryFromStat(dir, name, st, e);
    auto node = inode(e.ino);
    if (node) {
      node->capabilityXattr = 0;  // a new file has no xattrs
      std::lock_guard<std::mutex> lock(node->openMutex);
      node->open = open;
    }
    fi->fh = reinterpret_cast<uint64_t>(new std::shared_ptr<OpenFile>(std::move(open)));
    return 0;
  } catch (const std::exception& error) {
    ::close(fd);
    ::unlinkat(rootFd_, path.c_str(), 0);
    return failure(error, path, req);
  }
}

void FsOps::create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  fuse_entry_param e;
  if (int err = fs(req).doCreate(req, parent, name, mode, fi, e)) return (void)fuse_reply_err(req, err);
  if (fuse_reply_create(req, &e, fi) != 0) delete &openFileOf(fi);
}

void FsOps::read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  GuardFs& g = fs(req);
  auto& open = openFileOf(fi);
  size_t got = 0;
  int err = 0;
  const uint8_t* data = nullptr;
  try {
    data = open->read(size, static_cast<uint64_t>(off), got, err);
  } catch (const std::exception& error) {
    return (void)fuse_reply_err(req, g.failure(error, g.pathOf(ino), req));
  }
  if (err != 0) return (void)fuse_reply_err(req, err);
  fuse_reply_buf(req, reinterpret_cast<const char*>(data), got);
}

void FsOps::write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  GuardFs& g = fs(req);
  auto& open = openFileOf(fi);
  try {
    if (int err = open->write(reinterpret_cast<const uint8_t*>(buf), size, static_cast<uint64_t>(off))) {
      return (void)fuse_reply_err(req, err);
    }
  } catch (const std::exception& error) {
    return (void)fuse_reply_err(req, g.failure(error, g.pathOf(ino), req));
  }
  fuse_reply_write(req, size);
}

void FsOps::release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  delete &openFileOf(fi);
  fuse_reply_err(req, 0);
}

void FsOps::fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  fuse_reply_err(req, openFileOf(fi)->sync(datasync != 0));
}

}  // namespace veil
