// One open container: its authenticated header and its unwrapped file keys, and the
// batch block codec the FUSE threads and the asynchronous JavaScript API both call.
// Thread-safe: block batches run concurrently (shared lock); header changes and close
// take the lock exclusively.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "crypto/secure_memory.h"
#include "format/block_codec.h"
#include "format/header.h"
#include "format/layout.h"
#include "format/wrapping_key.h"

namespace veil {

using HeaderBytes = std::array<uint8_t, kHeaderSize>;

class Container {
 public:
  // A new, empty file with a fresh file id and file key wrapped under an active key.
  static std::shared_ptr<Container> create(const KeyLookup& keys, const Uuid& keyId, uint32_t version,
                                           Cipher cipher);
  // Verifies a header (docs/format.md, "Reading a header") and unwraps its file keys.
  static std::shared_ptr<Container> open(const KeyLookup& keys, const uint8_t* bytes, size_t length);

  Header header() const;
  HeaderBytes headerBytes() const;
  HeaderBytes setSize(uint64_t size);
  // Wraps slot A's file key under another active key version; the blocks stay as they are.
  HeaderBytes rewrap(const KeyLookup& keys, const Uuid& keyId, uint32_t version);

  // Re-encryption (docs/format.md, state 1). Begin: a fresh file key in slot B, wrapped
  // under an active key version (slot index 1), progress 0. GCM only.
  HeaderBytes beginReencryption(const KeyLookup& keys, const Uuid& keyId, uint32_t version);
  // Blocks before `progress` are under slot B's key from now on.
  HeaderBytes setProgress(uint64_t progress);
  // Every block is under slot B's key: it becomes slot A's (re-wrapped with slot index 0),
  // slot B is cleared, state 0, and the header MAC key comes from the new file key.
  HeaderBytes finishReencryption(const KeyLookup& keys);
  // Encrypts whole blocks under slot B's key whatever the mark says (the re-encryption
  // worker writes a run before it advances the mark).
  void encryptBlocksUnderTarget(uint64_t first, const uint8_t* plain, size_t count, uint8_t* data, uint8_t* tags);
  // Whether every one of `count` stored blocks decrypts under slot B's key alone.
  bool blocksUnderTarget(uint64_t first, const uint8_t* data, const uint8_t* tags, size_t count);
  // Whether one stored block decrypts under either slot's key (journal recovery).
  bool blockDecrypts(uint64_t index, const uint8_t* data, const uint8_t* entry);

  // `count` whole blocks starting at block `first`: their ciphertext to `data` (4096 bytes
  // each) and, for GCM, their tag entries to `tags` (kTagEntrySize each; XTS ignores it).
  // One random draw serves many GCM nonces.
  void encryptBlocks(uint64_t first, const uint8_t* plain, size_t count, uint8_t* data, uint8_t* tags);
  // Throws VEIL_CRYPTO_AUTH_FAILED if any block fails; `plain` is then wiped.
  void decryptBlocks(uint64_t first, const uint8_t* data, const uint8_t* tags, size_t count, uint8_t* plain);

  // Wipes the file keys; every later call fails with VEIL_KEY_HANDLE_CLOSED.
  void close();

  Container(Cipher cipher, std::array<uint8_t, kFileIdSize> fileId);  // use create/open
  ~Container();
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

 private:
  class FileKey;
  class CodecLease;

  void reseal();  // header_ -> bytes_, with a fresh MAC
  void checkUsable() const;
  FileKey& keyForBlock(uint64_t index) const;
  void encryptWith(bool target, uint64_t first, const uint8_t* plain, size_t count, uint8_t* data, uint8_t* tags);

  mutable std::shared_mutex mutex_;
  Header header_;
  HeaderBytes bytes_{};
  std::unique_ptr<FileKey> a_;
  std::unique_ptr<FileKey> b_;
  SecureBytes macKey_;
  bool closed_ = false;
};

}  // namespace veil
