#pragma once
// Stack frames read out of a failure's stack trace text: for plugins (the orderer) and the host
// (the code at the failing frames in an agent's prompt). Header-only.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fixhost::sdk {

struct StackFrame {
  std::string path;  // as written in the trace
  std::int64_t line = 0;
};

namespace detail {

inline bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

inline std::int64_t to_int(std::string_view s) {
  std::int64_t v = 0;
  for (char c : s.substr(0, 12)) v = v * 10 + (c - '0');
  return v;
}

// `at fn (path:line:col)`, `at path:line:col`, `at async fn (path:line:col)`.
inline std::optional<StackFrame> node_frame(std::string_view line) {
  line = trim(line);
  if (line.substr(0, 3) != "at ") return std::nullopt;
  std::string_view loc = line.substr(3);
  if (!loc.empty() && loc.back() == ')') {
    const auto open = loc.rfind('(');
    if (open == std::string_view::npos) return std::nullopt;
    loc = loc.substr(open + 1, loc.size() - open - 2);
  }
  const auto c2 = loc.rfind(':');
  if (c2 == std::string_view::npos) return std::nullopt;
  const auto c1 = loc.rfind(':', c2 - 1);
  if (c1 == std::string_view::npos || c1 == 0) return std::nullopt;
  if (!all_digits(loc.substr(c2 + 1)) || !all_digits(loc.substr(c1 + 1, c2 - c1 - 1))) return std::nullopt;
  return StackFrame{std::string(loc.substr(0, c1)), to_int(loc.substr(c1 + 1, c2 - c1 - 1))};
}

// pytest's location lines start in column 0: `path:line:` followed by nothing, `in func` or the
// exception name. Paths with whitespace are not recognised (code lines are indented or start
// with `>`/`E` followed by spaces, so excluding whitespace keeps them out).
inline std::optional<StackFrame> pytest_frame(std::string_view line) {
  if (line.empty() || std::isspace(static_cast<unsigned char>(line.front())) || line.front() == '<' ||
      line.front() == '>' || line.front() == '_')
    return std::nullopt;
  const auto c1 = line.find(':');
  if (c1 == std::string_view::npos || c1 == 0) return std::nullopt;
  const std::string_view path = line.substr(0, c1);
  if (std::any_of(path.begin(), path.end(), [](unsigned char c) { return std::isspace(c); })) return std::nullopt;
  const auto c2 = line.find(':', c1 + 1);
  if (c2 == std::string_view::npos || !all_digits(line.substr(c1 + 1, c2 - c1 - 1))) return std::nullopt;
  if (c2 + 1 < line.size() && line[c2 + 1] != ' ') return std::nullopt;
  return StackFrame{std::string(path), to_int(line.substr(c1 + 1, c2 - c1 - 1))};
}

// `File "path", line N[, in func]`.
inline std::optional<StackFrame> python_frame(std::string_view line) {
  line = trim(line);
  if (line.substr(0, 6) != "File \"") return std::nullopt;
  const auto close = line.find("\", line ", 6);
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(close + 8);
  std::size_t n = 0;
  while (n < rest.size() && std::isdigit(static_cast<unsigned char>(rest[n]))) ++n;
  if (n == 0) return std::nullopt;
  return StackFrame{std::string(line.substr(6, close - 6)), to_int(rest.substr(0, n))};
}

}  // namespace detail

// Frames innermost first, from the formats test runners print:
//   pytest long/short tracebacks  `shop/pricing.py:7: in config`, `test_x.py:26: KeyError`
//   Python tracebacks             `  File "shop/pricing.py", line 7, in config`
//   node/jest stacks              `    at fn (/repo/src/cart.js:12:5)`, `    at /repo/src/cart.js:3:1`
// Python prints the innermost frame last, node first. Lines that fit none are ignored.
inline std::vector<StackFrame> parse_stack(std::string_view trace) {
  std::vector<StackFrame> node, python;
  std::size_t pos = 0;
  while (pos < trace.size()) {
    std::size_t nl = trace.find('\n', pos);
    if (nl == std::string_view::npos) nl = trace.size();
    std::string_view line = trace.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    if (auto f = detail::node_frame(line)) node.push_back(std::move(*f));
    else if (auto g = detail::python_frame(line)) python.push_back(std::move(*g));
    else if (auto h = detail::pytest_frame(line)) python.push_back(std::move(*h));
  }
  std::vector<StackFrame> out = std::move(node);
  out.insert(out.end(), std::make_move_iterator(python.rbegin()), std::make_move_iterator(python.rend()));
  return out;
}

}  // namespace fixhost::sdk
