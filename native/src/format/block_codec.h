// Encrypts and decrypts the stored blocks of one file under one file key
// (docs/format.md, "Blocks"). A codec serves one thread at a time; Container keeps a pool.
#pragma once

#include <cstdint>
#include <memory>

#include "crypto/aes.h"
#include "format/header.h"

namespace veil {

class BlockCodec {
 public:
  // `blockKey` is the HKDF-derived block key: 32 bytes for GCM, 64 for XTS.
  BlockCodec(Cipher cipher, const uint8_t* blockKey, const std::array<uint8_t, kFileIdSize>& fileId);

  // Writes the block's 4096 bytes of ciphertext to `data` and, for GCM, the fresh `nonce`
  // and the tag to `entry` (docs/format.md, "Blocks"). XTS ignores nonce and entry.
  void encrypt(uint64_t index, const uint8_t* plain, const uint8_t* nonce, uint8_t* data, uint8_t* entry);
  // False when a GCM block fails authentication (the output is wiped).
  bool decrypt(uint64_t index, const uint8_t* data, const uint8_t* entry, uint8_t* plain);

 private:
  Cipher cipher_;
  std::array<uint8_t, kFileIdSize> fileId_;
  std::unique_ptr<AesGcm> gcm_;
  std::unique_ptr<AesXts> xts_;
};

// Derives a file's block key (docs/format.md, "Keys") into `out` (32 or 64 bytes).
size_t blockKeySize(Cipher cipher);
void deriveBlockKey(Cipher cipher, const uint8_t* fileKey, const std::array<uint8_t, kFileIdSize>& fileId,
                    uint8_t* out);

}  // namespace veil
