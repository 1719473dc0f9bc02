#include "crypto/rsa_oaep.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>

#include "common/error.h"

namespace veil {

RsaOaepKeyPair::RsaOaepKeyPair(unsigned bits) : key_(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{bits})) {
  if (key_ == nullptr) throw VeilException("VEIL_CRYPTO_FAILED", "OpenSSL failed to generate an RSA key pair");
}

RsaOaepKeyPair::~RsaOaepKeyPair() { EVP_PKEY_free(key_); }

std::string RsaOaepKeyPair::publicKeyPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) throw std::bad_alloc();
  std::string pem;
  if (PEM_write_bio_PUBKEY(bio, key_) == 1) {
    char* data = nullptr;
    long length = BIO_get_mem_data(bio, &data);
    pem.assign(data, static_cast<size_t>(length));
  }
  BIO_free(bio);
  if (pem.empty()) throw VeilException("VEIL_CRYPTO_FAILED", "OpenSSL failed to export the public key");
  return pem;
}

size_t RsaOaepKeyPair::modulusBytes() const { return static_cast<size_t>(EVP_PKEY_get_size(key_)); }

bool RsaOaepKeyPair::decrypt(const uint8_t* in, size_t length, SecureBytes& out) const {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, key_, nullptr);
  if (ctx == nullptr) throw std::bad_alloc();
  bool ok = false;
  size_t outLength = modulusBytes();
  SecureBytes buffer(outLength);
  if (EVP_PKEY_decrypt_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
      EVP_PKEY_decrypt(ctx, buffer.data(), &outLength, in, length) == 1) {
    out = SecureBytes(outLength);
    std::copy(buffer.data(), buffer.data() + outLength, out.data());
    ok = true;
  }
  EVP_PKEY_CTX_free(ctx);
  // Leave no trace of why a decryption failed, for us or for Node's own crypto.
  if (!ok) ERR_clear_error();
  return ok;
}

}  // namespace veil
