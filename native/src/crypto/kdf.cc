#include "crypto/kdf.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <pthread.h>

#include <algorithm>
#include <mutex>

#include <atomic>
#include <climits>
#include <cstring>

#include "common/error.h"

namespace veil {

namespace {

[[noreturn]] void cryptoFailed(const char* what) {
  ERR_clear_error();
  throw VeilException("VEIL_CRYPTO_FAILED", std::string("OpenSSL failed to ") + what);
}

EVP_KDF* hkdf() {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) cryptoFailed("find HKDF");
  return kdf;
}

EVP_MAC* hmac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) cryptoFailed("find HMAC");
  return mac;
}

}  // namespace

void hkdfSha256(const uint8_t* ikm, size_t ikmLength, const uint8_t* salt, size_t saltLength, const uint8_t* info,
                size_t infoLength, uint8_t* out, size_t outLength) {
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(hkdf());
  if (ctx == nullptr) throw std::bad_alloc();
  char digest[] = "SHA256";
  // An empty salt is passed as absent: RFC 5869 then uses HashLen zero bytes, the same.
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm), ikmLength);
  if (saltLength > 0) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt), saltLength);
  }
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info), infoLength);
  params[n] = OSSL_PARAM_construct_end();
  int ok = EVP_KDF_derive(ctx, out, outLength, params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) cryptoFailed("derive a key with HKDF");
}

void scrypt(const uint8_t* password, size_t passwordLength, const uint8_t* salt, size_t saltLength, uint64_t N,
            uint64_t r, uint64_t p, uint8_t* out, size_t outLength) {
  // OpenSSL clears its working memory (derived from the password) before freeing it.
  if (EVP_PBE_scrypt(reinterpret_cast<const char*>(password), passwordLength, salt, saltLength, N, r, p,
                     kScryptMaxMemory, out, outLength) != 1) {
    cryptoFailed("derive a key with scrypt (parameters out of range, or out of memory)");
  }
}

void hmacSha256(const uint8_t* key, size_t keyLength, const uint8_t* data, size_t length, uint8_t* out) {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmac());
  if (ctx == nullptr) throw std::bad_alloc();
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  size_t written = 0;
  int ok = EVP_MAC_init(ctx, key, keyLength, params) == 1 && EVP_MAC_update(ctx, data, length) == 1 &&
           EVP_MAC_final(ctx, out, &written, kSha256Size) == 1 && written == kSha256Size;
  EVP_MAC_CTX_free(ctx);
  if (!ok) cryptoFailed("compute an HMAC");
}

void randomBytes(uint8_t* out, size_t length) {
  while (length > 0) {
    int chunk = length > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(length);
    if (RAND_bytes(out, chunk) != 1) cryptoFailed("draw random bytes");
    out += chunk;
    length -= static_cast<size_t>(chunk);
  }
}

namespace {

std::atomic<unsigned> forkGeneration{0};

struct NoncePool {
  uint8_t bytes[4096];
  size_t used = sizeof bytes;
  unsigned generation = 0;
  ~NoncePool() { OPENSSL_cleanse(bytes, sizeof bytes); }
};

}  // namespace

void randomNonceBytes(uint8_t* out, size_t length) {
  static std::once_flag atfork;
  std::call_once(atfork, [] { pthread_atfork(nullptr, nullptr, [] { forkGeneration.fetch_add(1); }); });
  thread_local NoncePool pool;
  const unsigned generation = forkGeneration.load(std::memory_order_relaxed);
  if (pool.generation != generation) {
    pool.used = sizeof pool.bytes;  // a child must never reuse its parent's nonces
    pool.generation = generation;
  }
  while (length > 0) {
    if (pool.used == sizeof pool.bytes) {
      randomBytes(pool.bytes, sizeof pool.bytes);
      pool.used = 0;
    }
    size_t n = std::min(length, sizeof pool.bytes - pool.used);
    std::memcpy(out, pool.bytes + pool.used, n);
    OPENSSL_cleanse(pool.bytes + pool.used, n);  // each byte is handed out once
    pool.used += n;
    out += n;
    length -= n;
  }
}

bool constantTimeEqual(const uint8_t* a, const uint8_t* b, size_t length) {
  return CRYPTO_memcmp(a, b, length) == 0;
}

}  // namespace veil
