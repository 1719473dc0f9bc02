// HKDF-SHA256, HMAC-SHA256, the CSPRNG and constant-time comparison.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veil {

inline constexpr size_t kSha256Size = 32;

void hkdfSha256(const uint8_t* ikm, size_t ikmLength, const uint8_t* salt, size_t saltLength, const uint8_t* info,
                size_t infoLength, uint8_t* out, size_t outLength);
void hmacSha256(const uint8_t* key, size_t keyLength, const uint8_t* data, size_t length, uint8_t* out);
void randomBytes(uint8_t* out, size_t length);
// Random bytes for nonces, served from a per-thread buffer refilled from the CSPRNG so a
// 4 KiB block does not pay for a DRBG call; the buffer is dropped in a forked child.
void randomNonceBytes(uint8_t* out, size_t length);
bool constantTimeEqual(const uint8_t* a, const uint8_t* b, size_t length);

}  // namespace veil
