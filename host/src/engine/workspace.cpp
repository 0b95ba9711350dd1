// The run's worktree: made, prepared for the suites, snapshotted and restored. The snapshot is
// what makes an attempt judgeable and revertible: everything an agent could change in git's
// state (tree, HEAD, refs, .git files) and the user's checkout.
#include "fixhost/host/engine/workspace.hpp"

#include <fnmatch.h>

#include <fstream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "fixhost/host/engine/session.hpp"
#include "fixhost/host/world/git.hpp"
#include "fixhost/host/world/suite_runner.hpp"

namespace fixhost::host::engine {
namespace fs = std::filesystem;

std::string read_reachable(const fs::path& p) {
  std::uint64_t total = 0, cut = 0;
  std::string why;
  return read_report_file(p, 8u << 20, total, cut, why);
}

Status write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return make_error(Errc::io_error, "cannot write '" + p.string() + "'");
  return Status::ok();
}

namespace {

// Files of .git an agent has no business changing, by path -> contents ("" entry = absent).
// Hooks and config run code on the user's next git command; HEAD is the user's checkout.
std::map<std::string, std::string> git_meta(const fs::path& common, const fs::path& worktree) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& rel : {"config", "HEAD", "info/exclude", "info/attributes"}) {
    auto p = common / rel;
    if (fs::exists(p, ec)) out[p.string()] = read_reachable(p);
  }
  for (const auto& dir : {common / "hooks", common / "info"})
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) out[it->path().string()] = read_reachable(it->path());
  auto dotgit = worktree / ".git";
  if (fs::is_regular_file(dotgit, ec)) out[dotgit.string()] = read_reachable(dotgit);
  return out;
}

// The user's checkout as git sees it, without writing anything (no index refresh).
std::string user_checkout_state(const fs::path& repo) {
  auto st = git::run(repo, {"--no-optional-locks", "status", "--porcelain=v2", "--branch", "-z",
                            "--untracked-files=all"});
  auto diff = git::run(repo, {"--no-optional-locks", "diff", "--no-ext-diff", "--binary", "HEAD"});
  auto stash = git::run(repo, {"rev-parse", "-q", "--verify", "refs/stash"});
  return (st ? *st : st.status().to_string()) + "\x1f" + std::to_string(std::hash<std::string>{}(diff ? *diff : "")) +
         "\x1f" + (stash ? *stash : "");
}

Status put_back_meta(const std::map<std::string, std::string>& before, const std::map<std::string, std::string>& now) {
  for (const auto& [path, text] : before)
    if (auto it = now.find(path); it == now.end() || it->second != text)
      if (auto st = write_file(path, text); !st) return st;
  for (const auto& [path, text] : now)
    if (!before.count(path) && path.find("/hooks/") != std::string::npos) {
      std::error_code ec;
      fs::remove(path, ec);
    }
  return Status::ok();
}

// The untracked paths of `repo` (git ls-files --others [--ignored] --directory), the store's left out.
Result<std::set<std::string>> untracked_entries(const fs::path& repo, bool ignored_too) {
  std::set<std::string> entries;
  std::vector<std::vector<std::string>> lists{{"ls-files", "-z", "--others", "--directory", "--exclude-standard"}};
  if (ignored_too)
    lists.push_back({"ls-files", "-z", "--others", "--ignored", "--directory", "--exclude-standard"});
  for (const auto& args : lists) {
    auto r = git::run(repo, args);
    if (!r) return r.status();
    std::string cur;
    for (char c : *r + std::string(1, '\0')) {
      if (c != '\0') {
        cur.push_back(c);
        continue;
      }
      while (!cur.empty() && cur.back() == '/') cur.pop_back();
      if (!cur.empty() && cur.rfind(".fixhost", 0) != 0) entries.insert(cur);
      cur.clear();
    }
  }
  return entries;
}

}  // namespace

Result<std::unique_ptr<Workspace>> Workspace::create(RunContext& run, const Config& cfg, const WorkspaceSpec& spec,
                                                     const std::function<void(const std::string&)>& progress) {
  std::unique_ptr<Workspace> ws(new Workspace());
  ws->repo_ = spec.repo;
  ws->wt_ = spec.path;
  ws->branch_ = spec.branch;
  ws->base_ = spec.base;
  auto common = git::common_dir(spec.repo);
  if (!common) return common.status();
  ws->common_ = *common;
  std::error_code ec;
  // The store may sit inside the repository: RunContext::start keeps it out of git.
  fs::create_directories(ws->wt_.parent_path(), ec);
  if (auto st = git::worktree_add(ws->repo_, ws->wt_, ws->branch_, ws->base_); !st) return st;
  events::WorktreeCreated w;
  w.stream = spec.stream;
  w.path = ws->wt_.string();
  w.branch = ws->branch_;
  w.base_commit = ws->base_;
  if (auto r = run.publish(w); !r) return r.status();
  if (progress) progress("worktree " + ws->wt_.string() + " on branch " + ws->branch_);
  if (spec.bring_untracked)
    if (auto st = ws->bring_untracked(cfg, progress); !st) return st;
  return ws;
}

Status Workspace::bring_untracked(const Config& cfg, const std::function<void(const std::string&)>& progress) {
  // worktree_include: untracked files the tests need. Files are copied; directories (a
  // node_modules) are linked, and all of them are kept out of snapshots and the commit.
  if (cfg.worktree_include.empty()) return Status::ok();
  auto entries = untracked_entries(repo_, true);
  if (!entries) return entries.status();
  std::error_code ec;
  std::size_t brought = 0;
  for (const auto& pattern : cfg.worktree_include) {
    bool matched = false;
    for (const auto& e : *entries) {
      if (::fnmatch(pattern.c_str(), e.c_str(), 0) != 0) continue;
      matched = true;
      const fs::path src = repo_ / e, dst = wt_ / e;
      if (fs::exists(dst, ec) || fs::is_symlink(dst, ec)) continue;
      fs::create_directories(dst.parent_path(), ec);
      if (fs::is_directory(src, ec)) fs::create_directory_symlink(src, dst, ec);
      else fs::copy_file(src, dst, ec);
      if (ec) return make_error(Errc::io_error, "worktree_include: cannot bring '" + e + "' into the worktree: " + ec.message());
      ++brought;
      // An ignored path needs no exclusion (and git refuses to be told about it).
      if (!git::run(wt_, {"check-ignore", "-q", "--no-index", e}).is_ok()) excludes_.push_back(e);
    }
    if (!matched && progress) progress("note: worktree_include pattern '" + pattern + "' matched no untracked file");
  }
  if (brought > 0 && progress) progress("brought " + std::to_string(brought) + " untracked path(s) into the worktree");
  return Status::ok();
}

void Workspace::remove(const std::function<void(const std::string&)>& progress) const {
  if (auto st = git::worktree_remove(repo_, wt_); !st) spdlog::warn("{}", st.to_string());
  if (git::branch_exists(repo_, branch_)) (void)git::run(repo_, {"branch", "-D", branch_});
  if (progress) progress("removed the worktree and branch " + branch_);
}

Result<Snapshot> Workspace::snapshot(const Snapshot* before) const {
  Snapshot s;
  s.meta = git_meta(common_, wt_);
  // .git files the agent changed (config with a filter or fsmonitor, hooks) go back before any
  // git command of ours reads them; what was seen is kept in s.meta for the policy to judge.
  if (before && s.meta != before->meta)
    if (auto st = put_back_meta(before->meta, s.meta); !st) return st;
  auto tree = git::snapshot_tree(wt_, excludes_);
  if (!tree) return tree.status();
  s.tree = *tree;
  auto head = git::head(wt_);
  if (!head) return head.status();
  s.head = *head;
  auto br = git::current_branch(wt_);
  s.branch = br ? *br : "";
  auto refs = git::refs(repo_);
  if (!refs) return refs.status();
  s.refs = *refs;
  s.user_state = user_checkout_state(repo_);
  return s;
}

std::vector<std::string> Workspace::git_changes(const Snapshot& before, const Snapshot& after) const {
  std::vector<std::string> out;
  auto sh = [](const std::string& s) { return s.substr(0, 12); };
  if (before.head != after.head) out.push_back("HEAD moved " + sh(before.head) + " -> " + sh(after.head));
  if (before.branch != after.branch)
    out.push_back("branch switched " + before.branch + " -> " + (after.branch.empty() ? "(detached)" : after.branch));
  for (const auto& [ref, sha] : after.refs) {
    auto it = before.refs.find(ref);
    if (it == before.refs.end()) out.push_back("ref " + ref + " created at " + sh(sha));
    else if (it->second != sha) out.push_back("ref " + ref + " moved " + sh(it->second) + " -> " + sh(sha));
  }
  for (const auto& [ref, sha] : before.refs)
    if (!after.refs.count(ref)) out.push_back("ref " + ref + " deleted (was " + sh(sha) + ")");
  for (const auto& [path, text] : after.meta) {
    auto it = before.meta.find(path);
    if (it == before.meta.end()) out.push_back(".git file created: " + path);
    else if (it->second != text) out.push_back(".git file changed: " + path);
  }
  for (const auto& [path, text] : before.meta)
    if (!after.meta.count(path)) out.push_back(".git file deleted: " + path);
  if (before.user_state != after.user_state)
    out.push_back("the user's checkout at " + repo_.string() + " changed (files outside the worktree)");
  return out;
}

std::vector<std::string> Workspace::escapes(const std::vector<std::string>& touched) const {
  std::vector<std::string> out;
  std::error_code ec;
  const auto root = fs::weakly_canonical(wt_, ec);
  for (const auto& t : touched) {
    std::string path = t.size() > 2 ? t.substr(2) : t;
    if (auto arrow = path.find(" -> "); arrow != std::string::npos) path = path.substr(arrow + 4);
    const fs::path p = wt_ / path;
    if (!fs::is_symlink(p, ec)) continue;
    auto target = fs::weakly_canonical(p, ec);
    auto rel = target.lexically_relative(root);
    if (ec || rel.empty() || *rel.begin() == "..") out.push_back(path + " -> " + fs::read_symlink(p, ec).string());
  }
  return out;
}

Status Workspace::restore(const Snapshot& before) const {
  // .git files first: without the worktree's .git link no git command works in it.
  if (auto st = put_back_meta(before.meta, git_meta(common_, wt_)); !st) return st;
  // The run's own branch and HEAD go back; other refs may be the user's (they can commit while
  // a run works), so a change to one is reported, not undone.
  if (auto r = git::run(wt_, {"symbolic-ref", "HEAD", "refs/heads/" + branch_}); !r) return r.status();
  if (auto r = git::run(wt_, {"update-ref", "refs/heads/" + branch_, before.head}); !r) return r.status();
  return git::restore_tree(wt_, before.tree, excludes_);
}

Result<ProcessResult> record_command(RunContext& run, const std::string& suite, const std::string& purpose,
                                     const std::vector<std::string>& argv, const fs::path& cwd,
                                     std::chrono::milliseconds timeout, const std::map<std::string, std::string>& env) {
  events::SuiteStarted s;
  s.suite = suite;
  s.runner = "command";
  s.purpose = purpose;
  s.argv = argv;
  s.cwd = cwd.lexically_normal().string();
  auto started = run.publish(s);
  if (!started) return started.status();
  ProcessSpec spec;
  spec.argv = argv;
  spec.cwd = s.cwd;
  spec.env = env;
  spec.timeout = timeout;
  auto pr = run_process(spec);
  if (!pr) return pr.status();
  events::SuiteFinished f;
  f.suite = suite;
  f.runner = "command";
  f.purpose = purpose;
  f.exit_code = pr->exit_code;
  f.signal = pr->signal;
  f.timed_out = pr->timed_out;
  f.duration_ms = pr->duration_ms;
  f.output = pr->output;
  f.report_format = "none";
  f.error = pr->spawn_error;
  if (auto r = run.publish(f, started->front().seq); !r) return r.status();
  return pr;
}

// ---- preparing the worktree for the suites -------------------------------------------------

namespace {

Status link_node_modules(Session& s) {
  const auto& repo = s.ws.repo();
  const auto& wt = s.ws.path();
  for (const auto& suite : s.cfg.suites) {
    if (suite.runner == "pytest" || !suite.link_node_modules || !suite.setup.empty()) continue;  // jest, junit (vitest, mocha)
    const fs::path rel = fs::path(suite.cwd) / "node_modules";
    const fs::path src = repo / rel, dst = wt / rel;
    std::error_code ec;
    if (!fs::is_directory(src, ec) || fs::exists(fs::symlink_status(dst, ec))) continue;
    fs::create_directories(dst.parent_path(), ec);
    fs::create_directory_symlink(src, dst, ec);
    if (ec)
      return make_error(Errc::io_error, "cannot link '" + src.string() + "' into the worktree: " + ec.message() +
                                            "; set link_node_modules = false and a setup command such as "
                                            "[\"npm\", \"ci\"] for suite '" + suite.name + "'");
    const std::string rel_s = rel.lexically_normal().generic_string();
    if (!git::run(wt, {"check-ignore", "-q", "--no-index", rel_s}).is_ok()) s.ws.exclude(rel_s);
    s.say("linked " + src.string() + " into the worktree (suite '" + suite.name + "')");
  }
  return Status::ok();
}

Status run_setup(Session& s) {
  for (const auto& suite : s.cfg.suites) {
    if (suite.setup.empty()) continue;
    s.say("setup for suite '" + suite.name + "': " + suite.setup[0] + (suite.setup.size() > 1 ? " ..." : ""));
    auto pr = record_command(s.run, suite.name, "setup", suite.setup, s.ws.path() / suite.cwd,
                             s.command_timeout(suite.timeout));
    if (!pr) return pr.status();
    if (!pr->spawn_error.empty() || pr->exit_code != 0 || pr->timed_out) {
      const auto& out = pr->output.data;
      return make_error(Errc::invalid_argument,
                        "the setup command of suite '" + suite.name + "' failed in the worktree (" +
                            (pr->spawn_error.empty() ? (pr->timed_out ? std::string("timed out")
                                                                     : "exit " + std::to_string(pr->exit_code))
                                                     : pr->spawn_error) +
                            "); fix `setup` in its [[suites]] of fixhost.toml. Last output:\n" +
                            out.substr(out.size() > 600 ? out.size() - 600 : 0));
    }
  }
  return Status::ok();
}

Status check_suites_run(Session& s) {
  const auto& repo = s.ws.repo();
  const auto& wt = s.ws.path();
  for (const auto& suite : s.cfg.suites) {
    auto argv = collect_argv(suite);
    if (argv.empty()) continue;  // a script: the first suite run tells
    s.say("checking that suite '" + suite.name + "' runs in the worktree as in the checkout");
    struct Seen {
      ProcessResult pr;
      std::set<std::string> listed;  // pytest: node ids; jest: test files relative to the root
    };
    auto collect = [&](const fs::path& root, Seen& out) -> Status {
      auto pr = record_command(s.run, suite.name, "collect", argv, root / suite.cwd, s.command_timeout(suite.timeout),
                               {{"PYTHONDONTWRITEBYTECODE", "1"}, {"NO_COLOR", "1"}, {"FORCE_COLOR", "0"}});
      if (!pr) return pr.status();
      out.pr = std::move(*pr);
      // What each place lists: pytest a node id per line, jest a test file's path per line.
      const std::string prefix = root.string() + "/";
      std::istringstream in(out.pr.output.data);
      std::string line;
      while (std::getline(in, line)) {
        if (suite.runner == "pytest" && line.find("::") != std::string::npos) out.listed.insert(line);
        else if (suite.runner != "pytest" && line.rfind(prefix, 0) == 0) out.listed.insert(line.substr(prefix.size()));
      }
      return Status::ok();
    };
    Seen here, there;
    if (auto st = collect(repo, here); !st) return st;
    if (here.pr.exit_code != 0 && here.pr.exit_code != 1 && here.pr.exit_code != 2) continue;  // broken in the checkout too
    if (auto st = collect(wt, there); !st) return st;
    // The checkout's listing may hold the run worktrees under the store (jest does not skip
    // dot directories): those are not the checkout's tests.
    const std::string store_rel = wt.parent_path().parent_path().lexically_relative(repo).generic_string() + "/";
    std::vector<std::string> missing;
    for (const auto& item : here.listed)
      if (!there.listed.count(item) && item.rfind(store_rel, 0) != 0) missing.push_back(item);
    if (there.pr.spawn_error.empty() && there.pr.exit_code == here.pr.exit_code && missing.empty()) continue;
    // What the checkout has that git does not track: the likely missing pieces.
    std::vector<std::string> untracked;
    if (auto entries = untracked_entries(repo, true))
      for (const auto& e : *entries)
        if (e.find("__pycache__") == std::string::npos && untracked.size() < 8) untracked.push_back(e);
    std::string list;
    for (const auto& u : untracked) list += (list.empty() ? "\"" : ", \"") + u + "\"";
    const auto& out = there.pr.output.data;
    return make_error(
        Errc::invalid_argument,
        "suite '" + suite.name + "' does not run in the run's worktree as it does in the checkout (checkout: exit " +
            std::to_string(here.pr.exit_code) + ", " + std::to_string(here.listed.size()) + " listed; worktree: " +
            (there.pr.spawn_error.empty() ? "exit " + std::to_string(there.pr.exit_code) : there.pr.spawn_error) + ", " +
            std::to_string(missing.size()) + " of those missing" +
            (missing.empty() ? std::string() : ", e.g. " + missing.front()) + "). The worktree has only what git tracks" +
            (list.empty() ? "" : "; untracked in the checkout: " + list) +
            ". Bring what the suite needs in with worktree_include = [...] in fixhost.toml, or give the suite a setup "
            "command that makes it in the worktree (e.g. setup = [\"npm\", \"ci\"]). The worktree said:\n" +
            out.substr(out.size() > 800 ? out.size() - 800 : 0));
  }
  return Status::ok();
}

}  // namespace

Status prepare_suites(Session& s) {
  if (auto st = link_node_modules(s); !st) return st;
  if (auto st = run_setup(s); !st) return st;
  if (auto st = check_suites_run(s); !st) return st;
  for (const auto& suite : s.cfg.suites)
    if (auto n = narrowing_note(suite); !n.empty()) s.say("note: " + n);
  return Status::ok();
}

}  // namespace fixhost::host::engine
