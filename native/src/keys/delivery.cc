#include "keys/delivery.h"

#include <openssl/crypto.h>

#include <cstring>
#include <map>
#include <mutex>

#include "common/bytes.h"
#include "common/error.h"
#include "crypto/aes.h"
#include "keys/key_payload.h"
#include "keys/transport_key.h"

namespace veil {

namespace {

constexpr uint8_t kDeliveryMagic[8] = {0x89, 'V', 'E', 'I', 'L', 'K', 'D', '1'};
constexpr size_t kFixedPart = 62;  // bytes before the wrapped one-time key
constexpr size_t kMaxEntries = 1024;

std::mutex deliveryMutex;
// Per host id: sequence numbers are the manager's per host, and a process that registers
// again (a new host id) starts a new count. Guarded by deliveryMutex.
std::map<Uuid, uint64_t> highestSequence;

[[noreturn]] void rejected(const char* why) {
  throw VeilException("VEIL_DELIVERY_REJECTED", std::string("key delivery rejected: ") + why);
}

}  // namespace

DeliveryResult installDelivery(const uint8_t* blob, size_t length, const Uuid& hostId, uint64_t afterSequence) {
  if (length > kMaxDeliverySize) rejected("the blob is larger than 1 MiB");
  if (length < kFixedPart + kGcmNonceSize + kGcmTagSize || std::memcmp(blob, kDeliveryMagic, 8) != 0 ||
      getU16(blob + 8) != 1 || getU16(blob + 10) != 0) {
    rejected("not a version 1 delivery blob");
  }
  if (std::memcmp(blob + 12, hostId.data(), 16) != 0) {
    throw VeilException("VEIL_DELIVERY_WRONG_HOST", "key delivery refused: it was made for another host");
  }
  std::lock_guard<std::mutex> lock(deliveryMutex);
  const uint64_t sequence = getU64(blob + 44);
  uint64_t& highest = highestSequence[hostId];
  if (sequence <= afterSequence || sequence <= highest) {
    throw VeilException("VEIL_DELIVERY_REPLAYED", "key delivery refused: sequence number " +
                                                      std::to_string(sequence) + " was already used (replay)");
  }
  const size_t wrappedLength = getU16(blob + 60);
  const RsaOaepKeyPair& transport = transportKey();
  if (wrappedLength != transport.modulusBytes() ||
      length < kFixedPart + wrappedLength + kGcmNonceSize + kGcmTagSize) {
    rejected("the blob is malformed");
  }
  SecureBytes oneTimeKey;
  if (!transport.decrypt(blob + kFixedPart, wrappedLength, oneTimeKey) || oneTimeKey.size() != kGcmKeySize) {
    rejected("it cannot be opened with this host's transport key");
  }
  const size_t adLength = kFixedPart + wrappedLength;
  const uint8_t* nonce = blob + adLength;
  const uint8_t* payload = nonce + kGcmNonceSize;
  const size_t payloadLength = length - adLength - kGcmNonceSize - kGcmTagSize;
  SecureBytes plain(payloadLength + 1);  // never zero-sized
  if (!AesGcm(oneTimeKey.data())
           .open(nonce, blob, adLength, payload, payloadLength, payload + payloadLength, plain.data())) {
    rejected("it cannot be opened with this host's transport key");
  }
  oneTimeKey.wipe();

  std::vector<PayloadEntry> entries;
  if (const char* why = parsePayload(plain.data(), payloadLength, kMaxEntries, entries)) rejected(why);
  std::vector<std::shared_ptr<WrappingKey>> install;
  std::vector<std::pair<Uuid, uint32_t>> withdraw;
  DeliveryResult result{};
  std::memcpy(result.deliveryId.data(), blob + 28, 16);
  result.sequence = sequence;
  for (const auto& e : entries) {
    if (e.length == 0) {
      withdraw.emplace_back(e.info.id, e.info.version);
    } else {
      install.push_back(std::make_shared<WrappingKey>(e.info.id, e.info.version, e.info.algorithm, e.info.state,
                                                      e.material, e.length));
    }
    result.entries.push_back({e.info, e.length != 0});
  }
  KeyTable::instance().apply(install, withdraw);
  highest = sequence;
  return result;
}

}  // namespace veil
