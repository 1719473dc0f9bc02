#include "policy/executable.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <sstream>
#include <memory>
#include <vector>

namespace veil {

namespace {

std::optional<Sha256> hashDescriptor(int fd) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return std::nullopt;
  std::vector<uint8_t> buffer(1 << 16);
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n)) != 1) return std::nullopt;
    offset += n;
  }
  Sha256 out{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &length) != 1 || length != out.size()) return std::nullopt;
  return out;
}

}  // namespace

std::string executableOf(pid_t pid) {
  char target[PATH_MAX];
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  return n < 0 ? std::string() : std::string(target, static_cast<size_t>(n));
}

std::vector<gid_t> groupsOf(pid_t pid) {
  std::vector<gid_t> out;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream ids(line.substr(7));
    for (unsigned long id; ids >> id;) out.push_back(static_cast<gid_t>(id));
    break;
  }
  return out;
}

std::optional<Sha256> ExecutableHashes::of(pid_t pid, const std::string& path) {
  if (path.empty() || path == guardPoint_ || path.rfind(guardPoint_ + "/", 0) == 0) return std::nullopt;
  const std::string link = "/proc/" + std::to_string(pid) + "/exe";
  int fd = ::open(link.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const Identity id{st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = cache_.find(id);
    if (found != cache_.end()) {
      ::close(fd);
      return found->second;
    }
  }
  // Hashed outside the lock: a large binary must not hold up every other caller.
  std::optional<Sha256> hash = hashDescriptor(fd);
  ::close(fd);
  if (hash) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cache_.size() >= kMaxEntries) cache_.clear();
    cache_.emplace(id, *hash);
  }
  return hash;
}

}  // namespace veil
