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

std::shared_ptr<Inode> InodeTable::byBacking(dev_t dev, ino_t ino) const {
  std::lock_guard<std::mutex> lock(tableMutex_);
  auto found = byBacking_.find({dev, ino});
  if (found == byBacking_.end()) return nullptr;
  auto it = byId_.find(found->second);
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
    dropName(*inode);
    addName(*inode, parent, name);
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
    {
      std::unique_lock<std::shared_mutex> tree(treeMutex_);
      dropName(inode);
    }
    auto backing = byBacking_.find({inode.dev, inode.backingIno});
    if (backing != byBacking_.end() && backing->second == id) byBacking_.erase(backing);
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
  if (base.empty()) return base;
  return base == "." ? name : base + "/" + name;
}

// Both locks held: drops the inode's entry in the children index, if it is its own.
void InodeTable::dropName(Inode& inode) {
  if (!inode.parent || inode.detached) return;
  auto it = children_.find({inode.parent->id, inode.name});
  if (it != children_.end() && it->second == &inode) children_.erase(it);
}

// Both locks held: gives the inode a name; an inode known under it before is replaced.
void InodeTable::addName(Inode& inode, const std::shared_ptr<Inode>& parent, const std::string& name) {
  Inode*& slot = children_[{parent->id, name}];
  if (slot != nullptr && slot != &inode) slot->detached = true;
  slot = &inode;
  inode.parent = parent;
  inode.name = name;
  inode.detached = false;
}

std::pair<fuse_ino_t, std::string> InodeTable::retire(Inode& inode) {
  std::lock_guard<std::mutex> lock(tableMutex_);
  std::unique_lock<std::shared_mutex> tree(treeMutex_);
  inode.stale = true;
  auto backing = byBacking_.find({inode.dev, inode.backingIno});
  if (backing != byBacking_.end() && backing->second == inode.id) byBacking_.erase(backing);
  if (!inode.parent || inode.detached) return {0, {}};
  std::pair<fuse_ino_t, std::string> entry{inode.parent->id, inode.name};
  dropName(inode);
  inode.detached = true;
  return entry;
}

void InodeTable::detach(const Inode& parent, const std::string& name) {
  std::lock_guard<std::mutex> lock(tableMutex_);
  std::unique_lock<std::shared_mutex> tree(treeMutex_);
  auto it = children_.find({parent.id, name});
  if (it == children_.end()) return;
  it->second->detached = true;
  children_.erase(it);
}

void InodeTable::rename(const std::shared_ptr<Inode>& parent, const std::string& name,
                        const std::shared_ptr<Inode>& newParent, const std::string& newName, bool exchange) {
  std::lock_guard<std::mutex> lock(tableMutex_);
  std::unique_lock<std::shared_mutex> tree(treeMutex_);
  auto find = [&](fuse_ino_t dir, const std::string& n) -> Inode* {
    auto it = children_.find({dir, n});
    return it == children_.end() ? nullptr : it->second;
  };
  Inode* moved = find(parent->id, name);
  Inode* replaced = find(newParent->id, newName);
  if (moved != nullptr) dropName(*moved);
  if (replaced != nullptr) dropName(*replaced);
  if (replaced != nullptr && !exchange) replaced->detached = true;
  if (replaced != nullptr && exchange) addName(*replaced, parent, name);
  if (moved != nullptr) addName(*moved, newParent, newName);
}

std::vector<fuse_ino_t> InodeTable::openInodes() const {
  std::vector<fuse_ino_t> out;
  std::lock_guard<std::mutex> lock(tableMutex_);
  for (const auto& [id, node] : byId_) {
    std::lock_guard<std::mutex> open(node->openMutex);
    if (!node->open.expired() || node->rawReaders + node->rawWriters > 0) out.push_back(id);
  }
  return out;
}

}  // namespace veil
