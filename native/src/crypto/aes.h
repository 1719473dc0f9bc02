// AES-256-GCM and AES-256-XTS over OpenSSL. The implementations are fetched through EVP
// once per process and each context is keyed once, so a 4 KiB block pays only for its IV
// and its data, never for a key schedule or an algorithm lookup.
#pragma once

#include <cstddef>
#include <cstdint>

namespace veil {

inline constexpr size_t kGcmKeySize = 32;
inline constexpr size_t kGcmNonceSize = 12;
inline constexpr size_t kGcmTagSize = 16;
inline constexpr size_t kXtsKeySize = 64;
inline constexpr size_t kXtsTweakSize = 16;

struct ProviderCipher;

// An encrypt and a decrypt context of the cipher's provider, each keyed once, on first
// use (AES decryption, as XTS uses, needs its own key schedule, and a file only written
// or a key only wrapped with never needs it). The per-message calls go straight to the
// provider's functions: through EVP, setting an IV costs a parameter round trip that
// would be 15 % of a 4 KiB XTS block. `key` is not copied: it must outlive this object.
class KeyedContexts {
 public:
  KeyedContexts(const ProviderCipher& cipher, const uint8_t* key, size_t keyLength);
  ~KeyedContexts();
  KeyedContexts(const KeyedContexts&) = delete;
  KeyedContexts& operator=(const KeyedContexts&) = delete;

  const ProviderCipher& cipher() const { return cipher_; }
  void* encrypt();
  void* decrypt();

 private:
  const ProviderCipher& cipher_;
  const uint8_t* key_;
  size_t keyLength_;
  void* encrypt_ = nullptr;
  void* decrypt_ = nullptr;
};

// One AES-256-GCM key, ready to seal and open many messages (one thread at a time).
// The key bytes must outlive the object.
class AesGcm {
 public:
  explicit AesGcm(const uint8_t* key);

  void seal(const uint8_t* nonce, const uint8_t* aad, size_t aadLength, const uint8_t* plain, size_t length,
            uint8_t* out, uint8_t* tag);
  // False when the tag does not match; `out` is then wiped.
  bool open(const uint8_t* nonce, const uint8_t* aad, size_t aadLength, const uint8_t* cipher, size_t length,
            const uint8_t* tag, uint8_t* out);

 private:
  KeyedContexts contexts_;
};

// One AES-256-XTS key (two 256-bit halves), for whole data units of at least 16 bytes.
// The key bytes must outlive the object.
class AesXts {
 public:
  explicit AesXts(const uint8_t* key);

  void encrypt(const uint8_t* tweak, const uint8_t* in, size_t length, uint8_t* out);
  void decrypt(const uint8_t* tweak, const uint8_t* in, size_t length, uint8_t* out);

 private:
  KeyedContexts contexts_;
};

}  // namespace veil
