// read_diff (policy_rules.hpp): each `diff --git` section of the text is handed to libgit2's
// patch reader on its own, so one damaged section (the capture cap cut through it) costs only
// that section's line numbers, never the rest of the diff.
#include <git2.h>

#include <memory>

#include "policy_rules.hpp"

namespace fixhost::policy {
namespace {

// libgit2's global state, set up once per process (or plugin library) and torn down with it.
struct LibGit2 {
  LibGit2() { git_libgit2_init(); }
  ~LibGit2() { git_libgit2_shutdown(); }
  LibGit2(const LibGit2&) = delete;
  LibGit2& operator=(const LibGit2&) = delete;
};

void ensure_libgit2() { static const LibGit2 instance; }

struct DiffDeleter {
  void operator()(git_diff* d) const { git_diff_free(d); }
};
struct PatchDeleter {
  void operator()(git_patch* p) const { git_patch_free(p); }
};

char status_letter(git_delta_t s) {
  switch (s) {
    case GIT_DELTA_ADDED: return 'A';
    case GIT_DELTA_DELETED: return 'D';
    case GIT_DELTA_RENAMED: return 'R';
    case GIT_DELTA_COPIED: return 'C';
    case GIT_DELTA_TYPECHANGE: return 'T';
    default: return 'M';
  }
}

bool is_cut_marker(std::string_view line) { return line.starts_with("[fixhost: ") && line.find(" bytes cut here") != std::string_view::npos; }

// Appends a removed or added line, starting a new Change after context.
void push_line(FileDiff& f, bool& in_change, char kind, int line, std::string_view text) {
  if (!in_change) {
    f.changes.emplace_back();
    in_change = true;
  }
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  auto& list = kind == '-' ? f.changes.back().removed : f.changes.back().added;
  list.push_back({line, std::string(text)});
}

std::optional<FileDiff> read_with_libgit2(std::string_view section) {
  ensure_libgit2();
  git_diff* raw = nullptr;
  if (git_diff_from_buffer(&raw, section.data(), section.size()) != 0) return std::nullopt;
  std::unique_ptr<git_diff, DiffDeleter> diff(raw);
  if (git_diff_num_deltas(diff.get()) != 1) return std::nullopt;
  git_patch* praw = nullptr;
  if (git_patch_from_diff(&praw, diff.get(), 0) != 0 || !praw) return std::nullopt;
  std::unique_ptr<git_patch, PatchDeleter> patch(praw);
  const git_diff_delta* d = git_patch_get_delta(patch.get());
  FileDiff f;
  f.status = status_letter(d->status);
  if (d->status != GIT_DELTA_ADDED && d->old_file.path) f.old_path = d->old_file.path;
  if (d->status != GIT_DELTA_DELETED && d->new_file.path) f.new_path = d->new_file.path;
  f.binary = (d->flags & GIT_DIFF_FLAG_BINARY) != 0;
  for (std::size_t h = 0; h < git_patch_num_hunks(patch.get()); ++h) {
    bool in_change = false;
    const int n = git_patch_num_lines_in_hunk(patch.get(), h);
    for (int i = 0; i < n; ++i) {
      const git_diff_line* l = nullptr;
      if (git_patch_get_line_in_hunk(&l, patch.get(), h, static_cast<std::size_t>(i)) != 0 || !l) continue;
      const std::string_view text(l->content, l->content_len);
      if (l->origin == GIT_DIFF_LINE_DELETION) push_line(f, in_change, '-', l->old_lineno, text);
      else if (l->origin == GIT_DIFF_LINE_ADDITION) push_line(f, in_change, '+', l->new_lineno, text);
      else if (l->origin == GIT_DIFF_LINE_CONTEXT) in_change = false;
    }
  }
  return f;
}

std::string strip_prefix(std::string_view p, std::string_view prefix) {
  if (p.starts_with(prefix)) p.remove_prefix(prefix.size());
  while (!p.empty() && (p.back() == '\t' || p.back() == '\r')) p.remove_suffix(1);
  return std::string(p);
}

// The section line by line: file names from the ---/+++ and rename lines, +/- lines after the
// first "@@". Used only when libgit2 refuses the section. Lines after a capture-cut marker belong
// to a file whose header was cut: they go to a FileDiff of their own with empty paths.
void read_leniently(std::string_view section, std::vector<FileDiff>& out) {
  FileDiff f;
  f.parsed = false;
  bool in_hunk = false, in_change = false;
  std::size_t pos = 0;
  while (pos < section.size()) {
    std::size_t end = section.find('\n', pos);
    if (end == std::string_view::npos) end = section.size();
    std::string_view line = section.substr(pos, end - pos);
    pos = end + 1;
    if (is_cut_marker(line)) {
      if (f.status == 'A') f.old_path.clear();
      if (f.status == 'D') f.new_path.clear();
      out.push_back(std::move(f));
      f = FileDiff{};
      f.parsed = false;
      in_hunk = true;
      in_change = false;
      continue;
    }
    if (!in_hunk) {
      if (line.starts_with("--- ") && line != "--- /dev/null") f.old_path = strip_prefix(line.substr(4), "a/");
      else if (line.starts_with("+++ ") && line != "+++ /dev/null") f.new_path = strip_prefix(line.substr(4), "b/");
      else if (line.starts_with("rename from ")) f.old_path = strip_prefix(line.substr(12), ""), f.status = 'R';
      else if (line.starts_with("rename to ")) f.new_path = strip_prefix(line.substr(10), ""), f.status = 'R';
      else if (line.starts_with("new file mode")) f.status = 'A';
      else if (line.starts_with("deleted file mode")) f.status = 'D';
      else if (line.starts_with("GIT binary patch") || line.starts_with("Binary files")) f.binary = true;
      else if (line.starts_with("@@")) in_hunk = true;
      if (f.old_path.empty() && f.new_path.empty() && line.starts_with("diff --git a/")) {
        // "diff --git a/x b/x": split in the middle when both halves agree (no rename).
        const std::string_view rest = line.substr(13);
        const std::size_t half = (rest.size() - 3) / 2;
        if (rest.size() > 3 && rest.substr(half, 3) == " b/" && rest.substr(0, half) == rest.substr(half + 3))
          f.old_path = f.new_path = std::string(rest.substr(0, half));
      }
      continue;
    }
    if (line.starts_with("@@")) in_change = false;
    else if (line.starts_with("+")) push_line(f, in_change, '+', 0, line.substr(1));
    else if (line.starts_with("-")) push_line(f, in_change, '-', 0, line.substr(1));
    else in_change = false;
  }
  if (f.status == 'A') f.old_path.clear();
  if (f.status == 'D') f.new_path.clear();
  out.push_back(std::move(f));
}

}  // namespace

std::vector<FileDiff> read_diff(std::string_view text) {
  // Section boundaries: every line that starts with "diff --git ".
  std::vector<std::size_t> starts;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (text.substr(pos).starts_with("diff --git ")) starts.push_back(pos);
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  std::vector<FileDiff> out;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const std::size_t end = i + 1 < starts.size() ? starts[i + 1] : text.size();
    std::string section(text.substr(starts[i], end - starts[i]));
    if (!section.ends_with('\n')) section.push_back('\n');
    if (auto f = read_with_libgit2(section)) out.push_back(std::move(*f));
    else read_leniently(section, out);
  }
  return out;
}

}  // namespace fixhost::policy
