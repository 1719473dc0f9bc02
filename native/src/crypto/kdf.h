// HKDF-SHA256, HMAC-SHA256, scrypt, the CSPRNG and constant-time comparison.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veil {

inline constexpr size_t kSha256Size = 32;

void hkdfSha256(const uint8_t* ikm, size_t ikmLength, const uint8_t* salt, size_t saltLength, const uint8_t* info,
                size_t infoLength, uint8_t* out, size_t outLength);
// The most memory scrypt may take: N = 2^20 with r = 8 (1 GiB), the most that offline
// unlock allows (docs/protocol.md), and its small per-lane buffers.
inline constexpr uint64_t kScryptMaxMemory = (uint64_t{1} << 30) + (uint64_t{1} << 20);

// RFC 7914 scrypt. The caller has checked the parameters (N a power of two, N < 2^(16 r),
// 128 N r within kScryptMaxMemory); OpenSSL checks them again.
void scrypt(const uint8_t* password, size_t passwordLength, const uint8_t* salt, size_t saltLength, uint64_t N,
            uint64_t r, uint64_t p, uint8_t* out, size_t outLength);
void hmacSha256(const uint8_t* key, size_t keyLength, const uint8_t* data, size_t length, uint8_t* out);
void randomBytes(uint8_t* out, size_t length);
// Random bytes for nonces, served from a per-thread buffer refilled from the CSPRNG so a
// 4 KiB block does not pay for a DRBG call; the buffer is dropped in a forked child.
void randomNonceBytes(uint8_t* out, size_t length);
bool constantTimeEqual(const uint8_t* a, const uint8_t* b, size_t length);

}  // namespace veil
