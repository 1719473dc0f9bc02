#include "keys/key_table.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "crypto/kdf.h"

namespace veil {

KeyTable& KeyTable::instance() {
  // Never destroyed: FUSE threads may still look keys up while the process exits; the
  // addon's cleanup hook wipes the contents instead (clear()).
  static KeyTable* table = new KeyTable();
  return *table;
}

std::shared_ptr<const WrappingKey> KeyTable::find(const Uuid& id, uint32_t version) const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  auto it = keys_.find({id, version});
  return it == keys_.end() ? nullptr : it->second;
}

void KeyTable::withdrawLocked(const Ref& ref) {
  auto it = keys_.find(ref);
  if (it == keys_.end()) return;
  it->second->withdraw();
  keys_.erase(it);
}

void KeyTable::apply(const std::vector<std::shared_ptr<WrappingKey>>& install,
                     const std::vector<std::pair<Uuid, uint32_t>>& withdraw) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (const auto& ref : withdraw) withdrawLocked(ref);
  for (const auto& key : install) {
    Ref ref{key->id(), key->version()};
    auto it = keys_.find(ref);
    if (it != keys_.end() && constantTimeEqual(it->second->kek(), key->kek(), kKekSize)) {
      it->second->setState(key->state());
      continue;
    }
    withdrawLocked(ref);
    keys_.emplace(ref, key);
  }
}

bool KeyTable::remove(const Uuid& id, uint32_t version) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (keys_.find({id, version}) == keys_.end()) return false;
  withdrawLocked({id, version});
  return true;
}

void KeyTable::setState(const Uuid& id, uint32_t version, KeyState state) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto it = keys_.find({id, version});
  if (it == keys_.end()) {
    throw VeilException("VEIL_KEY_NOT_FOUND",
                        "key " + formatUuid(id) + " version " + std::to_string(version) + " is not on this host");
  }
  if (state == KeyState::Destroyed) {
    withdrawLocked({id, version});
  } else {
    it->second->setState(state);
  }
}

std::vector<KeyInfo> KeyTable::list() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<KeyInfo> out;
  out.reserve(keys_.size());
  for (const auto& [ref, key] : keys_) out.push_back({ref.first, ref.second, key->state(), key->algorithm()});
  return out;
}

std::vector<std::shared_ptr<const WrappingKey>> KeyTable::snapshot() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  std::vector<std::shared_ptr<const WrappingKey>> out;
  out.reserve(keys_.size());
  for (const auto& entry : keys_) out.push_back(entry.second);
  return out;
}

void KeyTable::clear() {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  for (auto& entry : keys_) entry.second->withdraw();
  keys_.clear();
}

SecureBytes readKeyFile(const std::string& path) {
  auto unreadable = [&](const std::string& why) {
    return VeilException("VEIL_KEY_FILE_UNREADABLE", "cannot use key file " + path + ": " + why);
  };
  // O_NONBLOCK: opening a FIFO must not wait for a writer; regular files ignore it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) throw unreadable(std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw unreadable(std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw unreadable("not a regular file");
  }
  if (st.st_uid != geteuid()) {
    ::close(fd);
    throw unreadable("it belongs to uid " + std::to_string(st.st_uid) + ", not to the user running Veil (uid " +
                     std::to_string(geteuid()) + ")");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw unreadable(std::string("other users may access it (mode ") + mode + "); run chmod 600 on it");
  }
  if (st.st_size != 32) {
    ::close(fd);
    throw VeilException("VEIL_KEY_INVALID", "key file " + path + " must hold exactly 32 raw bytes; it holds " +
                                                std::to_string(st.st_size));
  }
  SecureBytes key(32);
  size_t done = 0;
  while (done < key.size()) {
    ssize_t n = ::read(fd, key.data() + done, key.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      throw unreadable(std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return key;
}

}  // namespace veil
