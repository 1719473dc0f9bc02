// Path patterns of policy resource sets (docs/policy.md, "Resource sets"): relative paths
// whose segments may hold `*` (any characters within the segment) and `?` (one character),
// and where a whole segment `**` stands for zero or more segments. The TypeScript
// reference (policies/evaluate.ts) has the same semantics; a test checks both on one table.
#pragma once

#include <string_view>

namespace veil {

// `path` is relative to the guard point, without a leading '/'; "" or "." is the root.
bool globMatch(std::string_view pattern, std::string_view path);

}  // namespace veil
