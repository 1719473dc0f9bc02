#include "policy/glob.h"

#include <vector>

namespace veil {

std::vector<std::string_view> pathSegments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path == ".") return out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

namespace {

// Bytes of the UTF-8 character starting at name[i]: `?` stands for one character, and a
// backtracking `*` must not resume inside one. Continuation bytes are 10xxxxxx.
size_t charLength(std::string_view name, size_t i) {
  size_t end = i + 1;
  while (end < name.size() && (static_cast<unsigned char>(name[end]) & 0xC0) == 0x80) ++end;
  return end - i;
}

// One segment against one pattern segment: `*` and `?` never cross a '/', as segments hold none.
// The classic greedy match with one backtrack point is linear in practice.
bool segmentMatch(std::string_view pattern, std::string_view name) {
  size_t p = 0, n = 0, star = std::string_view::npos, resume = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '?') {
      ++p;
      n += charLength(name, n);
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      resume += charLength(name, resume);
      n = resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace

bool GlobPattern::matches(const std::vector<std::string_view>& name) const {
  const auto& pat = segments_;
  // A pattern that does not end (or start) with `**` must match the path's last (first)
  // segment with its own: checked first, it turns most patterns away at once, which is
  // what a policy of many rules mostly does.
  if (!pat.empty() && !name.empty()) {
    if (pat.back() != "**" && !segmentMatch(pat.back(), name.back())) return false;
    if (pat.front() != "**" && !segmentMatch(pat.front(), name.front())) return false;
  }
  // Greedy with one backtrack point for the last `**` seen, as for `*` within a segment:
  // a later `**` supersedes an earlier one, so this stays linear in the segments.
  size_t p = 0, n = 0, star = SIZE_MAX, resume = 0;
  while (n < name.size()) {
    if (p < pat.size() && pat[p] == "**") {
      star = p++;
      resume = n;
    } else if (p < pat.size() && segmentMatch(pat[p], name[n])) {
      ++p;
      ++n;
    } else if (star != SIZE_MAX) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == "**") ++p;
  return p == pat.size();
}

bool globMatch(std::string_view pattern, std::string_view path) {
  return GlobPattern(std::string(pattern)).matches(pathSegments(path));
}

}  // namespace veil
