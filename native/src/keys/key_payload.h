// The list of key versions that a key delivery and the sealed key file carry
// (docs/protocol.md, "Payload"): u16 count, then per entry key id, u32 version, u8 state,
// u8 algorithm, u16 material length and the material (length 0: withdraw the version).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "keys/key_table.h"

namespace veil {

inline constexpr size_t kPayloadEntryHeader = 24;  // key id, version, state, algorithm, length

struct PayloadEntry {
  KeyInfo info;
  const uint8_t* material;  // points into the parsed bytes
  size_t length;            // 0: withdraw
};

// Validates the whole list: a destroyed version must withdraw, no version twice, no bytes
// after the last entry. Null when it is good, else what is wrong, for an error message.
const char* parsePayload(const uint8_t* bytes, size_t length, size_t maxEntries, std::vector<PayloadEntry>& out);

// The encoding of `keys`, each with its state, algorithm and material.
size_t payloadSize(const std::vector<std::shared_ptr<const WrappingKey>>& keys);
void encodePayload(const std::vector<std::shared_ptr<const WrappingKey>>& keys, uint8_t* out);

}  // namespace veil
