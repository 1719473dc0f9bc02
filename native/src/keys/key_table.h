// The host's key table: guard point key versions in locked native memory, addressed by
// (key id, version). JavaScript refers to keys by id and version; it never gets bytes back.
#pragma once

#include <map>
#include <mutex>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "format/wrapping_key.h"

namespace veil {

struct KeyInfo {
  Uuid id;
  uint32_t version;
  KeyState state;
  KeyAlgorithm algorithm;
};

class KeyTable final : public KeyLookup {
 public:
  static KeyTable& instance();

  std::shared_ptr<const WrappingKey> find(const Uuid& id, uint32_t version) const override;

  // Installs and withdraws in one step: either every change applies or none does. A key
  // version that is already present with the same material only takes the new state, so
  // open files under it keep working; other material for the same version replaces it.
  void apply(const std::vector<std::shared_ptr<WrappingKey>>& install,
             const std::vector<std::pair<Uuid, uint32_t>>& withdraw);
  bool remove(const Uuid& id, uint32_t version);
  // Destroyed removes the version: its material is wiped.
  void setState(const Uuid& id, uint32_t version, KeyState state);
  std::vector<KeyInfo> list() const;
  // Every version, at one moment (for the sealed key file).
  std::vector<std::shared_ptr<const WrappingKey>> snapshot() const;
  void clear();

 private:
  using Ref = std::pair<Uuid, uint32_t>;
  void withdrawLocked(const Ref& ref);

  mutable std::shared_mutex mutex_;
  std::map<Ref, std::shared_ptr<WrappingKey>> keys_;
};

// Reads a raw 32-byte key file straight into locked memory. Refuses anything but a
// regular file (symbolic links are followed) of exactly 32 bytes, owned by the user
// running Veil, with no permission bits for group or others.
SecureBytes readKeyFile(const std::string& path);

}  // namespace veil
