#pragma once
// Text helpers for test-runner output, shared by the report parsers.
#include <string>
#include <string_view>
#include <vector>

namespace fixhost::runner_report {

inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

inline std::string_view rtrim(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return rtrim(s);
}

// Removes ANSI escape sequences (CSI "ESC [ ... final", OSC "ESC ] ... BEL", two-byte escapes).
inline std::string strip_ansi(std::string_view s) {
  if (s.find('\x1b') == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\x1b') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 >= s.size()) break;
    char k = s[i + 1];
    if (k == '[') {
      std::size_t j = i + 2;
      while (j < s.size() && !(s[j] >= 0x40 && s[j] <= 0x7e)) ++j;
      i = j;
    } else if (k == ']') {
      std::size_t j = i + 2;
      while (j < s.size() && s[j] != '\x07' && !(s[j] == '\x1b' && j + 1 < s.size() && s[j + 1] == '\\')) ++j;
      i = (j < s.size() && s[j] == '\x1b') ? j + 1 : j;
    } else {
      i += 1;
    }
  }
  return out;
}

// Lines without their "\n" or "\r\n"; views into `s`.
inline std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < s.size()) {
    std::size_t nl = s.find('\n', start);
    std::size_t end = nl == std::string_view::npos ? s.size() : nl;
    std::string_view line = s.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return lines;
}

// Cuts to at most `max` bytes without splitting a UTF-8 sequence, marking the cut with "...".
inline std::string cap_utf8(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  s += "...";
  return s;
}

// Whether `path` is `file` or ends in "/<file>".
inline bool path_matches(std::string_view path, std::string_view file) {
  if (file.empty() || path.size() < file.size()) return false;
  if (path == file) return true;
  return path.ends_with(file) && path[path.size() - file.size() - 1] == '/';
}

// "a; b", dropping empty parts.
inline std::string join_notes(std::string a, std::string_view b) {
  if (b.empty()) return a;
  if (a.empty()) return std::string(b);
  a += "; ";
  a.append(b);
  return a;
}

}  // namespace fixhost::runner_report
