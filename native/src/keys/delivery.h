// Opens a wrapped key delivery (docs/protocol.md) with the transport key and applies it
// to the key table. Only ids, versions and states come out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "keys/key_table.h"

namespace veil {

struct DeliveryEntry {
  KeyInfo info;
  bool installed;  // false: withdrawn
};

struct DeliveryResult {
  Uuid deliveryId;
  uint64_t sequence;
  std::vector<DeliveryEntry> entries;
};

inline constexpr size_t kMaxDeliverySize = 1 << 20;

DeliveryResult installDelivery(const uint8_t* blob, size_t length, const Uuid& hostId, uint64_t afterSequence);

}  // namespace veil
