#include "fs/file_registry.h"

#include <chrono>

#include "fs/open_file.h"
#include "fs/serve_loop.h"

namespace veil {

std::shared_ptr<OpenFile> FileRegistry::acquire(BackingId id,
                                                const std::function<std::shared_ptr<OpenFile>()>& make) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = entries_[id];
  if (auto open = entry.open.lock()) return open;
  auto open = make();
  entry.open = open;
  if (!open) tidyLocked(entries_.find(id));
  return open;
}

std::unique_ptr<FileRegistry::Pin> FileRegistry::pin(BackingId id, int waitMs) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto free = [&] {
    auto it = entries_.find(id);
    return it == entries_.end() || !it->second.claimed;
  };
  if (waitMs > 0 && !free()) beforeLongWait();
  if (!released_.wait_for(lock, std::chrono::milliseconds(waitMs), free)) return nullptr;
  ++entries_[id].pins;
  return std::make_unique<Pin>(*this, id);
}

void FileRegistry::unpin(BackingId id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  --it->second.pins;
  tidyLocked(it);
}

bool FileRegistry::claim(BackingId id) {
  std::lock_guard<std::mutex> lock(mutex_);
  Entry& entry = entries_[id];
  if (entry.claimed || entry.pins > 0 || !entry.open.expired()) return false;
  entry.claimed = true;
  return true;
}

void FileRegistry::release(BackingId id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    it->second.claimed = false;
    tidyLocked(it);
  }
  released_.notify_all();
}

void FileRegistry::tidy(BackingId id) {
  std::lock_guard<std::mutex> lock(mutex_);
  tidyLocked(entries_.find(id));
}

void FileRegistry::tidyLocked(std::map<BackingId, Entry>::iterator it) {
  if (it == entries_.end()) return;
  const Entry& entry = it->second;
  if (entry.pins == 0 && !entry.claimed && entry.open.expired()) entries_.erase(it);
}

}  // namespace veil
