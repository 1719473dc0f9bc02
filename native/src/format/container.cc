#include "format/container.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "common/error.h"
#include "crypto/kdf.h"

namespace veil {

namespace {

constexpr char kMacInfo[] = "veil/v1 header-mac";
constexpr size_t kMaxPooledCodecs = 8;

std::shared_ptr<const WrappingKey> findKey(const KeyLookup& keys, const Uuid& id, uint32_t version) {
  auto key = keys.find(id, version);
  if (!key) {
    throw VeilException("VEIL_KEY_NOT_FOUND",
                        "key " + formatUuid(id) + " version " + std::to_string(version) + " is not on this host");
  }
  return key;
}

// The key a file key is wrapped under from now on: only an active version may be.
std::shared_ptr<const WrappingKey> activeWrappingKey(const KeyLookup& keys, const Uuid& id, uint32_t version) {
  auto key = findKey(keys, id, version);
  if (!key->canWrap()) {
    throw VeilException("VEIL_KEY_NOT_ACTIVE", "key " + formatUuid(id) + " version " + std::to_string(version) +
                                                   " is not active: only an active key protects new data");
  }
  return key;
}

}  // namespace

// A file key with its derived block key and a pool of keyed codecs, one per thread in use.
class Container::FileKey {
 public:
  FileKey(Cipher cipher, const std::array<uint8_t, kFileIdSize>& fileId, SecureBytes key, KeyLiveness live)
      : cipher_(cipher), fileId_(fileId), key_(std::move(key)), blockKey_(blockKeySize(cipher)), live_(std::move(live)) {
    deriveBlockKey(cipher, key_.data(), fileId, blockKey_.data());
  }

  const uint8_t* key() const { return key_.data(); }
  bool live() const { return live_->load(std::memory_order_acquire); }
  void setLiveness(KeyLiveness live) { live_ = std::move(live); }

  // One codec waits in a lock-free slot, so a single thread working a file (the common
  // case) never takes the pool's mutex; more threads fall back to the pool.
  std::unique_ptr<BlockCodec> acquire() {
    if (BlockCodec* fast = fast_.exchange(nullptr, std::memory_order_acquire)) {
      return std::unique_ptr<BlockCodec>(fast);
    }
    {
      std::lock_guard<std::mutex> lock(poolMutex_);
      if (!pool_.empty()) {
        auto codec = std::move(pool_.back());
        pool_.pop_back();
        return codec;
      }
    }
    return std::make_unique<BlockCodec>(cipher_, blockKey_.data(), fileId_);
  }

  void release(std::unique_ptr<BlockCodec> codec) {
    BlockCodec* expected = nullptr;
    if (fast_.compare_exchange_strong(expected, codec.get(), std::memory_order_release)) {
      codec.release();
      return;
    }
    std::lock_guard<std::mutex> lock(poolMutex_);
    if (pool_.size() < kMaxPooledCodecs) pool_.push_back(std::move(codec));
  }

  ~FileKey() { delete fast_.exchange(nullptr); }
  FileKey(const FileKey&) = delete;
  FileKey& operator=(const FileKey&) = delete;

 private:
  Cipher cipher_;
  std::array<uint8_t, kFileIdSize> fileId_;
  SecureBytes key_;
  SecureBytes blockKey_;
  KeyLiveness live_;
  std::atomic<BlockCodec*> fast_{nullptr};
  std::mutex poolMutex_;
  std::vector<std::unique_ptr<BlockCodec>> pool_;
};

namespace {

// Seals a file key into a slot under `wrapping` (AES-256-GCM, docs/format.md).
void wrapSlot(const Header& header, uint8_t slotIndex, const WrappingKey& wrapping, const uint8_t* fileKey,
              KeySlot& slot) {
  slot.keyId = wrapping.id();
  slot.version = wrapping.version();
  randomBytes(slot.nonce.data(), slot.nonce.size());
  uint8_t ad[kSlotAdSize];
  slotAssociatedData(header, slotIndex, slot, ad);
  AesGcm(wrapping.kek()).seal(slot.nonce.data(), ad, sizeof ad, fileKey, kFileKeySize, slot.wrapped.data(),
                              slot.tag.data());
}

SecureBytes unwrapSlot(const KeyLookup& keys, const Header& header, uint8_t slotIndex, const KeySlot& slot,
                       KeyLiveness& liveness) {
  auto wrapping = findKey(keys, slot.keyId, slot.version);
  if (!wrapping->canUnwrap()) {
    throw VeilException("VEIL_KEY_NOT_ACTIVE", "key " + formatUuid(slot.keyId) + " version " +
                                                   std::to_string(slot.version) +
                                                   " is not usable yet (pre-activation) or no longer (destroyed)");
  }
  uint8_t ad[kSlotAdSize];
  slotAssociatedData(header, slotIndex, slot, ad);
  SecureBytes fileKey(kFileKeySize);
  if (!AesGcm(wrapping->kek()).open(slot.nonce.data(), ad, sizeof ad, slot.wrapped.data(), kFileKeySize,
                                    slot.tag.data(), fileKey.data())) {
    throwAuthFailed();
  }
  liveness = wrapping->liveness();
  return fileKey;
}

SecureBytes deriveMacKey(const uint8_t* fileKey, const std::array<uint8_t, kFileIdSize>& fileId) {
  SecureBytes macKey(kSha256Size);
  hkdfSha256(fileKey, kFileKeySize, fileId.data(), fileId.size(), reinterpret_cast<const uint8_t*>(kMacInfo),
             sizeof kMacInfo - 1, macKey.data(), kSha256Size);
  return macKey;
}

}  // namespace

Container::Container(Cipher cipher, std::array<uint8_t, kFileIdSize> fileId) {
  header_.cipher = cipher;
  header_.fileId = fileId;
}

Container::~Container() = default;

std::shared_ptr<Container> Container::create(const KeyLookup& keys, const Uuid& keyId, uint32_t version,
                                             Cipher cipher) {
  auto wrapping = activeWrappingKey(keys, keyId, version);
  std::array<uint8_t, kFileIdSize> fileId;
  randomBytes(fileId.data(), fileId.size());
  auto container = std::make_shared<Container>(cipher, fileId);
  SecureBytes fileKey(kFileKeySize);
  randomBytes(fileKey.data(), kFileKeySize);
  wrapSlot(container->header_, 0, *wrapping, fileKey.data(), container->header_.a);
  container->macKey_ = deriveMacKey(fileKey.data(), fileId);
  container->a_ = std::make_unique<FileKey>(cipher, fileId, std::move(fileKey), wrapping->liveness());
  container->reseal();
  return container;
}

std::shared_ptr<Container> Container::open(const KeyLookup& keys, const uint8_t* bytes, size_t length) {
  Header parsed = parseHeader(bytes, length);
  auto container = std::make_shared<Container>(parsed.cipher, parsed.fileId);
  container->header_ = parsed;
  KeyLiveness liveA;
  SecureBytes fileKeyA = unwrapSlot(keys, parsed, 0, parsed.a, liveA);
  container->macKey_ = deriveMacKey(fileKeyA.data(), parsed.fileId);
  uint8_t mac[kSha256Size];
  hmacSha256(container->macKey_.data(), container->macKey_.size(), bytes, kMacOffset, mac);
  if (!constantTimeEqual(mac, bytes + kMacOffset, kSha256Size)) throwAuthFailed();
  checkHeaderFields(parsed, bytes);
  std::memcpy(container->bytes_.data(), bytes, kHeaderSize);
  container->a_ = std::make_unique<FileKey>(parsed.cipher, parsed.fileId, std::move(fileKeyA), liveA);
  if (parsed.state == FileState::Reencrypting) {
    KeyLiveness liveB;
    SecureBytes fileKeyB = unwrapSlot(keys, parsed, 1, parsed.b, liveB);
    container->b_ = std::make_unique<FileKey>(parsed.cipher, parsed.fileId, std::move(fileKeyB), liveB);
  }
  return container;
}

void Container::reseal() {
  serializeHeader(header_, bytes_.data());
  hmacSha256(macKey_.data(), macKey_.size(), bytes_.data(), kMacOffset, bytes_.data() + kMacOffset);
}

void Container::checkUsable() const {
  if (closed_) throw VeilException("VEIL_KEY_HANDLE_CLOSED", "the container was closed and its keys wiped");
  if (!a_->live() || (b_ && !b_->live())) {
    throw VeilException("VEIL_KEY_NOT_FOUND", "the key this file is under was withdrawn from this host");
  }
}

Header Container::header() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  return header_;
}

HeaderBytes Container::headerBytes() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  return bytes_;
}

HeaderBytes Container::setSize(uint64_t size) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  if (size > kMaxLogicalSize) throw VeilException("VEIL_INVALID_ARGUMENT", "file size beyond 2^48 bytes");
  if (header_.state == FileState::Reencrypting && header_.progress > blockCount(size)) {
    header_.progress = blockCount(size);
  }
  header_.size = size;
  reseal();
  return bytes_;
}

HeaderBytes Container::rewrap(const KeyLookup& keys, const Uuid& keyId, uint32_t version) {
  auto wrapping = activeWrappingKey(keys, keyId, version);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  wrapSlot(header_, 0, *wrapping, a_->key(), header_.a);
  a_->setLiveness(wrapping->liveness());
  reseal();
  return bytes_;
}

Container::FileKey& Container::keyForBlock(uint64_t index) const {
  return header_.state == FileState::Reencrypting && index < header_.progress ? *b_ : *a_;
}

// Holds one pooled codec while consecutive blocks use the same file key.
class Container::CodecLease {
 public:
  ~CodecLease() { reset(); }
  BlockCodec& use(FileKey& key) {
    if (&key != key_) {
      reset();
      key_ = &key;
      codec_ = key.acquire();
    }
    return *codec_;
  }

 private:
  void reset() {
    if (codec_) key_->release(std::move(codec_));
    key_ = nullptr;
  }
  FileKey* key_ = nullptr;
  std::unique_ptr<BlockCodec> codec_;
};

void Container::encryptBlocks(uint64_t first, const uint8_t* plain, size_t count, uint8_t* data, uint8_t* tags) {
  encryptWith(false, first, plain, count, data, tags);
}

void Container::encryptBlocksUnderTarget(uint64_t first, const uint8_t* plain, size_t count, uint8_t* data,
                                         uint8_t* tags) {
  encryptWith(true, first, plain, count, data, tags);
}

void Container::encryptWith(bool target, uint64_t first, const uint8_t* plain, size_t count, uint8_t* data,
                            uint8_t* tags) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  if (target && !b_) throw VeilException("VEIL_INVALID_ARGUMENT", "the file is not being re-encrypted");
  // Nonces are drawn per run of up to kNonceRun blocks: no allocation on the data path.
  constexpr size_t kNonceRun = 64;
  uint8_t nonces[kNonceRun * kGcmNonceSize];
  const bool gcm = header_.cipher == Cipher::Gcm;
  CodecLease lease;
  for (size_t i = 0; i < count; ++i) {
    const size_t slot = i % kNonceRun;
    if (gcm && slot == 0) randomNonceBytes(nonces, std::min(count - i, kNonceRun) * kGcmNonceSize);
    lease.use(target ? *b_ : keyForBlock(first + i))
        .encrypt(first + i, plain + i * kPlainBlockSize, nonces + slot * kGcmNonceSize, data + i * kPlainBlockSize,
                 gcm ? tags + i * kTagEntrySize : nullptr);
  }
}

void Container::decryptBlocks(uint64_t first, const uint8_t* data, const uint8_t* tags, size_t count,
                              uint8_t* plain) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  const bool gcm = header_.cipher == Cipher::Gcm;
  CodecLease lease;
  for (size_t i = 0; i < count; ++i) {
    const uint64_t index = first + i;
    FileKey& key = keyForBlock(index);
    const uint8_t* in = data + i * kPlainBlockSize;
    const uint8_t* entry = gcm ? tags + i * kTagEntrySize : nullptr;
    uint8_t* out = plain + i * kPlainBlockSize;
    bool ok = lease.use(key).decrypt(index, in, entry, out);
    // A run re-encrypted just before a crash may sit past the mark, and a mark written
    // before its run reached the disk may sit past blocks still under slot A
    // (docs/format.md): the other key is tried either way.
    if (!ok && b_) ok = lease.use(&key == a_.get() ? *b_ : *a_).decrypt(index, in, entry, out);
    if (!ok) {
      OPENSSL_cleanse(plain, count * kPlainBlockSize);
      throwAuthFailed();
    }
  }
}

bool Container::blocksUnderTarget(uint64_t first, const uint8_t* data, const uint8_t* tags, size_t count) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  if (!b_) return false;
  alignas(64) uint8_t plain[kPlainBlockSize];
  CodecLease lease;
  bool ok = true;
  for (size_t i = 0; i < count && ok; ++i) {
    ok = lease.use(*b_).decrypt(first + i, data + i * kPlainBlockSize, tags + i * kTagEntrySize, plain);
  }
  OPENSSL_cleanse(plain, sizeof plain);
  return ok;
}

bool Container::blockDecrypts(uint64_t index, const uint8_t* data, const uint8_t* entry) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  alignas(64) uint8_t plain[kPlainBlockSize];
  CodecLease lease;
  bool ok = lease.use(*a_).decrypt(index, data, entry, plain);
  if (!ok && b_) ok = lease.use(*b_).decrypt(index, data, entry, plain);
  OPENSSL_cleanse(plain, sizeof plain);
  return ok;
}

HeaderBytes Container::beginReencryption(const KeyLookup& keys, const Uuid& keyId, uint32_t version) {
  auto wrapping = activeWrappingKey(keys, keyId, version);
  std::unique_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  if (header_.cipher != Cipher::Gcm) {
    throw VeilException("VEIL_INVALID_ARGUMENT", "only GCM containers are re-encrypted in place (format v2)");
  }
  if (header_.state != FileState::Stable) {
    throw VeilException("VEIL_INVALID_ARGUMENT", "the file is already being re-encrypted");
  }
  SecureBytes fileKey(kFileKeySize);
  randomBytes(fileKey.data(), kFileKeySize);
  wrapSlot(header_, 1, *wrapping, fileKey.data(), header_.b);
  b_ = std::make_unique<FileKey>(header_.cipher, header_.fileId, std::move(fileKey), wrapping->liveness());
  header_.state = FileState::Reencrypting;
  header_.progress = 0;
  reseal();
  return bytes_;
}

HeaderBytes Container::setProgress(uint64_t progress) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  if (header_.state != FileState::Reencrypting || progress > blockCount(header_.size)) {
    throw VeilException("VEIL_INVALID_ARGUMENT", "progress mark out of range");
  }
  header_.progress = progress;
  reseal();
  return bytes_;
}

HeaderBytes Container::finishReencryption(const KeyLookup& keys) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  checkUsable();
  if (header_.state != FileState::Reencrypting || header_.progress != blockCount(header_.size)) {
    throw VeilException("VEIL_INVALID_ARGUMENT", "the file's blocks are not all under slot B yet");
  }
  // Slot B's key already protects this file: finishing only moves it, whatever its state now.
  auto wrapping = findKey(keys, header_.b.keyId, header_.b.version);
  if (!wrapping->canUnwrap()) {
    throw VeilException("VEIL_KEY_NOT_ACTIVE", "key " + formatUuid(header_.b.keyId) + " version " +
                                                   std::to_string(header_.b.version) + " is not usable");
  }
  wrapSlot(header_, 0, *wrapping, b_->key(), header_.a);
  macKey_ = deriveMacKey(b_->key(), header_.fileId);
  a_ = std::move(b_);
  header_.b = KeySlot{};
  header_.state = FileState::Stable;
  header_.progress = 0;
  reseal();
  return bytes_;
}

void Container::close() {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  closed_ = true;
  a_.reset();
  b_.reset();
  macKey_.wipe();
}

}  // namespace veil
