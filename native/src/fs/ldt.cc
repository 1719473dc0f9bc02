// Live data transformation on a mounted guard point (docs/format.md, "Re-encryption"):
// the agent's worker scans the backing files and asks for rewraps, re-encryptions and
// initial encryptions, file by file, while the kernel keeps being served. Files are
// reached by path through the root descriptor, and shared with FUSE through the file
// registry: one OpenFile, one lock, one header in memory per backing file.
#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <tuple>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/fd_io.h"
#include "crypto/kdf.h"
#include "fs/backing_walk.h"
#include "fs/guard_fs.h"

namespace veil {

namespace {

constexpr size_t kCopyChunk = 1 << 20;  // plaintext per step of a whole-file replacement
// A run holds the file alone for at most 8 groups (4 MiB); between runs, and before the
// syncs of a batch, the worker gives way to foreground reads and writes in steps this long.
constexpr auto kYield = std::chrono::microseconds(800);

// Closes a descriptor at the end of its scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Runs `undo` at the end of its scope unless dismissed.
template <typename Undo>
class ScopeExit {
 public:
  explicit ScopeExit(Undo undo) : undo_(std::move(undo)) {}
  ~ScopeExit() {
    if (armed_) undo_();
  }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  void dismiss() { armed_ = false; }

 private:
  Undo undo_;
  bool armed_ = true;
};

// Error codes of a result: the native core's own, or the errno name of a system call.
void fail(LdtResult& result, const char* code, const std::string& message) {
  result.done = false;
  result.errorCode = code;
  result.errorMessage = message;
}

void failErrno(LdtResult& result, int err, const std::string& what) {
  const char* name = ::strerrorname_np(err);
  fail(result, name != nullptr ? name : "EIO", what + ": " + std::strerror(err));
}

// Relative, without empty, "." or ".." components (openat would leave the guard point
// through ".."), and not inside the guard point's own directory.
bool acceptablePath(const std::string& path) {
  if (path.empty() || path.size() >= PATH_MAX || path.front() == '/' || path.find('\0') != std::string::npos) {
    return false;
  }
  size_t start = 0;
  bool first = true;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || (first && part == kLdtDirName)) return false;
    first = false;
    start = end + 1;
  }
  return true;
}

// The fields of a header the scan reports, unverified: no key is used.
struct Peek {
  bool container = false;
  Cipher cipher = Cipher::Gcm;
  bool reencrypting = false;
  uint64_t size = 0;
  uint64_t progress = 0;
  Uuid keyA{};
  uint32_t versionA = 0;
  Uuid keyB{};
  uint32_t versionB = 0;
};

Peek peek(const uint8_t* h, size_t length) {
  Peek p;
  p.container = length >= kHeaderSize && std::memcmp(h, kMagic, sizeof kMagic) == 0;
  if (!p.container) return p;
  p.cipher = h[16] == static_cast<uint8_t>(Cipher::Xts) ? Cipher::Xts : Cipher::Gcm;
  p.reencrypting = h[18] == static_cast<uint8_t>(FileState::Reencrypting);
  p.size = getU64(h + 40);
  p.progress = getU64(h + 48);
  std::memcpy(p.keyA.data(), h + 56, p.keyA.size());
  p.versionA = getU32(h + 72);
  std::memcpy(p.keyB.data(), h + 140, p.keyB.size());
  p.versionB = getU32(h + 156);
  return p;
}

Peek peekFd(int fd) {
  uint8_t header[kHeaderSize];
  ssize_t n = ::pread(fd, header, sizeof header, 0);
  return peek(header, n < 0 ? 0 : static_cast<size_t>(n));
}

bool sameKey(const KeySlot& slot, const LdtRequest& request) {
  return slot.keyId == request.keyId && slot.version == request.version;
}

std::string parentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// User and trusted xattrs (ACLs, labels) go with the file; one that cannot be copied is left.
void copyXattrs(int from, int to) {
  ssize_t size = ::flistxattr(from, nullptr, 0);
  if (size <= 0) return;
  std::vector<char> names(static_cast<size_t>(size));
  size = ::flistxattr(from, names.data(), names.size());
  if (size <= 0) return;
  std::vector<char> value;
  for (const char* name = names.data(); name < names.data() + size; name += std::strlen(name) + 1) {
    ssize_t length = ::fgetxattr(from, name, nullptr, 0);
    if (length < 0) continue;
    value.resize(static_cast<size_t>(length));
    length = ::fgetxattr(from, name, value.data(), value.size());
    if (length >= 0) ::fsetxattr(to, name, value.data(), static_cast<size_t>(length), 0);
  }
}

}  // namespace

// Before serving: replacements a crash interrupted are deleted (their original is intact),
// and the journal's runs are checked.
void GuardFs::prepareLdt() {
  int dirFd = ::openat(rootFd_, kLdtDirName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirFd >= 0) {
    if (DIR* d = ::fdopendir(dirFd)) {
      while (dirent* entry = ::readdir(d)) {
        if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
          ::unlinkat(::dirfd(d), entry->d_name, 0);
        }
      }
      ::closedir(d);
    } else {
      ::close(dirFd);
    }
  }
  if (config_.ldtJournal.empty()) return;
  // Inside the guard point it would be served (and rewritten) through the mount itself.
  const std::string& journal = config_.ldtJournal;
  const std::string dir = journal.rfind('/') == 0 ? "/" : journal.substr(0, journal.rfind('/'));
  char resolved[PATH_MAX];
  if (journal.empty() || journal.front() != '/' || ::realpath(dir.c_str(), resolved) == nullptr) {
    throw VeilException("VEIL_FS_BAD_DIRECTORY", "the ldt journal's directory " + dir + " does not exist");
  }
  const std::string inside = resolved;
  if (inside == config_.directory || inside.rfind(config_.directory + "/", 0) == 0) {
    throw VeilException("VEIL_FS_BAD_DIRECTORY", "the ldt journal " + journal + " must be outside the guard point");
  }
  journal_ = std::make_unique<LdtJournal>(journal);
  journalPending_ = false;
  recoverJournal();
}

// A run the worker was overwriting when the process ended: every block of it that
// decrypts under neither key (its data page and tag entry did not both reach the disk)
// gets its stored bytes back, and the mark goes back to the run's start at most.
void GuardFs::recoverJournal() {
  bool pending = false;
  for (const JournalRecord& record : journal_->records()) {
    Fd fd(::openat(rootFd_, record.path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) continue;  // gone: nothing to put back
    uint8_t header[kHeaderSize];
    if (::pread(fd.get(), header, sizeof header, 0) != static_cast<ssize_t>(sizeof header) ||
        std::memcmp(header + 24, record.fileId.data(), kFileIdSize) != 0) {
      continue;  // another file has the name now
    }
    std::shared_ptr<Container> container;
    try {
      container = Container::open(keys_, header, sizeof header);
    } catch (const VeilException& error) {
      // A locked mount: the record waits in the journal for a mount with the keys.
      pending = true;
      events_(FsEvent{"key-unavailable", record.path, error.code(),
                      std::string("an interrupted re-encryption run waits for its key to be checked: ") + error.what(),
                      0, 0, std::nullopt});
      continue;
    }
    const Header h = container->header();
    const uint64_t blocks = blockCount(h.size);
    unsigned restored = 0;
    int err = 0;
    alignas(64) uint8_t page[kPageSize];
    uint8_t entry[kTagEntrySize];
    for (uint32_t i = 0; i < record.count && record.first + i < blocks && err == 0; ++i) {
      const uint64_t index = record.first + i;
      const bool readable = preadExact(fd.get(), page, sizeof page, Layout::blockOffset(index)) == 0 &&
                            preadExact(fd.get(), entry, sizeof entry, Layout::entryOffset(index)) == 0 &&
                            container->blockDecrypts(index, page, entry);
      if (readable) continue;
      // The record's copy must decrypt itself: pages torn in the journal (a crash while it
      // was written, before its run started) or left from an older run are not put back.
      const uint8_t* saved = record.data.data() + i * kPageSize;
      const uint8_t* savedEntry = record.tags.data() + i * kTagEntrySize;
      if (!container->blockDecrypts(index, saved, savedEntry)) continue;
      err = pwriteAll(fd.get(), record.data.data() + i * kPageSize, kPageSize, Layout::blockOffset(index));
      if (err == 0) {
        err = pwriteAll(fd.get(), record.tags.data() + i * kTagEntrySize, kTagEntrySize, Layout::entryOffset(index));
      }
      ++restored;
    }
    const bool lower = err == 0 && h.state == FileState::Reencrypting && h.progress > record.first;
    if (lower) err = pwriteAll(fd.get(), container->setProgress(std::min(record.first, blocks)).data(), kHeaderSize, 0);
    if (err == 0 && ::fdatasync(fd.get()) != 0) err = errno;
    container->close();
    if (err != 0) {
      pending = true;
      events_(FsEvent{"recovered", record.path, "VEIL_FS_REPAIR_FAILED",
                      std::string("an interrupted re-encryption run could not be put back: ") + std::strerror(err), 0, 0,
                      std::nullopt});
    } else if (restored > 0 || lower) {
      events_(FsEvent{"recovered", record.path, "",
                      "an interrupted re-encryption run was checked: " + std::to_string(restored) +
                          " torn block(s) put back from the journal",
                      0, 0, std::nullopt});
    }
  }
  journalPending_ = pending;
  if (!pending) journal_->clear();
}

std::vector<LdtScanEntry> GuardFs::scanFiles() {
  std::lock_guard<std::mutex> lock(ldtMutex_);
  if (!mounted_) throw VeilException("VEIL_INVALID_ARGUMENT", "the guard point is not mounted");
  std::vector<LdtScanEntry> out;
  forEachBackingFile(
      rootFd_, kLdtDirName, [this] { return mounted_.load(); },
      [&](const std::string& path, int dirFd, const char* name) {
        Fd file(::openat(dirFd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        struct stat st;
        if (file.get() < 0 || ::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode)) return;
        const Peek p = peekFd(file.get());
        LdtScanEntry item;
        item.path = path;
        if (!p.container) {
          item.kind = LdtScanEntry::Kind::Plaintext;
          item.size = static_cast<uint64_t>(st.st_size);
        } else {
          item.kind = p.reencrypting ? LdtScanEntry::Kind::Reencrypting : LdtScanEntry::Kind::Container;
          item.size = p.size;
          item.cipher = p.cipher;
          item.keyId = p.keyA;
          item.keyVersion = p.versionA;
          if (p.reencrypting) {
            item.targetKeyId = p.keyB;
            item.targetKeyVersion = p.versionB;
            item.progress = p.progress;
          }
        }
        out.push_back(std::move(item));
      });
  return out;
}

std::vector<LdtResult> GuardFs::transformFiles(const std::vector<LdtRequest>& requests) {
  std::lock_guard<std::mutex> lock(ldtMutex_);
  if (!mounted_) throw VeilException("VEIL_INVALID_ARGUMENT", "the guard point is not mounted");
  std::vector<LdtResult> results(requests.size());
  std::vector<size_t> batch;
  std::vector<size_t> rest;
  for (size_t i = 0; i < requests.size(); ++i) {
    results[i].path = requests[i].path;
    const bool batchable = requests[i].op == LdtRequest::Op::Reencrypt && journal_ && !journalPending_ &&
                           acceptablePath(requests[i].path);
    (batchable ? batch : rest).push_back(i);
  }
  // Two or more: one file alone is cheaper with its own fdatasyncs than with two syncfs.
  if (batch.size() > 1) {
    reencryptBatch(requests, batch, results, rest);
    std::sort(rest.begin(), rest.end());
  } else {
    rest.insert(rest.end(), batch.begin(), batch.end());
    std::sort(rest.begin(), rest.end());
  }
  // Rewraps are a few system calls and small crypto each, independent of one another: a
  // second thread takes every other one of a long list (the host has cores to spare; the
  // FUSE threads yield nothing to this, they only share the files' own locks).
  std::vector<size_t> rewraps;
  std::vector<size_t> others;
  for (size_t i : rest) (requests[i].op == LdtRequest::Op::Rewrap ? rewraps : others).push_back(i);
  auto work = [&](const std::vector<size_t>& list, size_t from, size_t stride, bool& rewrapped) {
    for (size_t k = from; k < list.size(); k += stride) {
      const size_t i = list[k];
      if (!mounted_) {
        // Unmounting: the rest waits for the next mount.
        results[i].skipped = "busy";
        continue;
      }
      try {
        results[i] = transformOne(requests[i], rewrapped);
      } catch (const std::exception& error) {
        fail(results[i], "EIO", error.what());
      }
    }
  };
  bool rewrapped = false;
  constexpr size_t kParallelRewraps = 64;
  if (rewraps.size() >= kParallelRewraps && std::thread::hardware_concurrency() > 1) {
    bool second = false;
    std::thread helper([&] { work(rewraps, 1, 2, second); });
    work(rewraps, 0, 2, rewrapped);
    helper.join();
    rewrapped = rewrapped || second;
  } else {
    work(rewraps, 0, 1, rewrapped);
  }
  work(others, 0, 1, rewrapped);
  // A rewrap is one header write per file: one syncfs makes them all durable before the
  // agent reports the old version unused.
  if (rewrapped && ::syncfs(rootFd_) != 0) {
    const int err = errno;
    for (size_t i = 0; i < results.size(); ++i) {
      if (requests[i].op == LdtRequest::Op::Rewrap && results[i].done) failErrno(results[i], err, "syncfs");
    }
  }
  return results;
}

// Small files re-encrypted in rounds of up to one journal's worth (docs/format.md,
// "Batches of small files"). Per round: every file staged (verified, its stored bytes
// journaled, its new ciphertext in memory), one fdatasync of the journal; the blocks and
// state-1 headers written, one syncfs; the final headers written, one syncfs; then the
// records are void. A file written through the mount between staging and writing is left
// for the per-file path (its staged blocks are stale).
void GuardFs::reencryptBatch(const std::vector<LdtRequest>& requests, const std::vector<size_t>& which,
                             std::vector<LdtResult>& results, std::vector<size_t>& rest) {
  constexpr uint64_t kRoundBytes = 64ull << 20;
  struct Item {
    size_t index;
    BackingId id;
    std::shared_ptr<OpenFile> open;
    OpenFile::Staged staged;
    bool written = false;
  };
  // Tests only (test/native/ldt_batch.test.ts): LDT_TEST_TORN_BATCH=K makes the K-th
  // file written by a batch a torn one, as a power cut would leave it (its new data pages
  // on disk, its tag entries and header not), and ends the process there.
  static const long tornAt = [] {
    const char* value = std::getenv("LDT_TEST_TORN_BATCH");
    return value != nullptr ? std::strtol(value, nullptr, 10) : 0;
  }();
  static long written = 0;
  auto tornBatchFault = [&](const Item& item) {
    if (tornAt <= 0 || ++written < tornAt || item.staged.count == 0) return false;
    pwriteAll(item.open->fd(), item.staged.data.data(), item.staged.count * kPageSize, Layout::blockOffset(0));
    ::raise(SIGKILL);
    return true;
  };
  size_t next = 0;
  while (next < which.size()) {
    if (!mounted_) {
      rest.insert(rest.end(), which.begin() + static_cast<std::ptrdiff_t>(next), which.end());
      return;
    }
    std::vector<Item> round;
    uint64_t roundBytes = 0;
    bool stuck = false;  // the journal refused a record: the rest go one by one
    while (next < which.size() && round.size() < LdtJournal::kSlots && roundBytes < kRoundBytes && !stuck) {
      const size_t index = which[next++];
      const LdtRequest& request = requests[index];
      LdtResult& result = results[index];
      int err = 0;
      BackingId id;
      std::shared_ptr<OpenFile> open;
      try {
        open = openByPath(request.path, err, id);
      } catch (const VeilException&) {
        rest.push_back(index);  // not a container, or no key: the per-file path says so
        continue;
      }
      if (!open) {
        if (err == ENOENT) {
          result.skipped = "gone";
          result.done = true;
        } else {
          failErrno(result, err, "open");
        }
        continue;
      }
      const bool twice = std::any_of(round.begin(), round.end(), [&](const Item& item) { return item.id == id; });
      if (twice) {
        open.reset();
        rest.push_back(index);
        continue;
      }
      Item item{index, id, std::move(open), {}, false};
      const Header h = item.open->header();
      JournalRecord record;
      record.fileId = h.fileId;
      record.dev = id.dev;
      record.ino = id.ino;
      record.path = request.path;
      auto journal = [&](uint64_t first, uint32_t count, const uint8_t* data, const uint8_t* tags) {
        record.first = first;
        record.count = count;
        bool full = false;
        const int e = journal_->stage(record, data, tags, full);
        return e != 0 ? e : full ? EAGAIN : 0;
      };
      bool already = false;
      const uint64_t budget = (request.maxBytes + kPlainBlockSize - 1) / kPlainBlockSize;
      try {
        err = item.open->stageWhole(keys_, request.keyId, request.version, budget, journal, item.staged, already);
      } catch (const VeilException& error) {
        fail(result, error.code(), error.what());
        item.open.reset();
        registry_.tidy(id);
        continue;
      }
      if (err == EAGAIN || err == EBUSY) {
        stuck = err == EBUSY;
        item.open.reset();
        registry_.tidy(id);
        rest.push_back(index);
        continue;
      }
      if (err != 0 || already) {
        if (err != 0) failErrno(result, err, "re-encryption");
        result.done = already;
        item.open.reset();
        registry_.tidy(id);
        continue;
      }
      roundBytes += item.staged.count * kPageSize;
      round.push_back(std::move(item));
    }
    if (round.empty()) {
      journal_->voidStaged();  // records of files that failed after staging: nothing was overwritten
      continue;
    }
    // A key withdrawn meanwhile fails its file alone.
    auto guarded = [&](Item& item, auto&& step) {
      try {
        step();
      } catch (const VeilException& error) {
        fail(results[item.index], error.code(), error.what());
      }
    };
    bool keepRecords = false;
    yieldToForeground();
    // Every pre-image durable before any block is overwritten.
    const int err = journal_->sync();
    for (Item& item : round) {
      if (err != 0) {
        failErrno(results[item.index], err, "journal sync");
        continue;
      }
      if (tornBatchFault(item)) continue;
      guarded(item, [&] {
        const int e = item.open->writeStaged(item.staged);
        if (e == ESTALE) {
          rest.push_back(item.index);
          return;
        }
        item.written = true;
        if (e != 0) {
          // Perhaps torn: the record must stay for the next mount to put the blocks back.
          failErrno(results[item.index], e, "write");
          keepRecords = true;
        }
      });
    }
    // Every block under slot B durable before a header names its key alone.
    yieldToForeground();
    const bool durable = ::syncfs(rootFd_) == 0;
    const int syncErr = durable ? 0 : errno;
    for (Item& item : round) {
      if (!item.written) continue;
      LdtResult& result = results[item.index];
      if (!durable && item.open->sync(true) != 0) {
        failErrno(result, syncErr, "syncfs");
        keepRecords = true;
        continue;
      }
      if (!result.errorCode.empty()) continue;
      guarded(item, [&] {
        const int e = item.open->finishStaged(keys_, item.staged);
        if (e == EAGAIN) return;  // not done: the next call's per-file runs finish it
        if (e != 0) return failErrno(result, e, "header write");
        const Header h = item.open->header();
        result.done = sameKey(h.a, requests[item.index]);
        result.bytes = item.staged.bytes;
        ldtChecked_.erase(h.fileId);
      });
    }
    if (::syncfs(rootFd_) != 0) {
      const int e = errno;
      for (Item& item : round) {
        if (results[item.index].done && item.open->sync(true) != 0) failErrno(results[item.index], e, "syncfs");
      }
    }
    for (Item& item : round) {
      item.open.reset();
      registry_.tidy(item.id);
    }
    if (keepRecords) {
      // A record that may still be needed waits for the next mount, which puts back what a
      // crash tore; meanwhile the journal takes no new records (EBUSY) and the rest wait.
      for (; next < which.size(); ++next) {
        results[which[next]].skipped = "busy";
      }
      return;
    }
    journal_->voidStaged();
  }
}

void GuardFs::yieldToForeground() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kQuiet = std::chrono::milliseconds(2);
  constexpr auto kMostWait = std::chrono::milliseconds(50);  // the worker still moves under constant load
  const auto deadline = Clock::now() + kMostWait;
  while (mounted_ && Clock::now() < deadline) {
    const Clock::time_point last{Clock::duration(lastForeground_.load(std::memory_order_relaxed))};
    if (inflight_.load(std::memory_order_relaxed) == 0 && Clock::now() - last >= kQuiet) return;
    std::this_thread::sleep_for(kYield);
  }
}

LdtResult GuardFs::transformOne(const LdtRequest& request, bool& rewrapped) {
  LdtResult result;
  result.path = request.path;
  if (!acceptablePath(request.path)) {
    fail(result, "VEIL_INVALID_ARGUMENT", "not a path inside the guard point: " + request.path);
    return result;
  }
  try {
    switch (request.op) {
      case LdtRequest::Op::Rewrap:
        rewrapFile(request, result, rewrapped);
        break;
      case LdtRequest::Op::Reencrypt: {
        if (!journal_) {
          fail(result, "VEIL_INVALID_ARGUMENT", "re-encryption needs the guard point's ldtJournal option");
          break;
        }
        if (journalPending_) {
          fail(result, "VEIL_KEY_NOT_FOUND",
               "the journal holds a run that waits for its key: mount again once the keys are on this host");
          break;
        }
        Fd fd(::openat(rootFd_, request.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (fd.get() < 0) {
          if (errno == ENOENT) {
            result.skipped = "gone";
            result.done = true;
          } else {
            failErrno(result, errno, "open");
          }
          break;
        }
        const Peek p = peekFd(fd.get());
        if (!p.container) {
          fail(result, "VEIL_FORMAT_BAD_MAGIC", "not a Veil container: encrypt it instead");
        } else if (p.cipher == Cipher::Xts) {
          replaceFile(request, result);  // XTS has no state 1 in format v2
        } else {
          reencryptInPlace(request, result);
        }
        break;
      }
      case LdtRequest::Op::Encrypt:
        replaceFile(request, result);
        break;
    }
  } catch (const VeilException& error) {
    fail(result, error.code(), error.what());
  } catch (const std::bad_alloc&) {
    fail(result, "VEIL_CRYPTO_FAILED", "out of memory");
  }
  return result;
}

std::shared_ptr<OpenFile> GuardFs::openForRequest(const LdtRequest& request, LdtResult& result, BackingId& id) {
  int err = 0;
  auto open = openByPath(request.path, err, id);
  if (open) return open;
  if (err == ENOENT) {
    result.skipped = "gone";
    result.done = true;
  } else {
    failErrno(result, err, "open");
  }
  return nullptr;
}

std::shared_ptr<OpenFile> GuardFs::openByPath(const std::string& path, int& err, BackingId& id) {
  int fd = ::openat(rootFd_, path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    err = errno;
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    err = EINVAL;
    return nullptr;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  id = BackingId{st.st_dev, st.st_ino};
  return shareOpenFile(fd, st);
}

void GuardFs::rewrapFile(const LdtRequest& request, LdtResult& result, bool& rewrapped) {
  // A file open nowhere (the common case) is claimed in the registry and rewrapped with a
  // container of its own: no OpenFile to build, and the crypto runs outside the
  // registry's lock, so two threads rewrap in parallel. FUSE opens of it wait meanwhile.
  {
    Fd fd(::openat(rootFd_, request.path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st;
    if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) {
      if (errno == ENOENT) {
        result.skipped = "gone";
        result.done = true;
      } else {
        failErrno(result, errno, "open");
      }
      return;
    }
    if (!S_ISREG(st.st_mode)) return failErrno(result, EINVAL, "open");
    const BackingId claimed{st.st_dev, st.st_ino};
    if (registry_.claim(claimed)) {
      ScopeExit release([&] { registry_.release(claimed); });
      uint8_t bytes[kHeaderSize];
      const ssize_t n = ::pread(fd.get(), bytes, sizeof bytes, 0);
      auto container = Container::open(keys_, bytes, n < 0 ? 0 : static_cast<size_t>(n));
      ScopeExit wipe([&] { container->close(); });
      Header h = container->header();
      if (!sameKey(h.a, request)) {
        const HeaderBytes header = container->rewrap(keys_, request.keyId, request.version);
        if (int err = pwriteAll(fd.get(), header.data(), header.size(), 0)) return failErrno(result, err, "header write");
        // Its writeback starts now, behind the next files' work, so the batch's closing
        // syncfs mostly waits for pages already on their way (a hint: errors are syncfs's).
        ::sync_file_range(fd.get(), 0, kHeaderSize, SYNC_FILE_RANGE_WRITE);
        rewrapped = true;
        h = container->header();
      }
      result.done = h.state == FileState::Stable || sameKey(h.b, request);
      return;
    }
  }
  // Open through the mount: its OpenFile (lock, header in memory) is shared.
  int err = 0;
  BackingId id;
  auto open = openForRequest(request, result, id);
  ScopeExit tidy([&] {
    open.reset();
    registry_.tidy(id);
  });
  if (!open) return;
  bool changed = false;
  if ((err = open->rewrap(keys_, request.keyId, request.version, changed)) != 0) {
    return failErrno(result, err, "header write");
  }
  rewrapped = rewrapped || changed;
  const Header h = open->header();
  result.done = h.state == FileState::Stable || sameKey(h.b, request);
}

void GuardFs::reencryptInPlace(const LdtRequest& request, LdtResult& result) {
  int err = 0;
  BackingId id;
  auto open = openForRequest(request, result, id);
  ScopeExit tidy([&] {
    open.reset();
    registry_.tidy(id);
  });
  if (!open) return;
  Header h = open->header();
  bool began = false;
  if (h.state == FileState::Stable) {
    if (sameKey(h.a, request)) {
      result.done = true;
      return;
    }
    if ((err = open->beginReencryption(keys_, request.keyId, request.version)) != 0) {
      return failErrno(result, err, "header write");
    }
    h = open->header();
    began = true;
  }
  // Another target's re-encryption is finished first; the caller asks again for its own.
  const bool toRequested = sameKey(h.b, request);
  const uint64_t budget = std::max<uint64_t>(1, (request.maxBytes + kPlainBlockSize - 1) / kPlainBlockSize);
  JournalRecord record;
  record.fileId = h.fileId;
  record.dev = id.dev;
  record.ino = id.ino;
  record.path = request.path;
  const int fileFd = open->fd();
  // One record per group of the run (a slot holds one group), one fdatasync for them all.
  auto journal = [&](uint64_t first, uint32_t count, const uint8_t* data, const uint8_t* tags) {
    for (uint32_t done = 0; done < count;) {
      const auto run = static_cast<uint32_t>(Layout::runLength(first + done, count - done));
      record.first = first + done;
      record.count = run;
      if (int err = journal_->write(record, data + done * kPageSize, tags + done * kTagEntrySize, fileFd, false)) {
        return err;
      }
      done += run;
    }
    return journal_->sync();
  };
  // Whatever happens, the runs written are made durable, which voids their records.
  ScopeExit settle([&] {
    if (open->sync(true) == 0) journal_->fileSynced(fileFd);
  });
  // Blocks before the mark that this mount did not write are checked before the end.
  auto known = ldtChecked_.find(h.fileId);
  uint64_t checked = known != ldtChecked_.end() && !began ? known->second : 0;
  uint64_t visited = 0;
  bool finished = false;
  while (!finished && visited < budget && mounted_) {
    uint64_t run = 0;
    uint64_t bytes = 0;
    err = open->reencryptRun(keys_, budget - visited, journal, checked, run, bytes, finished);
    ldtChecked_[h.fileId] = checked;
    if (err != 0) return failErrno(result, err, "re-encryption run");
    visited += run;
    result.bytes += bytes;
    if (!finished) yieldToForeground();
  }
  if (finished) ldtChecked_.erase(h.fileId);
  result.done = finished && toRequested;
}

// A whole new container beside the original, renamed over it: initial encryption, and
// re-encryption of XTS files (no state 1 in format v2). The file must be open nowhere.
void GuardFs::replaceFile(const LdtRequest& request, LdtResult& result) {
  const bool encrypt = request.op == LdtRequest::Op::Encrypt;
  int sourceFd = ::openat(rootFd_, request.path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (sourceFd < 0) {
    if (errno == ENOENT) {
      result.skipped = "gone";
      result.done = true;
    } else {
      failErrno(result, errno, "open");
    }
    return;
  }
  Fd source(sourceFd);
  struct stat st;
  if (::fstat(source.get(), &st) != 0) return failErrno(result, errno, "stat");
  if (!S_ISREG(st.st_mode)) return fail(result, "VEIL_INVALID_ARGUMENT", "not a regular file");
  ::fcntl(source.get(), F_SETFL, ::fcntl(source.get(), F_GETFL) & ~O_NONBLOCK);
  uint8_t header[kHeaderSize];
  const ssize_t headerLength = ::pread(source.get(), header, sizeof header, 0);
  const Peek p = peek(header, headerLength < 0 ? 0 : static_cast<size_t>(headerLength));
  if (encrypt && p.container) {
    result.done = !p.reencrypting && p.keyA == request.keyId && p.versionA == request.version;
    return;
  }
  if (!encrypt && !p.container) return fail(result, "VEIL_FORMAT_BAD_MAGIC", "not a Veil container");
  if (st.st_nlink > 1) {
    return fail(result, "VEIL_INVALID_ARGUMENT", "the file has other hard links, which a replacement would split");
  }
  const BackingId id{st.st_dev, st.st_ino};
  if (!registry_.claim(id)) {
    result.skipped = "busy";
    return;
  }
  ScopeExit release([&] { registry_.release(id); });

  // The plaintext comes from the file itself, or from its old container (verified here).
  std::unique_ptr<OpenFile> old;
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (!encrypt) {
    auto container = Container::open(keys_, header, static_cast<size_t>(headerLength));
    const Header h = container->header();
    if (sameKey(h.a, request)) {
      container->close();
      result.done = true;
      return;
    }
    size = h.size;
    old = std::make_unique<OpenFile>(source.release(), std::move(container));
  }
  const int from = old ? old->fd() : source.get();

  int ldt = ::openat(rootFd_, kLdtDirName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (ldt < 0 && errno == ENOENT && ::mkdirat(rootFd_, kLdtDirName, 0700) == 0) {
    ldt = ::openat(rootFd_, kLdtDirName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (ldt < 0) return failErrno(result, errno, std::string("open ") + kLdtDirName);
  Fd ldtDir(ldt);
  struct stat dirSt;
  if (::fstat(ldt, &dirSt) != 0 || dirSt.st_uid != ::geteuid()) {
    return fail(result, "VEIL_INVALID_ARGUMENT", std::string(kLdtDirName) + " at the guard point's root is not ours");
  }
  if ((dirSt.st_mode & 077) != 0) ::fchmod(ldt, 0700);

  uint8_t nonce[8];
  randomBytes(nonce, sizeof nonce);
  const std::string temp = "replace-" + toHex(nonce, sizeof nonce);
  int tempFd = ::openat(ldt, temp.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (tempFd < 0) return failErrno(result, errno, "create");
  bool renamed = false;
  ScopeExit removeTemp([&] {
    if (!renamed) ::unlinkat(ldt, temp.c_str(), 0);
  });
  std::shared_ptr<Container> container;
  try {
    container = Container::create(keys_, request.keyId, request.version, encrypt ? config_.cipher : Cipher::Xts);
  } catch (...) {
    ::close(tempFd);
    throw;
  }
  uint8_t page[kPageSize] = {};
  const HeaderBytes empty = container->setSize(0);
  std::memcpy(page, empty.data(), empty.size());
  if (int err = pwriteAll(tempFd, page, sizeof page, 0)) {
    ::close(tempFd);
    container->close();
    return failErrno(result, err, "write");
  }
  OpenFile out(tempFd, std::move(container), kPageSize);

  std::vector<uint8_t> chunk(kCopyChunk);
  ScopeExit wipe([&] { OPENSSL_cleanse(chunk.data(), chunk.size()); });
  for (uint64_t offset = 0; offset < size;) {
    if (!mounted_) {
      result.skipped = "busy";
      return;
    }
    const size_t length = static_cast<size_t>(std::min<uint64_t>(kCopyChunk, size - offset));
    if (old) {
      size_t got = 0;
      int err = 0;
      const uint8_t* plain = old->read(length, offset, got, err);
      if (err != 0) return failErrno(result, err, "read");
      if (got != length) return failErrno(result, EIO, "read");
      std::memcpy(chunk.data(), plain, length);
    } else if (int err = preadExact(from, chunk.data(), length, offset)) {
      return failErrno(result, err, "read");
    }
    if (int err = out.write(chunk.data(), length, offset)) return failErrno(result, err, "write");
    offset += length;
  }

  // The original's owner, mode, xattrs and times, then everything durable before the rename.
  const int to = out.fd();
  if (::fchown(to, st.st_uid, st.st_gid) != 0 || ::fchmod(to, st.st_mode & 07777) != 0) {
    return failErrno(result, errno, "chown/chmod");
  }
  copyXattrs(from, to);
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(to, times) != 0) return failErrno(result, errno, "utimens");
  if (int err = out.sync(false)) return failErrno(result, err, "fsync");

  struct stat now;
  if (::fstatat(rootFd_, request.path.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_dev != st.st_dev ||
      now.st_ino != st.st_ino) {
    result.skipped = "gone";  // renamed or removed meanwhile (not through the mount)
    result.done = true;
    return;
  }
  if (::renameat(ldt, temp.c_str(), rootFd_, request.path.c_str()) != 0) return failErrno(result, errno, "rename");
  renamed = true;
  Fd parent(::openat(rootFd_, parentOf(request.path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (parent.get() < 0 || ::fsync(parent.get()) != 0) return failErrno(result, errno, "fsync of the directory");
  forgetReplaced(id);
  result.done = true;
  result.bytes = size;
}

// The name now leads to the new file: the kernel's inode of the old one is retired (it
// answers ESTALE, so the kernel looks the name up again) and its cached pages dropped.
void GuardFs::forgetReplaced(BackingId id) {
  {
    std::lock_guard<std::mutex> lock(plainMutex_);
    plainFiles_.erase(id);
  }
  auto node = inodes_.byBacking(id.dev, id.ino);
  if (!node) return;
  Notice notice;
  notice.ino = node->id;
  std::tie(notice.parent, notice.name) = inodes_.retire(*node);
  notifyKernel(std::move(notice));
}

}  // namespace veil
