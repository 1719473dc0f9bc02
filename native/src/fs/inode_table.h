// The inodes the kernel knows of, by FUSE inode number. An inode holds no descriptor
// (a guard point of 100,000 files must fit the 20,000-descriptor limit): it records its
// parent and name, and operations reach the backing file by path relative to the guard
// point's root descriptor. The policy rules of a later issue need that path too.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace veil {

class OpenFile;

struct Inode {
  fuse_ino_t id = 0;
  dev_t dev = 0;
  ino_t backingIno = 0;
  mode_t type = 0;  // S_IFMT bits
  // Guarded by InodeTable's tree lock: one of the inode's names (hard links have more).
  std::shared_ptr<Inode> parent;
  std::string name;
  bool detached = false;  // its name was unlinked or replaced: no path reaches it
  // Guarded by InodeTable's table lock.
  uint64_t lookups = 0;
  // Whether the backing file has a security.capability xattr: -1 unknown, 0 no, 1 yes.
  // The kernel asks before every write; only this process changes the backing files, so
  // the answer can be kept until an xattr of that name is set or removed through us.
  std::atomic<int> capabilityXattr{-1};
  // One OpenFile per inode while any descriptor is open, so every writer shares one lock.
  mutable std::mutex openMutex;
  std::weak_ptr<OpenFile> open;
  // The open descriptors by view (docs/policy.md, "The encrypted view"), guarded by
  // openMutex: the kernel caches one set of pages and one size per inode, so a file is open
  // in one view at a time, and a writer of stored bytes has it to itself.
  int plainHandles = 0;
  int rawReaders = 0;
  int rawWriters = 0;
  std::condition_variable viewsChanged;
  // Its stored bytes were rewritten as they are: the kernel's size of this inode number is
  // wrong, so the name now leads to a new number and this one answers ESTALE, which makes
  // the kernel look the name up again.
  std::atomic<bool> stale{false};
};

class InodeTable {
 public:
  InodeTable();

  std::shared_ptr<Inode> root() const { return root_; }
  // Null for an inode number the kernel forgot (or never had).
  std::shared_ptr<Inode> get(fuse_ino_t id) const;
  // The inode the kernel knows for a backing file, or null.
  std::shared_ptr<Inode> byBacking(dev_t dev, ino_t ino) const;
  // Records one kernel lookup of (parent, name) → the backing file `st`; returns its inode.
  std::shared_ptr<Inode> remember(const std::shared_ptr<Inode>& parent, const std::string& name,
                                  const struct stat& st);
  void forget(fuse_ino_t id, uint64_t count);
  // The path relative to the guard point root ("." for the root itself); empty for an
  // inode no name reaches any more (unlinked, or replaced by a rename).
  std::string path(const Inode& inode) const;
  // Empty, like path(), when the parent is unreachable.
  std::string childPath(const Inode& parent, const std::string& name) const;
  // The inodes with an open file (for dropping the kernel's cached pages of them).
  std::vector<fuse_ino_t> openInodes() const;
  // Gives the inode's name a new inode number at the next lookup and marks this one stale;
  // returns its parent's number and name (for invalidating the kernel's entry), or 0.
  std::pair<fuse_ino_t, std::string> retire(Inode& inode);
  // Marks the inode known under (parent, name), if any, as reached by no path.
  void detach(const Inode& parent, const std::string& name);
  // After a rename the moved inode takes the new name; a replaced one is detached, or, for
  // RENAME_EXCHANGE, takes the old name.
  void rename(const std::shared_ptr<Inode>& parent, const std::string& name, const std::shared_ptr<Inode>& newParent,
              const std::string& newName, bool exchange);

 private:
  void dropName(Inode& inode);
  void addName(Inode& inode, const std::shared_ptr<Inode>& parent, const std::string& name);

  mutable std::mutex tableMutex_;  // lock order: tableMutex_ before treeMutex_
  std::unordered_map<fuse_ino_t, std::shared_ptr<Inode>> byId_;
  std::map<std::pair<dev_t, ino_t>, fuse_ino_t> byBacking_;
  // (parent id, name) → the inode known under that name; ids are never reused. Guarded
  // by both locks (changes need both, like the names themselves).
  std::map<std::pair<fuse_ino_t, std::string>, Inode*> children_;
  fuse_ino_t next_ = FUSE_ROOT_ID + 1;
  mutable std::shared_mutex treeMutex_;
  std::shared_ptr<Inode> root_;
};

}  // namespace veil
