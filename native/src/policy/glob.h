// Path patterns of policy resource sets (docs/policy.md, "Resource sets"): relative paths
// whose segments may hold `*` (any characters within the segment) and `?` (one character),
// and where a whole segment `**` stands for zero or more segments. The TypeScript
// reference (policies/evaluate.ts) has the same semantics; a test checks both on one table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace veil {

// A path or pattern cut at '/': "" and "." (the root) have no segments.
std::vector<std::string_view> pathSegments(std::string_view path);

// A pattern cut into segments once, when the policy is installed, not per decision.
class GlobPattern {
 public:
  explicit GlobPattern(std::string pattern) : text_(std::move(pattern)), segments_(pathSegments(text_)) {}
  GlobPattern(const GlobPattern& other) : GlobPattern(other.text_) {}
  GlobPattern& operator=(const GlobPattern&) = delete;
  bool matches(const std::vector<std::string_view>& path) const;

 private:
  std::string text_;
  std::vector<std::string_view> segments_;  // views into text_
};

// `path` is relative to the guard point, without a leading '/'; "" or "." is the root.
bool globMatch(std::string_view pattern, std::string_view path);

}  // namespace veil
