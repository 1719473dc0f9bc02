#include "keys/sealed_keys.h"

#include <cstring>
#include <string>

#include "common/bytes.h"
#include "common/error.h"
#include "crypto/aes.h"
#include "crypto/kdf.h"
#include "keys/key_payload.h"

namespace veil {

namespace {

constexpr uint8_t kSealedMagic[8] = {0x89, 'V', 'E', 'I', 'L', 'S', 'K', '1'};
constexpr uint16_t kSealedFormat = 1;
constexpr size_t kNonceAt = 48;
constexpr size_t kHeaderSize = kNonceAt + kGcmNonceSize;  // 60: the associated data
constexpr char kSealLabel[] = "veil/offline-seal/v1";

// S = HKDF-SHA256(IKM = O, salt = empty, info = label || host id || key id || u32 version).
SecureBytes sealKey(const uint8_t* offlineKey, const OfflineBinding& binding) {
  const std::vector<uint8_t> info = offlineLabel(kSealLabel, binding);
  SecureBytes key(kGcmKeySize);
  hkdfSha256(offlineKey, kOfflineKeySize, nullptr, 0, info.data(), info.size(), key.data(), key.size());
  return key;
}

bool isOfflineKey(const Uuid& id, uint32_t version, const OfflineBinding& binding) {
  return id == binding.keyId && version == binding.version;
}

}  // namespace

std::vector<uint8_t> offlineLabel(const char* label, const OfflineBinding& binding) {
  const size_t prefix = std::strlen(label);
  std::vector<uint8_t> out(prefix + 16 + 16 + 4);
  std::memcpy(out.data(), label, prefix);
  std::memcpy(out.data() + prefix, binding.hostId.data(), 16);
  std::memcpy(out.data() + prefix + 16, binding.keyId.data(), 16);
  putU32(out.data() + prefix + 32, binding.version);
  return out;
}

std::vector<uint8_t> sealKeyTable(const KeyTable& table, const OfflineBinding& binding) {
  std::shared_ptr<const WrappingKey> offline;
  std::vector<std::shared_ptr<const WrappingKey>> keys;
  for (auto& key : table.snapshot()) {
    if (isOfflineKey(key->id(), key->version(), binding)) {
      offline = key;
    } else {
      keys.push_back(key);
    }
  }
  if (!offline) {
    throw VeilException("VEIL_KEY_NOT_FOUND", "the offline key " + formatUuid(binding.keyId) + " version " +
                                                  std::to_string(binding.version) +
                                                  " is not on this host: it arrives with a key delivery");
  }
  if (offline->algorithm() != KeyAlgorithm::Aes256 || offline->materialLength() != kOfflineKeySize) {
    throw VeilException("VEIL_KEY_INVALID", "the offline key must be an AES-256 key (32 bytes)");
  }
  if (keys.size() > kMaxSealedEntries) {
    throw VeilException("VEIL_INVALID_ARGUMENT", "the key table holds more than 65535 key versions: too many to seal");
  }
  SecureBytes payload(payloadSize(keys));
  encodePayload(keys, payload.data());
  std::vector<uint8_t> out(kHeaderSize + payload.size() + kGcmTagSize);
  uint8_t* p = out.data();
  std::memcpy(p, kSealedMagic, sizeof kSealedMagic);
  putU16(p + 8, kSealedFormat);
  putU16(p + 10, 0);
  std::memcpy(p + 12, binding.hostId.data(), 16);
  std::memcpy(p + 28, binding.keyId.data(), 16);
  putU32(p + 44, binding.version);
  randomBytes(p + kNonceAt, kGcmNonceSize);
  const SecureBytes key = sealKey(offline->material(), binding);
  AesGcm(key.data()).seal(p + kNonceAt, p, kHeaderSize, payload.data(), payload.size(), p + kHeaderSize,
                          p + kHeaderSize + payload.size());
  return out;
}

bool installSealedKeys(KeyTable& table, const uint8_t* sealed, size_t length, const OfflineBinding& binding,
                       const uint8_t* offlineKey, std::vector<KeyInfo>& installed) {
  installed.clear();
  if (length < kHeaderSize + 2 + kGcmTagSize || length > kMaxSealedSize ||
      std::memcmp(sealed, kSealedMagic, sizeof kSealedMagic) != 0 || getU16(sealed + 8) != kSealedFormat ||
      getU16(sealed + 10) != 0 || std::memcmp(sealed + 12, binding.hostId.data(), 16) != 0 ||
      std::memcmp(sealed + 28, binding.keyId.data(), 16) != 0 || getU32(sealed + 44) != binding.version) {
    return false;
  }
  const size_t payloadLength = length - kHeaderSize - kGcmTagSize;
  SecureBytes payload(payloadLength);
  {
    const SecureBytes key = sealKey(offlineKey, binding);
    if (!AesGcm(key.data()).open(sealed + kNonceAt, sealed, kHeaderSize, sealed + kHeaderSize, payloadLength,
                                 sealed + kHeaderSize + payloadLength, payload.data())) {
      return false;
    }
  }
  // The file is authentic, so a bad list is a faulty writer's: refused all the same.
  std::vector<PayloadEntry> entries;
  if (parsePayload(payload.data(), payloadLength, kMaxSealedEntries, entries) != nullptr) return false;
  std::vector<std::shared_ptr<WrappingKey>> install;
  for (const auto& e : entries) {
    if (e.length == 0 || isOfflineKey(e.info.id, e.info.version, binding)) return false;
    install.push_back(
        std::make_shared<WrappingKey>(e.info.id, e.info.version, e.info.algorithm, e.info.state, e.material, e.length));
  }
  install.push_back(std::make_shared<WrappingKey>(binding.keyId, binding.version, KeyAlgorithm::Aes256,
                                                  KeyState::Active, offlineKey, kOfflineKeySize));
  table.apply(install, {});
  for (const auto& key : install) installed.push_back({key->id(), key->version(), key->state(), key->algorithm()});
  return true;
}

}  // namespace veil
