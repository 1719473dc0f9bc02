// A guard point key version as the container format sees it: the key that wraps file
// keys, through the key-encryption key derived from its material (docs/format.md, "Keys").
// The material is kept beside it, in locked memory too, for one reader: the sealed key
// file of offline unlock (docs/protocol.md), which carries every version of the table.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/uuid.h"
#include "crypto/secure_memory.h"

namespace veil {

// NIST SP 800-57 Part 1 §7 states; the numbers are the wire codes of docs/protocol.md.
enum class KeyState : uint8_t {
  PreActivation = 1,
  Active = 2,
  Suspended = 3,
  Deactivated = 4,
  Compromised = 5,
  Destroyed = 6,
};

enum class KeyAlgorithm : uint8_t { Aes256 = 1, Aes128 = 2 };

inline constexpr size_t kKekSize = 32;

// Shared with every container that uses the key: false once the key is withdrawn, so open
// files stop working without the container holding the key itself.
using KeyLiveness = std::shared_ptr<std::atomic<bool>>;

class WrappingKey {
 public:
  WrappingKey(const Uuid& id, uint32_t version, KeyAlgorithm algorithm, KeyState state, const uint8_t* material,
              size_t length);
  ~WrappingKey();
  WrappingKey(const WrappingKey&) = delete;
  WrappingKey& operator=(const WrappingKey&) = delete;

  const Uuid& id() const { return id_; }
  uint32_t version() const { return version_; }
  KeyAlgorithm algorithm() const { return algorithm_; }
  KeyState state() const { return state_.load(std::memory_order_acquire); }
  void setState(KeyState state) { state_.store(state, std::memory_order_release); }
  const KeyLiveness& liveness() const { return live_; }
  void withdraw() { live_->store(false, std::memory_order_release); }

  // Only an active key protects new data; pre-activation keys are used for nothing.
  bool canWrap() const { return state() == KeyState::Active && live_->load(); }
  bool canUnwrap() const;
  const uint8_t* kek() const { return kek_.data(); }
  // 32 bytes for AES-256, 16 for AES-128. Only the sealed key file reads it.
  const uint8_t* material() const { return material_.data(); }
  size_t materialLength() const { return material_.size(); }

 private:
  Uuid id_;
  uint32_t version_;
  KeyAlgorithm algorithm_;
  std::atomic<KeyState> state_;
  KeyLiveness live_;
  SecureBytes kek_;
  SecureBytes material_;
};

// Where containers find wrapping keys: the key table implements it.
class KeyLookup {
 public:
  virtual ~KeyLookup() = default;
  virtual std::shared_ptr<const WrappingKey> find(const Uuid& id, uint32_t version) const = 0;
};

}  // namespace veil
