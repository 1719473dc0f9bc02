// Offline unlock (docs/protocol.md, "Offline unlock"): recovers the offline key O inside
// the native core, from the password wrapper or from the manager's response to a
// challenge, and installs the sealed key file's versions with it. Past the argument
// checks every failure is VEIL_OFFLINE_UNLOCK_FAILED with one message, whatever failed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "crypto/x25519.h"
#include "keys/sealed_keys.h"

namespace veil {

inline constexpr size_t kOfflineResponseSize = 48;  // O and the GCM tag

// The manager's password wrapper: O under scrypt(password, salt, N, r, p). The caller
// has checked the parameters' ranges; `ciphertext` is 48 bytes (O and the tag).
struct PasswordWrapper {
  const uint8_t* salt;
  size_t saltLength;
  uint64_t N;
  uint32_t r;
  uint32_t p;
  const uint8_t* nonce;
  const uint8_t* ciphertext;
};

// Makes a new X25519 pair whose private half stays here (an earlier one is wiped) and
// returns its public half E.
std::array<uint8_t, kX25519KeySize> newOfflineChallenge();
// Wipes a pending challenge (the process is ending).
void clearOfflineChallenge();

std::vector<KeyInfo> unlockWithPassword(const uint8_t* sealed, size_t length, const OfflineBinding& binding,
                                        const PasswordWrapper& wrapper, const uint8_t* password,
                                        size_t passwordLength);
// Uses up the pending challenge, whatever happens (VEIL_OFFLINE_NO_CHALLENGE when there is none).
std::vector<KeyInfo> unlockWithResponse(const uint8_t* sealed, size_t length, const OfflineBinding& binding,
                                        const uint8_t* managerPublicKey, const uint8_t* response);

}  // namespace veil
