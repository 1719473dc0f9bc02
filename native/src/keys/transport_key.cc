#include "keys/transport_key.h"

#include <mutex>

namespace veil {

const RsaOaepKeyPair& transportKey() {
  static std::once_flag once;
  static RsaOaepKeyPair* pair = nullptr;
  std::call_once(once, [] { pair = new RsaOaepKeyPair(kTransportKeyBits); });
  return *pair;
}

}  // namespace veil
