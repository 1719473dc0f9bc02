// Key, host and delivery ids: 16 bytes on the wire, canonical lower-case text in JavaScript.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace veil {

using Uuid = std::array<uint8_t, 16>;

// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; the TypeScript wrapper has validated it.
bool parseUuid(const std::string& text, Uuid& out);
std::string formatUuid(const Uuid& id);
std::string toHex(const uint8_t* data, size_t length);

}  // namespace veil
