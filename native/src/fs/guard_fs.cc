#include "fs/guard_fs.h"

#include "fs/fuse_abi.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "fs/backing_walk.h"
#include "fs/fs_ops.h"
#include "fs/serve_loop.h"

namespace veil {

namespace {

constexpr double kAttrTimeout = 1.0;

[[noreturn]] void fsError(const char* code, const std::string& message) { throw VeilException(code, message); }

}  // namespace

GuardFs::GuardFs(GuardConfig config, const KeyLookup& keys, EventSink events,
                 std::shared_ptr<const DecisionTable> policy)
    : config_(std::move(config)), keys_(keys), events_(std::move(events)), gate_(config_.directory) {
  gate_.install(std::move(policy));
}

GuardFs::~GuardFs() { unmount(); }

bool GuardFs::clearStaleMount(const std::string& directory) {
  struct stat st;
  if (::stat(directory.c_str(), &st) == 0 || errno != ENOTCONN) return false;
  return ::umount2(directory.c_str(), MNT_DETACH) == 0;
}

void GuardFs::mount() {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (mounted_) return;
  char resolved[PATH_MAX];
  clearStaleMount(config_.directory);
  if (::realpath(config_.directory.c_str(), resolved) == nullptr) {
    fsError("VEIL_FS_BAD_DIRECTORY", "cannot guard " + config_.directory + ": " + std::strerror(errno));
  }
  config_.directory = resolved;
  rootFd_ = ::open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootFd_ < 0) {
    fsError("VEIL_FS_BAD_DIRECTORY", "cannot guard " + config_.directory + ": " + std::strerror(errno));
  }
  try {
    struct stat st;
    if (::fstat(rootFd_, &st) != 0 || !S_ISDIR(st.st_mode)) {
      fsError("VEIL_FS_BAD_DIRECTORY", "cannot guard " + config_.directory + ": not a directory");
    }
    checkExistingFiles();
    prepareLdt();
    std::string fsname = "fsname=veil:" + config_.directory;
    std::vector<std::string> options = {"veil", "-o", "allow_other,default_permissions,subtype=veil", "-o", fsname};
    std::vector<char*> argv;
    for (auto& o : options) argv.push_back(o.data());
    fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
    fuse_lowlevel_ops ops = FsOps::table();
    session_ = fuse_session_new(&args, &ops, sizeof ops, this);
    if (session_ == nullptr) fsError("VEIL_FS_MOUNT_FAILED", "libfuse could not create a session");
    if (fuse_session_mount(session_, config_.directory.c_str()) != 0) {
      fuse_session_destroy(session_);
      session_ = nullptr;
      fsError("VEIL_FS_MOUNT_FAILED", "cannot mount over " + config_.directory +
                                          ": is /dev/fuse present and is this process root?");
    }
    fuse_custom_io io;
    std::memset(&io, 0, sizeof io);
    io.read = readDevice;
    io.writev = writeDevice;
    initPending_ = false;
    const int device = fuse_session_fd(session_);
    if (::fcntl(device, F_SETFL, ::fcntl(device, F_GETFL) | O_NONBLOCK) != 0 ||
        fuse_session_custom_io(session_, &io, device) != 0) {
      fuse_session_unmount(session_);
      fuse_session_destroy(session_);
      session_ = nullptr;
      fsError("VEIL_FS_MOUNT_FAILED", "libfuse could not take over the mount's /dev/fuse descriptor");
    }
  } catch (...) {
    journal_.reset();
    ::close(rootFd_);
    rootFd_ = -1;
    throw;
  }
  mounted_ = true;
  {
    std::lock_guard<std::mutex> notices(noticeMutex_);
    noticesEnd_ = false;
  }
  notifier_ = std::thread([this] { runNotifier(); });
  // No signal handlers: Node owns the process's signals and unmounts through unmount().
  loop_ = std::thread([this] {
    ServeLoop(session_, config_.threads).run();
    if (!stopping_) {
      events_(FsEvent{"unmounted", ".", "VEIL_FS_UNMOUNTED_EXTERNALLY",
                      "the guard point was unmounted by someone else (umount)", 0, 0, std::nullopt});
    }
  });
}

// The descriptor is non-blocking, and only the ServeLoop's reader reads it: when nothing
// is queued, the reader keeps asking for a short while before it sleeps. A process that
// makes one request after another then finds it awake, and each request saves waking a
// thread on a CPU gone idle (tar -x of small files: a quarter faster). How long it keeps
// asking adapts, as KVM's halt polling does: it grows while requests come within
// kSpinMax of the last one and shrinks, down to not at all, while they come later.
ssize_t GuardFs::readDevice(int fd, void* buf, size_t size, void* self) {
  auto* fs = static_cast<GuardFs*>(self);
  ssize_t n = ::read(fd, buf, size);
  if (n < 0 && errno == EAGAIN) {
    using Clock = std::chrono::steady_clock;
    constexpr std::chrono::nanoseconds kSpinMax = std::chrono::microseconds(50);
    constexpr std::chrono::nanoseconds kSpinFirst = std::chrono::microseconds(5);
    const auto start = Clock::now();
    const std::chrono::nanoseconds spin(fs->spinNs_.load(std::memory_order_relaxed));
    while (n < 0 && errno == EAGAIN && Clock::now() - start < spin) {
      ::sched_yield();  // anything else runnable on this CPU goes first
      n = ::read(fd, buf, size);
    }
    if (n < 0 && errno == EAGAIN) {
      while (n < 0 && errno == EAGAIN) {
        pollfd device{fd, POLLIN, 0};
        if (::poll(&device, 1, -1) < 0 && errno != EINTR) return -1;
        n = ::read(fd, buf, size);
      }
      std::chrono::nanoseconds next = spin;
      if (Clock::now() - start <= kSpinMax) {
        next = spin.count() == 0 ? kSpinFirst : std::min(spin * 2, kSpinMax);
      } else {
        next = spin / 2 < kSpinFirst ? std::chrono::nanoseconds(0) : spin / 2;
      }
      fs->spinNs_.store(next.count(), std::memory_order_relaxed);
    }
  }
  using namespace fuse_abi;
  if (n >= static_cast<ssize_t>(sizeof(InHeader) + kInitFlagsOffset + 4)) {
    const auto* bytes = static_cast<const uint8_t*>(buf);
    InHeader in;
    std::memcpy(&in, bytes, sizeof in);
    if (in.opcode == kInit) {
      uint32_t flags = 0;
      std::memcpy(&flags, bytes + sizeof(InHeader) + kInitFlagsOffset, sizeof flags);
      fs->initUnique_ = in.unique;
      fs->initPending_ = (flags & kHandleKillpriv) != 0;
    }
  }
  return n;
}

ssize_t GuardFs::writeDevice(int fd, struct iovec* iov, int count, void* self) {
  using namespace fuse_abi;
  auto* fs = static_cast<GuardFs*>(self);
  if (fs->initPending_ && count >= 2 && iov[0].iov_len >= sizeof(OutHeader) &&
      iov[1].iov_len >= kInitFlagsOffset + 4) {
    OutHeader out;
    std::memcpy(&out, iov[0].iov_base, sizeof out);
    if (out.unique == fs->initUnique_) {
      fs->initPending_ = false;
      if (out.error == 0) {
        auto* flags = static_cast<uint8_t*>(iov[1].iov_base) + kInitFlagsOffset;
        uint32_t value = 0;
        std::memcpy(&value, flags, sizeof value);
        value |= kHandleKillpriv;
        std::memcpy(flags, &value, sizeof value);
      }
    }
  }
  return ::writev(fd, iov, count);
}

void GuardFs::unmount() {
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (!mounted_) return;
  mounted_ = false;
  stopping_ = true;
  fuse_session_exit(session_);
  // Detaches the mount; the kernel then ends the connection and the loop threads return.
  fuse_session_unmount(session_);
  if (loop_.joinable()) loop_.join();
  {
    std::lock_guard<std::mutex> notices(noticeMutex_);
    noticesEnd_ = true;
  }
  noticeReady_.notify_all();
  if (notifier_.joinable()) notifier_.join();
  fuse_session_destroy(session_);
  session_ = nullptr;
  {
    // A transformation batch sees mounted_ false and stops at its next file or run.
    std::lock_guard<std::mutex> ldt(ldtMutex_);
    journal_.reset();
  }
  ::close(rootFd_);
  rootFd_ = -1;
  events_(FsEvent{"unmounted", ".", "", "the guard point was unmounted", 0, 0, std::nullopt});
  stopping_ = false;
}

// Existing plaintext is never silently mixed with containers (initial encryption comes
// with the rekey issue): the mount is refused and the files are named. The first
// container found must open with the configured key, so a wrong key file is refused
// before anything is served (unless verifyKeys is off: the keys come later). A container longer than its header's size is what a crash
// during an extending write leaves: it is set back before `stat` can report the length.
void GuardFs::checkExistingFiles() {
  std::vector<std::string> plaintext;
  std::string sample;
  // Served plaintext is recorded whatever its number; refused plaintext is named, five at most.
  forEachBackingFile(
      rootFd_, kLdtDirName, [&] { return config_.servePlaintext || plaintext.size() < 5; },
      [&](const std::string& path, int dirFd, const char* name) {
        int file = ::openat(dirFd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (file < 0) return;
        struct stat st;
        bool container = false;
        std::optional<uint64_t> size;
        const bool regular = ::fstat(file, &st) == 0 && S_ISREG(st.st_mode);
        if (regular) size = peekHeaderSize(file, container);
        ::close(file);
        if (!regular) return;
        if (!container) {
          if (config_.servePlaintext) {
            std::lock_guard<std::mutex> plain(plainMutex_);
            plainFiles_.insert(BackingId{st.st_dev, st.st_ino});
          } else if (!keptClear(path)) {
            plaintext.push_back(path);
          }
          return;
        }
        if (sample.empty()) sample = path;
        if (size && Layout::containerLength(*size) < static_cast<uint64_t>(st.st_size)) {
          repairLength(path, static_cast<uint64_t>(st.st_size), *size);
        }
      });
  if (!plaintext.empty()) {
    std::string list;
    for (const auto& f : plaintext) list += (list.empty() ? "" : ", ") + f;
    fsError("VEIL_FS_PLAINTEXT_PRESENT", config_.directory + " holds files that are not encrypted (" + list +
                                             "): move them out, or wait for initial encryption; Veil will not "
                                             "mix plaintext and encrypted files");
  }
  if (sample.empty() || !config_.verifyKeys) return;
  int file = ::openat(rootFd_, sample.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  uint8_t header[kHeaderSize];
  ssize_t n = file < 0 ? -1 : ::pread(file, header, sizeof header, 0);
  if (file >= 0) ::close(file);
  try {
    Container::open(keys_, header, n < 0 ? 0 : static_cast<size_t>(n))->close();
  } catch (const VeilException& error) {
    fsError("VEIL_FS_WRONG_KEY", "the key given does not open the files already in " + config_.directory + " (" +
                                     sample + ": " + error.what() + ")");
  }
}

void GuardFs::repairLength(const std::string& path, uint64_t length, uint64_t size) {
  int fd = ::openat(rootFd_, path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  int err = fd < 0 ? errno : setContainerLength(fd, length, Layout::containerLength(size));
  if (fd >= 0) ::close(fd);
  events_(FsEvent{"recovered", path, err == 0 ? "" : "VEIL_FS_REPAIR_FAILED",
                  err == 0 ? "the container was longer than its header's size (a write a crash interrupted): "
                             "set back to " + std::to_string(size) + " bytes"
                           : std::string("the container is longer than its header's size and could not be set "
                                         "back: ") + std::strerror(err),
                  0, 0, std::nullopt});
}

std::string GuardFs::pathOf(fuse_ino_t id) const {
  auto node = inode(id);
  return node ? inodes_.path(*node) : std::string();
}

Requester GuardFs::requester(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  // libfuse reads the supplementary groups from /proc: only when a user set needs them.
  auto groups = [req]() {
    std::vector<gid_t> out(64);
    int n = fuse_req_getgroups(req, static_cast<int>(out.size()), out.data());
    if (n > static_cast<int>(out.size())) {
      out.resize(static_cast<size_t>(n));
      n = fuse_req_getgroups(req, n, out.data());
    }
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
  };
  return Requester(ctx->uid, ctx->gid, ctx->pid, groups, &gate_.hashes());
}

bool GuardFs::allowed(fuse_req_t req, uint32_t action, const std::string& path) {
  auto table = gate_.table();
  if (!table) return true;
  Requester who = requester(req);
  return decide(who, action, path, *table).permit;
}

bool GuardFs::allowed(Requester& who, uint32_t action, const std::string& path) {
  auto table = gate_.table();
  return !table || decide(who, action, path, *table).permit;
}

Verdict GuardFs::decide(Requester& who, uint32_t action, const std::string& path, const DecisionTable& table) {
  Verdict verdict = evaluate(table, who, action, path);
  if (verdict.audit) record(who, action, path, table, verdict, "");
  return verdict;
}

Verdict GuardFs::decideData(Requester& who, uint32_t action, const std::string& path, const DecisionTable& table,
                            std::optional<bool> raw, const char* otherView) {
  Verdict verdict = evaluate(table, who, action, path);
  std::string refusal;
  if (verdict.permit && !verdict.applyKey && action == kExec) {
    refusal = "permitted without apply_key: the encrypted view of a program cannot be run";
  } else if (verdict.permit && raw && *raw == verdict.applyKey) {
    refusal = otherView;
  }
  if (!refusal.empty()) {
    verdict.permit = false;
    verdict.audit = true;
  }
  if (verdict.audit) record(who, action, path, table, verdict, refusal);
  return verdict;
}

void GuardFs::record(Requester& who, uint32_t action, const std::string& path, const DecisionTable& table,
                     const Verdict& verdict, std::string message) {
  FsEvent::Access access;
  access.timeMs = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  access.policy = table.name;
  access.digest = table.digest;
  access.rule = verdict.rule;
  access.action = actionName(action);
  access.effect = verdict.permit ? "permit" : "deny";
  access.applyKey = verdict.applyKey;
  access.learned = verdict.learned;
  access.gid = who.gid();
  access.executable = who.executable();
  if (message.empty()) {
    message = verdict.learned    ? "learn mode: would have been denied"
              : verdict.rule < 0 ? "no rule matched"
                                 : "rule " + std::to_string(verdict.rule);
  }
  events_(FsEvent{"access", path, "", std::move(message), who.uid(), who.pid(), std::move(access)});
}

void GuardFs::setPolicy(std::shared_ptr<const DecisionTable> policy) {
  gate_.install(std::move(policy));
  std::lock_guard<std::mutex> lock(lifecycle_);
  if (!mounted_ || session_ == nullptr) return;
  // Pages the kernel cached for a permitted reader would otherwise keep being served to
  // every opener without asking: drop them for every open file.
  for (fuse_ino_t ino : inodes_.openInodes()) fuse_lowlevel_notify_inval_inode(session_, ino, 0, 0);
}

void GuardFs::closeRaw(std::shared_ptr<Inode> node, bool wrote) {
  Notice notice;
  notice.ino = node->id;
  if (wrote) std::tie(notice.parent, notice.name) = inodes_.retire(*node);
  notice.leaving = std::move(node);
  notice.leavingWriter = wrote;
  notifyKernel(std::move(notice));
}

void GuardFs::notifyKernel(Notice notice) {
  {
    std::lock_guard<std::mutex> lock(noticeMutex_);
    notices_.push_back(std::move(notice));
  }
  noticeReady_.notify_one();
}

void GuardFs::runNotifier() {
  std::unique_lock<std::mutex> lock(noticeMutex_);
  for (;;) {
    noticeReady_.wait(lock, [this] { return noticesEnd_ || !notices_.empty(); });
    if (noticesEnd_) return;
    std::vector<Notice> batch;
    batch.swap(notices_);
    lock.unlock();
    for (const Notice& notice : batch) {
      fuse_lowlevel_notify_inval_inode(session_, notice.ino, 0, 0);
      if (notice.parent != 0) {
        fuse_lowlevel_notify_inval_entry(session_, notice.parent, notice.name.c_str(), notice.name.size());
      }
      if (notice.leaving) leaveView(*notice.leaving, true, notice.leavingWriter);
    }
    lock.lock();
  }
}

GuardFs::NewFileKey GuardFs::keyForNewFile(const std::string& path) const {
  NewFileKey key;
  key.id = config_.keyId;
  key.version = config_.keyVersion;
  auto table = gate_.table();
  if (!table) return key;
  std::optional<int> chosen = keyFor(*table, path);
  if (!chosen) {
    key.none = true;
  } else if (*chosen == kClearKey) {
    key.clear = true;
  } else {
    key.id = table->keys[static_cast<size_t>(*chosen)].keyId;
    key.version = table->keys[static_cast<size_t>(*chosen)].version;
  }
  return key;
}

bool GuardFs::keptClear(const std::string& path) const {
  auto table = gate_.table();
  return table && !table->keyRules.empty() && keyFor(*table, path) == kClearKey;
}

int GuardFs::statPath(const std::string& path, struct stat& st) const {
  if (path.empty()) return ENOENT;
  if (::fstatat(rootFd_, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return errno;
  // The container's length says its logical size (docs/format.md): no header read. A
  // length no container has (not one at all) shows as empty. A clear_key file's length
  // is its size.
  if (S_ISREG(st.st_mode) && !keptClear(path) && !servedPlain(st)) st.st_size = static_cast<off_t>(Layout::sizeFromLength(st.st_size).value_or(0));
  return 0;
}

int GuardFs::attrFor(const Inode& node, struct stat& st) {
  std::shared_ptr<OpenFile> open;
  {
    std::lock_guard<std::mutex> lock(node.openMutex);
    open = node.open.lock();
  }
  if (open) {
    if (::fstat(open->fd(), &st) != 0) return errno;
    st.st_size = static_cast<off_t>(open->size());
    return 0;
  }
  return statPath(inodes_.path(node), st);
}

int GuardFs::entryFor(const std::shared_ptr<Inode>& parent, const std::string& name, const std::string& path,
                      fuse_entry_param& e) {
  struct stat st;
  if (int err = statPath(path, st)) return err;
  entryFromStat(parent, name, st, e);
  return 0;
}

void GuardFs::entryFromStat(const std::shared_ptr<Inode>& parent, const std::string& name, const struct stat& st,
                            fuse_entry_param& e) {
  std::memset(&e, 0, sizeof e);
  auto node = inodes_.remember(parent, name, st);
  e.ino = node->id;
  e.attr = st;
  e.attr_timeout = kAttrTimeout;
  e.entry_timeout = kAttrTimeout;
}

// New files, directories and links belong to the caller, as on a local filesystem.
// This process creates files as root:root, and the backing filesystem has already given a
// file in a setgid directory that directory's group: a root caller (tar, a package
// manager) needs no chown at all, and the directory is looked at only when the file's group
// alone cannot tell whether it was inherited.
int GuardFs::ownNewFile(fuse_req_t req, const std::string& path, int fd, struct stat& st) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  gid_t gid = st.st_gid;
  if (gid == 0 && ctx->gid != 0) {
    struct stat parent;
    std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
    const bool inherited = ::fstatat(rootFd_, dir.c_str(), &parent, 0) == 0 && (parent.st_mode & S_ISGID);
    if (!inherited) gid = ctx->gid;
  }
  if (st.st_uid == ctx->uid && st.st_gid == gid) return 0;
  if (::fchown(fd, ctx->uid, gid) != 0) return errno;
  st.st_uid = ctx->uid;
  st.st_gid = gid;
  return 0;
}

int GuardFs::ownByCaller(fuse_req_t req, const std::string& path) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  uid_t uid = ctx->uid;
  gid_t gid = ctx->gid;
  struct stat parent;
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (::fstatat(rootFd_, dir.c_str(), &parent, 0) == 0 && (parent.st_mode & S_ISGID)) gid = parent.st_gid;
  return ::fchownat(rootFd_, path.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
}

// Crypto and format failures become EIO (tampering) or ENOKEY (no usable key), and an event.
int GuardFs::failure(const std::exception& error, const std::string& path, fuse_req_t req) {
  const auto* veil = dynamic_cast<const VeilException*>(&error);
  std::string code = veil != nullptr ? veil->code() : "VEIL_CRYPTO_FAILED";
  const bool keyProblem = code == "VEIL_KEY_NOT_FOUND" || code == "VEIL_KEY_NOT_ACTIVE";
  const fuse_ctx* ctx = req != nullptr ? fuse_req_ctx(req) : nullptr;
  events_(FsEvent{keyProblem ? "key-unavailable" : "tamper", path, code, error.what(),
                  ctx != nullptr ? ctx->uid : 0, ctx != nullptr ? ctx->pid : 0, std::nullopt});
  return keyProblem ? ENOKEY : EIO;
}

std::shared_ptr<OpenFile> GuardFs::openFile(const std::shared_ptr<Inode>& node, const std::string& path, int& err) {
  std::lock_guard<std::mutex> lock(node->openMutex);
  if (auto open = node->open.lock()) return open;
  int fd = ::openat(rootFd_, path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    err = errno;
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  // The name leads to another file than the inode's (replaced meanwhile): the kernel looks again.
  if (st.st_dev != node->dev || st.st_ino != node->backingIno) {
    ::close(fd);
    err = ESTALE;
    return nullptr;
  }
  auto open = shareOpenFile(fd, st);
  node->open = open;
  return open;
}

std::shared_ptr<OpenFile> GuardFs::shareOpenFile(int fd, const struct stat& st) {
  bool made = false;
  try {
    auto open = registry_.acquire(BackingId{st.st_dev, st.st_ino}, [&]() -> std::shared_ptr<OpenFile> {
      uint8_t header[kHeaderSize];
      ssize_t n = ::pread(fd, header, sizeof header, 0);
      auto container = Container::open(keys_, header, n < 0 ? 0 : static_cast<size_t>(n));
      made = true;
      return std::make_shared<OpenFile>(fd, std::move(container));
    });
    if (!made) ::close(fd);
    return open;
  } catch (...) {
    if (!made) ::close(fd);
    throw;
  }
}

std::unique_ptr<FileRegistry::Pin> GuardFs::pinFile(const Inode& node, int& err) {
  // A whole-file replacement of a large file takes a while; a waiting open then finds its
  // inode number retired and the kernel looks the name up again.
  constexpr int kWaitMs = 60'000;
  auto pin = registry_.pin(BackingId{node.dev, node.backingIno}, kWaitMs);
  err = !pin ? EBUSY : node.stale ? ESTALE : 0;
  if (err != 0) pin.reset();
  return pin;
}

bool GuardFs::reservedName(fuse_ino_t parent, const char* name) {
  return parent == FUSE_ROOT_ID && std::strcmp(name, kLdtDirName) == 0;
}

bool GuardFs::servedPlain(const struct stat& st) const {
  if (!config_.servePlaintext) return false;
  std::lock_guard<std::mutex> lock(plainMutex_);
  return plainFiles_.count(BackingId{st.st_dev, st.st_ino}) != 0;
}

bool GuardFs::servedPlain(const Inode& node) const {
  if (!config_.servePlaintext) return false;
  std::lock_guard<std::mutex> lock(plainMutex_);
  return plainFiles_.count(BackingId{node.dev, node.backingIno}) != 0;
}

fuse_lowlevel_ops FsOps::table() {
  fuse_lowlevel_ops ops;
  std::memset(&ops, 0, sizeof ops);
  ops.init = init;
  ops.lookup = lookup;
  ops.forget = forget;
  ops.forget_multi = forgetMulti;
  ops.getattr = getattr;
  ops.setattr = setattr;
  ops.readlink = readlink;
  ops.mknod = mknod;
  ops.mkdir = mkdir;
  ops.symlink = symlink;
  ops.unlink = unlink;
  ops.rmdir = rmdir;
  ops.rename = rename;
  ops.link = link;
  ops.open = open;
  ops.create = create;
  ops.read = read;
  ops.write = write;
  // No flush: with nothing to do at close, ENOSYS makes the kernel stop sending it (one
  // round trip less per close); dirty pages are still written back before close returns.
  ops.release = release;
  ops.fsync = fsync;
  ops.opendir = opendir;
  ops.readdir = readdir;
  ops.releasedir = releasedir;
  ops.fsyncdir = fsyncdir;
  ops.statfs = statfs;
  ops.setxattr = setxattr;
  ops.getxattr = getxattr;
  ops.listxattr = listxattr;
  ops.removexattr = removexattr;
  return ops;
}

}  // namespace veil
