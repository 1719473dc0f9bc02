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
#include <initializer_list>
#include <utility>
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

EVP_MAC* hmac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac == nullptr) cryptoFailed("find HMAC");
  return mac;
}

// One HMAC-SHA256 context per thread, keyed afresh for each message: fetching the digest
// and allocating contexts cost more than the MAC of a 512-byte header, and a file open or a
// re-encryption takes several of these. After use the context is keyed with zeros, so no
// key's pads stay in it.
class ThreadHmac {
 public:
  ThreadHmac() {
    ctx_ = EVP_MAC_CTX_new(hmac());
    if (ctx_ == nullptr) throw std::bad_alloc();
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(ctx_, params) != 1) cryptoFailed("set up HMAC-SHA256");
  }
  ~ThreadHmac() { EVP_MAC_CTX_free(ctx_); }
  ThreadHmac(const ThreadHmac&) = delete;
  ThreadHmac& operator=(const ThreadHmac&) = delete;

  // HMAC(key, part 1 || part 2 || part 3) into out (32 bytes); parts may be empty.
  bool mac(const uint8_t* key, size_t keyLength, std::initializer_list<std::pair<const uint8_t*, size_t>> parts,
           uint8_t* out) {
    static const uint8_t zeros[kSha256Size] = {};
    bool ok = EVP_MAC_init(ctx_, keyLength > 0 ? key : zeros, keyLength > 0 ? keyLength : sizeof zeros, nullptr) == 1;
    for (const auto& [data, length] : parts) {
      if (ok && length > 0) ok = EVP_MAC_update(ctx_, data, length) == 1;
    }
    size_t written = 0;
    ok = ok && EVP_MAC_final(ctx_, out, &written, kSha256Size) == 1 && written == kSha256Size;
    EVP_MAC_init(ctx_, zeros, sizeof zeros, nullptr);
    return ok;
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
};

ThreadHmac& threadHmac() {
  thread_local ThreadHmac instance;
  return instance;
}

}  // namespace

// RFC 5869 over the per-thread HMAC: extract, then expand. An empty salt is HashLen zero
// bytes, which as an HMAC key is the same as no key at all.
void hkdfSha256(const uint8_t* ikm, size_t ikmLength, const uint8_t* salt, size_t saltLength, const uint8_t* info,
                size_t infoLength, uint8_t* out, size_t outLength) {
  if (outLength > 255 * kSha256Size) cryptoFailed("derive a key with HKDF (output too long)");
  ThreadHmac& h = threadHmac();
  uint8_t prk[kSha256Size];
  uint8_t t[kSha256Size];
  bool ok = h.mac(salt, saltLength, {{ikm, ikmLength}}, prk);
  size_t previous = 0;
  for (uint8_t counter = 1; ok && outLength > 0; ++counter) {
    ok = h.mac(prk, sizeof prk, {{t, previous}, {info, infoLength}, {&counter, 1}}, t);
    const size_t n = std::min(outLength, sizeof t);
    std::memcpy(out, t, n);
    out += n;
    outLength -= n;
    previous = sizeof t;
  }
  OPENSSL_cleanse(prk, sizeof prk);
  OPENSSL_cleanse(t, sizeof t);
  if (!ok) cryptoFailed("derive a key with HKDF");
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
  if (!threadHmac().mac(key, keyLength, {{data, length}}, out)) cryptoFailed("compute an HMAC");
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
