#include "fs/serve_loop.h"

#include "fs/fuse_abi.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace veil {

namespace {

using namespace fuse_abi;

// A write the reader serves itself: small, and near enough to the start that filling a
// gap before it (GCM writes every block up to a new end) stays small too.
constexpr uint64_t kInlineWriteBytes = 128 * 1024;
constexpr uint64_t kInlineWriteEnd = 1024 * 1024;

thread_local ServeLoop* tLoop = nullptr;
thread_local bool tReading = false;  // this thread is the reader

}  // namespace

ServeLoop::ServeLoop(fuse_session* session, unsigned maxThreads)
    : session_(session), maxThreads_(maxThreads < 2 ? 2 : maxThreads) {}

bool ServeLoop::servedInline(const void* request, size_t size) {
  if (request == nullptr || size < sizeof(InHeader)) return false;
  InHeader in;
  std::memcpy(&in, request, sizeof in);
  const auto* args = static_cast<const uint8_t*>(request) + sizeof(InHeader);
  const size_t argSize = size - sizeof(InHeader);
  switch (in.opcode) {
    case kLookup:
    case kForget:
    case kGetattr:
    case kReadlink:
    case kSymlink:
    case kMknod:
    case kMkdir:
    case kUnlink:
    case kRmdir:
    case kRename:
    case kLink:
    case kStatfs:
    case kRelease:
    case kSetxattr:
    case kGetxattr:
    case kListxattr:
    case kRemovexattr:
    case kInit:
    case kOpendir:
    case kReaddir:
    case kReleasedir:
    case kAccess:
    case kCreate:
    case kInterrupt:
    case kDestroy:
    case kBatchForget:
    case kReaddirplus:
    case kRename2:
      return true;
    case kSetattr: {
      // A size change may wait for other descriptors to close (a view change).
      uint32_t valid = 0;
      if (argSize < sizeof valid) return false;
      std::memcpy(&valid, args, sizeof valid);
      return (valid & kFattrSize) == 0;
    }
    case kWrite: {
      WriteIn write;
      if (argSize < sizeof write) return false;
      std::memcpy(&write, args, sizeof write);
      return write.size <= kInlineWriteBytes && write.offset <= kInlineWriteEnd - write.size;
    }
    default:  // reads, opens, syncs, locks, anything unknown
      return false;
  }
}

bool ServeLoop::trivial(const void* request) {
  InHeader in;
  std::memcpy(&in, request, sizeof in);
  return in.opcode == kRelease || in.opcode == kReleasedir || in.opcode == kForget || in.opcode == kBatchForget ||
         in.opcode == kInterrupt;
}

void ServeLoop::run() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    startThreadLocked();  // the first reader
    startThreadLocked();  // ready to take over
  }
  for (size_t joined = 0;; ++joined) {
    std::thread next;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (joined == threads_.size()) break;
      next = std::move(threads_[joined]);
    }
    next.join();
  }
  fuse_session_reset(session_);
}

void ServeLoop::startThreadLocked() {
  // Node owns the process's signals: these threads never take the ones it handles (as
  // libfuse's own loop does).
  sigset_t blocked, old;
  sigemptyset(&blocked);
  for (int signal : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&blocked, signal);
  pthread_sigmask(SIG_BLOCK, &blocked, &old);
  try {
    threads_.emplace_back([this] { serve(); });
  } catch (const std::system_error&) {
    // No thread now (resources): the ones there are serve on, as with libfuse's loop.
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void ServeLoop::serve() {
  tLoop = this;
  fuse_buf buf;
  std::memset(&buf, 0, sizeof buf);  // libfuse allocates the memory at the first read
  bool reading = false;
  for (;;) {
    if (!reading) {
      std::unique_lock<std::mutex> lock(mutex_);
      ++idle_;
      readerFreed_.wait(lock, [this] { return done_ || readerFree_; });
      --idle_;
      if (done_) break;
      readerFree_ = false;
    }
    tReading = true;
    const int res = fuse_session_receive_buf(session_, &buf);
    if (res == -EINTR || res == -EAGAIN) {
      reading = true;
      continue;
    }
    if (res <= 0 || fuse_session_exited(session_)) {
      // Unmounted (ENODEV ends the session inside libfuse), or a broken device.
      if (res < 0) fuse_session_exit(session_);
      tReading = false;
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
      readerFreed_.notify_all();
      break;
    }
    // With another request already waiting (another process, or the kernel's background
    // work), a second thread reads it while this one serves, unless serving takes no time.
    const bool inMemory = (buf.flags & FUSE_BUF_IS_FD) == 0;
    if (!inMemory || !servedInline(buf.mem, buf.size) || (!trivial(buf.mem) && morePending())) handOver();
    fuse_session_process_buf(session_, &buf);
    reading = tReading;
  }
  tLoop = nullptr;
  std::free(buf.mem);
}

bool ServeLoop::morePending() const {
  pollfd device{fuse_session_fd(session_), POLLIN, 0};
  return ::poll(&device, 1, 0) > 0 && (device.revents & POLLIN) != 0;
}

void ServeLoop::handOver() {
  tReading = false;
  std::lock_guard<std::mutex> lock(mutex_);
  readerFree_ = true;
  if (idle_ > 0) {
    readerFreed_.notify_one();
  } else if (!done_ && threads_.size() < maxThreads_) {
    startThreadLocked();
  }
  // Otherwise the first thread to finish its request reads next, as libfuse's loop does
  // once it has its maximum of threads.
}

void beforeLongWait() {
  if (tLoop != nullptr && tReading) tLoop->handOver();
}

}  // namespace veil
