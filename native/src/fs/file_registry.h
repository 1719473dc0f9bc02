// The backing files of a guard point that someone is using, by (device, inode): the FUSE
// threads and the live data transformation worker reach a file through here, so both use
// the same OpenFile (the same locks, the same header in memory: a second copy would write
// a header that clobbers the first one's). The worker reaches files by path, the kernel by
// inode number: the backing identity is what both can name.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>

namespace veil {

class OpenFile;

struct BackingId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator<(const BackingId& other) const { return std::tie(dev, ino) < std::tie(other.dev, other.ino); }
  bool operator==(const BackingId& other) const { return dev == other.dev && ino == other.ino; }
};

class FileRegistry {
 public:
  class Pin;

  // The live OpenFile of the file, or the one `make` returns (null: none, with `make`'s
  // error). `make` runs under the registry's lock: two OpenFiles of one file must never
  // exist, not even for the moment one of them settles the container's length.
  std::shared_ptr<OpenFile> acquire(BackingId id, const std::function<std::shared_ptr<OpenFile>()>& make);

  // Counts one FUSE descriptor of the file for as long as the pin lives; waits (at most
  // `waitMs`) while the worker has the file to itself. Null after the wait: EBUSY.
  std::unique_ptr<Pin> pin(BackingId id, int waitMs);

  // The worker takes the file alone (a whole-file replacement): false when any descriptor
  // or OpenFile of it is live. FUSE opens of it wait until release().
  bool claim(BackingId id);
  void release(BackingId id);

  // Forgets the entry when nothing uses the file any more.
  void tidy(BackingId id);

 private:
  struct Entry {
    std::weak_ptr<OpenFile> open;
    int pins = 0;
    bool claimed = false;
  };
  void unpin(BackingId id);
  void tidyLocked(std::map<BackingId, Entry>::iterator it);

  std::mutex mutex_;
  std::condition_variable released_;
  std::map<BackingId, Entry> entries_;
};

class FileRegistry::Pin {
 public:
  Pin(FileRegistry& registry, BackingId id) : registry_(registry), id_(id) {}
  ~Pin() { registry_.unpin(id_); }
  Pin(const Pin&) = delete;
  Pin& operator=(const Pin&) = delete;

 private:
  FileRegistry& registry_;
  BackingId id_;
};

}  // namespace veil
