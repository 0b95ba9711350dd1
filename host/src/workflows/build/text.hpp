#pragma once
// Small text helpers of the build workflow (internal to host/src/workflows/build/).
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace fixhost::host::build {

// "a, b, c" (or with `sep`).
inline std::string join(const std::vector<std::string>& v, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// The non-empty lines of `text`.
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

}  // namespace fixhost::host::build
