#include "fixhost/host/world/git.hpp"

#include <fstream>
#include <sstream>
#include <unistd.h>

#include <cstdlib>

#include "fixhost/host/world/process.hpp"

namespace fixhost::host::git {
namespace fs = std::filesystem;

namespace {
std::string trim_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}
std::string joined(const std::vector<std::string>& args) {
  std::string out = "git";
  for (const auto& a : args) out += " " + (a.find(' ') != std::string::npos ? "'" + a + "'" : a);
  return out;
}

// An empty directory of this process's own for core.hooksPath (removed at exit).
const std::string& no_hooks_dir() {
  static const std::string dir = [] {
    std::string t = (fs::temp_directory_path() / "fixhost-no-hooks-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) return std::string("/dev/null");  // no hook can live under it either
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(no_hooks_dir(), ec);
    });
    return t;
  }();
  return dir;
}

Result<std::string> run_git(const fs::path& dir, const std::vector<std::string>& args,
                            const std::map<std::string, std::string>& env, bool isolated) {
  ProcessSpec spec;
  spec.argv = {"git", "-C", dir.string()};
  if (isolated) {
    spec.argv.insert(spec.argv.end(), {"-c", "core.hooksPath=" + no_hooks_dir(), "-c", "core.fsmonitor=false"});
    spec.env["GIT_CONFIG_GLOBAL"] = "/dev/null";
    spec.env["GIT_CONFIG_NOSYSTEM"] = "1";
  }
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = std::chrono::minutes(5);
  for (const auto& [k, v] : env) spec.env[k] = v;
  spec.env["GIT_TERMINAL_PROMPT"] = "0";
  spec.env["LC_ALL"] = "C";
  // Diffs and patches must come back whole (a cut patch would not apply): a generous cap, and
  // an error rather than a silently cut value beyond it.
  spec.head_cap = spec.tail_cap = 256u << 20;
  spec.interruptible = false;  // a revert after Ctrl-C still needs git
  auto r = run_process(spec);
  if (!r) return r.status();
  if (r->output.cut_bytes > 0)
    return make_error(Errc::unsupported, "'" + joined(args) + "' in '" + dir.string() + "' printed " +
                                             std::to_string(r->output.total_bytes) +
                                             " bytes, more than fixhost handles (512 MiB)");
  if (!r->spawn_error.empty())
    return make_error(Errc::io_error, r->spawn_error + "; install git (apt install git)");
  if (r->exit_code != 0)
    return make_error(Errc::io_error, "'" + joined(args) + "' in '" + dir.string() + "' failed (exit " +
                                          std::to_string(r->exit_code) + "): " + trim_newline(r->output.data));
  return trim_newline(std::move(r->output.data));
}

}  // namespace

Result<std::string> run(const fs::path& dir, const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& env) {
  return run_git(dir, args, env, true);
}

Result<std::string> run_as_user(const fs::path& dir, const std::vector<std::string>& args) {
  return run_git(dir, args, {}, false);
}

bool is_repository(const fs::path& dir) {
  auto r = run(dir, {"rev-parse", "--is-inside-work-tree"});
  return r.is_ok() && *r == "true";
}

Result<std::string> head(const fs::path& dir) { return run(dir, {"rev-parse", "HEAD"}); }

Result<std::string> current_branch(const fs::path& dir) {
  auto r = run(dir, {"symbolic-ref", "--quiet", "--short", "HEAD"});
  if (!r) return std::string();
  return r;
}

Result<std::map<std::string, std::string>> refs(const fs::path& dir) {
  auto r = run(dir, {"for-each-ref", "--format=%(refname) %(objectname)"});
  if (!r) return r.status();
  std::map<std::string, std::string> out;
  std::istringstream in(*r);
  std::string name, sha;
  while (in >> name >> sha) out[name] = sha;
  return out;
}

namespace {
std::vector<std::string> add_all_args(const std::vector<std::string>& excludes) {
  std::vector<std::string> args = {"add", "-A", "--", "."};
  for (const auto& e : excludes) args.push_back(":(exclude,literal)" + e);
  return args;
}
}  // namespace

Result<std::string> snapshot_tree(const fs::path& worktree, const std::vector<std::string>& excludes) {
  if (auto a = run(worktree, add_all_args(excludes)); !a) return a.status();
  return run(worktree, {"write-tree"});
}

Status restore_tree(const fs::path& worktree, const std::string& tree, const std::vector<std::string>& excludes) {
  // Stage everything first so files created since the snapshot are in the index and removed by -u.
  if (auto a = run(worktree, add_all_args(excludes)); !a) return a.status();
  auto r = run(worktree, {"read-tree", "--reset", "-u", tree});
  return r.is_ok() ? Status::ok() : r.status();
}

Result<std::string> diff_trees(const fs::path& dir, const std::string& a, const std::string& b, bool binary) {
  // Prefixes pinned: a user's diff.noprefix or diff.mnemonicPrefix must not change what the
  // policy plugin reads or what git apply takes back.
  std::vector<std::string> args = {"diff", "--no-color", "--no-ext-diff", "--find-renames", "--src-prefix=a/",
                                   "--dst-prefix=b/"};
  if (binary) args.push_back("--binary");
  args.push_back(a);
  args.push_back(b);
  auto r = run(dir, args);
  if (r && !r->empty()) r.value() += "\n";
  return r;
}

Result<std::vector<std::string>> changed_files(const fs::path& dir, const std::string& a, const std::string& b) {
  auto r = run(dir, {"diff", "--name-status", "--find-renames", "-z", a, b});
  if (!r) return r.status();
  std::vector<std::string> parts;
  std::string cur;
  for (char c : *r) {
    if (c == '\0') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < parts.size();) {
    const std::string& st = parts[i];
    if (st.empty()) {
      ++i;
      continue;
    }
    if ((st[0] == 'R' || st[0] == 'C') && i + 2 < parts.size()) {
      out.push_back(std::string(1, st[0]) + " " + parts[i + 1] + " -> " + parts[i + 2]);
      i += 3;
    } else if (i + 1 < parts.size()) {
      out.push_back(std::string(1, st[0]) + " " + parts[i + 1]);
      i += 2;
    } else {
      ++i;
    }
  }
  return out;
}

Result<std::string> diffstat(const fs::path& dir, const std::string& a, const std::string& b) {
  auto r = run(dir, {"diff", "--shortstat", a, b});
  if (!r) return r;
  std::string s = *r;
  while (!s.empty() && s.front() == ' ') s.erase(s.begin());
  return s;
}

Result<std::string> tree_from_patches(const fs::path& dir, const std::string& base,
                                      const std::vector<std::string>& patches) {
  std::string tmpl = (fs::temp_directory_path() / "fixhost-index-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return make_error(Errc::io_error, "cannot make a temporary directory");
  const fs::path tmp(tmpl);
  const std::map<std::string, std::string> env{{"GIT_INDEX_FILE", (tmp / "index").string()}};
  auto done = [&](Result<std::string> r) {
    std::error_code ec;
    fs::remove_all(tmp, ec);
    return r;
  };
  if (auto r = run(dir, {"read-tree", base}, env); !r) return done(r.status());
  for (std::size_t i = 0; i < patches.size(); ++i) {
    if (patches[i].empty()) continue;
    const fs::path file = tmp / ("patch-" + std::to_string(i));
    std::ofstream(file, std::ios::binary) << patches[i];
    if (auto r = run(dir, {"apply", "--cached", "--whitespace=nowarn", file.string()}, env); !r) return done(r.status());
  }
  return done(run(dir, {"write-tree"}, env));
}

Status apply_patch(const fs::path& worktree, const std::string& patch, bool reverse) {
  if (patch.empty()) return Status::ok();
  fs::path tmp = fs::temp_directory_path() / ("fixhost-patch-" + std::to_string(::getpid()) + "-" +
                                              std::to_string(std::hash<std::string>{}(patch)));
  {
    std::ofstream out(tmp, std::ios::binary);
    out << patch;
  }
  std::vector<std::string> args = {"apply", "--whitespace=nowarn"};
  if (reverse) args.push_back("-R");
  args.push_back(tmp.string());
  auto r = run(worktree, args);
  std::error_code ec;
  fs::remove(tmp, ec);
  return r.is_ok() ? Status::ok() : r.status();
}

Result<fs::path> common_dir(const fs::path& dir) {
  auto r = run(dir, {"rev-parse", "--path-format=absolute", "--git-common-dir"});
  if (!r) return r.status();
  return fs::path(*r);
}

std::vector<std::string> identity_args(const fs::path& dir) {
  std::vector<std::string> args;
  // Always explicit: the commands that use them run without the global config.
  auto name = run_git(dir, {"config", "user.name"}, {}, false);
  auto email = run_git(dir, {"config", "user.email"}, {}, false);
  args.insert(args.end(), {"-c", "user.name=" + (name && !name->empty() ? *name : std::string("fixhost"))});
  args.insert(args.end(), {"-c", "user.email=" + (email && !email->empty() ? *email : std::string("fixhost@localhost"))});
  return args;
}

Status worktree_add(const fs::path& repo, const fs::path& path, const std::string& branch, const std::string& commit) {
  auto r = run(repo, {"worktree", "add", "--quiet", "-b", branch, path.string(), commit});
  return r.is_ok() ? Status::ok() : r.status();
}

Status worktree_remove(const fs::path& repo, const fs::path& path) {
  std::error_code ec;
  if (fs::exists(path / ".git", ec)) {
    auto r = run(repo, {"worktree", "remove", "--force", "--force", path.string()});
    if (!r) {
      // A half-made worktree (hostctl killed while creating it): remove the files, then prune.
      fs::remove_all(path, ec);
      if (ec) return r.status();
    }
  } else if (fs::exists(path, ec)) {
    fs::remove_all(path, ec);
    if (ec) return make_error(Errc::io_error, "cannot remove '" + path.string() + "': " + ec.message());
  }
  auto p = run(repo, {"worktree", "prune"});
  return p.is_ok() ? Status::ok() : p.status();
}

bool branch_exists(const fs::path& repo, const std::string& branch) {
  return run(repo, {"show-ref", "--verify", "--quiet", "refs/heads/" + branch}).is_ok();
}

Result<std::string> commit_all(const fs::path& worktree, const std::string& message) {
  if (auto a = run(worktree, {"add", "-A", "--", "."}); !a) return a.status();
  std::vector<std::string> args = identity_args(worktree);
  args.insert(args.end(), {"commit", "--no-verify", "-q", "-m", message});
  if (auto c = run(worktree, args); !c) return c.status();
  return head(worktree);
}

}  // namespace fixhost::host::git
