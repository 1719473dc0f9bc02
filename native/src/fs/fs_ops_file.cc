// File contents: open, create, read, write, release, fsync.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "fs/fs_ops.h"
#include "fs/serve_loop.h"

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

namespace {
constexpr const char* kMixedViews =
    "read and write decisions give different views (apply_key on one, not on the other): one descriptor "
    "cannot show both";
constexpr const char* kViewChanged = "the policy now gives this file in the other view than the descriptor's";
}  // namespace

int GuardFs::admitOpen(int flags, const std::string& path, Requester& who, bool& raw) {
  raw = false;
  auto table = gate_.table();
  if (!table) return 0;
  std::optional<bool> view;
  const uint32_t write = writeActionFor(flags);
  const uint32_t truncate = (flags & O_TRUNC) != 0 && write != kFileWrite ? kFileWrite : 0u;
  for (uint32_t action : {readActionFor(flags), write, truncate}) {
    if (action == 0) continue;
    Verdict verdict = decideData(who, action, path, *table, view, kMixedViews);
    if (!verdict.permit) return EACCES;
    view = !verdict.applyKey;
  }
  raw = view.value_or(false);
  return 0;
}

uint32_t GuardFs::openedForWriting(int flags) {
  const uint32_t action = writeActionFor(flags);
  return action != 0 || (flags & O_TRUNC) == 0 ? action : kFileWrite;
}

void GuardFs::attachHandle(fuse_file_info* fi, std::shared_ptr<Inode> node, std::shared_ptr<OpenFile> open,
                           int rawFd, Requester who, bool clear) {
  auto table = gate_.table();
  who.settle(table && table->needsGroups, table && table->needsExecutable);
  auto* handle = new FileHandle(std::move(node), std::move(open), rawFd, clear, std::move(who),
                                readActionFor(fi->flags), openedForWriting(fi->flags));
  // Just admitted under the policy of this generation (or a later one: then decided again).
  handle->generation = gate_.generation();
  handle->canRead = handle->readAction != 0;
  handle->canWrite = handle->writeAction != 0;
  fi->fh = reinterpret_cast<uint64_t>(handle);
  // The encrypted view bypasses the kernel's page cache, which holds plaintext.
  if (handle->raw()) fi->direct_io = 1;
}

int GuardFs::recheck(FileHandle& handle, fuse_ino_t ino, bool write) {
  const uint64_t generation = gate_.generation();
  std::lock_guard<std::mutex> lock(handle.mutex);
  if (handle.generation != generation) {
    auto table = gate_.table();
    const std::string path = pathOf(ino);
    auto decideFor = [&](uint32_t action) {
      if (action == 0) return false;
      if (!table) return !handle.raw();
      const std::optional<bool> view = handle.clear ? std::nullopt : std::optional<bool>(handle.raw());
      return decideData(handle.opener, action, path, *table, view, kViewChanged).permit;
    };
    handle.canRead = decideFor(handle.readAction);
    handle.canWrite = decideFor(handle.writeAction);
    handle.generation = generation;
  }
  // A read through a descriptor open only for writing is the kernel filling a page a
  // partial write changes (writeback cache); the data stays in the kernel, which lets no
  // write-only descriptor read or map it, so the write decision covers it. The encrypted
  // view has no page cache: there, only a reader reads.
  const bool readIsPageFill = !write && handle.readAction == 0 && !handle.raw();
  return (write || readIsPageFill ? handle.canWrite : handle.canRead) ? 0 : EACCES;
}

int GuardFs::enterView(Inode& node, bool raw, bool write) {
  constexpr auto kWait = std::chrono::seconds(2);
  std::unique_lock<std::mutex> lock(node.openMutex);
  // A close reaches this process after close(2) has returned (the kernel sends it in the
  // background): an open right after another view's close waits for it instead of failing.
  auto free = [&] {
    if (node.rawWriters > 0) return false;
    return raw ? node.plainHandles == 0 && (!write || node.rawReaders == 0) : node.rawReaders == 0;
  };
  if (!free()) beforeLongWait();
  if (!node.viewsChanged.wait_for(lock, kWait, free)) return EBUSY;
  if (node.stale) return ESTALE;
  ++(raw ? (write ? node.rawWriters : node.rawReaders) : node.plainHandles);
  return 0;
}

void GuardFs::leaveView(Inode& node, bool raw, bool write) {
  {
    std::lock_guard<std::mutex> lock(node.openMutex);
    --(raw ? (write ? node.rawWriters : node.rawReaders) : node.plainHandles);
  }
  node.viewsChanged.notify_all();
}

int GuardFs::openRaw(const std::shared_ptr<Inode>& node, const std::string& path, fuse_file_info* fi,
                     Requester who) {
  // Appends go to the end of the stored bytes: the kernel's size is the plaintext's.
  const int flags = fi->flags & (O_ACCMODE | O_TRUNC | O_APPEND);
  int fd = ::openat(rootFd_, path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno;
  attachHandle(fi, node, nullptr, fd, std::move(who));
  return 0;
}

// A file a clear_key rule holds, and that is no container: both views are its bytes, and
// the kernel's page cache may keep them. -1 when it is a container after all (the
// caller opens it as one), else 0 or an errno value.
int GuardFs::openClear(const std::shared_ptr<Inode>& node, const std::string& path, fuse_file_info* fi,
                       Requester who) {
  // Read-write whatever the caller asked: the kernel fills pages before partial writes (and
  // checks the caller's access mode itself). It gives offsets, appends included, from its
  // own size, as for any page-cache write.
  int fd = -1;
  if (int err = openPlainFile(path, fi->flags & O_TRUNC, fd)) return err;
  if (fd < 0) return -1;
  attachHandle(fi, node, nullptr, fd, std::move(who), true);
  return 0;
}

int GuardFs::openPlainFile(const std::string& path, int flags, int& fd) {
  fd = ::openat(rootFd_, path.c_str(), O_RDWR | flags | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno;
  bool container = false;
  peekHeaderSize(fd, container);
  if (container) {
    ::close(fd);
    fd = -1;
  }
  return 0;
}

// An open that truncates is a truncation: once the file is open (and truncated), it clears
// the setuid and setgid bits as one does (clearPrivileges). The kernel sends no truncation
// of its own for it (atomic O_TRUNC), and leaves the bits to us (FUSE_HANDLE_KILLPRIV).
int GuardFs::doOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  std::string path;
  if (int err = openNode(req, ino, fi, path)) return err;
  if ((fi->flags & O_TRUNC) == 0) return 0;
  bool cleared = false;
  if (int err = clearPrivileges(req, path, FUSE_SET_ATTR_SIZE, &cleared)) {
    closeHandle(fi);
    return err;
  }
  // The kernel keeps the mode it had cached (it asks again only for the size and times after
  // an atomic O_TRUNC): the attributes alone are dropped, which is safe while an open runs.
  if (cleared) fuse_lowlevel_notify_inval_inode(session_, ino, -1, 0);
  return 0;
}

int GuardFs::openNode(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, std::string& path) {
  auto node = inode(ino);
  if (!node) return ENOENT;
  if (node->stale) return ESTALE;
  if (node->type != S_IFREG) return node->type == S_IFDIR ? EISDIR : EINVAL;
  path = inodes_.path(*node);
  if (path.empty()) return ENOENT;
  Requester who = requester(req);
  bool raw = false;
  if (int err = admitOpen(fi->flags, path, who, raw)) return err;
  int pinErr = 0;
  auto pin = pinFile(*node, pinErr);
  if (!pin) return pinErr;
  if (keptClear(path) || servedPlain(*node)) {
    int err = openClear(node, path, fi, who);
    if (err == 0) handleOf(fi).pin = std::move(pin);
    if (err >= 0) return err;
  }
  const bool write = openedForWriting(fi->flags) != 0;
  if (int err = enterView(*node, raw, write)) return err;
  ViewTicket ticket(*node, raw, write);
  if (raw) {
    int err = openRaw(node, path, fi, std::move(who));
    if (err == 0) {
      ticket.keep();
      handleOf(fi).pin = std::move(pin);
    }
    return err;
  }
  try {
    int err = 0;
    auto open = openFile(node, path, err);
    if (!open) return err;
    if (fi->flags & O_TRUNC) {
      if (int e = open->truncate(0)) return e;
    }
    attachHandle(fi, node, std::move(open), -1, std::move(who));
    handleOf(fi).pin = std::move(pin);
    ticket.keep();
    return 0;
  } catch (const std::exception& error) {
    return failure(error, path, req);
  }
}

void FsOps::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  GuardFs& g = fs(req);
  if (int err = g.doOpen(req, ino, fi)) return (void)fuse_reply_err(req, err);
  if (fuse_reply_open(req, fi) != 0) g.closeHandle(fi);  // the kernel gave up on the open
}

// A new file is a new container: the header is on disk before the name is handed out.
int GuardFs::doCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi,
                      fuse_entry_param& e) {
  auto dir = inode(parent);
  if (!dir) return ENOENT;
  if (reservedName(parent, name)) return EACCES;
  std::string path = inodes_.childPath(*dir, name);
  if (path.empty()) return ENOENT;
  Requester who = requester(req);
  if (!allowed(who, kFileCreate, path)) return EACCES;
  bool raw = false;
  if (int err = admitOpen(fi->flags & ~O_TRUNC, path, who, raw)) return err;
  const NewFileKey key = keyForNewFile(path);
  if (key.none) {
    events_(FsEvent{"key-unavailable", path, "VEIL_FS_NO_KEY_RULE",
                    "no key rule of the policy holds this path: a new file here would have no key", who.uid(),
                    who.pid(), std::nullopt});
    return ENOKEY;
  }
  int fd = ::openat(rootFd_, path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, mode & 07777);
  if (fd < 0) return errno;
  struct stat made;
  if (::fstat(fd, &made) != 0) {
    int err = errno;
    ::close(fd);
    ::unlinkat(rootFd_, path.c_str(), 0);
    return err;
  }
  const BackingId id{made.st_dev, made.st_ino};
  {
    // An inode number a served plaintext file had before it was removed.
    std::lock_guard<std::mutex> plain(plainMutex_);
    plainFiles_.erase(id);
  }
  auto pin = registry_.pin(id, 0);
  if (raw || key.clear) {
    int err = createPassThrough(req, dir, name, path, fd, fi, std::move(who), key.clear, e);
    if (err == 0) handleOf(fi).pin = std::move(pin);
    return err;
  }
  try {
    auto container = Container::create(keys_, key.id, key.version, config_.cipher);
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
    struct stat st;
    if (int err = settleNewFile(req, path, fd, st)) return err;
    st.st_size = 0;
    auto open = registry_.acquire(
        id, [&] { return std::make_shared<OpenFile>(fd, std::move(container), kPageSize); });
    entryFromStat(dir, name, st, e);
    auto node = inode(e.ino);
    node->capabilityXattr = 0;  // a new file has no xattrs
    {
      std::lock_guard<std::mutex> lock(node->openMutex);
      node->open = open;
      ++node->plainHandles;
    }
    attachHandle(fi, node, std::move(open), -1, std::move(who));
    handleOf(fi).pin = std::move(pin);
    return 0;
  } catch (const std::exception& error) {
    ::close(fd);
    ::unlinkat(rootFd_, path.c_str(), 0);
    return failure(error, path, req);
  }
}

// The new file's attributes come from its descriptor (no second open to read a size), and
// it is the caller's; on a failure it is closed and removed again.
int GuardFs::settleNewFile(fuse_req_t req, const std::string& path, int fd, struct stat& st) {
  int err = ::fstat(fd, &st) == 0 ? ownNewFile(req, path, fd, st) : errno;
  if (err != 0) {
    ::close(fd);
    ::unlinkat(rootFd_, path.c_str(), 0);
  }
  return err;
}

// A file the encrypted view creates starts empty: what the caller writes is the container.
// So does a file a clear_key rule keeps plaintext.
int GuardFs::createPassThrough(fuse_req_t req, const std::shared_ptr<Inode>& dir, const char* name,
                               const std::string& path, int fd, fuse_file_info* fi, Requester who, bool clear,
                               fuse_entry_param& e) {
  struct stat st;
  if (int err = settleNewFile(req, path, fd, st)) return err;
  entryFromStat(dir, name, st, e);
  auto node = inode(e.ino);
  node->capabilityXattr = 0;
  if (!clear) {
    std::lock_guard<std::mutex> lock(node->openMutex);
    ++node->rawWriters;
  }
  attachHandle(fi, node, nullptr, fd, std::move(who), clear);
  return 0;
}

void FsOps::create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  GuardFs& g = fs(req);
  fuse_entry_param e;
  if (int err = g.doCreate(req, parent, name, mode, fi, e)) return (void)fuse_reply_err(req, err);
  if (fuse_reply_create(req, &e, fi) != 0) g.closeHandle(fi);
}

namespace {
// A read of the encrypted view: the stored bytes as they are, in this thread's buffer.
std::vector<uint8_t>& rawBuffer(size_t size) {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.size() < size) buffer.resize(size);
  return buffer;
}
}  // namespace

void FsOps::read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  GuardFs& g = fs(req);
  InflightRequest inflight(g.inflight_, g.lastForeground_);
  FileHandle& handle = handleOf(fi);
  if (int err = g.recheck(handle, ino, false)) return (void)fuse_reply_err(req, err);
  if (handle.passesThrough()) {
    auto& buffer = rawBuffer(size);
    ssize_t n = ::pread(handle.rawFd, buffer.data(), size, off);
    if (n < 0) return (void)fuse_reply_err(req, errno);
    return (void)fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.data()), static_cast<size_t>(n));
  }
  size_t got = 0;
  int err = 0;
  const uint8_t* data = nullptr;
  try {
    data = handle.file->read(size, static_cast<uint64_t>(off), got, err);
  } catch (const std::exception& error) {
    return (void)fuse_reply_err(req, g.failure(error, g.pathOf(ino), req));
  }
  if (err != 0) return (void)fuse_reply_err(req, err);
  fuse_reply_buf(req, reinterpret_cast<const char*>(data), got);
}

void FsOps::write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  GuardFs& g = fs(req);
  InflightRequest inflight(g.inflight_, g.lastForeground_);
  FileHandle& handle = handleOf(fi);
  if (int err = g.recheck(handle, ino, true)) return (void)fuse_reply_err(req, err);
  if (handle.passesThrough()) {
    ssize_t n = ::pwrite(handle.rawFd, buf, size, off);
    if (n < 0) return (void)fuse_reply_err(req, errno);
    return (void)fuse_reply_write(req, static_cast<size_t>(n));
  }
  try {
    if (int err = handle.file->write(reinterpret_cast<const uint8_t*>(buf), size, static_cast<uint64_t>(off))) {
      return (void)fuse_reply_err(req, err);
    }
  } catch (const std::exception& error) {
    return (void)fuse_reply_err(req, g.failure(error, g.pathOf(ino), req));
  }
  fuse_reply_write(req, size);
}

void GuardFs::closeHandle(fuse_file_info* fi) {
  auto* handle = &handleOf(fi);
  std::shared_ptr<Inode> node = handle->node;
  const bool raw = handle->raw();
  const bool clear = handle->clear;
  const bool write = handle->writeAction != 0;
  delete handle;
  if (raw) {
    closeRaw(std::move(node), write);
  } else if (!clear) {
    leaveView(*node, false, write);
  }
}

void FsOps::release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  fs(req).closeHandle(fi);
  fuse_reply_err(req, 0);
}

void FsOps::fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info* fi) {
  FileHandle& handle = handleOf(fi);
  if (handle.passesThrough()) {
    const int rc = datasync != 0 ? ::fdatasync(handle.rawFd) : ::fsync(handle.rawFd);
    return (void)fuse_reply_err(req, rc == 0 ? 0 : errno);
  }
  fuse_reply_err(req, handle.file->sync(datasync != 0));
}

}  // namespace veil
