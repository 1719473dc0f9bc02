// A guard point: a FUSE session mounted over the directory it protects, reaching the
// backing files through a descriptor opened before the mount. Its own threads serve the
// kernel; JavaScript only mounts, unmounts and receives events. Each operation is an
// adapter `opX` (one fuse_reply_* per request) around a member `doX`.
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "format/container.h"
#include "fs/file_registry.h"
#include "fs/inode_table.h"
#include "fs/ldt.h"
#include "fs/ldt_journal.h"
#include "fs/open_file.h"
#include "policy/policy_gate.h"

namespace veil {

struct GuardConfig {
  std::string directory;  // made absolute before mounting: libfuse changes directory to /
  Uuid keyId{};
  uint32_t keyVersion = 0;
  Cipher cipher = Cipher::Gcm;
  unsigned threads = 8;
  // Whether the mount must open a container already there with the key table. False for
  // a locked guard point, whose keys arrive after the mount (offline unlock, a delivery):
  // its files then fail with ENOKEY until they do.
  bool verifyKeys = true;
  // The undo journal of in-place re-encryption, outside the guard point; empty: none (and
  // no in-place re-encryption).
  std::string ldtJournal;
  // Plaintext files already in the directory are served as they are (until live data
  // transformation encrypts them) instead of refusing the mount.
  bool servePlaintext = false;
};

// What a guard point tells JavaScript: tampering, missing keys, repairs, its end, and
// access decisions the policy records.
struct FsEvent {
  // "tamper", "key-unavailable", "recovered", "access", "unmounted" (code
  // VEIL_FS_UNMOUNTED_EXTERNALLY if not by us)
  std::string type;
  std::string path;
  std::string code;
  std::string message;
  uint32_t uid = 0;
  int32_t pid = 0;
  // "access" events only (docs/policy.md, "Audit records").
  struct Access {
    int64_t timeMs = 0;
    std::string policy;  // name
    std::string digest;  // of the exact policy version
    int rule = -1;       // -1: no rule matched
    std::string action;
    std::string effect;  // "permit" or "deny"
    bool applyKey = false;
    bool learned = false;
    uint32_t gid = 0;
    std::string executable;
  };
  std::optional<Access> access;
};

// Must return at once: it runs on the FUSE threads.
using EventSink = std::function<void(FsEvent)>;

struct FileHandle;
class ViewTicket;

class GuardFs {
 public:
  // `policy` may be null (no policy: everything permitted); it is in force before the mount serves anything.
  GuardFs(GuardConfig config, const KeyLookup& keys, EventSink events, std::shared_ptr<const DecisionTable> policy);
  ~GuardFs();
  GuardFs(const GuardFs&) = delete;
  GuardFs& operator=(const GuardFs&) = delete;

  // Throws VeilException with a sentence for the operator (the guard point codes of docs/errors.md).
  void mount();
  // Idempotent; returns when the session threads have ended.
  void unmount();
  const std::string& directory() const { return config_.directory; }
  // Takes effect for the next operation, on files already open too: their cached decisions
  // go stale, and the kernel's cached pages of them are dropped so reads ask again.
  void setPolicy(std::shared_ptr<const DecisionTable> policy);

  // Clears a mount left behind by a crashed process ("transport endpoint is not connected").
  static bool clearStaleMount(const std::string& directory);

  // Live data transformation (ldt.cc). Both walk or change the backing files through the
  // root descriptor, never the mount; both throw VeilException only when not mounted.
  std::vector<LdtScanEntry> scanFiles();
  // The requests in order; a failure of one file is in its result.
  std::vector<LdtResult> transformFiles(const std::vector<LdtRequest>& requests);

 private:
  friend struct FsOps;
  friend class ViewTicket;

  // Shared helpers (guard_fs.cc).
  std::shared_ptr<Inode> inode(fuse_ino_t id) const { return inodes_.get(id); }
  // The inode's path relative to the root; empty when the inode is unknown or unreachable.
  std::string pathOf(fuse_ino_t id) const;
  // A descriptor of the inode's backing file for xattr calls, once the policy permits the
  // access (Unchecked: the kernel's own question, not the caller's); -1 with `err` set otherwise.
  enum class XattrAccess { Read, Change, Unchecked };
  int xattrTarget(fuse_req_t req, fuse_ino_t ino, XattrAccess access, int& err);
  // The policy's decision for the caller of `req` (every deny and every audited permit
  // becomes an "access" event). Without a policy, true.
  bool allowed(fuse_req_t req, uint32_t action, const std::string& path);
  bool allowed(Requester& who, uint32_t action, const std::string& path);
  Verdict decide(Requester& who, uint32_t action, const std::string& path, const DecisionTable& table);
  // The same for reading, writing or running a file's contents, where a permit without
  // apply_key means the encrypted view (docs/policy.md). `raw`: the view the operation
  // needs, if it needs one; a permit in the other view is then a deny, recorded with
  // `otherView` as its message. A program's encrypted view is never run.
  Verdict decideData(Requester& who, uint32_t action, const std::string& path, const DecisionTable& table,
                     std::optional<bool> raw = std::nullopt, const char* otherView = "");
  void record(Requester& who, uint32_t action, const std::string& path, const DecisionTable& table,
              const Verdict& verdict, std::string message);
  Requester requester(fuse_req_t req);
  // What an open with these flags asks for (0 for nothing of that kind).
  static uint32_t readActionFor(int flags);
  static uint32_t writeActionFor(int flags);
  // The same, where O_TRUNC alone also writes.
  static uint32_t openedForWriting(int flags);
  // Decides the actions of a new descriptor and its view (`raw`: the encrypted view);
  // 0, or EACCES after recording the denial.
  int admitOpen(int flags, const std::string& path, Requester& who, bool& raw);
  // Whether the descriptor may still read (or write) under the policy in force now.
  int recheck(FileHandle& handle, fuse_ino_t ino, bool write);
  // A file is open in one view at a time, and a writer of its stored bytes has it alone
  // (the kernel caches one set of pages and one size per inode): waits a little for the
  // other view's descriptors to close, then counts the new one in. 0, EBUSY, or ESTALE
  // when the inode number was retired meanwhile.
  static int enterView(Inode& node, bool raw, bool write);
  static void leaveView(Inode& node, bool raw, bool write);
  // After a descriptor of the encrypted view closes: the kernel's pages of the inode are
  // dropped, and after a writer the name gets a new inode number (InodeTable::retire);
  // then the view is left.
  void closeRaw(std::shared_ptr<Inode> node, bool wrote);
  // What the kernel leaves to this process when it clears setuid/setgid bits (doSetattr, and
  // doOpen with O_TRUNC).
  // `cleared`, if given, is set when the bits were taken off.
  int clearPrivileges(fuse_req_t req, const std::string& path, int toSet, bool* cleared = nullptr);
  int admitSetattr(fuse_req_t req, const Inode& node, const std::string& path, int toSet, fuse_file_info* fi);
  // A new descriptor for `open`, its decisions taken: stored in fi->fh.
  void attachHandle(fuse_file_info* fi, std::shared_ptr<Inode> node, std::shared_ptr<OpenFile> open, int rawFd,
                    Requester who, bool clear = false);
  // Ends a descriptor: its view is left, and closeRaw() done for the encrypted view.
  void closeHandle(fuse_file_info* fi);
  int settleNewFile(fuse_req_t req, const std::string& path, int fd, struct stat& st);
  int createPassThrough(fuse_req_t req, const std::shared_ptr<Inode>& dir, const char* name, const std::string& path,
                        int fd, fuse_file_info* fi, Requester who, bool clear, fuse_entry_param& e);
  int openClear(const std::shared_ptr<Inode>& node, const std::string& path, fuse_file_info* fi, Requester who);
  // Opens a backing file read-write (with `flags` added) if it is no container: 0 with `fd`
  // set, or -1 in `fd` for a container; an errno value when it cannot be opened.
  int openPlainFile(const std::string& path, int flags, int& fd);
  // The key rules of the policy in force (docs/policy.md, "Key rules"); without a policy,
  // the guard point's key.
  struct NewFileKey {
    bool none = false;   // no key rule holds the path
    bool clear = false;  // clear_key: the file stays plaintext
    Uuid id{};
    uint32_t version = 0;
  };
  NewFileKey keyForNewFile(const std::string& path) const;
  // Whether a clear_key rule holds the path (its files are plaintext unless they are containers).
  bool keptClear(const std::string& path) const;
  int openRaw(const std::shared_ptr<Inode>& node, const std::string& path, fuse_file_info* fi, Requester who);
  static uint32_t forType(const Inode& node, uint32_t fileAction, uint32_t dirAction) {
    return node.type == S_IFDIR ? dirAction : fileAction;
  }
  // A size change in the plaintext view, through `fi` or (null) by name.
  int truncatePlaintext(fuse_req_t req, const std::shared_ptr<Inode>& node, const std::string& path, uint64_t size,
                        fuse_file_info* fi);
  int statPath(const std::string& path, struct stat& st) const;
  // `path` is childPath(parent, name), which the caller has already computed.
  int entryFor(const std::shared_ptr<Inode>& parent, const std::string& name, const std::string& path,
               fuse_entry_param& e);
  void entryFromStat(const std::shared_ptr<Inode>& parent, const std::string& name, const struct stat& st,
                     fuse_entry_param& e);
  int attrFor(const Inode& inode, struct stat& st);
  int ownByCaller(fuse_req_t req, const std::string& path);
  // The same for a file just created through `fd`, whose stat `st` is updated.
  int ownNewFile(fuse_req_t req, const std::string& path, int fd, struct stat& st);
  int failure(const std::exception& error, const std::string& path, fuse_req_t req);
  std::shared_ptr<OpenFile> openFile(const std::shared_ptr<Inode>& inode, const std::string& path, int& err);

  // Operations (fs_ops_*.cc); each returns 0 or an errno value.
  int doGetattr(fuse_ino_t ino, struct stat& st);
  int doSetattr(fuse_req_t req, fuse_ino_t ino, const struct stat& attr, int toSet, fuse_file_info* fi,
                struct stat& out);
  int doMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev,
              const char* symlinkTarget, fuse_entry_param& e);
  int doUnlink(fuse_req_t req, fuse_ino_t parent, const char* name, bool directory);
  int doRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newParent, const char* newName,
               unsigned flags);
  int doLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newParent, const char* newName, fuse_entry_param& e);
  int doOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  // doOpen without what a truncating open does after it; `path`: the file's, as opened.
  int openNode(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, std::string& path);
  int doCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi,
               fuse_entry_param& e);

  // Tells the kernel to drop what it caches of an inode (and of a name): from a thread of
  // its own, since the kernel may hold locks that a FUSE thread's request needs.
  struct Notice {
    fuse_ino_t ino = 0;
    fuse_ino_t parent = 0;  // 0: no name to drop
    std::string name;
    // An encrypted-view descriptor that closed leaves its view only once the kernel has
    // dropped its pages: an open waiting in the other view then finds none of them.
    std::shared_ptr<Inode> leaving;
    bool leavingWriter = false;
  };
  void notifyKernel(Notice notice);
  void runNotifier();

  // /dev/fuse as libfuse would use it, except that reading polls a little before it
  // sleeps, and that the INIT reply also asks for FUSE_HANDLE_KILLPRIV when the kernel
  // offers it (clearPrivileges): libfuse 3.14 takes FUSE_CAP_HANDLE_KILLPRIV but never
  // puts it in its reply (3.17.1 does).
  static ssize_t readDevice(int fd, void* buf, size_t size, void* self);
  static ssize_t writeDevice(int fd, struct iovec* iov, int count, void* self);

  void checkExistingFiles();
  void repairLength(const std::string& path, uint64_t length, uint64_t size);

  // The name at the root the mount hides (kLdtDirName): lookups fail, nothing is made there.
  static bool reservedName(fuse_ino_t parent, const char* name);
  // A plaintext file the mount serves as it is (GuardConfig::servePlaintext).
  bool servedPlain(const struct stat& st) const;
  bool servedPlain(const Inode& node) const;
  // Waits while the worker replaces the inode's backing file; null with `err` (EBUSY, ESTALE).
  std::unique_ptr<FileRegistry::Pin> pinFile(const Inode& node, int& err);
  // The shared OpenFile of an open backing descriptor (which it takes over, or closes when
  // there is one already).
  std::shared_ptr<OpenFile> shareOpenFile(int fd, const struct stat& st);

  // ldt.cc
  void prepareLdt();
  void recoverJournal();
  LdtResult transformOne(const LdtRequest& request, bool& rewrapped);
  void rewrapFile(const LdtRequest& request, LdtResult& result, bool& rewrapped);
  void reencryptInPlace(const LdtRequest& request, LdtResult& result);
  // Waits (a little, at most) until no FUSE read or write is in flight or just ended.
  void yieldToForeground();
  // Small GCM files of one call, re-encrypted together with shared syncs; the requests it
  // leaves (too big, XTS, moved meanwhile) go to `rest`, for transformOne.
  void reencryptBatch(const std::vector<LdtRequest>& requests, const std::vector<size_t>& which,
                      std::vector<LdtResult>& results, std::vector<size_t>& rest);
  void replaceFile(const LdtRequest& request, LdtResult& result);
  // The shared OpenFile of a container by path; null with `err` (ENOENT for a missing file).
  std::shared_ptr<OpenFile> openByPath(const std::string& path, int& err, BackingId& id);
  // The same for a request: null when the file is gone (`result` done) or cannot be opened (failed).
  std::shared_ptr<OpenFile> openForRequest(const LdtRequest& request, LdtResult& result, BackingId& id);
  void forgetReplaced(BackingId id);

  GuardConfig config_;
  const KeyLookup& keys_;
  EventSink events_;
  PolicyGate gate_;
  int rootFd_ = -1;
  InodeTable inodes_;
  fuse_session* session_ = nullptr;
  std::thread loop_;
  std::mutex lifecycle_;
  std::atomic<bool> mounted_{false};
  std::atomic<bool> stopping_{false};  // unmount() was called: the loop's end is expected
  std::mutex noticeMutex_;
  std::condition_variable noticeReady_;
  std::vector<Notice> notices_;  // guarded by noticeMutex_, like noticesEnd_
  bool noticesEnd_ = false;
  std::thread notifier_;
  // The INIT request (readDevice) whose reply writeDevice amends.
  std::atomic<uint64_t> initUnique_{0};
  std::atomic<bool> initPending_{false};
  // How long readDevice polls before it sleeps, in ns.
  std::atomic<int64_t> spinNs_{0};

  FileRegistry registry_;
  // FUSE reads and writes being served now: the transformation worker yields to them.
  std::atomic<int> inflight_{0};
  // When the last of them ended (steady clock ticks): the worker waits for a quiet moment
  // before its syncs, which would otherwise queue ahead of a reader's disk reads.
  std::atomic<int64_t> lastForeground_{0};
  std::mutex ldtMutex_;  // one transformation batch at a time; unmount waits for it
  std::unique_ptr<LdtJournal> journal_;
  bool journalPending_ = false;  // records a locked mount could not apply (no keys yet)
  // By file id, guarded by ldtMutex_: the leading blocks of a file in state 1 known to be
  // under slot B (the worker wrote or checked them since the mount).
  std::map<std::array<uint8_t, kFileIdSize>, uint64_t> ldtChecked_;
  mutable std::mutex plainMutex_;
  std::set<BackingId> plainFiles_;  // guarded by plainMutex_
};

}  // namespace veil
