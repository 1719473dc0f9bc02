// The host's transport key pair (RSA-3072): made in native memory on first use, its
// private half used only to open key deliveries. It is never exported.
#pragma once

#include "crypto/rsa_oaep.h"

namespace veil {

inline constexpr unsigned kTransportKeyBits = 3072;

const RsaOaepKeyPair& transportKey();

}  // namespace veil
