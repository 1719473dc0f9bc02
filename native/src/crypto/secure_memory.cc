#include "crypto/secure_memory.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"

namespace veil {

namespace {

constexpr size_t kSlotSize = 128;
constexpr size_t kArenaChunk = 64 * 1024;

// Locked, non-dumpable pages straight from the kernel.
uint8_t* mapLocked(size_t length) {
  void* p = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (mlock(p, length) != 0) {
    int err = errno;
    munmap(p, length);
    throw VeilException("VEIL_MEMORY_LOCK_FAILED",
                        std::string("cannot lock key memory (") + std::strerror(err) +
                            "): run as root or raise RLIMIT_MEMLOCK");
  }
  // Best effort: the process is also non-dumpable (hardenProcessAgainstDumps).
  madvise(p, length, MADV_DONTDUMP);
  madvise(p, length, MADV_DONTFORK);
  return static_cast<uint8_t*>(p);
}

// Slots of locked pages for small secrets. Chunks are never unmapped: a freed slot is
// wiped and reused.
class SlotArena {
 public:
  uint8_t* take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) {
      uint8_t* chunk = mapLocked(kArenaChunk);
      for (size_t at = 0; at < kArenaChunk; at += kSlotSize) free_.push_back(chunk + at);
    }
    uint8_t* slot = free_.back();
    free_.pop_back();
    return slot;
  }
  void give(uint8_t* slot) {
    OPENSSL_cleanse(slot, kSlotSize);
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(slot);
  }

 private:
  std::mutex mutex_;
  std::vector<uint8_t*> free_;
};

SlotArena& arena() {
  static SlotArena* instance = new SlotArena();  // never destroyed: keys may outlive statics
  return *instance;
}

}  // namespace

SecureBytes::SecureBytes(size_t size) : size_(size) {
  if (size == 0) return;
  if (size <= kSlotSize) {
    data_ = arena().take();
    return;
  }
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  mapped_ = (size + page - 1) / page * page;
  data_ = mapLocked(mapped_);
}

SecureBytes::~SecureBytes() { wipe(); }

SecureBytes::SecureBytes(SecureBytes&& other) noexcept
    : data_(other.data_), size_(other.size_), mapped_(other.mapped_) {
  other.data_ = nullptr;
  other.size_ = other.mapped_ = 0;
}

SecureBytes& SecureBytes::operator=(SecureBytes&& other) noexcept {
  if (this != &other) {
    wipe();
    data_ = other.data_;
    size_ = other.size_;
    mapped_ = other.mapped_;
    other.data_ = nullptr;
    other.size_ = other.mapped_ = 0;
  }
  return *this;
}

void SecureBytes::wipe() {
  if (data_ == nullptr) return;
  if (mapped_ == 0) {
    arena().give(data_);
    data_ = nullptr;
    size_ = 0;
    return;
  }
  OPENSSL_cleanse(data_, mapped_);
  munlock(data_, mapped_);
  munmap(data_, mapped_);
  data_ = nullptr;
  size_ = mapped_ = 0;
}

void hardenProcessAgainstDumps() {
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

}  // namespace veil
