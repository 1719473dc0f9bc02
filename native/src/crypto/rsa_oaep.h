// An RSA key pair made inside the native core, whose private half never leaves it:
// the public half is exported as SPKI PEM, the private half only decrypts RSA-OAEP
// (SHA-256 for hash and MGF1, empty label).
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "crypto/secure_memory.h"

namespace veil {

class RsaOaepKeyPair {
 public:
  explicit RsaOaepKeyPair(unsigned bits);
  ~RsaOaepKeyPair();
  RsaOaepKeyPair(const RsaOaepKeyPair&) = delete;
  RsaOaepKeyPair& operator=(const RsaOaepKeyPair&) = delete;

  std::string publicKeyPem() const;
  size_t modulusBytes() const;
  // Returns false on any failure, whatever it was (no padding oracle).
  bool decrypt(const uint8_t* in, size_t length, SecureBytes& out) const;

 private:
  EVP_PKEY* key_;
};

}  // namespace veil
