#include "fs/ldt_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/bytes.h"
#include "common/error.h"
#include "common/fd_io.h"
#include "crypto/kdf.h"
#include "format/layout.h"

namespace veil {

namespace {

constexpr uint8_t kJournalMagic[8] = {'V', 'E', 'I', 'L', 'L', 'D', 'T', '1'};
// The checksum only tells a complete record header from a torn one: HMAC-SHA256 under a
// fixed label, over the header with its checksum field zero. The pages need none: they
// are GCM ciphertext bound to the file id and block index, and recovery puts back only a
// block that decrypts (docs/format.md). Hashing them would cost a re-encryption about a
// fifth of its CPU.
constexpr char kChecksumKey[] = "veil ldt journal record";
constexpr size_t kChecksumOffset = 64;
constexpr size_t kPathOffset = 96;

void checksum(const uint8_t* record, size_t length, uint8_t* out) {
  hmacSha256(reinterpret_cast<const uint8_t*>(kChecksumKey), sizeof kChecksumKey - 1, record, length, out);
}

size_t recordLength(uint32_t count) { return LdtJournal::kRecordHeaderSize + count * (kPageSize + kTagEntrySize); }

}  // namespace

LdtJournal::LdtJournal(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) {
    throw VeilException("VEIL_FS_BAD_DIRECTORY", "cannot open the ldt journal " + path + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw VeilException("VEIL_FS_BAD_DIRECTORY", "the ldt journal " + path + " is not a regular file");
  }
  unsynced_.fill(-1);
}

LdtJournal::~LdtJournal() { ::close(fd_); }

std::vector<JournalRecord> LdtJournal::records() const {
  std::vector<JournalRecord> out;
  std::vector<uint8_t> buf(kSlotSize);
  for (unsigned slot = 0; slot < kSlots; ++slot) {
    const uint64_t at = uint64_t{slot} * kSlotSize;
    if (preadExact(fd_, buf.data(), kRecordHeaderSize, at) != 0) continue;
    if (std::memcmp(buf.data(), kJournalMagic, sizeof kJournalMagic) != 0) continue;
    const uint32_t count = getU32(buf.data() + 12);
    const uint32_t pathLength = getU32(buf.data() + 56);
    if (count == 0 || count > kMaxBlocks || pathLength == 0 || pathLength > kRecordHeaderSize - kPathOffset) continue;
    const size_t length = recordLength(count);
    if (preadExact(fd_, buf.data() + kRecordHeaderSize, length - kRecordHeaderSize, at + kRecordHeaderSize) != 0) {
      continue;
    }
    uint8_t stored[kSha256Size];
    uint8_t computed[kSha256Size];
    std::memcpy(stored, buf.data() + kChecksumOffset, kSha256Size);
    std::memset(buf.data() + kChecksumOffset, 0, kSha256Size);
    checksum(buf.data(), kRecordHeaderSize, computed);
    if (!constantTimeEqual(stored, computed, kSha256Size)) continue;
    JournalRecord record;
    record.first = getU64(buf.data() + 16);
    std::memcpy(record.fileId.data(), buf.data() + 24, kFileIdSize);
    record.dev = getU64(buf.data() + 40);
    record.ino = getU64(buf.data() + 48);
    record.path.assign(reinterpret_cast<const char*>(buf.data() + kPathOffset), pathLength);
    record.count = count;
    const uint8_t* pages = buf.data() + kRecordHeaderSize;
    record.data.assign(pages, pages + count * kPageSize);
    record.tags.assign(pages + count * kPageSize, pages + count * (kPageSize + kTagEntrySize));
    out.push_back(std::move(record));
  }
  return out;
}

int LdtJournal::clear() {
  if (::ftruncate(fd_, 0) != 0) return errno;
  unsynced_.fill(-1);
  unsyncedRecord_.fill(false);
  next_ = 0;
  staged_ = 0;
  return ::fdatasync(fd_) == 0 ? 0 : errno;
}

int LdtJournal::write(const JournalRecord& header, const uint8_t* data, const uint8_t* tags, int fileFd,
                      bool sync) {
  if (header.count == 0 || header.count > kMaxBlocks) return EINVAL;
  if (header.path.size() > kRecordHeaderSize - kPathOffset) return ENAMETOOLONG;
  if (staged_ > 0) return EBUSY;  // a batch owns the slots until voidStaged()
  const unsigned slot = next_;
  next_ = (next_ + 1) % kRingSlots;
  if (unsynced_[slot] >= 0) {
    if (::fdatasync(unsynced_[slot]) != 0) return errno;
    fileSynced(unsynced_[slot]);
  }
  if (int err = writeSlot(slot, header, data, tags)) return err;
  unsynced_[slot] = fileFd;
  unsyncedRecord_[slot] = !sync;
  if (sync) return this->sync();
  return 0;
}

int LdtJournal::stage(const JournalRecord& header, const uint8_t* data, const uint8_t* tags, bool& full) {
  full = false;
  if (header.count == 0 || header.count > kMaxBlocks) return EINVAL;
  if (header.path.size() > kRecordHeaderSize - kPathOffset) return ENAMETOOLONG;
  // The ring's records are of files synced when their call ended (GuardFs settles every
  // file it re-encrypted), so a batch starts on an empty ring.
  for (int fd : unsynced_) {
    if (fd >= 0) return EBUSY;
  }
  if (staged_ >= kSlots) {
    full = true;
    return 0;
  }
  if (int err = writeSlot(staged_, header, data, tags)) return err;
  ++staged_;
  return 0;
}

int LdtJournal::sync() {
  if (::fdatasync(fd_) != 0) return errno;
  unsyncedRecord_.fill(false);
  return 0;
}

void LdtJournal::voidStaged() {
  static const uint8_t zeros[sizeof kJournalMagic] = {};
  for (unsigned slot = 0; slot < staged_; ++slot) pwriteAll(fd_, zeros, sizeof zeros, uint64_t{slot} * kSlotSize);
  staged_ = 0;
  next_ = 0;
}

int LdtJournal::writeSlot(unsigned slot, const JournalRecord& header, const uint8_t* data, const uint8_t* tags) {
  if (buffer_.size() < kRecordHeaderSize) buffer_.resize(kRecordHeaderSize);
  uint8_t* r = buffer_.data();
  std::memset(r, 0, kRecordHeaderSize);
  std::memcpy(r, kJournalMagic, sizeof kJournalMagic);
  putU32(r + 8, static_cast<uint32_t>(kRecordHeaderSize));
  putU32(r + 12, header.count);
  putU64(r + 16, header.first);
  std::memcpy(r + 24, header.fileId.data(), kFileIdSize);
  putU64(r + 40, header.dev);
  putU64(r + 48, header.ino);
  putU32(r + 56, static_cast<uint32_t>(header.path.size()));
  std::memcpy(r + kPathOffset, header.path.data(), header.path.size());
  checksum(r, kRecordHeaderSize, r + kChecksumOffset);
  // Header, pages and tag entries in one write, straight from the caller's buffers.
  iovec parts[3] = {{r, kRecordHeaderSize},
                    {const_cast<uint8_t*>(data), header.count * kPageSize},
                    {const_cast<uint8_t*>(tags), header.count * kTagEntrySize}};
  const size_t length = recordLength(header.count);
  const uint64_t at = uint64_t{slot} * kSlotSize;
  const ssize_t n = ::pwritev(fd_, parts, 3, static_cast<off_t>(at));
  if (n < 0) return errno;
  if (static_cast<size_t>(n) == length) return 0;
  // Short: the rest from a contiguous copy.
  std::vector<uint8_t> whole(length);
  std::memcpy(whole.data(), r, kRecordHeaderSize);
  std::memcpy(whole.data() + kRecordHeaderSize, data, header.count * kPageSize);
  std::memcpy(whole.data() + kRecordHeaderSize + header.count * kPageSize, tags, header.count * kTagEntrySize);
  return pwriteAll(fd_, whole.data() + n, length - static_cast<size_t>(n), at + static_cast<uint64_t>(n));
}

void LdtJournal::fileSynced(int fileFd) {
  static const uint8_t zeros[sizeof kJournalMagic] = {};
  for (unsigned slot = 0; slot < kSlots; ++slot) {
    if (unsynced_[slot] != fileFd || unsyncedRecord_[slot]) continue;
    pwriteAll(fd_, zeros, sizeof zeros, uint64_t{slot} * kSlotSize);
    unsynced_[slot] = -1;
  }
}

}  // namespace veil
