#pragma once
// How the fuzzers read their input. A report seed is `report NUL output` (fuzz/make_corpus.sh):
// the bytes before the first NUL are the runner's machine report, the rest its terminal output.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace fixhost::fuzz {

inline std::string_view bytes(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// (report, output): split at the first NUL; no NUL means a report with no output.
inline std::pair<std::string_view, std::string_view> split_report(std::string_view in) {
  std::size_t nul = in.find('\0');
  if (nul == std::string_view::npos) return {in, {}};
  return {in.substr(0, nul), in.substr(nul + 1)};
}

}  // namespace fixhost::fuzz
