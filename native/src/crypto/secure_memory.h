// Memory for secrets: page-backed, locked into RAM (never swapped), excluded from core
// dumps, and wiped before it is given back. Every key byte the native core holds lives
// in one of these. Small secrets (keys) share locked pages in 128-byte slots, so opening
// a file costs no system call for its keys.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veil {

class SecureBytes {
 public:
  SecureBytes() = default;
  explicit SecureBytes(size_t size);
  ~SecureBytes();
  SecureBytes(const SecureBytes&) = delete;
  SecureBytes& operator=(const SecureBytes&) = delete;
  SecureBytes(SecureBytes&& other) noexcept;
  SecureBytes& operator=(SecureBytes&& other) noexcept;

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Wipes and releases the memory now; the object is empty afterwards.
  void wipe();

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;  // 0 for a slot of the shared arena
};

// Makes the process non-dumpable and sets its core size limit to zero, so expanded key
// schedules inside OpenSSL's cipher contexts (ordinary heap) cannot reach a core file.
void hardenProcessAgainstDumps();

}  // namespace veil
