// A compiled policy (docs/policy.md, "The compiled table"), as the agent installs it, and
// its evaluation for one operation: first matching rule wins, no match denies, learn mode
// turns a deny into an audited permit. The TypeScript reference evaluator
// (policies/evaluate.ts) defines the same semantics; the tests check both on one table.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/uuid.h"
#include "policy/executable.h"
#include "policy/glob.h"

namespace veil {

// One bit per fine-grained action, in the order of policies/actions.ts (changing a bit
// there is a change here).
enum Action : uint32_t {
  kFileRead = 1u << 0,
  kFileWrite = 1u << 1,
  kFileAppend = 1u << 2,
  kFileCreate = 1u << 3,
  kFileRename = 1u << 4,
  kFileRemove = 1u << 5,
  kFileReadAttr = 1u << 6,
  kFileChangeAttr = 1u << 7,
  kFileReadSec = 1u << 8,
  kFileChangeSec = 1u << 9,
  kDirRead = 1u << 10,
  kDirMake = 1u << 11,
  kDirRemove = 1u << 12,
  kDirReadAttr = 1u << 13,
  kDirChangeAttr = 1u << 14,
  kDirReadSec = 1u << 15,
  kExec = 1u << 16,
  kKeyOp = 1u << 17,
};
const char* actionName(uint32_t action);

struct ResourceSet {
  std::vector<GlobPattern> include;
  std::vector<GlobPattern> exclude;
  bool matches(const std::vector<std::string_view>& path) const;
};

struct UserSet {
  std::vector<uint32_t> uids;
  std::vector<uint32_t> gids;
};

struct ProcessSet {
  std::vector<std::string> executables;
  bool signed_ = false;  // bound to a signature set: the binary's hash must be one of `hashes`
  std::vector<Sha256> hashes;
};

struct Rule {
  int resource = -1;  // index into resources, -1 for any
  int user = -1;
  int process = -1;
  uint8_t negate = 0;  // kNegateResource | kNegateUser | kNegateProcess
  uint32_t actions = 0;
  bool permit = false;
  bool applyKey = false;
  bool audit = false;
  int ruleIndex = 0;  // the rule's place in the policy, for audit records
};
inline constexpr uint8_t kNegateResource = 1, kNegateUser = 2, kNegateProcess = 4;

// A key rule (docs/policy.md, "Key rules"): files in `resource` (-1: every file) are
// stored under keys[key], or stay plaintext when key is kClearKey.
struct KeyRule {
  int resource = -1;
  int key = 0;
};
inline constexpr int kClearKey = -1;

struct KeyVersion {
  Uuid keyId{};
  uint32_t version = 0;
};

struct DecisionTable {
  std::string name;
  std::string digest;  // hex SHA-256 of the canonical policy, for audit lines
  bool learnMode = false;
  std::vector<ResourceSet> resources;
  std::vector<UserSet> users;
  std::vector<ProcessSet> processes;
  std::vector<Rule> rules;
  std::vector<KeyVersion> keys;
  std::vector<KeyRule> keyRules;
  // What deciding may need to know of a caller, so an open file keeps just that.
  bool needsGroups = false;      // a user set names groups
  bool needsExecutable = false;  // there is a process set
};

// Who asks, resolved lazily and at most once: supplementary groups, the executable and
// its hash are looked up only when a rule needs them. An open file keeps its opener's
// Requester, so later decisions on it need nothing from the (maybe gone) process.
class Requester {
 public:
  using GroupLoader = std::function<std::vector<gid_t>()>;
  Requester(uid_t uid, gid_t gid, pid_t pid, GroupLoader loadGroups, ExecutableHashes* hashes)
      : uid_(uid), gid_(gid), pid_(pid), loadGroups_(std::move(loadGroups)), hashes_(hashes) {}
  // Everything given, nothing looked up: for holding the evaluator to the reference.
  static Requester known(uid_t uid, gid_t gid, std::vector<gid_t> groups, std::string executable,
                         std::optional<Sha256> hash) {
    Requester who(uid, gid, 0, nullptr, nullptr);
    who.groups_ = std::move(groups);
    who.executable_ = std::move(executable);
    who.hashed_ = true;
    who.hash_ = hash;
    return who;
  }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }
  pid_t pid() const { return pid_; }
  const std::vector<gid_t>& supplementaryGroups();
  const std::string& executable();
  const std::optional<Sha256>& hash();
  // Resolves what the policy in force may need (groups, executable), and makes whatever is
  // still unresolved come from /proc/<pid> later: for keeping past the request.
  void settle(bool groups, bool executable);

 private:
  uid_t uid_;
  gid_t gid_;
  pid_t pid_;
  GroupLoader loadGroups_;
  ExecutableHashes* hashes_;
  std::optional<std::vector<gid_t>> groups_;
  std::optional<std::string> executable_;
  bool hashed_ = false;
  std::optional<Sha256> hash_;
};

struct Verdict {
  bool permit = false;
  bool applyKey = false;
  bool audit = false;
  bool learned = false;  // denied by the policy, permitted by learn mode
  int rule = -1;         // the matching rule, -1 when none matched
};

Verdict evaluate(const DecisionTable& table, Requester& who, uint32_t action, const std::string& path);

// The key rule that holds `path`: an index into table.keys, kClearKey, or none (no key).
std::optional<int> keyFor(const DecisionTable& table, const std::string& path);

}  // namespace veil
