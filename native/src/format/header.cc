#include "format/header.h"

#include <cstring>

#include "common/bytes.h"
#include "common/error.h"

namespace veil {

namespace {

constexpr size_t kSlotA = 56;
constexpr size_t kSlotB = 140;
constexpr size_t kSlotSize = 84;

KeySlot readSlot(const uint8_t* p) {
  KeySlot slot;
  std::memcpy(slot.keyId.data(), p, 16);
  slot.version = getU32(p + 16);
  std::memcpy(slot.nonce.data(), p + 24, 12);
  std::memcpy(slot.wrapped.data(), p + 36, kFileKeySize);
  std::memcpy(slot.tag.data(), p + 68, 16);
  return slot;
}

void writeSlot(const KeySlot& slot, uint8_t* p) {
  std::memcpy(p, slot.keyId.data(), 16);
  putU32(p + 16, slot.version);
  std::memset(p + 20, 0, 4);
  std::memcpy(p + 24, slot.nonce.data(), 12);
  std::memcpy(p + 36, slot.wrapped.data(), kFileKeySize);
  std::memcpy(p + 68, slot.tag.data(), 16);
}

[[noreturn]] void corrupt(const char* what) {
  throw VeilException("VEIL_FORMAT_CORRUPT_HEADER", std::string("corrupt container header: ") + what);
}

}  // namespace

Header parseHeader(const uint8_t* bytes, size_t length) {
  if (length < kHeaderSize || std::memcmp(bytes, kMagic, sizeof kMagic) != 0) {
    throw VeilException("VEIL_FORMAT_BAD_MAGIC", "not a Veil container: the header is missing or has no Veil magic");
  }
  if (getU16(bytes + 8) != kFormatVersion || getU16(bytes + 10) != kHeaderSize) {
    throw VeilException("VEIL_FORMAT_UNSUPPORTED_VERSION",
                        "unsupported container format version " + std::to_string(getU16(bytes + 8)) +
                            ": this Veil reads version 1");
  }
  if (getU32(bytes + 12) != 0) {
    throw VeilException("VEIL_FORMAT_UNKNOWN_FEATURE",
                        "the container uses a feature this Veil does not know (flags " +
                            std::to_string(getU32(bytes + 12)) + "): upgrade Veil to read it");
  }
  Header h;
  h.cipher = static_cast<Cipher>(bytes[16]);
  h.state = static_cast<FileState>(bytes[18]);
  std::memcpy(h.fileId.data(), bytes + 24, kFileIdSize);
  h.size = getU64(bytes + 40);
  h.progress = getU64(bytes + 48);
  h.a = readSlot(bytes + kSlotA);
  h.b = readSlot(bytes + kSlotB);
  return h;
}

void checkHeaderFields(const Header& h, const uint8_t* bytes) {
  if (h.cipher != Cipher::Gcm && h.cipher != Cipher::Xts) corrupt("unknown cipher");
  if (bytes[17] != kBlockSizeLog2) corrupt("unsupported block size");
  if (!allZero(bytes + 19, 5) || !allZero(bytes + 224, 256) || !allZero(bytes + kSlotA + 20, 4)) {
    corrupt("reserved bytes are not zero");
  }
  if (h.size > kMaxLogicalSize) corrupt("logical size out of range");
  if (h.state == FileState::Stable) {
    if (h.progress != 0 || !allZero(bytes + kSlotB, kSlotSize)) corrupt("stable file with re-encryption fields");
  } else if (h.state == FileState::Reencrypting) {
    if (h.cipher != Cipher::Gcm) corrupt("re-encryption state is defined for GCM only");
    if (h.progress > blockCount(h.size)) corrupt("progress mark beyond the last block");
    if (!allZero(bytes + kSlotB + 20, 4)) corrupt("reserved bytes are not zero");
  } else {
    corrupt("unknown state");
  }
}

void serializeHeader(const Header& h, uint8_t* out) {
  std::memset(out, 0, kHeaderSize);
  std::memcpy(out, kMagic, sizeof kMagic);
  putU16(out + 8, kFormatVersion);
  putU16(out + 10, kHeaderSize);
  out[16] = static_cast<uint8_t>(h.cipher);
  out[17] = kBlockSizeLog2;
  out[18] = static_cast<uint8_t>(h.state);
  std::memcpy(out + 24, h.fileId.data(), kFileIdSize);
  putU64(out + 40, h.size);
  putU64(out + 48, h.progress);
  writeSlot(h.a, out + kSlotA);
  if (h.state == FileState::Reencrypting) writeSlot(h.b, out + kSlotB);
}

void slotAssociatedData(const Header& h, uint8_t slotIndex, const KeySlot& slot, uint8_t* out) {
  std::memcpy(out, kMagic, sizeof kMagic);
  std::memcpy(out + 8, h.fileId.data(), kFileIdSize);
  out[24] = slotIndex;
  std::memcpy(out + 25, slot.keyId.data(), 16);
  putU32(out + 41, slot.version);
}

}  // namespace veil
