// Who asked for an operation, as the kernel tells it, and the decision hook that the
// policy issue fills. The executable path is read from /proc only when a hook needs it.
#pragma once

#include <sys/types.h>

#include <string>

namespace veil {

enum class Operation {
  Lookup,
  GetAttr,
  SetAttr,
  ReadDir,
  MakeDir,
  RemoveDir,
  Create,
  Remove,
  Rename,
  Link,
  Symlink,
  ReadLink,
  Open,
  Read,
  Write,
  XattrRead,
  XattrWrite,
};

struct Caller {
  uid_t uid;
  gid_t gid;
  pid_t pid;
  // /proc/<pid>/exe, or empty when the process is gone.
  std::string executable() const;
};

enum class Decision { Permit, Deny };

class DecisionHook {
 public:
  virtual ~DecisionHook() = default;
  // `path` is relative to the guard point root. Runs on FUSE threads: must not block.
  virtual Decision decide(const Caller& caller, Operation op, const std::string& path) = 0;
};

// Until policies exist (a later issue): every operation is permitted.
class PermitAll final : public DecisionHook {
 public:
  Decision decide(const Caller&, Operation, const std::string&) override { return Decision::Permit; }
};

}  // namespace veil
