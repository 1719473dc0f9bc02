#include "crypto/aes.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <climits>

#include "common/error.h"

namespace veil {

namespace {

[[noreturn]] void cryptoFailed(const char* what) {
  ERR_clear_error();
  throw VeilException("VEIL_CRYPTO_FAILED", std::string("OpenSSL failed to ") + what);
}

// Fetched once: EVP_get_cipherbyname-style implicit fetches would cost a lookup per init.
const EVP_CIPHER* fetchCipher(const char* name) {
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, nullptr);
  if (cipher == nullptr) cryptoFailed("find a cipher implementation");
  return cipher;
}

const EVP_CIPHER* gcmCipher() {
  static const EVP_CIPHER* cipher = fetchCipher("AES-256-GCM");
  return cipher;
}

const EVP_CIPHER* xtsCipher() {
  static const EVP_CIPHER* cipher = fetchCipher("AES-256-XTS");
  return cipher;
}

EVP_CIPHER_CTX* keyedContext(const EVP_CIPHER* cipher, const uint8_t* key, bool encrypt) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (ctx == nullptr) throw std::bad_alloc();
  if (EVP_CipherInit_ex(ctx, cipher, nullptr, key, nullptr, encrypt ? 1 : 0) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    cryptoFailed("set up a cipher key");
  }
  return ctx;
}

int intLength(size_t length) {
  if (length > static_cast<size_t>(INT_MAX)) throw VeilException("VEIL_INVALID_ARGUMENT", "input too large");
  return static_cast<int>(length);
}

}  // namespace

KeyedContexts::KeyedContexts(const EVP_CIPHER* cipher, const uint8_t* key)
    : encrypt_(keyedContext(cipher, key, true)), decrypt_(nullptr) {
  try {
    decrypt_ = keyedContext(cipher, key, false);
  } catch (...) {
    EVP_CIPHER_CTX_free(encrypt_);
    throw;
  }
}

KeyedContexts::~KeyedContexts() {
  // EVP_CIPHER_CTX_free cleanses the key schedule before freeing it.
  EVP_CIPHER_CTX_free(encrypt_);
  EVP_CIPHER_CTX_free(decrypt_);
}

AesGcm::AesGcm(const uint8_t* key) : contexts_(gcmCipher(), key) {}

void AesGcm::seal(const uint8_t* nonce, const uint8_t* aad, size_t aadLength, const uint8_t* plain,
                  size_t length, uint8_t* out, uint8_t* tag) {
  int n = 0;
  if (EVP_EncryptInit_ex(contexts_.encrypt(), nullptr, nullptr, nullptr, nonce) != 1) cryptoFailed("set a GCM nonce");
  if (aadLength > 0 && EVP_EncryptUpdate(contexts_.encrypt(), nullptr, &n, aad, intLength(aadLength)) != 1) {
    cryptoFailed("add GCM associated data");
  }
  if (length > 0 && EVP_EncryptUpdate(contexts_.encrypt(), out, &n, plain, intLength(length)) != 1) {
    cryptoFailed("encrypt with GCM");
  }
  if (EVP_EncryptFinal_ex(contexts_.encrypt(), out + length, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(contexts_.encrypt(), EVP_CTRL_AEAD_GET_TAG, kGcmTagSize, tag) != 1) {
    cryptoFailed("finish GCM encryption");
  }
}

bool AesGcm::open(const uint8_t* nonce, const uint8_t* aad, size_t aadLength, const uint8_t* cipher,
                  size_t length, const uint8_t* tag, uint8_t* out) {
  int n = 0;
  if (EVP_DecryptInit_ex(contexts_.decrypt(), nullptr, nullptr, nullptr, nonce) != 1) cryptoFailed("set a GCM nonce");
  if (aadLength > 0 && EVP_DecryptUpdate(contexts_.decrypt(), nullptr, &n, aad, intLength(aadLength)) != 1) {
    cryptoFailed("add GCM associated data");
  }
  if (length > 0 && EVP_DecryptUpdate(contexts_.decrypt(), out, &n, cipher, intLength(length)) != 1) {
    cryptoFailed("decrypt with GCM");
  }
  if (EVP_CIPHER_CTX_ctrl(contexts_.decrypt(), EVP_CTRL_AEAD_SET_TAG, kGcmTagSize, const_cast<uint8_t*>(tag)) != 1) {
    cryptoFailed("set a GCM tag");
  }
  if (EVP_DecryptFinal_ex(contexts_.decrypt(), out + length, &n) != 1) {
    // Never hand out plaintext that failed authentication.
    ERR_clear_error();
    if (length > 0) OPENSSL_cleanse(out, length);
    return false;
  }
  return true;
}

AesXts::AesXts(const uint8_t* key) : contexts_(xtsCipher(), key) {}

void AesXts::encrypt(const uint8_t* tweak, const uint8_t* in, size_t length, uint8_t* out) {
  if (length < 16) throw VeilException("VEIL_INVALID_ARGUMENT", "XTS needs at least 16 bytes of data");
  int n = 0;
  if (EVP_EncryptInit_ex(contexts_.encrypt(), nullptr, nullptr, nullptr, tweak) != 1 ||
      EVP_EncryptUpdate(contexts_.encrypt(), out, &n, in, intLength(length)) != 1) {
    cryptoFailed("encrypt with XTS");
  }
}

void AesXts::decrypt(const uint8_t* tweak, const uint8_t* in, size_t length, uint8_t* out) {
  if (length < 16) throw VeilException("VEIL_INVALID_ARGUMENT", "XTS needs at least 16 bytes of data");
  int n = 0;
  if (EVP_DecryptInit_ex(contexts_.decrypt(), nullptr, nullptr, nullptr, tweak) != 1 ||
      EVP_DecryptUpdate(contexts_.decrypt(), out, &n, in, intLength(length)) != 1) {
    cryptoFailed("decrypt with XTS");
  }
}

}  // namespace veil
