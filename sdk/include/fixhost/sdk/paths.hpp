#pragma once
// Path globs and test-file recognition, shared by the policy plugin (protected paths), the host
// (a stream's `owns`, a heal reproduction that may add tests only) and any plugin: one
// definition of what a glob and a test file are. Header-only, like the rest of the SDK.
#include <cctype>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "fixhost/result.hpp"

namespace fixhost::sdk {

// A path glob, matched against a repository-relative path with '/' separators, ignoring case:
// `*` any run of characters within one segment, `?` one character, `[abc]`/`[!abc]`/`[a-z]` a
// class, `**` as a whole segment any number of directories (zero included). A glob without '/'
// matches the last segment at any depth (`*.sql` = `**/*.sql`) unless it starts with '/', which
// anchors it at the root (`/fixhost.toml`); a trailing '/' means everything under a directory
// (`migrations/` = `**/migrations/**`). A leading "./" is dropped.
class Glob {
 public:
  static Result<Glob> compile(std::string_view pattern);
  bool matches(std::string_view path) const;
  const std::string& pattern() const noexcept { return pattern_; }

 private:
  std::string pattern_;
  std::vector<std::string> segments_;
};

// Whether `path` is a test file: test_*.py, *_test.py, conftest.py, *.test.* / *.spec.* (js, ts,
// jsx, tsx, mjs, cjs, ...), jest snapshots (*.snap), or anything under a tests/, test/ or
// __tests__/ directory.
bool is_test_file(std::string_view path);

namespace glob_detail {

inline char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

inline std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (i > start) out.push_back(path.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

// Matches a `[...]` class starting at p[pi] (the '['); sets `end` past the ']'. False with end
// unchanged when the class is not closed.
inline bool class_matches(std::string_view p, std::size_t pi, char c, std::size_t& end) {
  std::size_t i = pi + 1;
  bool negate = false;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) negate = true, ++i;
  bool hit = false;
  bool first = true;
  for (; i < p.size() && (p[i] != ']' || first); ++i, first = false) {
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      if (lower(p[i]) <= c && c <= lower(p[i + 2])) hit = true;
      i += 2;
    } else if (lower(p[i]) == c) {
      hit = true;
    }
  }
  if (i >= p.size()) return false;
  end = i + 1;
  return hit != negate;
}

// One segment against one glob segment (no '/'), ignoring case; `*` backtracks to its last use.
inline bool segment_matches(std::string_view p, std::string_view s) {
  std::size_t pi = 0, si = 0, star_p = std::string_view::npos, star_s = 0;
  while (si < s.size()) {
    const char c = lower(s[si]);
    if (pi < p.size() && p[pi] == '*') {
      star_p = ++pi;
      star_s = si;
      continue;
    }
    if (pi < p.size() && p[pi] == '[') {
      std::size_t end = pi;
      if (class_matches(p, pi, c, end)) {
        pi = end, ++si;
        continue;
      }
    } else if (pi < p.size() && (p[pi] == '?' || lower(p[pi]) == c)) {
      ++pi, ++si;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    pi = star_p;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

inline bool segments_match(const std::vector<std::string>& p, std::size_t pi, const std::vector<std::string_view>& s,
                    std::size_t si) {
  for (; pi < p.size(); ++pi, ++si) {
    if (p[pi] == "**") {
      for (std::size_t k = si; k <= s.size(); ++k)
        if (segments_match(p, pi + 1, s, k)) return true;
      return false;
    }
    if (si >= s.size() || !segment_matches(p[pi], s[si])) return false;
  }
  return si == s.size();
}

inline std::string_view strip_dot_slash(std::string_view path) {
  while (path.starts_with("./")) path.remove_prefix(2);
  return path;
}

inline bool ends_with_any(std::string_view s, std::initializer_list<std::string_view> suffixes) {
  for (auto x : suffixes)
    if (s.ends_with(x)) return true;
  return false;
}

}  // namespace glob_detail

inline Result<Glob> Glob::compile(std::string_view pattern) {
  using namespace glob_detail;
  Glob g;
  g.pattern_ = std::string(pattern);
  std::string_view p = strip_dot_slash(pattern);
  const bool rooted = p.starts_with('/');
  while (p.starts_with('/')) p.remove_prefix(1);
  if (p.empty())
    return make_error(Errc::invalid_argument,
                      "glob '" + std::string(pattern) + "' matches nothing; write a path glob such as \"shop/payments/**\"");
  std::string body(p);
  const bool dir = body.ends_with('/');
  while (body.ends_with('/')) body.pop_back();
  const bool anchored = rooted || body.find('/') != std::string::npos;
  for (auto seg : split_path(body)) {
    if (seg.find("**") != std::string_view::npos && seg != "**")
      return make_error(Errc::invalid_argument, "glob '" + std::string(pattern) + "': '**' must be a whole segment (\"a/**/b\"), not part of '" +
                                                    std::string(seg) + "'; use '*' within a segment");
    for (std::size_t i = 0; i < seg.size(); ++i) {
      if (seg[i] != '[') continue;
      std::size_t j = i + 1;
      if (j < seg.size() && (seg[j] == '!' || seg[j] == '^')) ++j;
      if (j < seg.size() && seg[j] == ']') ++j;
      while (j < seg.size() && seg[j] != ']') ++j;
      if (j >= seg.size())
        return make_error(Errc::invalid_argument,
                          "glob '" + std::string(pattern) + "' has an unclosed '[' in '" + std::string(seg) + "'; close the class with ']'");
      i = j;
    }
    g.segments_.emplace_back(seg);
  }
  if (!anchored && !(g.segments_.size() == 1 && g.segments_[0] == "**")) g.segments_.insert(g.segments_.begin(), "**");
  if (dir) g.segments_.push_back("**");
  return g;
}

inline bool Glob::matches(std::string_view path) const {
  using namespace glob_detail;
  path = strip_dot_slash(path);
  return segments_match(segments_, 0, split_path(path), 0);
}

inline bool is_test_file(std::string_view path) {
  using namespace glob_detail;
  const auto segs = split_path(strip_dot_slash(path));
  if (segs.empty()) return false;
  for (std::size_t i = 0; i + 1 < segs.size(); ++i)
    if (segs[i] == "tests" || segs[i] == "test" || segs[i] == "__tests__") return true;
  const std::string_view base = segs.back();
  if (base == "conftest.py") return true;
  if (base.ends_with(".py") && (base.starts_with("test_") || base.ends_with("_test.py"))) return true;
  if (base.ends_with(".snap")) return true;
  // name.test.ext / name.spec.ext
  const auto last_dot = base.rfind('.');
  if (last_dot == std::string_view::npos || last_dot == 0) return false;
  const std::string_view stem = base.substr(0, last_dot);
  return ends_with_any(stem, {".test", ".spec", "_spec"}) && !base.ends_with(".md");
}


}  // namespace fixhost::sdk
