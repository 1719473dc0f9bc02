// The threads that serve a FUSE session, in place of fuse_session_loop_mt. One thread
// at a time reads /dev/fuse (the reader) and serves what it read itself when that is
// quick metadata work, so a process that makes one request after another (tar, cp -a,
// a build) finds the thread that just answered it waiting for the next one. In libfuse's
// loop every idle thread waits in read(2) and the kernel wakes the one that has waited
// longest: each request woke another thread, on whichever CPU it last ran (tar -x of
// 20,000 small files on a busy 2-CPU machine: 17 s instead of 9.6, and twice the CPU
// time in this process). Only the reader reads, which also lets it poll the device for
// a moment before it sleeps (GuardFs::readDevice). Reads, large writes, syncs, opens and
// truncations, which may wait on the disk or on other requests, are served after another
// thread has taken over reading, as is anything about to wait for long (beforeLongWait),
// and anything read while another request is already queued (other processes keep their
// parallelism).
#pragma once

#include <fuse_lowlevel.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace veil {

class ServeLoop {
 public:
  // At most `maxThreads` threads (at least 2: one must be free to read while another waits).
  ServeLoop(fuse_session* session, unsigned maxThreads);
  ServeLoop(const ServeLoop&) = delete;
  ServeLoop& operator=(const ServeLoop&) = delete;
  // Serves until the session ends (unmount, or an outside umount); returns once every
  // thread has ended.
  void run();

  // Whether a request (as read from /dev/fuse) is served by the thread that read it.
  static bool servedInline(const void* request, size_t size);
  // Whether it is one of the inline requests that take next to no time (closes, forgets):
  // another one waiting behind it is not worth a second thread. Only after servedInline.
  static bool trivial(const void* request);

 private:
  friend void beforeLongWait();
  void serve();
  // Gives up reading: another thread (an idle one, or a new one) reads from now on.
  void handOver();
  // Whether the kernel has another request queued already.
  bool morePending() const;
  void startThreadLocked();

  fuse_session* const session_;
  const unsigned maxThreads_;
  std::mutex mutex_;
  std::condition_variable readerFreed_;
  std::vector<std::thread> threads_;  // guarded by mutex_, like the fields below
  unsigned idle_ = 0;                 // threads waiting to become the reader
  bool readerFree_ = true;            // nobody reads /dev/fuse now
  bool done_ = false;
};

// Called by a FUSE thread before it waits for something that may take long (another
// request, the transformation worker): if it is the reader, another thread reads meanwhile.
// Does nothing on any other thread.
void beforeLongWait();

}  // namespace veil
