#include "fs/caller.h"

#include <unistd.h>

#include <climits>
#include <string>

namespace veil {

std::string Caller::executable() const {
  char target[PATH_MAX];
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  return n < 0 ? std::string() : std::string(target, static_cast<size_t>(n));
}

}  // namespace veil
