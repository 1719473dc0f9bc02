#include "keys/offline_unlock.h"

#include <cstring>
#include <mutex>

#include "common/error.h"
#include "crypto/aes.h"
#include "crypto/kdf.h"

namespace veil {

namespace {

constexpr char kPasswordLabel[] = "veil/offline-password/v1";
constexpr char kResponseLabel[] = "veil/offline-response/v1";

struct Challenge {
  SecureBytes privateKey;  // empty: none pending
  std::array<uint8_t, kX25519KeySize> publicKey{};
};

std::mutex challengeMutex;
Challenge& pending() {  // guarded by challengeMutex
  static Challenge* challenge = new Challenge();  // never destroyed: clearOfflineChallenge wipes it
  return *challenge;
}

Challenge takeChallenge() {
  std::lock_guard<std::mutex> lock(challengeMutex);
  Challenge& current = pending();
  if (current.privateKey.empty()) {
    throw VeilException("VEIL_OFFLINE_NO_CHALLENGE",
                        "no challenge is pending: make one (agentctl challenge), then hand its response over once");
  }
  return Challenge{std::move(current.privateKey), current.publicKey};
}

[[noreturn]] void unlockFailed() {
  throw VeilException("VEIL_OFFLINE_UNLOCK_FAILED",
                      "the password or response does not unlock this host's sealed keys");
}

std::vector<KeyInfo> install(const uint8_t* sealed, size_t length, const OfflineBinding& binding,
                             const SecureBytes& offlineKey) {
  std::vector<KeyInfo> installed;
  if (!installSealedKeys(KeyTable::instance(), sealed, length, binding, offlineKey.data(), installed)) {
    unlockFailed();
  }
  return installed;
}

}  // namespace

std::array<uint8_t, kX25519KeySize> newOfflineChallenge() {
  SecureBytes privateKey = x25519NewPrivateKey();
  std::array<uint8_t, kX25519KeySize> publicKey{};
  x25519PublicKey(privateKey.data(), publicKey.data());
  std::lock_guard<std::mutex> lock(challengeMutex);
  pending().privateKey = std::move(privateKey);  // the move wipes the earlier one
  pending().publicKey = publicKey;
  return publicKey;
}

void clearOfflineChallenge() {
  std::lock_guard<std::mutex> lock(challengeMutex);
  pending().privateKey.wipe();
}

std::vector<KeyInfo> unlockWithPassword(const uint8_t* sealed, size_t length, const OfflineBinding& binding,
                                        const PasswordWrapper& wrapper, const uint8_t* password,
                                        size_t passwordLength) {
  // KEK = scrypt(password, salt, N, r, p, 32); O = AES-256-GCM⁻¹(KEK, nonce, ciphertext, AD).
  SecureBytes kek(kGcmKeySize);
  scrypt(password, passwordLength, wrapper.salt, wrapper.saltLength, wrapper.N, wrapper.r, wrapper.p, kek.data(),
         kek.size());
  const std::vector<uint8_t> ad = offlineLabel(kPasswordLabel, binding);
  SecureBytes offlineKey(kOfflineKeySize);
  if (!AesGcm(kek.data()).open(wrapper.nonce, ad.data(), ad.size(), wrapper.ciphertext, kOfflineKeySize,
                               wrapper.ciphertext + kOfflineKeySize, offlineKey.data())) {
    unlockFailed();
  }
  kek.wipe();
  return install(sealed, length, binding, offlineKey);
}

std::vector<KeyInfo> unlockWithResponse(const uint8_t* sealed, size_t length, const OfflineBinding& binding,
                                        const uint8_t* managerPublicKey, const uint8_t* response) {
  Challenge challenge = takeChallenge();  // its private half is wiped when this returns or throws
  SecureBytes shared(kX25519KeySize);
  if (!x25519(challenge.privateKey.data(), managerPublicKey, shared.data())) unlockFailed();
  challenge.privateKey.wipe();
  // key = HKDF-SHA256(shared, salt = E || M public, info = label || binding, 32).
  uint8_t salt[2 * kX25519KeySize];
  std::memcpy(salt, challenge.publicKey.data(), kX25519KeySize);
  std::memcpy(salt + kX25519KeySize, managerPublicKey, kX25519KeySize);
  const std::vector<uint8_t> info = offlineLabel(kResponseLabel, binding);
  SecureBytes key(kGcmKeySize);
  hkdfSha256(shared.data(), shared.size(), salt, sizeof salt, info.data(), info.size(), key.data(), key.size());
  shared.wipe();
  // Each challenge makes a new key, so the zero nonce is never used twice under one key.
  const uint8_t nonce[kGcmNonceSize] = {};
  SecureBytes offlineKey(kOfflineKeySize);
  if (!AesGcm(key.data()).open(nonce, nullptr, 0, response, kOfflineKeySize, response + kOfflineKeySize,
                               offlineKey.data())) {
    unlockFailed();
  }
  key.wipe();
  return install(sealed, length, binding, offlineKey);
}

}  // namespace veil
