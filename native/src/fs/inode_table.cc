#include "fs/inode_table.h"

#include <vector>

namespace veil {

InodeTable::InodeTable() : root_(std::make_shared<Inode>()) {
  root_->id = FUSE_ROOT_ID;
  root_->type = S_IFDIR;
  root_->lookups = 1;  // the kernel never forgets the root
  byId_[FUSE_ROOT_ID] = root_;
}

std::shared_ptr<Inode> InodeTable::get(fuse_ino_t id) const {
  std::lock_guard<std::mutex> lock(tableMutex_);
  auto it = byId_.find(id);
  return it == byId_.end() ? nullptr : it->second;
}

std::shared_ptr<Inode> InodeTable::remember(const std::shared_ptr<Inode>& parent, const std::string& name,
                                            const struct stat& st) {
  std::lock_guard<std::mutex> lock(tableMutex_);
  std::shared_ptr<Inode> inode;
  auto found = byBacking_.find({st.st_dev, st.st_ino});
  if (found != byBacking_.end()) {
    inode = byId_.at(found->second);
  } else {
    inode = std::make_shared<Inode>();
    inode->id = next_++;
    inode->dev = st.st_dev;
    inode->backingIno = st.st_ino;
    inode->type = st.st_mode & S_IFMT;
    byId_[inode->id] = inode;
    byBacking_[{st.st_dev, st.st_ino}] = inode->id;
  }
  {
    // The latest name the kernel used is a name that exists now (matters for hard links).
    std::unique_lock<std::shared_mutex> tree(treeMutex_);
    inode->parent = parent;
    inode->name = name;
    inode->detached = false;
  }
  ++inode->lookups;
  return inode;
}

void InodeTable::forget(fuse_ino_t id, uint64_t count) {
  std::shared_ptr<Inode> dropped;  // released after the lock, so a parent chain unwinds outside it
  std::lock_guard<std::mutex> lock(tableMutex_);
  auto it = byId_.find(id);
  if (it == byId_.end() || id == FUSE_ROOT_ID) return;
  Inode& inode = *it->second;
  inode.lookups = count >= inode.lookups ? 0 : inode.lookups - count;
  if (inode.lookups == 0) {
    dropped = it->second;
    byBacking_.erase({inode.dev, inode.backingIno});
    byId_.erase(it);
  }
}

std::string InodeTable::path(const Inode& inode) const {
  std::shared_lock<std::shared_mutex> tree(treeMutex_);
  std::vector<const std::string*> names;
  for (const Inode* at = &inode; at->parent; at = at->parent.get()) {
    if (at->detached) return "";
    names.push_back(&at->name);
  }
  if (names.empty()) return ".";
  std::string out;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (!out.empty()) out.push_back('/');
    out += **it;
  }
  return out;
}

std::string InodeTable::childPath(const Inode& parent, const std::string& name) const {
  std::string base = path(parent);
  return base == "." ? name : base + "/" + name;
}

// Both walk every known inode: O(inodes) per unlink or rename, which a children index
// would make O(1) when large trees need it.
void InodeTable::detach(const Inode& parent, const std::string& name) {
  std::lock_guard<std::mutex> lock(tableMutex_);
  std::unique_lock<std::shared_mutex> tree(treeMutex_);
  for (auto& entry : byId_) {
    Inode& inode = *entry.second;
    if (inode.parent.get() == &parent && inode.name == name) inode.detached = true;
  }
}

void InodeTable::rename(const std::shared_ptr<Inode>& parent, const std::string& name,
                        const std::shared_ptr<Inode>& newParent, const std::string& newName, bool exchange) {
  std::lock_guard<std::mutex> lock(tableMutex_);
  std::unique_lock<std::shared_mutex> tree(treeMutex_);
  Inode* moved = nullptr;
  Inode* replaced = nullptr;
  for (auto& entry : byId_) {
    Inode& inode = *entry.second;
    if (inode.detached) continue;
    if (inode.parent == newParent && inode.name == newName) replaced = &inode;
    if (inode.parent == parent && inode.name == name) moved = &inode;
  }
  if (replaced != nullptr) {
    if (exchange) {
      replaced->parent = parent;
      replaced->name = name;
    } else {
      replaced->detached = true;
    }
  }
  if (moved != nullptr) {
    moved->parent = newParent;
    moved->name = newName;
    moved->detached = false;
  }
}

}  // namespace veil
