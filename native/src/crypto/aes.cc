#include "crypto/aes.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include <cstring>
#include <string>

#include "common/error.h"

namespace veil {

namespace {

[[noreturn]] void cryptoFailed(const char* what) {
  ERR_clear_error();
  throw VeilException("VEIL_CRYPTO_FAILED", std::string("OpenSSL failed to ") + what);
}

}  // namespace

// The provider functions behind one cipher, looked up once in the dispatch table of the
// provider that EVP_CIPHER_fetch chose (the default one, or FIPS if Node runs with it).
struct ProviderCipher {
  EVP_CIPHER* evp = nullptr;  // held for the process lifetime, so the provider stays loaded
  void* providerContext = nullptr;
  OSSL_FUNC_cipher_newctx_fn* newContext = nullptr;
  OSSL_FUNC_cipher_freectx_fn* freeContext = nullptr;
  OSSL_FUNC_cipher_encrypt_init_fn* encryptInit = nullptr;
  OSSL_FUNC_cipher_decrypt_init_fn* decryptInit = nullptr;
  OSSL_FUNC_cipher_update_fn* update = nullptr;
  OSSL_FUNC_cipher_final_fn* final = nullptr;
  OSSL_FUNC_cipher_get_ctx_params_fn* getParams = nullptr;
  OSSL_FUNC_cipher_set_ctx_params_fn* setParams = nullptr;

  explicit ProviderCipher(const char* name) {
    evp = EVP_CIPHER_fetch(nullptr, name, nullptr);
    if (evp == nullptr) cryptoFailed("find a cipher implementation");
    const OSSL_PROVIDER* provider = EVP_CIPHER_get0_provider(evp);
    providerContext = OSSL_PROVIDER_get0_provider_ctx(provider);
    int noCache = 0;
    const OSSL_ALGORITHM* algorithms = OSSL_PROVIDER_query_operation(provider, OSSL_OP_CIPHER, &noCache);
    for (const OSSL_ALGORITHM* a = algorithms; a != nullptr && a->algorithm_names != nullptr; ++a) {
      if (EVP_CIPHER_is_a(evp, firstName(a->algorithm_names).c_str())) {
        resolve(a->implementation);
        break;
      }
    }
    OSSL_PROVIDER_unquery_operation(provider, OSSL_OP_CIPHER, algorithms);
    if (newContext == nullptr || freeContext == nullptr || encryptInit == nullptr || decryptInit == nullptr ||
        update == nullptr || final == nullptr || getParams == nullptr || setParams == nullptr) {
      cryptoFailed("find the functions of a cipher implementation");
    }
  }

 private:
  static std::string firstName(const char* names) {
    const char* colon = std::strchr(names, ':');
    return colon == nullptr ? std::string(names) : std::string(names, colon);
  }

  void resolve(const OSSL_DISPATCH* d) {
    for (; d->function_id != 0; ++d) {
      switch (d->function_id) {
        case OSSL_FUNC_CIPHER_NEWCTX: newContext = OSSL_FUNC_cipher_newctx(d); break;
        case OSSL_FUNC_CIPHER_FREECTX: freeContext = OSSL_FUNC_cipher_freectx(d); break;
        case OSSL_FUNC_CIPHER_ENCRYPT_INIT: encryptInit = OSSL_FUNC_cipher_encrypt_init(d); break;
        case OSSL_FUNC_CIPHER_DECRYPT_INIT: decryptInit = OSSL_FUNC_cipher_decrypt_init(d); break;
        case OSSL_FUNC_CIPHER_UPDATE: update = OSSL_FUNC_cipher_update(d); break;
        case OSSL_FUNC_CIPHER_FINAL: final = OSSL_FUNC_cipher_final(d); break;
        case OSSL_FUNC_CIPHER_GET_CTX_PARAMS: getParams = OSSL_FUNC_cipher_get_ctx_params(d); break;
        case OSSL_FUNC_CIPHER_SET_CTX_PARAMS: setParams = OSSL_FUNC_cipher_set_ctx_params(d); break;
        default: break;
      }
    }
  }
};

namespace {

const ProviderCipher& gcmCipher() {
  static const ProviderCipher* cipher = new ProviderCipher("AES-256-GCM");
  return *cipher;
}

const ProviderCipher& xtsCipher() {
  static const ProviderCipher* cipher = new ProviderCipher("AES-256-XTS");
  return *cipher;
}

void* keyedContext(const ProviderCipher& cipher, const uint8_t* key, size_t keyLength, bool encrypt) {
  void* ctx = cipher.newContext(cipher.providerContext);
  if (ctx == nullptr) throw std::bad_alloc();
  int ok = encrypt ? cipher.encryptInit(ctx, key, keyLength, nullptr, 0, nullptr)
                   : cipher.decryptInit(ctx, key, keyLength, nullptr, 0, nullptr);
  if (ok != 1) {
    cipher.freeContext(ctx);
    // The message names no key: XTS refuses, for one, a key whose two halves are equal.
    cryptoFailed("set up a cipher key (the key was refused)");
  }
  return ctx;
}

// One update that must turn `length` bytes into exactly `length` bytes.
bool run(OSSL_FUNC_cipher_update_fn* update, void* ctx, uint8_t* out, const uint8_t* in, size_t length) {
  size_t written = 0;
  return update(ctx, out, &written, length, in, length) == 1 && written == length;
}

}  // namespace

KeyedContexts::KeyedContexts(const ProviderCipher& cipher, const uint8_t* key, size_t keyLength)
    : cipher_(cipher), key_(key), keyLength_(keyLength) {
  // Keying the encrypt side at once validates the key (XTS refuses equal halves) here.
  encrypt_ = keyedContext(cipher_, key_, keyLength_, true);
}

KeyedContexts::~KeyedContexts() {
  // The providers' freectx cleanses the key schedule before freeing it.
  if (encrypt_ != nullptr) cipher_.freeContext(encrypt_);
  if (decrypt_ != nullptr) cipher_.freeContext(decrypt_);
}

void* KeyedContexts::encrypt() { return encrypt_; }

void* KeyedContexts::decrypt() {
  if (decrypt_ == nullptr) decrypt_ = keyedContext(cipher_, key_, keyLength_, false);
  return decrypt_;
}

AesGcm::AesGcm(const uint8_t* key) : contexts_(gcmCipher(), key, kGcmKeySize) {}

void AesGcm::seal(const uint8_t* nonce, const uint8_t* aad, size_t aadLength, const uint8_t* plain,
                  size_t length, uint8_t* out, uint8_t* tag) {
  const ProviderCipher& c = contexts_.cipher();
  void* ctx = contexts_.encrypt();
  size_t written = 0;
  OSSL_PARAM getTag[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, kGcmTagSize),
                         OSSL_PARAM_construct_end()};
  // A null output makes update take associated data (its size check still applies).
  if (c.encryptInit(ctx, nullptr, 0, nonce, kGcmNonceSize, nullptr) != 1 ||
      (aadLength > 0 && c.update(ctx, nullptr, &written, aadLength, aad, aadLength) != 1) ||
      (length > 0 && !run(c.update, ctx, out, plain, length)) || c.final(ctx, out + length, &written, 0) != 1 ||
      c.getParams(ctx, getTag) != 1) {
    cryptoFailed("encrypt with GCM");
  }
}

bool AesGcm::open(const uint8_t* nonce, const uint8_t* aad, size_t aadLength, const uint8_t* cipher,
                  size_t length, const uint8_t* tag, uint8_t* out) {
  const ProviderCipher& c = contexts_.cipher();
  void* ctx = contexts_.decrypt();
  size_t written = 0;
  OSSL_PARAM setTag[] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, const_cast<uint8_t*>(tag), kGcmTagSize),
      OSSL_PARAM_construct_end()};
  if (c.decryptInit(ctx, nullptr, 0, nonce, kGcmNonceSize, nullptr) != 1 ||
      (aadLength > 0 && c.update(ctx, nullptr, &written, aadLength, aad, aadLength) != 1) ||
      (length > 0 && !run(c.update, ctx, out, cipher, length)) || c.setParams(ctx, setTag) != 1) {
    cryptoFailed("decrypt with GCM");
  }
  if (c.final(ctx, out + length, &written, 0) != 1) {
    // Never hand out plaintext that failed authentication.
    ERR_clear_error();
    if (length > 0) OPENSSL_cleanse(out, length);
    return false;
  }
  return true;
}

AesXts::AesXts(const uint8_t* key) : contexts_(xtsCipher(), key, kXtsKeySize) {}

void AesXts::encrypt(const uint8_t* tweak, const uint8_t* in, size_t length, uint8_t* out) {
  if (length < 16) throw VeilException("VEIL_INVALID_ARGUMENT", "XTS needs at least 16 bytes of data");
  const ProviderCipher& c = contexts_.cipher();
  if (c.encryptInit(contexts_.encrypt(), nullptr, 0, tweak, kXtsTweakSize, nullptr) != 1 ||
      !run(c.update, contexts_.encrypt(), out, in, length)) {
    cryptoFailed("encrypt with XTS");
  }
}

void AesXts::decrypt(const uint8_t* tweak, const uint8_t* in, size_t length, uint8_t* out) {
  if (length < 16) throw VeilException("VEIL_INVALID_ARGUMENT", "XTS needs at least 16 bytes of data");
  const ProviderCipher& c = contexts_.cipher();
  if (c.decryptInit(contexts_.decrypt(), nullptr, 0, tweak, kXtsTweakSize, nullptr) != 1 ||
      !run(c.update, contexts_.decrypt(), out, in, length)) {
    cryptoFailed("decrypt with XTS");
  }
}

}  // namespace veil
