#include "policy/decision_table.h"

#include <algorithm>

#include "policy/glob.h"

namespace veil {

const char* actionName(uint32_t action) {
  static const char* const kNames[] = {"f_rd",      "f_wr",  "f_wr_app", "f_cre",    "f_ren",     "f_rm",
                                       "f_rd_att",  "f_chg_att", "f_rd_sec", "f_chg_sec", "d_rd", "d_mkdir",
                                       "d_rmdir",   "d_rd_att",  "d_chg_att", "d_rd_sec", "exec", "key_op"};
  for (size_t i = 0; i < sizeof kNames / sizeof kNames[0]; ++i) {
    if (action == (1u << i)) return kNames[i];
  }
  return "unknown";
}

bool ResourceSet::matches(const std::vector<std::string_view>& path) const {
  auto hit = [&](const GlobPattern& pattern) { return pattern.matches(path); };
  return std::any_of(include.begin(), include.end(), hit) && std::none_of(exclude.begin(), exclude.end(), hit);
}

const std::vector<gid_t>& Requester::supplementaryGroups() {
  if (!groups_) groups_ = loadGroups_ ? loadGroups_() : std::vector<gid_t>();
  return *groups_;
}

const std::string& Requester::executable() {
  if (!executable_) executable_ = executableOf(pid_);
  return *executable_;
}

const std::optional<Sha256>& Requester::hash() {
  if (!hashed_) {
    if (hashes_ != nullptr) hash_ = hashes_->of(pid_, executable());
    hashed_ = true;
  }
  return hash_;
}

void Requester::settle(bool groups, bool executable) {
  if (groups) supplementaryGroups();
  if (executable) this->executable();
  // The hash stays lazy: only signature rules need it, and the cache keeps it cheap.
  if (!groups_) loadGroups_ = [pid = pid_] { return groupsOf(pid); };
}

namespace {

// The compiled sets are sorted (policies/compile.ts).
bool contains(const std::vector<uint32_t>& sorted, uint32_t value) {
  return std::binary_search(sorted.begin(), sorted.end(), value);
}

bool userMatches(const UserSet& set, Requester& who) {
  if (contains(set.uids, who.uid())) return true;
  if (set.gids.empty()) return false;
  if (contains(set.gids, who.gid())) return true;
  const auto& groups = who.supplementaryGroups();
  return std::any_of(groups.begin(), groups.end(), [&](gid_t gid) { return contains(set.gids, gid); });
}

bool processMatches(const ProcessSet& set, Requester& who) {
  const std::string& exe = who.executable();
  if (exe.empty() || std::find(set.executables.begin(), set.executables.end(), exe) == set.executables.end()) {
    return false;
  }
  if (!set.signed_) return true;
  const auto& hash = who.hash();  // an unknown hash matches no signature
  return hash && std::find(set.hashes.begin(), set.hashes.end(), *hash) != set.hashes.end();
}

}  // namespace

Verdict evaluate(const DecisionTable& table, Requester& who, uint32_t action, const std::string& path) {
  std::optional<std::vector<std::string_view>> segments;  // cut once, when a resource set asks
  auto inResource = [&](const ResourceSet& set) {
    if (!segments) segments = pathSegments(path);
    return set.matches(*segments);
  };
  Verdict verdict;
  verdict.audit = true;  // no rule matched: denied, and every denial is recorded
  for (size_t i = 0; i < table.rules.size(); ++i) {
    const Rule& rule = table.rules[i];
    if ((rule.actions & action) == 0) continue;
    // Cheapest test first; each set test is skipped when the rule leaves the set open.
    if (rule.user >= 0 && userMatches(table.users[rule.user], who) == ((rule.negate & kNegateUser) != 0)) continue;
    if (rule.resource >= 0 &&
        inResource(table.resources[rule.resource]) == ((rule.negate & kNegateResource) != 0)) {
      continue;
    }
    if (rule.process >= 0 &&
        processMatches(table.processes[rule.process], who) == ((rule.negate & kNegateProcess) != 0)) {
      continue;
    }
    verdict = Verdict{rule.permit, rule.applyKey, rule.audit || !rule.permit, false, rule.ruleIndex};
    break;
  }
  if (!verdict.permit && table.learnMode) {
    // Learn mode: what would have been denied is permitted, with plaintext, and recorded.
    verdict.permit = true;
    verdict.applyKey = true;
    verdict.audit = true;
    verdict.learned = true;
  }
  return verdict;
}

std::optional<int> keyFor(const DecisionTable& table, const std::string& path) {
  std::optional<std::vector<std::string_view>> segments;
  for (const KeyRule& rule : table.keyRules) {
    if (rule.resource < 0) return rule.key;
    if (!segments) segments = pathSegments(path);
    if (table.resources[rule.resource].matches(*segments)) return rule.key;
  }
  return std::nullopt;
}

}  // namespace veil
