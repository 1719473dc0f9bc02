// The undo journal of in-place re-encryption (docs/format.md, "The re-encryption
// journal"). Before the worker overwrites a run of blocks it copies their stored bytes
// (data pages and tag entries: ciphertext only) into a slot of this file and makes the
// copy durable; a crash that tears the run then loses nothing, because the mount puts
// back every block that decrypts under neither key. The file lives outside the guard
// point (the agent's state directory).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "format/header.h"

namespace veil {

struct JournalRecord {
  std::array<uint8_t, kFileIdSize> fileId{};
  uint64_t dev = 0;
  uint64_t ino = 0;
  std::string path;  // relative to the guard point root
  uint64_t first = 0;
  uint32_t count = 0;
  std::vector<uint8_t> data;  // count pages
  std::vector<uint8_t> tags;  // count tag entries
};

class LdtJournal {
 public:
  // The runs of big files go round the first kRingSlots; a batch of small files takes one
  // slot per file, all made durable by one fdatasync (GuardFs::reencryptBatch).
  static constexpr unsigned kSlots = 256;
  static constexpr unsigned kRingSlots = 64;
  static constexpr uint32_t kMaxBlocks = 128;  // one group: the longest run
  static constexpr size_t kRecordHeaderSize = 8192;
  static constexpr size_t kSlotSize = kRecordHeaderSize + kMaxBlocks * (4096 + 28);

  // Opens (creates, 0600) the journal file; throws VeilException.
  explicit LdtJournal(const std::string& path);
  ~LdtJournal();
  LdtJournal(const LdtJournal&) = delete;
  LdtJournal& operator=(const LdtJournal&) = delete;

  // Every record whose header checksum holds (a torn one never let its run start); its
  // pages are checked by decryption when they are put back.
  std::vector<JournalRecord> records() const;
  // Empties the journal durably.
  int clear();

  // Writes the record of a run of `fileFd`'s blocks into the next slot and makes it durable
  // (fdatasync). A slot still holding a run of a file not synced since is reused only
  // after that file is synced: once per lap of the ring.
  // `sync` false: the caller calls sync() before overwriting (records of one run's groups).
  int write(const JournalRecord& header, const uint8_t* data, const uint8_t* tags, int fileFd, bool sync = true);
  // Batches: writes the record into the next free slot without a sync (false: no slot
  // free, sync() and void() first). Nothing it covers may be overwritten before sync().
  int stage(const JournalRecord& header, const uint8_t* data, const uint8_t* tags, bool& full);
  int sync();
  // Every staged record is void (the files they cover are durable); their slots are wiped
  // without a sync, as in fileSynced().
  void voidStaged();

  // `fileFd` is durable: its records are void (their slots' magic is wiped, without a sync:
  // a record that survives a crash only puts back blocks that were unreadable anyway).
  void fileSynced(int fileFd);

 private:
  int writeSlot(unsigned slot, const JournalRecord& header, const uint8_t* data, const uint8_t* tags);

  int fd_ = -1;
  unsigned next_ = 0;
  unsigned staged_ = 0;  // slots [0, staged_) hold a batch's records
  std::vector<uint8_t> buffer_;  // the header of the record being written
  std::array<int, kSlots> unsynced_{};  // the file descriptor a slot's run is of, or -1
  // Written with sync false and not synced yet: their runs are not overwritten yet, so a
  // sync of their file must not void them.
  std::array<bool, kSlots> unsyncedRecord_{};
};

}  // namespace veil
