// The libfuse low-level callbacks: thin adapters that find the GuardFs, call its member,
// and send exactly one reply. Defined in fs_ops_entry.cc, fs_ops_file.cc, fs_ops_dir.cc.
#pragma once

#include <fuse_lowlevel.h>
#include <unistd.h>

#include "fs/guard_fs.h"

namespace veil {

struct FsOps {
  static GuardFs& fs(fuse_req_t req) { return *static_cast<GuardFs*>(fuse_req_userdata(req)); }
  static fuse_lowlevel_ops table();

  // fs_ops_entry.cc
  static void init(void* userdata, fuse_conn_info* conn);
  static void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  static void forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
  static void forgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets);
  static void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int toSet, fuse_file_info* fi);
  static void readlink(fuse_req_t req, fuse_ino_t ino);
  static void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
  static void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  static void symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name);
  static void unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
  static void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
  static void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newParent,
                     const char* newName, unsigned int flags);
  static void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newParent, const char* newName);

  // fs_ops_file.cc
  static void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
  static void read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  static void write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi);
  static void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);

  // fs_ops_dir.cc
  static void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  static void releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
  static void statfs(fuse_req_t req, fuse_ino_t ino);
  static void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                       int flags);
  static void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  static void listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  static void removexattr(fuse_req_t req, fuse_ino_t ino, const char* name);
  static void forgetCapability(GuardFs& g, fuse_ino_t ino, const char* name);
};

// One open descriptor: the OpenFile its inode shares (plaintext view) or a descriptor of
// the backing file of its own (encrypted view), and the policy's decisions for what it was
// opened for, taken for its opener. Reads and writes use these, not the identity a request
// carries: with the kernel's writeback cache, writes arrive from the kernel's flusher, not
// from the writer. The decisions are taken again when the policy changes.
struct FileHandle {
  FileHandle(std::shared_ptr<Inode> n, std::shared_ptr<OpenFile> f, int fd, bool clearFile, Requester who,
             uint32_t read, uint32_t write)
      : node(std::move(n)), file(std::move(f)), rawFd(fd), clear(clearFile), opener(std::move(who)),
        readAction(read), writeAction(write) {}
  ~FileHandle() {
    if (rawFd >= 0) ::close(rawFd);
  }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  // Reads and writes go to the backing file as they are: the encrypted view, or a file
  // that a clear_key rule keeps plaintext (where both views are the same).
  bool passesThrough() const { return rawFd >= 0; }
  bool raw() const { return rawFd >= 0 && !clear; }

  // Counts the descriptor in the file registry; first, so it is released after `file`.
  std::unique_ptr<FileRegistry::Pin> pin;
  const std::shared_ptr<Inode> node;
  std::shared_ptr<OpenFile> file;  // null when passing through
  const int rawFd;                 // the backing file's descriptor when passing through, else -1
  const bool clear;                // a plaintext file (clear_key)
  std::mutex mutex;                // guards the fields below
  Requester opener;
  const uint32_t readAction;   // 0 when not opened for reading
  const uint32_t writeAction;  // 0 when not opened for writing (O_TRUNC counts as writing)
  uint64_t generation = 0;     // of the policy the decisions below come from
  bool canRead = false;
  bool canWrite = false;
};

// Counts a descriptor in its view for as long as it is not handed over to a FileHandle.
class ViewTicket {
 public:
  ViewTicket(Inode& node, bool raw, bool write) : node_(node), raw_(raw), write_(write) {}
  ~ViewTicket() {
    if (!kept_) GuardFs::leaveView(node_, raw_, write_);
  }
  ViewTicket(const ViewTicket&) = delete;
  ViewTicket& operator=(const ViewTicket&) = delete;
  void keep() { kept_ = true; }

 private:
  Inode& node_;
  const bool raw_;
  const bool write_;
  bool kept_ = false;
};

inline FileHandle& handleOf(fuse_file_info* fi) { return *reinterpret_cast<FileHandle*>(fi->fh); }

// Counts a FUSE read or write in flight, for the transformation worker to yield to.
class InflightRequest {
 public:
  InflightRequest(std::atomic<int>& count, std::atomic<int64_t>& last) : count_(count), last_(last) {
    count_.fetch_add(1, std::memory_order_relaxed);
  }
  ~InflightRequest() {
    last_.store(std::chrono::steady_clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    count_.fetch_sub(1, std::memory_order_relaxed);
  }
  InflightRequest(const InflightRequest&) = delete;
  InflightRequest& operator=(const InflightRequest&) = delete;

 private:
  std::atomic<int>& count_;
  std::atomic<int64_t>& last_;
};
inline std::shared_ptr<OpenFile>& openFileOf(fuse_file_info* fi) { return handleOf(fi).file; }

}  // namespace veil
