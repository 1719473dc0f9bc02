#include "format/block_codec.h"

#include <cstring>

#include "common/bytes.h"
#include "crypto/kdf.h"

namespace veil {

namespace {

constexpr char kGcmInfo[] = "veil/v1 block aes-256-gcm";
constexpr char kXtsInfo[] = "veil/v1 block aes-256-xts";

}  // namespace

size_t blockKeySize(Cipher cipher) { return cipher == Cipher::Gcm ? kGcmKeySize : kXtsKeySize; }

void deriveBlockKey(Cipher cipher, const uint8_t* fileKey, const std::array<uint8_t, kFileIdSize>& fileId,
                    uint8_t* out) {
  const char* info = cipher == Cipher::Gcm ? kGcmInfo : kXtsInfo;
  hkdfSha256(fileKey, kFileKeySize, fileId.data(), fileId.size(), reinterpret_cast<const uint8_t*>(info),
             std::strlen(info), out, blockKeySize(cipher));
}

BlockCodec::BlockCodec(Cipher cipher, const uint8_t* blockKey, const std::array<uint8_t, kFileIdSize>& fileId)
    : cipher_(cipher), fileId_(fileId) {
  if (cipher == Cipher::Gcm) {
    gcm_ = std::make_unique<AesGcm>(blockKey);
  } else {
    xts_ = std::make_unique<AesXts>(blockKey);
  }
}

void BlockCodec::encrypt(uint64_t index, const uint8_t* plain, const uint8_t* nonce, uint8_t* data,
                         uint8_t* entry) {
  if (cipher_ == Cipher::Gcm) {
    uint8_t ad[kFileIdSize + 8];
    std::memcpy(ad, fileId_.data(), kFileIdSize);
    putU64(ad + kFileIdSize, index);
    std::memcpy(entry, nonce, kGcmNonceSize);
    gcm_->seal(nonce, ad, sizeof ad, plain, kPlainBlockSize, data, entry + kGcmNonceSize);
  } else {
    uint8_t tweak[kXtsTweakSize] = {};
    for (int i = 0; i < 8; ++i) tweak[i] = static_cast<uint8_t>(index >> (8 * i));
    xts_->encrypt(tweak, plain, kPlainBlockSize, data);
  }
}

bool BlockCodec::decrypt(uint64_t index, const uint8_t* data, const uint8_t* entry, uint8_t* plain) {
  if (cipher_ == Cipher::Gcm) {
    uint8_t ad[kFileIdSize + 8];
    std::memcpy(ad, fileId_.data(), kFileIdSize);
    putU64(ad + kFileIdSize, index);
    return gcm_->open(entry, ad, sizeof ad, data, kPlainBlockSize, entry + kGcmNonceSize, plain);
  }
  // An all-zero XTS block is a hole (docs/format.md); most blocks differ early.
  if (data[0] == 0 && allZero(data, kPlainBlockSize)) {
    std::memset(plain, 0, kPlainBlockSize);
    return true;
  }
  uint8_t tweak[kXtsTweakSize] = {};
  for (int i = 0; i < 8; ++i) tweak[i] = static_cast<uint8_t>(index >> (8 * i));
  xts_->decrypt(tweak, data, kPlainBlockSize, plain);
  return true;
}

}  // namespace veil
