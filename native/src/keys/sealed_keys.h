// The sealed key file of offline unlock (docs/protocol.md, "Sealed key file"): every key
// version of the table but the offline key O, encrypted under a key derived from O. It is
// all a host keeps of its keys on disk; only O, which the host does not keep, opens it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "keys/key_table.h"

namespace veil {

// What every key of offline unlock is bound to: the host and the offline key's id and version.
struct OfflineBinding {
  Uuid hostId;
  Uuid keyId;
  uint32_t version;
};

inline constexpr size_t kOfflineKeySize = 32;
// A sealed file never holds more versions than a u16 counts, and so is never larger than this.
inline constexpr size_t kMaxSealedEntries = 65535;
inline constexpr size_t kMaxSealedSize = 4 << 20;

// label || host id (16) || offline key id (16) || u32 version: the info or AD of each derivation.
std::vector<uint8_t> offlineLabel(const char* label, const OfflineBinding& binding);

// Seals every version of `table` but O, which must be in it (VEIL_KEY_NOT_FOUND) as an
// AES-256 key (VEIL_KEY_INVALID).
std::vector<uint8_t> sealKeyTable(const KeyTable& table, const OfflineBinding& binding);

// Checks the file's header against `binding`, opens it with `offlineKey` (32 bytes) and
// installs its versions and O itself (active, AES-256) in `table` in one step. False, with
// nothing changed, when anything does not check; `installed` lists what was installed.
bool installSealedKeys(KeyTable& table, const uint8_t* sealed, size_t length, const OfflineBinding& binding,
                       const uint8_t* offlineKey, std::vector<KeyInfo>& installed);

}  // namespace veil
