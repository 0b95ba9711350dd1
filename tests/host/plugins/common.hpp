#pragma once
// Helpers shared by the test plugins: a tiny `key = "value"` reader for the TOML text the host
// passes to configure() (the tests write only that form) and an append-a-line logger.
#include <fstream>
#include <string>
#include <string_view>

namespace test_plugin {

inline std::string config_value(std::string_view toml, std::string_view key) {
  std::size_t pos = 0;
  while (pos < toml.size()) {
    std::size_t eol = toml.find('\n', pos);
    if (eol == std::string_view::npos) eol = toml.size();
    std::string_view line = toml.substr(pos, eol - pos);
    pos = eol + 1;
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view k = line.substr(0, eq);
    while (!k.empty() && k.back() == ' ') k.remove_suffix(1);
    while (!k.empty() && k.front() == ' ') k.remove_prefix(1);
    if (k != key) continue;
    std::size_t open = line.find('"', eq);
    std::size_t close = open == std::string_view::npos ? open : line.find('"', open + 1);
    if (close == std::string_view::npos) return {};
    return std::string(line.substr(open + 1, close - open - 1));
  }
  return {};
}

inline void append_line(const std::string& path, const std::string& line) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  out << line << '\n';
}

}  // namespace test_plugin
