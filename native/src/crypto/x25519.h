// X25519 (RFC 7748) over OpenSSL, with private halves kept in locked memory. OpenSSL holds
// a private half only for the length of one call, in a key object it cleanses when freed.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crypto/secure_memory.h"

namespace veil {

inline constexpr size_t kX25519KeySize = 32;

// A new private half: 32 random bytes (X25519 clamps them when it uses them).
SecureBytes x25519NewPrivateKey();
void x25519PublicKey(const uint8_t* privateKey, uint8_t* publicKey);
// The shared secret of `privateKey` and the peer's public half. False, with `shared`
// wiped, when OpenSSL refuses the peer's key or the secret is all zero (a low-order
// point: RFC 7748 §6.1).
bool x25519(const uint8_t* privateKey, const uint8_t* peerPublicKey, uint8_t* shared);

}  // namespace veil
