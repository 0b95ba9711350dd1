// Path words (policy_rules.hpp); globs and test files are the SDK's (fixhost/sdk/paths.hpp).
#include <cctype>

#include "policy_rules.hpp"

namespace fixhost::policy {
using sdk::glob_detail::lower;

std::vector<std::string> path_words(std::string_view path) {
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) words.push_back(std::move(cur));
    cur.clear();
  };
  auto is_upper = [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; };
  auto is_lower = [](char c) { return std::islower(static_cast<unsigned char>(c)) != 0; };
  for (std::size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      flush();
      continue;
    }
    if (is_upper(c) && i > 0) {
      const char prev = path[i - 1];
      const bool next_lower = i + 1 < path.size() && is_lower(path[i + 1]);
      // fooBar -> foo|Bar; HTTPServer -> HTTP|Server; OAuth -> O|Auth
      if (is_lower(prev) || std::isdigit(static_cast<unsigned char>(prev)) || (is_upper(prev) && next_lower)) flush();
    }
    cur.push_back(lower(c));
  }
  flush();
  return words;
}

}  // namespace fixhost::policy
