// File contents: open, create, read, write, release, fsync.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fs/fs_ops.h"

namespace veil {

namespace {
// The kernel marks the open of a binary it is about to run with __FMODE_EXEC, and FUSE
// passes the open flags through.
constexpr int kOpenForExec = 040;
}  // namespace

uint32_t GuardFs::readActionFor(int flags) {
  const int access = flags & O_ACCMODE;
  if (access != O_RDONLY && access != O_RDWR) return 0;
  return (flags & kOpenForExec) != 0 ? kExec : kFileRead;
}

uint32_t GuardFs::writeActionFor(int flags) {
  const int access = flags & O_ACCMODE;
  if (access != O_WRONLY && access != O_RDWR) return 0;
  return (flags & O_APPEND) != 0 ? kFileAppend : kFileWrite;
}

int GuardFs::admitOpen(int flags, const std::string& path, Requester& who) {
  auto table = gate_.table();
  if (!table) return 0;
  for (uint32_t action : {readActionFor(flags), writeActionFor(flags), (flags & O_TRUNC) != 0 ? kFileWrite : 0u}) {
    if (action != 0 && !decide(who, action, path, *table, true).permit) return EACCES;
  }
  return 0;
}

void GuardFs::attachHandle(fuse_file_info* fi, std::shared_ptr<OpenFile> open, Requester who) {
  auto table = gate_.table();
  who.settle(table && table->needsGroups, table && table->needsExecutable);
  auto* handle = new FileHandle(std::move(open), std::move(who), readActionFor(fi->flags), writeActionFor(fi->flags));
  // Just admitted under the policy of this generation (or a later one: then decided again).
  handle->generation = gate_.generation();
  handle->canRead = handle->readAction != 0;
  handle->canWrite = handle->writeAction != 0;
  fi->fh = reinterpret_cast<uint64_t>(handle);
}

int GuardFs::recheck(FileHandle& handle, fuse_ino_t ino, bool write) {
  const uint64_t generation = gate_.generation();
  std::lock_guard<std::mutex> lock(handle.mutex);
  if (handle.generation != generation) {
    auto table = gate_.table();
    const std::string path = pathOf(ino);
    auto decideFor = [&](uint32_t action) {
      return action != 0 && (!table || decide(handle.opener, action, path, *table, true).permit);
    };
    handle.canRead = decideFor(handle.readAction);
    handle.canWrite = decideFor(handle.writeAction);
    handle.generation = generation;
  }
  // A read through a descriptor open only for writing is the kernel filling a page a
  // partial write changes (writeback cache); the data stays in the kernel, which lets no
  // write-only descriptor read or map it, so the write decision covers it.
  const bool readIsPageFill = !write && handle.readAction == 0;
  return (write || readIsPageFill ? handle.canWrite : handle.canRead) ? 0 : EACCES;
}

int GuardFs::doOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto node = inode(ino);
  if (!node) return ENOENT;
  if (node->type != S_IFREG) return node->type == S_IFDIR ? EISDIR : EINVAL;
  std::string path = inodes_.path(*node);
  if (path.empty()) return ENOENT;
  Requester who = requester(req);
  if (int err = admitOpen(fi->flags, path, who)) return err;
  try {
    int err = 0;
    auto open = openFile(node, path, err);
    if (!open) return err;
    if (fi->flags & O_TRUNC) {
      if (int e = open->truncate(0)) return e;
    }
    attachHandle(fi, std::move(open), std::move(who));
    return 0;
  } catch (const std::exception& error) {
    return failure(error, path, req);
  }
}

void FsOps::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  if (int err = fs(req).doOpen(req, ino, fi)) return (void)fuse_reply_err(req, err);
  if (fuse_reply_open(req, fi) != 0) delete &handleOf(fi);  // the kernel gave up on the open
}

// A new file is a new container: the header is on disk before the name is handed out.
int GuardFs::doCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi,
                      fuse_entry_param& e) {
  auto dir = inode(parent);
  if (!dir) return ENOENT;
  std::string path = inodes_.childPath(*dir, name);
  if (path.empty()) return ENOENT;
  Requester who = requester(req);
  if (!allowed(who, kFileCreate, path)) return EACCES;
  if (int err = admitOpen(fi->flags & ~O_TRUNC, path, who)) return err;
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
    // The new file's attributes come from its descriptor: no second open to read a size.
    struct stat st;
    int err = ::fstat(fd, &st) == 0 ? ownNewFile(req, path, fd, st) : errno;
    if (err != 0) {
      ::close(fd);
      ::unlinkat(rootFd_, path.c_str(), 0);
      return err;
    }
    st.st_size = 0;
    auto open = std::make_shared<OpenFile>(fd, std::move(container), kPageSize);
    entryFromStat(dir, name, st, e);
    auto node = inode(e.ino);
    if (node) {
      node->capabilityXattr = 0;  // a new file has no xattrs
      std::lock_guard<std::mutex> lock(node->openMutex);
      node->open = open;
    }
    attachHandle(fi, std::move(open), std::move(who));
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
  if (fuse_reply_create(req, &e, fi) != 0) delete &handleOf(fi);
}

void FsOps::read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  GuardFs& g = fs(req);
  if (int err = g.recheck(handleOf(fi), ino, false)) return (void)fuse_reply_err(req, err);
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
  if (int err = g.recheck(handleOf(fi), ino, true)) return (void)fuse_reply_err(req, err);
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
  delete &handleOf(fi);
  fuse_reply_err(req, 0);
}

void FsOps::fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  fuse_reply_err(req, openFileOf(fi)->sync(datasync != 0));
}

}  // namespace veil
