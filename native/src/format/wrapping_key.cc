#include "format/wrapping_key.h"

#include <cstring>

#include "common/bytes.h"
#include "crypto/kdf.h"

namespace veil {

namespace {
constexpr char kWrapInfo[] = "veil/v1 file-key-wrap";
}

WrappingKey::WrappingKey(const Uuid& id, uint32_t version, KeyAlgorithm algorithm, KeyState state,
                         const uint8_t* material, size_t length)
    : id_(id),
      version_(version),
      algorithm_(algorithm),
      state_(state),
      live_(std::make_shared<std::atomic<bool>>(true)),
      kek_(kKekSize),
      material_(length) {
  if (length > 0) std::memcpy(material_.data(), material, length);
  constexpr size_t prefix = sizeof(kWrapInfo) - 1;
  uint8_t info[prefix + 16 + 4];
  std::memcpy(info, kWrapInfo, prefix);
  std::memcpy(info + prefix, id.data(), id.size());
  putU32(info + prefix + 16, version);
  hkdfSha256(material, length, nullptr, 0, info, sizeof info, kek_.data(), kKekSize);
}

WrappingKey::~WrappingKey() { withdraw(); }

bool WrappingKey::canUnwrap() const {
  KeyState s = state();
  return live_->load() && s != KeyState::PreActivation && s != KeyState::Destroyed;
}

}  // namespace veil
