#include "fixhost/host/cli_util.hpp"

#include <cstdlib>

#include <git2.h>


namespace fixhost::host {
namespace fs = std::filesystem;

fs::path repo_root(const fs::path& dir) {
  // libgit2's discovery, as `git rev-parse --show-toplevel` does it (a linked worktree's own
  // top), without a git process on every hostctl start.
  static const int init = git_libgit2_init();
  (void)init;
  git_repository* repo = nullptr;
  fs::path top;
  if (git_repository_open_ext(&repo, dir.string().c_str(), GIT_REPOSITORY_OPEN_FROM_ENV, nullptr) == 0) {
    if (const char* wd = git_repository_workdir(repo)) top = fs::path(wd).lexically_normal();
    git_repository_free(repo);
  }
  std::error_code ec;
  if (!top.empty()) {
    std::string s = top.string();
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return fs::weakly_canonical(s, ec);
  }
  return fs::weakly_canonical(fs::absolute(dir), ec);
}

fs::path resolve_store(const GlobalOptions& g, const fs::path& repo) {
  if (!g.store.empty()) return fs::absolute(g.store);
  if (const char* env = std::getenv("FIXHOST_STORE"); env && *env) return fs::absolute(env);
  return repo / ".fixhost";
}

namespace {
// Display width of UTF-8 text: counts code points (good enough for a terminal table).
std::size_t width(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}
std::string cut(std::string_view s, std::size_t max) {
  if (width(s) <= max) return std::string(s);
  std::string out;
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) {
      if (n + 1 >= max) break;
      ++n;
    }
    out.push_back(s[i]);
  }
  return out + "\xE2\x80\xA6";
}
}  // namespace

std::string one_line(std::string_view s, std::size_t n) {
  std::string line(s.substr(0, s.find('\n')));
  return cut(line, n);
}

std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                         std::size_t max_width) {
  std::vector<std::size_t> w(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& r) {
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(cut(r[i], max_width)));
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  std::string out;
  auto line = [&](const std::vector<std::string>& r) {
    std::string l;
    for (std::size_t i = 0; i < w.size(); ++i) {
      std::string cell = i < r.size() ? cut(r[i], max_width) : "";
      l += cell;
      if (i + 1 < w.size()) l += std::string(w[i] - width(cell) + 2, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

}  // namespace fixhost::host
