#include "crypto/x25519.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <new>
#include <string>

#include "common/bytes.h"
#include "common/error.h"
#include "crypto/kdf.h"

namespace veil {

namespace {

[[noreturn]] void cryptoFailed(const char* what) {
  ERR_clear_error();
  throw VeilException("VEIL_CRYPTO_FAILED", std::string("OpenSSL failed to ") + what);
}

// A key object for the length of one call.
struct Pkey {
  EVP_PKEY* key;
  ~Pkey() { EVP_PKEY_free(key); }
};

EVP_PKEY* privateKeyObject(const uint8_t* privateKey) {
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, privateKey, kX25519KeySize);
  if (key == nullptr) cryptoFailed("set up an X25519 private key");
  return key;
}

}  // namespace

SecureBytes x25519NewPrivateKey() {
  SecureBytes key(kX25519KeySize);
  randomBytes(key.data(), key.size());
  return key;
}

void x25519PublicKey(const uint8_t* privateKey, uint8_t* publicKey) {
  Pkey own{privateKeyObject(privateKey)};
  size_t length = kX25519KeySize;
  if (EVP_PKEY_get_raw_public_key(own.key, publicKey, &length) != 1 || length != kX25519KeySize) {
    cryptoFailed("compute an X25519 public key");
  }
}

bool x25519(const uint8_t* privateKey, const uint8_t* peerPublicKey, uint8_t* shared) {
  Pkey own{privateKeyObject(privateKey)};
  Pkey peer{EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peerPublicKey, kX25519KeySize)};
  if (peer.key == nullptr) {
    ERR_clear_error();
    return false;
  }
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, own.key, nullptr);
  if (ctx == nullptr) throw std::bad_alloc();
  size_t length = kX25519KeySize;
  // OpenSSL refuses an all-zero secret itself; the check below does not rely on it.
  bool ok = EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer_ex(ctx, peer.key, 0) == 1 &&
            EVP_PKEY_derive(ctx, shared, &length) == 1 && length == kX25519KeySize &&
            !allZero(shared, kX25519KeySize);
  EVP_PKEY_CTX_free(ctx);
  if (!ok) {
    ERR_clear_error();
    OPENSSL_cleanse(shared, kX25519KeySize);
  }
  return ok;
}

}  // namespace veil
