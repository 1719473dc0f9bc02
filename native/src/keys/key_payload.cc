#include "keys/key_payload.h"

#include <cstring>
#include <set>
#include <utility>

#include "common/bytes.h"

namespace veil {

const char* parsePayload(const uint8_t* p, size_t length, size_t maxEntries, std::vector<PayloadEntry>& out) {
  out.clear();
  if (length < 2) return "the payload is malformed";
  const size_t count = getU16(p);
  if (count > maxEntries) return "the payload has too many keys";
  std::set<std::pair<Uuid, uint32_t>> seen;
  size_t at = 2;
  for (size_t i = 0; i < count; ++i) {
    if (length - at < kPayloadEntryHeader) return "the payload is malformed";
    PayloadEntry e{};
    std::memcpy(e.info.id.data(), p + at, 16);
    e.info.version = getU32(p + at + 16);
    const uint8_t state = p[at + 20], algorithm = p[at + 21];
    e.length = getU16(p + at + 22);
    at += kPayloadEntryHeader;
    if (e.info.version == 0) return "a key version is 0";
    if (state < 1 || state > 6) return "a key has an unknown state";
    if (algorithm != 1 && algorithm != 2) return "a key has an unknown algorithm";
    e.info.state = static_cast<KeyState>(state);
    e.info.algorithm = static_cast<KeyAlgorithm>(algorithm);
    const size_t expected = algorithm == 1 ? 32 : 16;
    if (e.length != 0 && e.length != expected) return "a key has material of the wrong length";
    if (e.info.state == KeyState::Destroyed && e.length != 0) return "a destroyed key carries material";
    if (!seen.insert({e.info.id, e.info.version}).second) return "a key version appears twice";
    if (length - at < e.length) return "the payload is malformed";
    e.material = p + at;
    at += e.length;
    out.push_back(e);
  }
  if (at != length) return "the payload has trailing bytes";
  return nullptr;
}

size_t payloadSize(const std::vector<std::shared_ptr<const WrappingKey>>& keys) {
  size_t size = 2;
  for (const auto& key : keys) size += kPayloadEntryHeader + key->materialLength();
  return size;
}

void encodePayload(const std::vector<std::shared_ptr<const WrappingKey>>& keys, uint8_t* out) {
  putU16(out, static_cast<uint16_t>(keys.size()));
  uint8_t* at = out + 2;
  for (const auto& key : keys) {
    std::memcpy(at, key->id().data(), 16);
    putU32(at + 16, key->version());
    at[20] = static_cast<uint8_t>(key->state());
    at[21] = static_cast<uint8_t>(key->algorithm());
    putU16(at + 22, static_cast<uint16_t>(key->materialLength()));
    at += kPayloadEntryHeader;
    std::memcpy(at, key->material(), key->materialLength());
    at += key->materialLength();
  }
}

}  // namespace veil
