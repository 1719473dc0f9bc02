#include "fs/open_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/fd_io.h"

namespace veil {

namespace {

constexpr size_t kBlocksPerChunk = 256;  // 1 MiB of plaintext per crypto batch
// The longest re-encryption run: 8 groups (4 MiB), journaled with one fdatasync. Longer
// would hold the file from foreground requests for longer than a disk sync or two.
constexpr uint64_t kMaxRunBlocks = 8 * kGroupBlocks;

[[noreturn]] void truncated() {
  throw VeilException("VEIL_FORMAT_TRUNCATED", "the container is shorter than its logical size needs: it was truncated");
}

// Per-thread space on the data path: grown as needed, never zeroed (every byte used is
// written first). Ciphertext pages, tag entries (the header goes in front of group 0's),
// and the plaintext a read returns.
enum class Scratch { Data = 0, Tags = 1, Plain = 2 };

uint8_t* scratch(size_t size, Scratch which) {
  thread_local std::unique_ptr<uint8_t[]> buffers[3];
  thread_local size_t capacities[3] = {0, 0, 0};
  const auto i = static_cast<size_t>(which);
  if (capacities[i] < size) {
    buffers[i].reset(new uint8_t[size]);
    capacities[i] = size;
  }
  return buffers[i].get();
}

// From this many bytes of data pages in one request on (the kernel's writeback of a stream,
// up to 1 MiB each), the backing file's writeback of those pages starts at once.
constexpr size_t kWriteBehindBytes = 256 * 1024;

// Tag entries sit behind kHeaderSize bytes of room, so group 0's can go out with the header.
uint8_t* tagScratch(size_t count) { return scratch(kHeaderSize + count * kTagEntrySize, Scratch::Tags) + kHeaderSize; }

}  // namespace

// Holds the stripes of blocks [first, last], in ascending stripe order.
class OpenFile::StripeLock {
 public:
  StripeLock(std::array<std::shared_mutex, kStripes>& stripes, uint64_t first, uint64_t last, bool exclusive)
      : stripes_(stripes), exclusive_(exclusive) {
    const uint64_t count = last - first + 1;
    for (size_t i = 0; i < kStripes; ++i) held_[i] = count >= kStripes;
    if (count < kStripes) {
      for (uint64_t b = first; b <= last; ++b) held_[b % kStripes] = true;
    }
    for (size_t i = 0; i < kStripes; ++i) {
      if (!held_[i]) continue;
      if (exclusive_) {
        stripes_[i].lock();
      } else {
        stripes_[i].lock_shared();
      }
    }
  }
  ~StripeLock() {
    for (size_t i = kStripes; i-- > 0;) {
      if (!held_[i]) continue;
      if (exclusive_) {
        stripes_[i].unlock();
      } else {
        stripes_[i].unlock_shared();
      }
    }
  }
  StripeLock(const StripeLock&) = delete;
  StripeLock& operator=(const StripeLock&) = delete;

 private:
  std::array<std::shared_mutex, kStripes>& stripes_;
  bool exclusive_;
  std::array<bool, kStripes> held_{};
};

OpenFile::OpenFile(int fd, std::shared_ptr<Container> container, std::optional<uint64_t> length)
    : fd_(fd),
      container_(std::move(container)),
      gcm_(container_->header().cipher == Cipher::Gcm),
      size_(container_->header().size),
      length_(length.value_or(0)) {
  struct stat st;
  if (!length && ::fstat(fd_, &st) == 0) length_ = static_cast<uint64_t>(st.st_size);
  // Longer than the header's size says: a crash between writing and settling the length.
  // Shorter is left alone, for reads to report (GCM) or read as holes (XTS).
  if (length_ > Layout::storedEnd(blockCount(size_))) settleLength();
}

OpenFile::~OpenFile() {
  container_->close();
  ::close(fd_);
}

uint64_t OpenFile::size() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return size_;
}

int OpenFile::readBlocks(uint64_t first, size_t count, uint8_t* plain) {
  uint8_t* data = scratch(count * kPageSize, Scratch::Data);
  uint8_t* tags = gcm_ ? tagScratch(count) : nullptr;
  for (uint64_t done = 0; done < count;) {
    const uint64_t block = first + done;
    const uint64_t run = Layout::runLength(block, count - done);
    uint8_t* out = data + done * kPageSize;
    size_t got = 0;
    if (int err = preadAll(fd_, out, run * kPageSize, Layout::blockOffset(block), got)) return err;
    if (got < run * kPageSize) {
      // Short only where XTS leaves a sparse tail; anywhere else the container was cut.
      if (gcm_) truncated();
      std::memset(out + got, 0, run * kPageSize - got);
    }
    if (gcm_) {
      if (int err = preadAll(fd_, tags + done * kTagEntrySize, run * kTagEntrySize, Layout::entryOffset(block), got)) {
        return err;
      }
      if (got < run * kTagEntrySize) truncated();
    }
    done += run;
  }
  container_->decryptBlocks(first, data, tags, count, plain);
  return 0;
}

int OpenFile::writeBlocks(uint64_t first, size_t count, const uint8_t* plain) {
  uint8_t* data = scratch(count * kPageSize, Scratch::Data);
  uint8_t* tags = gcm_ ? tagScratch(count) : nullptr;
  container_->encryptBlocks(first, plain, count, data, tags);
  return storeBlocks(first, count, data, tags, nullptr);
}

// Data pages first, then tag entries, then the header (docs/format.md, crash order). When
// the blocks start at 0, group 0's entries follow the header in one write: `tags` has
// kHeaderSize bytes of room in front (tagScratch).
int OpenFile::storeBlocks(uint64_t first, size_t count, const uint8_t* data, uint8_t* tags,
                          const HeaderBytes* header) {
  for (uint64_t done = 0; done < count;) {
    const uint64_t run = Layout::runLength(first + done, count - done);
    if (int err = pwriteAll(fd_, data + done * kPageSize, run * kPageSize, Layout::blockOffset(first + done))) {
      return err;
    }
    done += run;
  }
  const uint64_t end = Layout::storedEnd(first + count);
  if (count * kPageSize >= kWriteBehindBytes) {
    // A stream's pages would otherwise all wait in the page cache for its closing fsync,
    // and the disk would start on them only then; this way the disk writes while the next
    // requests are encrypted. A hint: durability still comes from fsync, so its failure is
    // left to fsync to report.
    const uint64_t start = Layout::blockOffset(first);
    ::sync_file_range(fd_, static_cast<off_t>(start), static_cast<off_t>(end - start), SYNC_FILE_RANGE_WRITE);
  }
  for (uint64_t seen = length_.load(); seen < end && !length_.compare_exchange_weak(seen, end);) {
  }
  bool headerWritten = header == nullptr;
  if (gcm_) {
    for (uint64_t done = 0; done < count;) {
      const uint64_t block = first + done;
      const uint64_t run = Layout::runLength(block, count - done);
      uint8_t* entries = tags + done * kTagEntrySize;
      int err;
      if (block == 0 && !headerWritten) {
        uint8_t* front = entries - kHeaderSize;
        std::memcpy(front, header->data(), kHeaderSize);
        err = pwriteAll(fd_, front, kHeaderSize + run * kTagEntrySize, 0);
        headerWritten = true;
      } else {
        err = pwriteAll(fd_, entries, run * kTagEntrySize, Layout::entryOffset(block));
      }
      if (err != 0) return err;
      done += run;
    }
  }
  return headerWritten ? 0 : writeHeader(*header);
}

int OpenFile::writeHeader(const HeaderBytes& header) { return pwriteAll(fd_, header.data(), header.size(), 0); }

int OpenFile::settleLength() {
  const uint64_t want = Layout::containerLength(size_);
  if (length_ == want) return 0;
  if (int err = setContainerLength(fd_, length_, want)) return err;
  length_ = want;
  return 0;
}

// GCM has no implicit holes (docs/format.md): every block up to the new end is written.
int OpenFile::writeZeroBlocks(uint64_t first, uint64_t end) {
  const std::vector<uint8_t> zeros(kBlocksPerChunk * kPlainBlockSize, 0);
  for (uint64_t b = first; b < end; b += kBlocksPerChunk) {
    size_t count = static_cast<size_t>(std::min<uint64_t>(kBlocksPerChunk, end - b));
    if (int err = writeBlocks(b, count, zeros.data())) return err;
  }
  return 0;
}

const uint8_t* OpenFile::read(size_t length, uint64_t offset, size_t& got, int& err) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  got = 0;
  err = 0;
  if (offset >= size_) return nullptr;
  length = static_cast<size_t>(std::min<uint64_t>(length, size_ - offset));
  if (length == 0) return nullptr;
  const uint64_t first = offset / kPlainBlockSize;
  const uint64_t last = (offset + length - 1) / kPlainBlockSize;
  const size_t count = static_cast<size_t>(last - first + 1);
  StripeLock blocks(stripes_, first, last, false);
  uint8_t* plain = scratch(count * kPlainBlockSize, Scratch::Plain);
  if ((err = readBlocks(first, count, plain)) != 0) return nullptr;
  got = length;
  return plain + (offset - first * kPlainBlockSize);
}

int OpenFile::write(const uint8_t* in, size_t length, uint64_t offset) {
  if (length == 0) return 0;
  if (offset + length > kMaxLogicalSize || offset + length < offset) return EFBIG;
  const uint64_t end = offset + length;
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    if (end <= size_) {
      StripeLock blocks(stripes_, offset / kPlainBlockSize, (end - 1) / kPlainBlockSize, true);
      return writeLocked(in, length, offset);
    }
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  return writeLocked(in, length, offset);
}

// Holds mutex_ exclusively, or shared with the stripes of the written blocks. Whole
// blocks are encrypted straight from the caller's buffer; only a partly written first or
// last block is assembled (read, modified) in a block of its own.
int OpenFile::writeLocked(const uint8_t* in, size_t length, uint64_t offset) {
  writes_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t oldBlocks = blockCount(size_);
  const uint64_t end = offset + length;
  const uint64_t first = offset / kPlainBlockSize;
  const uint64_t last = (end - 1) / kPlainBlockSize;
  if (gcm_ && first > oldBlocks) {
    if (int err = writeZeroBlocks(oldBlocks, first)) return err;
  }
  // An edge block with old data is read and its bytes past the old size zeroed, so a
  // later extension reads zeros there (docs/format.md); a new one starts as zeros.
  auto assemble = [&](uint64_t block, uint8_t* plain) -> int {
    std::memset(plain, 0, kPlainBlockSize);
    const uint64_t blockStart = block * kPlainBlockSize;
    if (block < oldBlocks) {
      if (int err = readBlocks(block, 1, plain)) return err;
      if (size_ < blockStart + kPlainBlockSize) {
        std::memset(plain + (size_ - blockStart), 0, blockStart + kPlainBlockSize - size_);
      }
    }
    const uint64_t from = std::max(offset, blockStart);
    const uint64_t to = std::min(end, blockStart + kPlainBlockSize);
    std::memcpy(plain + (from - blockStart), in + (from - offset), to - from);
    return 0;
  };
  const bool headPartial = offset % kPlainBlockSize != 0 || (first == last && end % kPlainBlockSize != 0);
  const bool tailPartial = last != first && end % kPlainBlockSize != 0;
  alignas(64) uint8_t head[kPlainBlockSize];
  alignas(64) uint8_t tail[kPlainBlockSize];
  if (headPartial) {
    if (int err = assemble(first, head)) return err;
  }
  if (tailPartial) {
    if (int err = assemble(last, tail)) return err;
  }
  const uint64_t middleFirst = headPartial ? first + 1 : first;
  const uint64_t middleEnd = tailPartial ? last : last + 1;  // exclusive
  const size_t count = static_cast<size_t>(last - first + 1);
  uint8_t* data = scratch(count * kPageSize, Scratch::Data);
  uint8_t* tags = gcm_ ? tagScratch(count) : nullptr;
  auto entries = [&](uint64_t block) { return gcm_ ? tags + (block - first) * kTagEntrySize : nullptr; };
  if (headPartial) container_->encryptBlocks(first, head, 1, data, tags);
  if (middleEnd > middleFirst) {
    container_->encryptBlocks(middleFirst, in + (middleFirst * kPlainBlockSize - offset),
                              static_cast<size_t>(middleEnd - middleFirst), data + (middleFirst - first) * kPageSize,
                              entries(middleFirst));
  }
  if (tailPartial) container_->encryptBlocks(last, tail, 1, data + (last - first) * kPageSize, entries(last));
  if (end <= size_) return storeBlocks(first, count, data, tags, nullptr);
  const HeaderBytes header = container_->setSize(end);
  if (int err = storeBlocks(first, count, data, tags, &header)) return err;
  size_ = end;
  return settleLength();
}

int OpenFile::resize(uint64_t size) {
  if (size == size_) return 0;
  writes_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t oldBlocks = blockCount(size_);
  const uint64_t newBlocks = blockCount(size);
  if (size < size_) {
    // The header shrinks first, then the last block, then the length: a crash in between
    // leaves bytes that are ignored.
    if (int err = writeHeader(container_->setSize(size))) return err;
    size_ = size;
    if (size % kPlainBlockSize != 0) {
      std::vector<uint8_t> plain(kPlainBlockSize);
      const uint64_t block = newBlocks - 1;
      if (int err = readBlocks(block, 1, plain.data())) return err;
      std::memset(plain.data() + size % kPlainBlockSize, 0, kPlainBlockSize - size % kPlainBlockSize);
      if (int err = writeBlocks(block, 1, plain.data())) return err;
    }
    return settleLength();
  }
  // Growing: the blocks first (encrypted zeros for GCM, holes for XTS), then the header,
  // then the length.
  if (gcm_) {
    if (int err = writeZeroBlocks(oldBlocks, newBlocks)) return err;
  } else if (newBlocks > oldBlocks) {
    const uint64_t end = Layout::storedEnd(newBlocks);
    if (length_ < end) {
      if (::ftruncate(fd_, static_cast<off_t>(end)) != 0) return errno;
      length_ = end;
    }
  }
  if (int err = writeHeader(container_->setSize(size))) return err;
  size_ = size;
  return settleLength();
}

int OpenFile::truncate(uint64_t size) {
  if (size > kMaxLogicalSize) return EFBIG;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  return resize(size);
}

int OpenFile::sync(bool dataOnly) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return (dataOnly ? ::fdatasync(fd_) : ::fsync(fd_)) == 0 ? 0 : errno;
}

int OpenFile::rewrap(const KeyLookup& keys, const Uuid& keyId, uint32_t version, bool& changed) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  const Header current = container_->header();
  changed = !(current.a.keyId == keyId && current.a.version == version);
  if (!changed) return 0;
  return writeHeader(container_->rewrap(keys, keyId, version));
}

// Slot B must be on disk before any block is under its key.
int OpenFile::beginReencryption(const KeyLookup& keys, const Uuid& keyId, uint32_t version) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (int err = writeHeader(container_->beginReencryption(keys, keyId, version))) return err;
  return ::fdatasync(fd_) == 0 ? 0 : errno;
}

int OpenFile::reencryptRun(const KeyLookup& keys, uint64_t maxBlocks, const BeforeOverwrite& journal,
                           uint64_t& checked, uint64_t& visited, uint64_t& bytes, bool& finished) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  visited = 0;
  bytes = 0;
  const Header header = container_->header();
  finished = header.state == FileState::Stable;
  if (finished) return 0;
  const uint64_t n = blockCount(size_);
  const uint64_t mark = std::min(header.progress, n);
  const uint64_t budget = std::max<uint64_t>(maxBlocks, 1);
  auto plainBytes = [&](uint64_t first, uint64_t count) {
    return std::min((first + count) * kPlainBlockSize, size_) - first * kPlainBlockSize;
  };
  uint8_t* data = nullptr;
  uint8_t* tags = nullptr;
  if (checked < mark) {
    // Blocks before the mark this process did not write itself: only a check, unless a
    // block is still under slot A.
    const uint64_t count = std::min({budget, mark - checked, kMaxRunBlocks});
    if (int err = readStored(checked, count, data, tags)) return err;
    if (!container_->blocksUnderTarget(checked, data, tags, count)) {
      if (int err = rewriteUnderTarget(checked, count, data, tags, journal)) return err;
      bytes = plainBytes(checked, count);
    }
    visited = count;
    checked += count;
    return 0;
  }
  if (mark < n) {
    const uint64_t count = std::min({budget, n - mark, kMaxRunBlocks});
    if (int err = readStored(mark, count, data, tags)) return err;
    if (int err = rewriteUnderTarget(mark, count, data, tags, journal)) return err;
    if (int err = writeHeader(container_->setProgress(mark + count))) return err;
    visited = count;
    bytes = plainBytes(mark, count);
    checked = mark + count;
    if (mark + count < n) return 0;
  }
  if (int err = finishReencryption(keys)) return err;
  finished = true;
  return 0;
}

int OpenFile::readStored(uint64_t first, uint64_t count, uint8_t*& data, uint8_t*& tags) {
  data = scratch(count * kPageSize, Scratch::Data);
  tags = tagScratch(count);
  for (uint64_t done = 0; done < count;) {
    const uint64_t run = Layout::runLength(first + done, count - done);
    size_t got = 0;
    if (int err = preadAll(fd_, data + done * kPageSize, run * kPageSize, Layout::blockOffset(first + done), got)) {
      return err;
    }
    if (got < run * kPageSize) truncated();
    if (int err = preadAll(fd_, tags + done * kTagEntrySize, run * kTagEntrySize, Layout::entryOffset(first + done),
                           got)) {
      return err;
    }
    if (got < run * kTagEntrySize) truncated();
    done += run;
  }
  return 0;
}

// Decrypts the run (either key), hands its stored bytes to the journal, and only then
// overwrites it under slot B's key.
int OpenFile::rewriteUnderTarget(uint64_t first, uint64_t count, uint8_t* data, uint8_t* tags,
                                 const BeforeOverwrite& journal) {
  uint8_t* plain = scratch(count * kPlainBlockSize, Scratch::Plain);
  container_->decryptBlocks(first, data, tags, count, plain);
  if (int err = journal(first, static_cast<uint32_t>(count), data, tags)) return err;
  container_->encryptBlocksUnderTarget(first, plain, count, data, tags);
  return storeBlocks(first, count, data, tags, nullptr);
}

int OpenFile::stageWhole(const KeyLookup& keys, const Uuid& keyId, uint32_t version, uint64_t maxBlocks,
                         const BeforeOverwrite& journal, Staged& staged, bool& already) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  already = false;
  Header header = container_->header();
  const auto same = [&](const KeySlot& slot) { return slot.keyId == keyId && slot.version == version; };
  if (header.state == FileState::Stable && same(header.a)) {
    already = true;
    return 0;
  }
  const uint64_t n = blockCount(size_);
  if (!gcm_ || n > kGroupBlocks || n > std::max<uint64_t>(maxBlocks, 1)) return EAGAIN;
  if (header.state == FileState::Reencrypting && !same(header.b)) return EAGAIN;
  // The state-1 header need not reach the disk before the blocks: until the final header
  // is durable, the journal puts back any block that decrypts under neither key the disk
  // knows (docs/format.md, "Batches of small files").
  if (header.state == FileState::Stable) container_->beginReencryption(keys, keyId, version);
  staged.count = n;
  staged.bytes = size_;
  staged.writes = writes_.load(std::memory_order_relaxed);
  if (n == 0) return 0;
  uint8_t* data = nullptr;
  uint8_t* tags = nullptr;
  if (int err = readStored(0, n, data, tags)) return err;
  uint8_t* plain = scratch(n * kPlainBlockSize, Scratch::Plain);
  container_->decryptBlocks(0, data, tags, n, plain);
  if (int err = journal(0, static_cast<uint32_t>(n), data, tags)) return err;
  staged.data.resize(n * kPageSize);
  staged.tags.resize(kHeaderSize + n * kTagEntrySize);
  container_->encryptBlocksUnderTarget(0, plain, n, staged.data.data(), staged.tags.data() + kHeaderSize);
  return 0;
}

int OpenFile::writeStaged(Staged& staged) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (writes_.load(std::memory_order_relaxed) != staged.writes) return ESTALE;
  if (staged.count == 0) return 0;
  const HeaderBytes header = container_->setProgress(staged.count);
  return storeBlocks(0, staged.count, staged.data.data(), staged.tags.data() + kHeaderSize, &header);
}

int OpenFile::finishStaged(const KeyLookup& keys, const Staged& staged) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  const Header header = container_->header();
  if (header.state != FileState::Reencrypting) return 0;
  if (header.progress != blockCount(size_)) return EAGAIN;
  // Blocks written through the mount since the shared sync are under slot B too.
  if (writes_.load(std::memory_order_relaxed) != staged.writes && ::fdatasync(fd_) != 0) return errno;
  return writeHeader(container_->finishReencryption(keys));
}

// Every block must be durable under slot B's key before the header says it is the only key.
int OpenFile::finishReencryption(const KeyLookup& keys) {
  if (::fdatasync(fd_) != 0) return errno;
  if (int err = writeHeader(container_->finishReencryption(keys))) return err;
  return ::fdatasync(fd_) == 0 ? 0 : errno;
}

// The tail past the last block must read as zeros: shrinking into a page that held a block
// cuts the page off first.
int setContainerLength(int fd, uint64_t current, uint64_t want) {
  const uint64_t pageEnd = want - want % kPageSize;
  if (want < current && pageEnd != want && ::ftruncate(fd, static_cast<off_t>(pageEnd)) != 0) return errno;
  return ::ftruncate(fd, static_cast<off_t>(want)) == 0 ? 0 : errno;
}

std::optional<uint64_t> peekHeaderSize(int fd, bool& isContainer) {
  uint8_t head[48];
  size_t got = 0;
  isContainer = preadAll(fd, head, sizeof head, 0, got) == 0 && got == sizeof head &&
                std::memcmp(head, kMagic, sizeof kMagic) == 0;
  if (!isContainer || getU64(head + 40) > kMaxLogicalSize) return std::nullopt;
  return getU64(head + 40);
}

}  // namespace veil
