// The 512-byte container header of docs/format.md: layout, parsing and serialization.
// Cryptography on it (slot wrapping, the MAC) lives in container.cc.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/uuid.h"

namespace veil {

inline constexpr size_t kHeaderSize = 512;
inline constexpr size_t kPlainBlockSize = 4096;
inline constexpr size_t kFileIdSize = 16;
inline constexpr size_t kFileKeySize = 32;
inline constexpr size_t kMacOffset = 480;
inline constexpr uint64_t kMaxLogicalSize = uint64_t{1} << 48;
inline constexpr uint8_t kMagic[8] = {0x89, 'V', 'E', 'I', 'L', '\r', '\n', 0x1a};
inline constexpr uint16_t kFormatVersion = 2;
inline constexpr uint8_t kBlockSizeLog2 = 12;
// Bytes of slot associated data: magic, file id, slot index, key id, key version.
inline constexpr size_t kSlotAdSize = 8 + kFileIdSize + 1 + 16 + 4;

enum class Cipher : uint8_t { Gcm = 1, Xts = 2 };
enum class FileState : uint8_t { Stable = 0, Reencrypting = 1 };

inline uint64_t blockCount(uint64_t size) { return (size + kPlainBlockSize - 1) / kPlainBlockSize; }

struct KeySlot {
  Uuid keyId{};
  uint32_t version = 0;
  std::array<uint8_t, 12> nonce{};
  std::array<uint8_t, kFileKeySize> wrapped{};
  std::array<uint8_t, 16> tag{};
};

struct Header {
  Cipher cipher = Cipher::Gcm;
  FileState state = FileState::Stable;
  std::array<uint8_t, kFileIdSize> fileId{};
  uint64_t size = 0;
  uint64_t progress = 0;
  KeySlot a;
  KeySlot b;  // all zero unless re-encrypting
};

// Checks the envelope that can be checked before the MAC (length, magic, version,
// feature flags) and reads every field. Throws the format errors of docs/format.md.
Header parseHeader(const uint8_t* bytes, size_t length);

// Checks, once the MAC is good, that every field holds an allowed value.
void checkHeaderFields(const Header& header, const uint8_t* bytes);

// Writes bytes 0..479; the MAC goes in 480..511.
void serializeHeader(const Header& header, uint8_t* out);

void slotAssociatedData(const Header& header, uint8_t slotIndex, const KeySlot& slot, uint8_t* out);

}  // namespace veil
