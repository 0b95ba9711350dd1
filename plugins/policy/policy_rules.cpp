// Settings and Policy::judge (policy_rules.hpp): which files an attempt touched, and the rules in
// order of severity: path_escape, git_tampering, protected_path, test_deleted, skip_marker,
// assertion_weakened, test_edited.
#include <algorithm>
#include <cctype>
#include <set>
#include <toml++/toml.h>

#include "policy_internal.hpp"

namespace fixhost::policy {
namespace {

constexpr std::string_view k_origin = "fixhost.toml [plugins.policy]";

Status invalid(std::string msg) { return make_error(Errc::invalid_argument, std::move(msg)); }

Result<std::vector<std::string>> string_list(const toml::node& node, std::string_view key, std::string_view example) {
  const auto* arr = node.as_array();
  if (!arr)
    return invalid(std::string(k_origin) + ": `" + std::string(key) + "` must be an array of strings, e.g. " + std::string(example));
  std::vector<std::string> out;
  for (const auto& el : *arr) {
    auto s = el.value<std::string>();
    if (!s)
      return invalid(std::string(k_origin) + ": every entry of `" + std::string(key) + "` must be a string, e.g. " +
                     std::string(example));
    out.push_back(*s);
  }
  return out;
}

// A file the attempt touched, from files_touched and the diff together.
struct Touched {
  char status = 'M';
  std::string old_path;  // set for D, R, C
  std::string new_path;  // set for everything but D
  std::string label() const {
    if (status == 'R' || status == 'C') return std::string(1, status) + " " + old_path + " -> " + new_path;
    return std::string(1, status) + " " + (new_path.empty() ? old_path : new_path);
  }
  std::vector<std::string> paths() const {
    std::vector<std::string> p;
    if (!old_path.empty()) p.push_back(old_path);
    if (!new_path.empty() && new_path != old_path) p.push_back(new_path);
    return p;
  }
};

// "M path", "A path", "D path", "R old -> new" (a similarity score after the letter, "R100",
// is allowed).
std::optional<Touched> parse_touched(std::string_view entry) {
  if (entry.size() < 3) return std::nullopt;
  Touched t;
  t.status = entry[0];
  const auto space = entry.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view rest = entry.substr(space + 1);
  if (t.status == 'R' || t.status == 'C') {
    const auto arrow = rest.find(" -> ");
    if (arrow == std::string_view::npos) return std::nullopt;
    t.old_path = std::string(rest.substr(0, arrow));
    t.new_path = std::string(rest.substr(arrow + 4));
  } else if (t.status == 'D') {
    t.old_path = std::string(rest);
  } else {
    t.new_path = std::string(rest);
  }
  return t;
}

std::vector<Touched> touched_files(const events::AttemptFinished& a, const std::vector<FileDiff>& diff) {
  std::vector<Touched> out;
  std::set<std::string> seen;
  auto add = [&](Touched t) {
    const std::string key = t.old_path + "\n" + t.new_path;
    if (seen.insert(key).second) out.push_back(std::move(t));
  };
  for (const auto& e : a.files_touched) {
    if (auto t = parse_touched(e)) add(std::move(*t));
    else add({'M', "", e});  // unreadable entry: judge it as a path
  }
  // The diff's own file names, for anything files_touched did not list.
  for (const auto& f : diff) {
    const bool has_old = f.status == 'R' || f.status == 'C' || f.status == 'D';
    Touched t{f.status, has_old ? f.old_path : std::string(), f.new_path};
    const auto mine = t.paths();
    if (mine.empty()) continue;
    const bool listed = std::any_of(out.begin(), out.end(), [&](const Touched& o) {
      const auto theirs = o.paths();
      return std::any_of(mine.begin(), mine.end(),
                         [&](const std::string& p) { return std::find(theirs.begin(), theirs.end(), p) != theirs.end(); });
    });
    if (!listed) add(std::move(t));
  }
  return out;
}

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/' || path[i] == '\\') {
      out.push_back(path.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

bool is_absolute(std::string_view p) {
  return p.starts_with('/') || p.starts_with('\\') || p.starts_with('~') ||
         (p.size() >= 2 && std::isalpha(static_cast<unsigned char>(p[0])) && p[1] == ':');
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

Result<Settings> parse_settings(std::string_view toml_text) {
  Settings s;
  toml::table doc;
  try {
    doc = toml::parse(toml_text, std::string(k_origin));
  } catch (const toml::parse_error& e) {
    return invalid(std::string(k_origin) + ": " + std::string(e.description()) + " at line " +
                   std::to_string(e.source().begin.line));
  }
  for (auto&& [key, value] : doc) {
    const std::string_view k = key.str();
    Result<std::vector<std::string>> list = std::vector<std::string>{};
    if (k == "protected") {
      list = string_list(value, k, "protected = [\"shop/payments/**\"]");
      if (list) s.protected_globs = *list;
    } else if (k == "unprotect") {
      list = string_list(value, k, "unprotect = [\"docs/**\"]");
      if (list) s.unprotect = *list;
    } else if (k == "test_edit_categories") {
      list = string_list(value, k, "test_edit_categories = [\"stale_mock\"]");
      if (list) s.test_edit_categories = *list;
    } else {
      return invalid(std::string(k_origin) + " has unknown key '" + std::string(k) +
                     "'; allowed: protected, unprotect, test_edit_categories (docs/SAFETY.md)");
    }
    if (!list) return list.status();
  }
  return s;
}

Result<Policy> Policy::make(Settings settings) {
  Policy p;
  for (const auto& g : settings.protected_globs) {
    auto c = Glob::compile(g);
    if (!c) return invalid(std::string(k_origin) + ": protected: " + c.status().message());
    p.protected_.push_back(std::move(*c));
  }
  for (const auto& g : settings.unprotect) {
    auto c = Glob::compile(g);
    if (!c) return invalid(std::string(k_origin) + ": unprotect: " + c.status().message());
    p.unprotect_.push_back(std::move(*c));
  }
  p.settings_ = std::move(settings);
  return p;
}

std::optional<std::string> Policy::protection(std::string_view path) const {
  for (const auto& g : protected_)
    if (g.matches(path)) return "the protected glob '" + g.pattern() + "' of fixhost.toml";
  const bool exempt = std::any_of(unprotect_.begin(), unprotect_.end(), [&](const Glob& g) { return g.matches(path); });
  if (exempt) return std::nullopt;
  return builtin_protection(path);
}

bool Policy::may_edit_tests(std::string_view category) const {
  const auto& c = settings_.test_edit_categories;
  return std::find(c.begin(), c.end(), category) != c.end();
}

std::vector<Violation> Policy::judge(const events::AttemptFinished& a) const {
  std::vector<Violation> out;
  const auto diff = read_diff(a.diff.data);
  const auto touched = touched_files(a, diff);

  // path_escape
  for (const auto& e : a.escapes)
    out.push_back({"path_escape", e,
                   "the host found that the attempt touched '" + e +
                       "', a symlink or path that leads outside the worktree; an attempt may only change files inside it"});
  for (const auto& t : touched)
    for (const auto& p : t.paths()) {
      const auto segs = segments(p);
      if (is_absolute(p))
        out.push_back({"path_escape", p, "'" + p + "' (" + t.label() + ") is an absolute path; diffs name files relative to the worktree"});
      else if (std::find(segs.begin(), segs.end(), "..") != segs.end())
        out.push_back({"path_escape", p, "'" + p + "' (" + t.label() + ") has a '..' segment that leads out of the worktree"});
    }

  // git_tampering
  for (const auto& g : a.git_changes)
    out.push_back({"git_tampering", "",
                   "git state changed during the attempt: " + g + "; an attempt may edit files, never commit, "
                   "move HEAD or change refs (the host commits)"});
  for (const auto& t : touched)
    for (const auto& p : t.paths()) {
      const auto segs = segments(p);
      if (std::find(segs.begin(), segs.end(), ".git") != segs.end())
        out.push_back({"git_tampering", p, "the attempt changed '" + p + "' (" + t.label() + ") inside git's own directory"});
    }

  // protected_path
  for (const auto& t : touched)
    for (const auto& p : t.paths())
      if (auto why = protection(p))
        out.push_back({"protected_path", p, t.label() + ": '" + p + "' is protected by " + *why +
                                                "; fixhost never changes it, a human must"});

  // test_deleted: whole files, then test functions
  for (const auto& t : touched) {
    if (t.status == 'D' && is_test_file(t.old_path))
      out.push_back({"test_deleted", t.old_path, "deleted the test file '" + t.old_path + "'"});
    else if (t.status == 'R' && is_test_file(t.old_path))
      out.push_back({"test_deleted", t.old_path,
                     "renamed the test file '" + t.old_path + "' to '" + t.new_path +
                         "': the tests under the old name no longer run as the failure's test id"});
  }
  check_removed_tests(diff, out);

  // skip_marker, assertion_weakened
  for (const auto& f : diff) check_skip_markers(f, out);
  for (const auto& f : diff)
    if (f.status != 'D' && !f.binary && is_test_file(f.path())) check_assertions(f, out);

  // test_edited. A heal reproduce attempt (category "reproduce", docs/HEAL.md) exists to add a
  // test: a new test file is what it must write; changing an existing one is still refused.
  if (!may_edit_tests(a.category)) {
    const std::string allowed = settings_.test_edit_categories.empty() ? std::string("none") : join(settings_.test_edit_categories);
    const bool reproduce = a.category == "reproduce";
    for (const auto& t : touched) {
      if (reproduce && t.status == 'A') continue;
      std::string test_path;
      for (const auto& p : t.paths())
        if (is_test_file(p)) test_path = p;
      if (test_path.empty()) continue;
      out.push_back({"test_edited", test_path,
                     t.label() + " edits a test file in an attempt to fix a '" + a.category +
                         "' failure; only fixes of these categories may edit tests: " + allowed +
                         " (test_edit_categories)"});
    }
  }

  // One violation per finding, in the order found.
  std::vector<Violation> unique;
  for (auto& v : out)
    if (std::find(unique.begin(), unique.end(), v) == unique.end()) unique.push_back(std::move(v));
  return unique;
}

}  // namespace fixhost::policy
