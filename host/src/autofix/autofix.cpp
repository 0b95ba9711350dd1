// The autofix loop. Everything that can go wrong with an agent is checked here, in code:
// the worktree isolates the user's checkout, each attempt is snapshotted before and judged
// after (git state, paths, the policy plugin), and reverted exactly when rejected.
#include "fixhost/host/autofix.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "fixhost/events/codec.hpp"
#include "fixhost/events/json.hpp"
#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/git.hpp"
#include "fixhost/host/process.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/sandbox.hpp"
#include "fixhost/host/suite_runner.hpp"
#include "fixhost/store/capture.hpp"
#include "prompt.hpp"

namespace fixhost::host {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using autofix::AttemptRecord;

fs::path worktree_path(const fs::path& store_dir, const std::string& run_id) {
  return store_dir / "worktrees" / run_id;
}
std::string autofix_branch(const std::string& run_id) { return "fixhost/autofix-" + run_id; }

namespace {

constexpr std::size_t k_agent_output_cap = 256 * 1024;  // head and tail of an agent's output
constexpr std::size_t k_diff_cap = 4u << 20;             // head and tail of an attempt's diff in the log

std::string first_line(std::string_view s) { return std::string(s.substr(0, s.find('\n'))); }

// Files an agent can reach (its summary, .git files) are read without following a symlink or
// blocking on a FIFO, and only up to a cap; anything else reads as "".
std::string read_file(const fs::path& p) {
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

// Files of .git an agent has no business changing, by path -> contents ("" entry = absent).
// Hooks and config run code on the user's next git command; HEAD is the user's checkout.
std::map<std::string, std::string> git_meta(const fs::path& common, const fs::path& worktree) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& rel : {"config", "HEAD", "info/exclude", "info/attributes"}) {
    auto p = common / rel;
    if (fs::exists(p, ec)) out[p.string()] = read_file(p);
  }
  for (const auto& dir : {common / "hooks", common / "info"})
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) out[it->path().string()] = read_file(it->path());
  auto dotgit = worktree / ".git";
  if (fs::is_regular_file(dotgit, ec)) out[dotgit.string()] = read_file(dotgit);
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

struct Snapshot {
  std::string tree;
  std::string head;
  std::string branch;
  std::map<std::string, std::string> refs;
  std::map<std::string, std::string> meta;
  std::string user_state;
};

// The file a test id belongs to ("tests/t.py" of "tests/t.py::test_x").
std::string file_of(const std::string& test_id) { return test_id.substr(0, test_id.find("::")); }

struct KeptFix {
  std::size_t index = 0;  // into the outcomes
  std::string test_id;
  std::string patch;  // binary diff, for git apply
};

class Autofix {
 public:
  Autofix(const Config& config, const AutofixOptions& options) : cfg_(config), opts_(options) {}
  Result<AutofixResult> run();
  // Records the run as ended by an error (the worktree stays for `hostctl discard`).
  void abandon(const Status& why) {
    if (run_) (void)run_->finish("error", k_exit_cannot_run, why.to_string());
  }

 private:
  void say(const std::string& s) {
    if (opts_.progress) opts_.progress(s);
  }
  std::chrono::milliseconds remaining() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
  }
  bool over_budget() const { return remaining().count() <= 0; }
  // The config with every suite's timeout cut to what is left of the run's budget.
  Config bounded() const;
  // One suite of bounded(), by name (it exists: failures name the suite they came from).
  SuiteConfig bounded_suite(const std::string& name) const;
  Status budget_exceeded(const std::string& budget, std::int64_t limit_ms, std::int64_t used_ms,
                         const std::string& test_id, std::uint32_t attempt);

  Status prepare_worktree();
  // Each suite must see in the worktree what it sees in the checkout: the untracked things
  // it needs (node_modules, a virtualenv, generated files) linked in, copied in or set up.
  // Runs a command of the host's own (setup, collect, lint, typecheck) and records it as a
  // SuiteStarted/SuiteFinished pair of runner "command".
  Result<ProcessResult> record_command(const std::string& suite, const std::string& purpose,
                                       const std::vector<std::string>& argv, const fs::path& cwd,
                                       std::chrono::milliseconds timeout,
                                       const std::map<std::string, std::string>& env = {});
  Status link_node_modules();
  Status run_setup();
  Status check_suites_run();
  // Removes the worktree and branch this run made (a run refused before any agent ran).
  void clean_up_worktree();
  // With `before`, .git files changed since it are put back first (and reported in meta).
  Result<Snapshot> snapshot(const Snapshot* before = nullptr);
  Status put_back_meta(const std::map<std::string, std::string>& before, const std::map<std::string, std::string>& now);
  Status restore(const Snapshot& before);
  std::vector<std::string> git_changes(const Snapshot& before, const Snapshot& after);
  std::vector<std::string> escapes(const std::vector<std::string>& touched);
  Status fix_one(DetectedFailure& d, FixOutcome& out);
  Status revert_attempt(const Snapshot& before, const std::string& test_id, std::uint32_t attempt,
                        const std::string& reason, const std::vector<std::string>& files);

  struct Checks {
    std::set<std::string> failing;
    std::map<std::string, std::string> suite_of;  // failing test -> its suite
    std::map<std::string, DetectedFailure> failures;  // failing test -> what was derived of it
    std::uint32_t tests = 0;
    std::multiset<std::string> lint, typecheck;
    bool complete = true;  // false when the budget ran out mid-way
  };
  Result<std::multiset<std::string>> run_tool(const std::string& purpose, const std::vector<std::string>& argv);
  Result<Checks> run_checks(bool with_suites = true);
  std::vector<std::pair<std::string, std::string>> broken(const Checks& now);  // (what, check)
  // Which of `bad` still fail, checking only them (one test alone, one tool), not everything.
  Result<std::vector<std::pair<std::string, std::string>>> recheck(
      const std::vector<std::pair<std::string, std::string>>& bad, const Checks& found);
  Status verify();
  Status commit();
  Status finish_report();

  // One round: every failure of `queue` (already in res_.fixes from `first`) in fix order.
  Status run_round(std::vector<DetectedFailure>& queue, std::size_t first);
  // After a kept fix: the failures still waiting in the round are run again, all of a suite's
  // in one process; those that pass now are cured by `by` and never reach the agent.
  Status recheck_waiting(std::vector<DetectedFailure>& queue, std::size_t after, std::size_t first, const std::string& by);
  Status publish_resolved(const FixOutcome& fo, std::uint64_t cause = 0);
  // A failure not seen before, found once other tests could run: kept for the next round.
  void reveal(DetectedFailure d);
  // Whether `test_id` could not run at the start (its file failed to import, or it was revealed).
  bool was_hidden(const std::string& test_id) const;
  Status start_round(std::uint32_t round, const std::string& found_by, const std::vector<DetectedFailure>& queue);

  const Config& cfg_;
  AutofixOptions opts_;
  std::unique_ptr<RunContext> run_;
  AutofixResult res_;
  fs::path repo_, wt_, store_, attempts_dir_;
  fs::path common_;  // the repository's .git directory (shared by its worktrees)
  std::string base_, user_branch_, agent_;
  std::vector<std::string> excludes_;  // untracked files copied in
  Clock::time_point deadline_;
  std::vector<DetectedFailure> failures_;
  std::vector<KeptFix> kept_;
  Checks start_;
  std::set<std::string> uncollected_;  // files whose tests could not run when first seen
  std::set<std::string> known_;        // every failure id seen in any round
  std::vector<DetectedFailure> revealed_;  // waiting for the next round
  std::string revealed_by_;                // recheck | verify
  std::uint32_t round_ = 1;
  std::string first_tree_;  // the worktree's tree before the first attempt
  bool stop_ = false;
  std::string stop_reason_;
  std::string commit_note_;
  std::vector<std::string> violations_, regressions_;
  RunSandbox sandbox_;  // how agents, lint and typecheck are contained
};

Config Autofix::bounded() const {
  Config c = cfg_;
  for (auto& s : c.suites) s = bounded_suite(s.name);
  return c;
}

SuiteConfig Autofix::bounded_suite(const std::string& name) const {
  SuiteConfig s = *suite_named(cfg_, name);
  auto left = std::chrono::duration_cast<std::chrono::seconds>(remaining()) + std::chrono::seconds(1);
  s.timeout = std::min(s.timeout, std::max(left, std::chrono::seconds(1)));
  return s;
}

Status Autofix::budget_exceeded(const std::string& budget, std::int64_t limit_ms, std::int64_t used_ms,
                                const std::string& test_id, std::uint32_t attempt) {
  events::BudgetExceeded b;
  b.budget = budget;
  b.limit = limit_ms;
  b.used = used_ms;
  b.test_id = test_id;
  b.attempt = attempt;
  res_.budget_exceeded = true;
  stop_ = true;
  stop_reason_ = budget == "attempt_time" ? "an agent attempt ran out of its time budget; the run stopped"
                                          : "the run's time budget ran out";
  say("budget exceeded: " + budget + " (" + std::to_string(limit_ms / 1000) + " s)");
  auto r = run_->publish(b);
  return r.is_ok() ? Status::ok() : r.status();
}

Status Autofix::prepare_worktree() {
  std::error_code ec;
  fs::create_directories(store_, ec);
  // The store may sit inside the repository: keep it (and the worktrees in it) out of git.
  // RunContext::start keeps the store out of git (.gitignore inside it).
  fs::create_directories(wt_.parent_path(), ec);
  if (auto st = git::worktree_add(repo_, wt_, res_.branch, base_); !st) return st;
  events::WorktreeCreated w;
  w.path = wt_.string();
  w.branch = res_.branch;
  w.base_commit = base_;
  if (auto r = run_->publish(w); !r) return r.status();
  say("worktree " + wt_.string() + " on branch " + res_.branch);

  // worktree_include: untracked files the tests need. Files are copied; directories (a
  // node_modules) are linked, and all of them are kept out of snapshots and the commit.
  if (cfg_.worktree_include.empty()) return Status::ok();
  std::set<std::string> entries;
  for (auto extra : {std::vector<std::string>{"ls-files", "-z", "--others", "--directory", "--exclude-standard"},
                     std::vector<std::string>{"ls-files", "-z", "--others", "--ignored", "--directory",
                                              "--exclude-standard"}}) {
    auto r = git::run(repo_, extra);
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
  std::size_t brought = 0;
  for (const auto& pattern : cfg_.worktree_include) {
    bool matched = false;
    for (const auto& e : entries) {
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
    if (!matched) say("note: worktree_include pattern '" + pattern + "' matched no untracked file");
  }
  if (brought > 0) say("brought " + std::to_string(brought) + " untracked path(s) into the worktree");
  return Status::ok();
}

Result<ProcessResult> Autofix::record_command(const std::string& suite, const std::string& purpose,
                                              const std::vector<std::string>& argv, const fs::path& cwd,
                                              std::chrono::milliseconds timeout,
                                              const std::map<std::string, std::string>& env) {
  events::SuiteStarted s;
  s.suite = suite;
  s.runner = "command";
  s.purpose = purpose;
  s.argv = argv;
  s.cwd = cwd.lexically_normal().string();
  auto started = run_->publish(s);
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
  if (auto r = run_->publish(f, started->front().seq); !r) return r.status();
  return pr;
}

Status Autofix::link_node_modules() {
  for (const auto& suite : cfg_.suites) {
    if (suite.runner != "jest" || !suite.link_node_modules || !suite.setup.empty()) continue;
    const fs::path rel = fs::path(suite.cwd) / "node_modules";
    const fs::path src = repo_ / rel, dst = wt_ / rel;
    std::error_code ec;
    if (!fs::is_directory(src, ec) || fs::exists(fs::symlink_status(dst, ec))) continue;
    fs::create_directories(dst.parent_path(), ec);
    fs::create_directory_symlink(src, dst, ec);
    if (ec)
      return make_error(Errc::io_error, "cannot link '" + src.string() + "' into the worktree: " + ec.message() +
                                            "; set link_node_modules = false and a setup command such as "
                                            "[\"npm\", \"ci\"] for suite '" + suite.name + "'");
    const std::string rel_s = rel.lexically_normal().generic_string();
    if (!git::run(wt_, {"check-ignore", "-q", "--no-index", rel_s}).is_ok()) excludes_.push_back(rel_s);
    say("linked " + src.string() + " into the worktree (suite '" + suite.name + "')");
  }
  return Status::ok();
}

Status Autofix::run_setup() {
  for (const auto& suite : cfg_.suites) {
    if (suite.setup.empty()) continue;
    say("setup for suite '" + suite.name + "': " + suite.setup[0] + (suite.setup.size() > 1 ? " ..." : ""));
    auto pr = record_command(suite.name, "setup", suite.setup, wt_ / suite.cwd,
                             std::max(std::chrono::milliseconds(1000),
                                      std::min<std::chrono::milliseconds>(suite.timeout, remaining())));
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

Status Autofix::check_suites_run() {
  for (const auto& suite : cfg_.suites) {
    auto argv = collect_argv(suite);
    if (argv.empty()) continue;  // a script: the first suite run tells
    say("checking that suite '" + suite.name + "' runs in the worktree as in the checkout");
    struct Seen {
      ProcessResult pr;
      std::set<std::string> listed;  // pytest: node ids; jest: test files relative to the root
    };
    auto collect = [&](const fs::path& root, Seen& out) -> Status {
      auto pr = record_command(suite.name, "collect", argv, root / suite.cwd,
                               std::max(std::chrono::milliseconds(1000),
                                        std::min<std::chrono::milliseconds>(suite.timeout, remaining())),
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
    if (auto st = collect(repo_, here); !st) return st;
    if (here.pr.exit_code != 0 && here.pr.exit_code != 1 && here.pr.exit_code != 2) continue;  // broken in the checkout too
    if (auto st = collect(wt_, there); !st) return st;
    // The checkout's listing may hold the run worktrees under the store (jest does not skip
    // dot directories): those are not the checkout's tests.
    const std::string store_rel = fs::path(store_).lexically_relative(repo_).generic_string() + "/";
    std::vector<std::string> missing;
    for (const auto& item : here.listed)
      if (!there.listed.count(item) && item.rfind(store_rel, 0) != 0) missing.push_back(item);
    if (there.pr.spawn_error.empty() && there.pr.exit_code == here.pr.exit_code && missing.empty()) continue;
    // What the checkout has that git does not track: the likely missing pieces.
    std::vector<std::string> untracked;
    if (auto r = git::run(repo_, {"ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory"})) {
      std::string cur;
      for (char c : *r + std::string(1, '\0')) {
        if (c) {
          cur.push_back(c);
          continue;
        }
        while (!cur.empty() && cur.back() == '/') cur.pop_back();
        if (!cur.empty() && cur.rfind(".fixhost", 0) != 0 && cur.find("__pycache__") == std::string::npos &&
            untracked.size() < 8)
          untracked.push_back(cur);
        cur.clear();
      }
    }
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

void Autofix::clean_up_worktree() {
  if (auto st = git::worktree_remove(repo_, wt_); !st) spdlog::warn("{}", st.to_string());
  if (git::branch_exists(repo_, res_.branch)) (void)git::run(repo_, {"branch", "-D", res_.branch});
  say("removed the worktree and branch " + res_.branch);
}

Status Autofix::put_back_meta(const std::map<std::string, std::string>& before,
                              const std::map<std::string, std::string>& now) {
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

Result<Snapshot> Autofix::snapshot(const Snapshot* before) {
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

std::vector<std::string> Autofix::git_changes(const Snapshot& before, const Snapshot& after) {
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

std::vector<std::string> Autofix::escapes(const std::vector<std::string>& touched) {
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
    if (ec || rel.empty() || *rel.begin() == "..")
      out.push_back(path + " -> " + fs::read_symlink(p, ec).string());
  }
  return out;
}

Status Autofix::restore(const Snapshot& before) {
  // .git files first: without the worktree's .git link no git command works in it.
  if (auto st = put_back_meta(before.meta, git_meta(common_, wt_)); !st) return st;
  // The run's own branch and HEAD go back; other refs may be the user's (they can commit while
  // a run works), so a change to one is reported, not undone.
  if (auto r = git::run(wt_, {"symbolic-ref", "HEAD", "refs/heads/" + res_.branch}); !r) return r.status();
  if (auto r = git::run(wt_, {"update-ref", "refs/heads/" + res_.branch, before.head}); !r) return r.status();
  return git::restore_tree(wt_, before.tree, excludes_);
}

Status Autofix::revert_attempt(const Snapshot& before, const std::string& test_id, std::uint32_t attempt,
                               const std::string& reason, const std::vector<std::string>& files) {
  if (auto st = restore(before); !st) return st;
  events::Reverted r;
  r.test_id = test_id;
  r.attempt = attempt;
  r.reason = reason;
  r.files = files;
  auto p = run_->publish(r);
  return p.is_ok() ? Status::ok() : p.status();
}

Status Autofix::fix_one(DetectedFailure& d, FixOutcome& out) {
  const auto& f = d.failure;
  const SuiteConfig* suite = suite_named(cfg_, f.suite);
  std::vector<AttemptRecord> history;
  const bool may_edit_tests =
      std::find(cfg_.test_edit_categories.begin(), cfg_.test_edit_categories.end(), d.category) !=
      cfg_.test_edit_categories.end();
  std::string reason_kind = "attempts";
  out.reason = "";
  for (std::uint32_t attempt = 1; attempt <= static_cast<std::uint32_t>(cfg_.max_attempts); ++attempt) {
    if (interrupt_requested()) {
      stop_ = true;
      stop_reason_ = "interrupted";
      out.reason = "the run was interrupted";
      reason_kind = "budget";
      break;
    }
    if (over_budget()) {
      auto used = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.run_budget).count();
      if (auto st = budget_exceeded("run_time", used, used - remaining().count(), f.test_id, attempt); !st) return st;
      reason_kind = "budget";
      out.reason = "the run's time budget ran out";
      break;
    }
    say("[" + std::to_string(d.order) + "/" + std::to_string(failures_.size()) + "] " + f.test_id + " (" +
        d.category + "): attempt " + std::to_string(attempt) + "/" + std::to_string(cfg_.max_attempts));
    out.attempts = attempt;
    const fs::path dir = attempts_dir_ / (std::to_string(d.order) + "-" + std::to_string(attempt));
    std::error_code ec;
    fs::create_directories(dir, ec);
    autofix::PromptInput pin;
    pin.failure = &d;
    pin.worktree = wt_;
    pin.suite_cwd = suite ? suite->cwd : ".";
    pin.history = history;
    pin.protected_globs = cfg_.protected_paths;
    pin.may_edit_tests = may_edit_tests;
    pin.attempt = attempt;
    pin.max_attempts = static_cast<std::uint32_t>(cfg_.max_attempts);
    const std::string prompt = autofix::prompt_markdown(pin);
    if (auto st = write_file(dir / "prompt.md", prompt); !st) return st;
    if (auto st = write_file(dir / "failure.json", events::dump_json(failure_json(d), 2) + "\n"); !st) return st;
    if (auto st = write_file(dir / "history.json", events::dump_json(autofix::history_json(history), 2) + "\n"); !st)
      return st;
    fs::remove(dir / "summary.txt", ec);

    auto before = snapshot();
    if (!before) return before.status();
    if (first_tree_.empty()) first_tree_ = before->tree;

    events::AttemptStarted as;
    as.test_id = f.test_id;
    as.attempt = attempt;
    as.agent = agent_;
    as.category = d.category;
    as.prompt.data = prompt;
    as.prompt.total_bytes = prompt.size();
    as.sandbox = sandbox_.state;
    if (auto r = run_->publish(as, d.seq); !r) return r.status();

    ProcessSpec spec;
    spec.argv = {"/bin/sh", "-c", agent_};
    if (sandbox_.on) {
      SandboxLayout layout = sandbox_.layout;
      layout.scratch.push_back(dir);  // the summary file is written there
      spec.argv = sandbox_argv(layout, spec.argv);
    }
    spec.cwd = wt_.string();
    spec.env = {{"FIXHOST_PROMPT_FILE", (dir / "prompt.md").string()},
                {"FIXHOST_FAILURE_FILE", (dir / "failure.json").string()},
                {"FIXHOST_HISTORY_FILE", (dir / "history.json").string()},
                {"FIXHOST_SUMMARY_FILE", (dir / "summary.txt").string()},
                {"FIXHOST_ATTEMPT", std::to_string(attempt)},
                {"FIXHOST_RUN_ID", res_.run_id},
                {"FIXHOST_REPO", wt_.string()},
                {"FIXHOST_TEST_ID", f.test_id},
                {"FIXHOST_CATEGORY", d.category}};
    const auto attempt_ms = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.attempt_budget);
    const bool run_budget_binds = remaining() < attempt_ms;
    spec.timeout = std::max(std::chrono::milliseconds(1), std::min(attempt_ms, remaining()));
    spec.head_cap = spec.tail_cap = k_agent_output_cap;
    auto pr = run_process(spec);
    if (!pr) return pr.status();
    ++res_.agent_calls;

    auto after = snapshot(&*before);
    if (!after) {
      // The agent broke the worktree beyond what snapshot() reads: put .git back and retry once.
      if (auto st = restore(*before); !st) return st;
      after = snapshot();
      if (!after) return after.status();
    }
    events::AttemptFinished af;
    af.test_id = f.test_id;
    af.attempt = attempt;
    af.category = d.category;
    af.agent_exit = pr->exit_code;
    af.signal = pr->signal;
    af.timed_out = pr->timed_out;
    af.duration_ms = pr->duration_ms;
    af.output = pr->output;
    if (!pr->spawn_error.empty()) af.output.data = pr->spawn_error + "\n" + af.output.data;
    af.summary = first_line(read_file(dir / "summary.txt"));
    auto diff = git::diff_trees(wt_, before->tree, after->tree);
    if (!diff) return diff.status();
    {
      store::CappedCapture cap(k_diff_cap, k_diff_cap);  // size policy: docs/STORE.md
      cap.append(*diff);
      af.diff = std::move(cap).finish();
    }
    auto touched = git::changed_files(wt_, before->tree, after->tree);
    if (!touched) return touched.status();
    af.files_touched = *touched;
    af.git_changes = git_changes(*before, *after);
    af.escapes = escapes(af.files_touched);
    auto derived = run_->publish(af, d.seq);
    if (!derived) return derived.status();
    const std::uint64_t af_seq = derived->front().seq;

    std::vector<std::string> found;
    for (const auto& e : *derived)
      if (e.type == events::EventType::PluginFailed)
        if (auto pf = events::decode<events::PluginFailed>(e);
            pf && pf->trigger_seq == af_seq && pf->plugin.rfind("policy@", 0) == 0) {
          // No verdict is not a pass: an attempt the rails could not judge is not kept.
          found.push_back("policy_unjudged: the policy plugin failed on this attempt: " + pf->error);
          violations_.push_back("`" + f.test_id + "` attempt " + std::to_string(attempt) + ": " + found.back());
        }
    for (const auto& e : *derived)
      if (e.type == events::EventType::PolicyViolation && e.causation == af_seq)
        if (auto v = events::decode<events::PolicyViolation>(e)) {
          found.push_back(v->rule + (v->path.empty() ? "" : " " + v->path) + ": " + v->detail);
          violations_.push_back("`" + f.test_id + "` attempt " + std::to_string(attempt) + ": " + found.back());
        }
    std::vector<std::string> files;
    for (const auto& t : af.files_touched) files.push_back(t.size() > 2 ? t.substr(2) : t);
    AttemptRecord rec;
    rec.attempt = attempt;
    rec.diff = af.diff.data;

    if (pr->interrupted) {
      if (auto st = revert_attempt(*before, f.test_id, attempt, "interrupted", files); !st) return st;
      stop_ = true;
      stop_reason_ = "interrupted";
      out.reason = "the run was interrupted";
      reason_kind = "budget";
      break;
    }
    if (pr->timed_out) {
      if (auto st = revert_attempt(*before, f.test_id, attempt, "budget", files); !st) return st;
      const auto total = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.run_budget).count();
      if (auto st = run_budget_binds ? budget_exceeded("run_time", total, total, f.test_id, attempt)
                                     : budget_exceeded("attempt_time", attempt_ms.count(), pr->duration_ms, f.test_id,
                                                       attempt);
          !st)
        return st;
      out.reason = run_budget_binds ? "the run's time budget ran out during attempt " + std::to_string(attempt)
                                    : "attempt " + std::to_string(attempt) + " ran past the agent time budget (" +
                                          std::to_string(attempt_ms.count() / 1000) + " s) and was killed";
      reason_kind = "budget";
      break;
    }
    if (!found.empty()) {
      if (auto st = revert_attempt(*before, f.test_id, attempt, "policy", files); !st) return st;
      rec.outcome = "policy_violation";
      rec.reason = "Rejected by fixhost's rails: " + found.front() +
                   (found.size() > 1 ? " (and " + std::to_string(found.size() - 1) + " more)" : "");
      say("  rejected: " + found.front());
      history.push_back(rec);
      out.reason = "every attempt was rejected or failed; last: " + rec.reason;
      reason_kind = "policy";
      bool outside = false;
      for (const auto& g : af.git_changes)
        if (g.find("the user's checkout") != std::string::npos) outside = true;
      if (outside) {
        events::HumanAlert alert;
        alert.reason = "other";
        alert.summary = "the agent changed files outside its worktree, in the user's checkout";
        alert.detail = "run " + res_.run_id + ", test " + f.test_id + ", attempt " + std::to_string(attempt) +
                       ": check `git -C " + repo_.string() + " status`; fixhost cannot undo changes it never made";
        if (auto r = run_->publish(alert); !r) return r.status();
        stop_ = true;
        stop_reason_ = "the agent wrote outside its worktree; the run stopped (see the alert)";
        break;
      }
      continue;
    }
    if (pr->exit_code != 0) {
      if (auto st = revert_attempt(*before, f.test_id, attempt, "gave_up", files); !st) return st;
      out.reason = pr->spawn_error.empty()
                       ? "the agent gave up (exit " + std::to_string(pr->exit_code) + ") on attempt " +
                             std::to_string(attempt)
                       : "the agent could not be started: " + pr->spawn_error;
      reason_kind = "gave_up";
      say("  agent gave up (exit " + std::to_string(pr->exit_code) + ")");
      break;
    }
    if (af.files_touched.empty()) {
      rec.outcome = "no_change";
      rec.reason = "The agent exited 0 but changed no file.";
      history.push_back(rec);
      out.reason = "the agent changed nothing";
      say("  no change");
      continue;
    }
    std::string last_error;
    Result<bool> passed = false;
    if (f.phase == "collection") {
      // A file that failed to import is fixed when it imports; its tests that then fail were
      // hidden behind it and are failures of a next round, not a reason to take this back.
      auto batch = run_tests(*run_, bounded_suite(f.suite), wt_, {f.test_id}, "rerun");
      if (!batch) return batch.status();
      passed = batch->passed.count(f.test_id) > 0;
      if (auto it = batch->failures.find(f.test_id); it != batch->failures.end())
        last_error = it->second.failure.error_type + ": " + first_line(it->second.failure.message);
      else if (!*passed)
        last_error = batch->note;
      if (*passed)
        for (auto& d2 : batch->revealed) reveal(std::move(d2));
      if (*passed && !batch->revealed.empty()) revealed_by_ = "recheck";
    } else {
      passed = run_single_test(*run_, bounded_suite(f.suite), wt_, f.test_id, "rerun", &last_error);
    }
    if (!passed) return passed.status();
    events::TestRerun tr;
    tr.test_id = f.test_id;
    tr.attempt = attempt;
    tr.passed = *passed;
    tr.detail = last_error;
    if (auto r = run_->publish(tr, af_seq); !r) return r.status();
    if (*passed) {
      auto patch = git::diff_trees(wt_, before->tree, after->tree, true);
      if (!patch) return patch.status();
      kept_.push_back({static_cast<std::size_t>(&out - res_.fixes.data()), f.test_id, *patch});
      out.outcome = "fixed";
      out.files = files;
      auto stat = git::diffstat(wt_, before->tree, after->tree);
      out.approach = !af.summary.empty() ? af.summary : stat ? *stat : "";
      out.reason.clear();
      say("  fixed: " + out.approach);
      return Status::ok();
    }
    if (auto st = revert_attempt(*before, f.test_id, attempt, "test_failed", files); !st) return st;
    rec.outcome = "test_failed";
    rec.reason = "The test still fails after this change: " + last_error;
    out.last_error = last_error;
    out.reason = "still failing after " + std::to_string(attempt) + " attempt(s)";
    say("  test still fails: " + one_line(last_error, 100));
    history.push_back(rec);
    if (over_budget()) continue;  // reported at the top of the loop
  }
  if (out.outcome != "fixed") {
    out.outcome = "unfixable";
    if (out.last_error.empty()) out.last_error = f.error_type + ": " + first_line(f.message);
    if (out.reason.empty()) out.reason = "no attempt left";
    if (reason_kind == "attempts" && out.attempts >= static_cast<std::uint32_t>(cfg_.max_attempts))
      out.reason = "used all " + std::to_string(cfg_.max_attempts) + " attempts; " + out.reason;
    out.suggestion = autofix::suggestion_for(d.category, reason_kind, f.error_type);
    out.reason_kind = reason_kind;
  }
  return Status::ok();
}

Result<std::multiset<std::string>> Autofix::run_tool(const std::string& purpose, const std::vector<std::string>& argv) {
  std::multiset<std::string> findings;
  if (argv.empty()) return findings;
  // Its config may be the agent's code: it runs in the sandbox.
  auto pr = record_command(purpose, purpose, sandbox_.on ? sandbox_argv(sandbox_.layout, argv) : argv, wt_,
                           std::max(std::chrono::milliseconds(1000), remaining()));
  if (!pr) return pr.status();
  if (!pr->spawn_error.empty())
    return make_error(Errc::invalid_argument, purpose + " command '" + argv[0] + "' could not run: " +
                                                  pr->spawn_error + "; fix `" + purpose + "` in fixhost.toml");
  if (pr->exit_code == 0) return findings;
  // A finding is a line of output with its line and column numbers taken out, so a finding
  // that only moved (lines added above it) is the same finding before and after.
  std::istringstream in(pr->output.data);
  std::string line;
  const std::string prefix = wt_.string() + "/";
  while (std::getline(in, line)) {
    for (std::size_t p; (p = line.find(prefix)) != std::string::npos;) line.erase(p, prefix.size());
    std::string norm;
    for (std::size_t i = 0; i < line.size(); ++i) {
      if ((line[i] == ':' || line[i] == '(' || line[i] == ',') && i + 1 < line.size() &&
          std::isdigit(static_cast<unsigned char>(line[i + 1]))) {
        norm += line[i];
        norm += 'N';
        ++i;
        while (i + 1 < line.size() && std::isdigit(static_cast<unsigned char>(line[i + 1]))) ++i;
        continue;
      }
      norm += line[i];
    }
    while (!norm.empty() && std::isspace(static_cast<unsigned char>(norm.back()))) norm.pop_back();
    if (!norm.empty() && norm.find(':') != std::string::npos) findings.insert(norm);
  }
  if (findings.empty()) findings.insert(purpose + " exited " + std::to_string(pr->exit_code));
  return findings;
}

Result<Autofix::Checks> Autofix::run_checks(bool with_suites) {
  Checks c;
  if (with_suites) {
    auto sweep = sweep_suites(*run_, bounded(), wt_, "verify", opts_.progress);
    if (!sweep) return sweep.status();
    for (const auto& f : sweep->failures) {
      c.failing.insert(f.failure.test_id);
      c.suite_of[f.failure.test_id] = f.failure.suite;
      c.failures.emplace(f.failure.test_id, f);
    }
    c.tests = sweep->tests;
  }
  if (over_budget()) c.complete = false;
  auto lint = run_tool("lint", cfg_.lint);
  if (!lint) return lint.status();
  c.lint = *lint;
  auto tc = run_tool("typecheck", cfg_.typecheck);
  if (!tc) return tc.status();
  c.typecheck = *tc;
  return c;
}

std::vector<std::pair<std::string, std::string>> Autofix::broken(const Checks& now) {
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> fixed;
  for (const auto& k : kept_) fixed.insert(k.test_id);
  for (const auto& fo : res_.fixes)
    if (fo.outcome == "cured") fixed.insert(fo.test_id);
  for (const auto& t : now.failing)
    if ((!start_.failing.count(t) && !was_hidden(t)) || fixed.count(t)) out.emplace_back(t, "suite");
  auto introduced = [&](const std::multiset<std::string>& before, const std::multiset<std::string>& after,
                        const std::string& check) {
    std::vector<std::string> diff;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(diff));
    for (auto& d : diff) out.emplace_back(d, check);
  };
  introduced(start_.lint, now.lint, "lint");
  introduced(start_.typecheck, now.typecheck, "typecheck");
  if (now.tests < start_.tests)
    out.emplace_back("tests collected dropped from " + std::to_string(start_.tests) + " to " + std::to_string(now.tests),
                     "collected");
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> Autofix::recheck(
    const std::vector<std::pair<std::string, std::string>>& bad, const Checks& found) {
  std::vector<std::pair<std::string, std::string>> still;
  std::optional<Checks> tools, full;
  for (const auto& item : bad) {
    const auto& [what, check] = item;
    if (check == "suite") {
      auto it = found.suite_of.find(what);
      const SuiteConfig* suite = it == found.suite_of.end() ? nullptr : suite_named(cfg_, it->second);
      if (!suite) {
        still.push_back(item);
        continue;
      }
      auto passed = run_single_test(*run_, bounded_suite(suite->name), wt_, what, "verify");
      if (!passed) return passed.status();
      if (!*passed) still.push_back(item);
    } else if (check == "collected") {
      if (!full) {
        auto c = run_checks();
        if (!c) return c.status();
        full = *c;
      }
      if (full->tests < start_.tests) still.push_back(item);
    } else {
      if (!tools) {
        auto c = run_checks(false);
        if (!c) return c.status();
        tools = *c;
      }
      const auto& now = check == "lint" ? tools->lint : tools->typecheck;
      const auto& before = check == "lint" ? start_.lint : start_.typecheck;
      if (now.count(what) > before.count(what)) still.push_back(item);
    }
  }
  return still;
}

Status Autofix::verify() {
  say("verify: all suites" + std::string(cfg_.lint.empty() ? "" : ", lint") +
      (cfg_.typecheck.empty() ? "" : ", typecheck"));
  // Interrupted checks prove nothing (their suites were killed): stop, keep the fixes as they
  // are, commit nothing.
  auto interrupted = [&] {
    if (!interrupt_requested()) return false;
    stop_ = true;
    stop_reason_ = "interrupted";
    commit_note_ = "the run was interrupted during verification";
    return true;
  };
  for (std::size_t round = 0; round <= res_.fixes.size(); ++round) {
    auto now = run_checks();
    if (!now) return now.status();
    if (interrupted()) return Status::ok();
    if (!now->complete || over_budget()) {
      auto total = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.run_budget).count();
      commit_note_ = "the time budget ran out during verification";
      return budget_exceeded("run_time", total, total, "", 0);
    }
    // Failures of tests that could not run at the start are new work for a next round.
    for (const auto& [id, d] : now->failures)
      if (!start_.failing.count(id) && was_hidden(id) && !known_.count(id)) {
        reveal(d);
        revealed_by_ = "verify";
      }
    auto bad = broken(*now);
    if (bad.empty()) return Status::ok();
    std::string what;
    for (std::size_t i = 0; i < bad.size() && i < 3; ++i) what += (i ? ", " : "") + bad[i].first;
    say("verify found " + std::to_string(bad.size()) + " problem(s): " + one_line(what, 160));
    if (kept_.empty()) {
      commit_note_ = "verification failed without any kept fix: " + what;
      return Status::ok();
    }
    // Take fixes back, newest first, until the checks pass: the last one taken is the culprit.
    std::vector<std::size_t> taken;
    std::optional<std::size_t> culprit;
    for (std::size_t i = kept_.size(); i-- > 0;) {
      say("  taking back the fix for " + kept_[i].test_id);
      if (auto st = git::apply_patch(wt_, kept_[i].patch, true); !st) return st;
      taken.push_back(i);
      // The culprit is the fix whose removal makes every problem found go away.
      auto still = recheck(bad, *now);
      if (!still) return still.status();
      if (interrupted()) {
        for (auto it = taken.rbegin(); it != taken.rend(); ++it) (void)git::apply_patch(wt_, kept_[*it].patch, false);
        return Status::ok();
      }
      if (still->empty()) {
        culprit = i;
        break;
      }
    }
    if (!culprit) {
      for (auto it = taken.rbegin(); it != taken.rend(); ++it) (void)git::apply_patch(wt_, kept_[*it].patch, false);
      commit_note_ = "verification failed even with every fix taken back (flaky or environment): " + what;
      return Status::ok();
    }
    // Put back the newer fixes that were innocent.
    std::vector<std::size_t> dropped{*culprit};
    for (auto it = taken.rbegin(); it != taken.rend(); ++it) {
      if (*it == *culprit) continue;
      if (auto st = git::apply_patch(wt_, kept_[*it].patch, false); !st) dropped.push_back(*it);
    }
    const KeptFix bad_fix = kept_[*culprit];
    auto& fo = res_.fixes[bad_fix.index];
    for (const auto& [item, check] : bad) {
      events::RegressionDetected rd;
      rd.broken = item;
      rd.caused_by = bad_fix.test_id;
      rd.check = check == "collected" ? "suite" : check;
      rd.detail = "fails after the fix for " + bad_fix.test_id + " and passes without it";
      if (auto r = run_->publish(rd); !r) return r.status();
      regressions_.push_back("`" + item + "` (" + check + ") broken by the fix for `" + bad_fix.test_id + "`");
      if (check == "collected") {
        events::PolicyViolation pv;
        pv.test_id = bad_fix.test_id;
        pv.rule = "tests_collected_dropped";
        pv.detail = item;
        if (auto r = run_->publish(pv); !r) return r.status();
        violations_.push_back("`" + bad_fix.test_id + "`: tests_collected_dropped: " + item);
      }
    }
    events::Reverted rv;
    rv.test_id = bad_fix.test_id;
    rv.attempt = fo.attempts;
    rv.reason = "regression";
    rv.files = fo.files;
    if (auto r = run_->publish(rv); !r) return r.status();
    fo.outcome = "unfixable";
    fo.reason_kind = "regression";
    fo.reason = "its fix broke " + bad.front().first + (bad.size() > 1 ? " and more" : "") + "; reverted";
    fo.suggestion = autofix::suggestion_for(fo.category, "regression", "");
    --res_.fixed;
    for (std::size_t idx : dropped) {
      if (idx == *culprit) continue;
      auto& other = res_.fixes[kept_[idx].index];
      other.outcome = "unfixable";
      other.reason_kind = "regression";
      other.reason = "its fix no longer applies once the fix for " + bad_fix.test_id + " was reverted";
      --res_.fixed;
    }
    for (std::size_t idx : dropped)
      for (auto& other : res_.fixes)
        if (other.outcome == "cured" && other.resolved_by == kept_[idx].test_id) {
          other.outcome = "unfixable";
          other.reason_kind = "regression";
          other.reason = "it passed once the fix for " + other.resolved_by + " was made, and that fix was reverted";
          other.suggestion = autofix::suggestion_for(other.category, "regression", "");
          --res_.cured;
        }
    std::sort(dropped.rbegin(), dropped.rend());
    for (std::size_t idx : dropped) kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(idx));
  }
  return Status::ok();
}

Status Autofix::commit() {
  // The commit is built from what was judged (the base and the kept attempts' patches), never
  // from what the worktree holds now: a process the agent left behind may have written since.
  // The worktree must be what was judged: the state before the first attempt (which may hold
  // files the suites wrote) with the kept patches on it.
  std::vector<std::string> patches;
  for (const auto& k : kept_) patches.push_back(k.patch);
  auto tree = git::tree_from_patches(wt_, base_, patches);
  if (!tree) return tree.status();
  auto judged = git::tree_from_patches(wt_, first_tree_, patches);
  if (!judged) return judged.status();
  auto live = git::snapshot_tree(wt_, excludes_);
  if (!live) return live.status();
  if (*live != *judged) {
    auto changed = git::changed_files(wt_, *judged, *live);
    std::string list;
    if (changed)
      for (std::size_t i = 0; i < changed->size() && i < 10; ++i) list += (i ? ", " : "") + (*changed)[i];
    events::PolicyViolation pv;
    pv.rule = "unjudged_change";
    pv.detail = "the worktree changed after its last judged state (a process left behind by an agent?): " + list;
    if (auto r = run_->publish(pv); !r) return r.status();
    violations_.push_back("unjudged_change: " + pv.detail);
    events::HumanAlert alert;
    alert.reason = "other";
    alert.summary = "files in the run's worktree changed after every attempt had been judged; nothing was committed";
    alert.detail = "run " + res_.run_id + ": " + list + "; see `git -C " + wt_.string() + " status`";
    if (auto r = run_->publish(alert); !r) return r.status();
    say("stopped: " + pv.detail);
    stop_ = true;
    stop_reason_ = "the worktree changed after it was judged (unjudged_change); nothing was committed";
    commit_note_ = stop_reason_;
    return Status::ok();
  }
  std::ostringstream msg;
  msg << "fixhost: fix " << kept_.size() << " failing test" << (kept_.size() == 1 ? "" : "s") << " (run "
      << res_.run_id << ")\n\n";
  std::vector<std::string> files;
  for (const auto& k : kept_) {
    const auto& f = res_.fixes[k.index];
    msg << "- " << f.test_id << "\n  category: " << f.category << "; attempts: " << f.attempts
        << "\n  files: ";
    for (std::size_t i = 0; i < f.files.size(); ++i) msg << (i ? ", " : "") << f.files[i];
    msg << "\n  approach: " << one_line(f.approach, 200) << "\n";
    files.insert(files.end(), f.files.begin(), f.files.end());
  }
  msg << "\nMade by fixhost autofix; verified: all suites" << (cfg_.lint.empty() ? "" : ", lint")
      << (cfg_.typecheck.empty() ? "" : ", typecheck") << ".\n";
  auto args = git::identity_args(wt_);
  args.insert(args.end(), {"commit-tree", *tree, "-p", base_, "-m", msg.str()});
  auto sha = git::run(wt_, args);
  if (!sha) return sha.status();
  if (auto r = git::run(wt_, {"update-ref", "refs/heads/" + res_.branch, *sha, base_}); !r) return r.status();
  if (auto r = git::run(wt_, {"reset", "-q"}); !r) return r.status();
  res_.commit = *sha;
  events::Committed c;
  c.branch = res_.branch;
  c.commit = *sha;
  c.message = msg.str();
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  c.files = files;
  auto r = run_->publish(c);
  say("committed " + sha->substr(0, 12) + " on " + res_.branch);
  return r.is_ok() ? Status::ok() : r.status();
}

Status Autofix::publish_resolved(const FixOutcome& fo, std::uint64_t cause) {
  events::FailureResolved fr;
  fr.test_id = fo.test_id;
  fr.outcome = fo.outcome == "not_attempted" ? "unfixable" : fo.outcome;
  fr.attempts = fo.attempts;
  fr.reason = fo.reason;
  fr.last_error = fo.last_error;
  fr.suggestion = fo.suggestion;
  fr.approach = fo.approach;
  fr.files = fo.files;
  fr.round = fo.round;
  fr.resolved_by = fo.resolved_by;
  fr.reason_kind = fo.outcome == "not_attempted" ? "not_attempted" : fo.outcome == "unverified" ? "unverified" : fo.reason_kind;
  auto r = cause ? run_->publish(fr, cause) : run_->publish(fr);
  return r.is_ok() ? Status::ok() : r.status();
}

void Autofix::reveal(DetectedFailure d) {
  const std::string id = d.failure.test_id;
  if (!known_.insert(id).second) return;
  if (d.failure.phase == "collection") uncollected_.insert(id);
  revealed_.push_back(std::move(d));
}

bool Autofix::was_hidden(const std::string& test_id) const {
  return known_.count(test_id) > 0 || uncollected_.count(file_of(test_id)) > 0;
}

Status Autofix::start_round(std::uint32_t round, const std::string& found_by, const std::vector<DetectedFailure>& queue) {
  RoundSummary rs;
  rs.round = round;
  rs.found_by = found_by;
  for (const auto& d : queue) rs.test_ids.push_back(d.failure.test_id);
  events::RoundStarted e;
  e.round = round;
  e.found_by = found_by;
  e.test_ids = rs.test_ids;
  res_.rounds.push_back(rs);
  if (round > 1)
    say("round " + std::to_string(round) + ": " + std::to_string(queue.size()) +
        " failure(s) that could not run before (found by " + found_by + ")");
  auto r = run_->publish(e);
  return r.is_ok() ? Status::ok() : r.status();
}

Status Autofix::run_round(std::vector<DetectedFailure>& queue, std::size_t first) {
  res_.fixes.resize(first + queue.size());
  for (std::size_t i = 0; i < queue.size(); ++i) {
    auto& d = queue[i];
    auto& fo = res_.fixes[first + i];
    if (fo.outcome == "cured") continue;  // recorded when it was cured
    fo.test_id = d.failure.test_id;
    fo.file = d.failure.file;
    fo.line = d.failure.line;
    fo.category = d.category;
    fo.round = round_;
    fo.last_error = d.failure.error_type + ": " + first_line(d.failure.message);
    if (d.flaky) {
      fo.outcome = "flaky";
      fo.reason = "it passed when re-run: flaky, not handed to the agent";
      fo.suggestion = autofix::suggestion_for("flaky", "", "");
    } else if (stop_) {
      fo.outcome = "not_attempted";
      fo.reason = stop_reason_;
      fo.suggestion = autofix::suggestion_for(d.category, "budget", "");
      ++res_.total;
    } else {
      ++res_.total;
      if (auto st = fix_one(d, fo); !st) return st;
      if (fo.outcome == "fixed" && !stop_)
        if (auto st = recheck_waiting(queue, i, first, fo.test_id); !st) return st;
    }
    if (auto st = publish_resolved(fo, d.seq); !st) return st;
  }
  return Status::ok();
}

Status Autofix::recheck_waiting(std::vector<DetectedFailure>& queue, std::size_t after, std::size_t first,
                                const std::string& by) {
  std::map<std::string, std::vector<std::size_t>> by_suite;  // suite -> indexes into queue
  for (std::size_t j = after + 1; j < queue.size(); ++j)
    if (!queue[j].flaky && res_.fixes[first + j].outcome.empty()) by_suite[queue[j].failure.suite].push_back(j);
  for (const auto& [suite, idx] : by_suite) {
    std::vector<std::string> ids;
    for (auto j : idx) ids.push_back(queue[j].failure.test_id);
    say("  re-checking the " + std::to_string(ids.size()) + " failure(s) still waiting in '" + suite + "'");
    auto batch = run_tests(*run_, bounded_suite(suite), wt_, ids, "recheck");
    if (!batch) return batch.status();
    std::uint32_t cured = 0;
    for (auto j : idx) {
      auto& d = queue[j];
      if (!batch->passed.count(d.failure.test_id)) continue;
      auto& fo = res_.fixes[first + j];
      ++res_.total;
      ++res_.cured;
      ++cured;
      fo.test_id = d.failure.test_id;
      fo.file = d.failure.file;
      fo.line = d.failure.line;
      fo.category = d.category;
      fo.round = round_;
      fo.outcome = "cured";
      fo.resolved_by = by;
      fo.reason = "it passes since the fix for " + by + "; not handed to the agent";
      if (auto st = publish_resolved(fo, d.seq); !st) return st;
    }
    if (cured > 0) say("  " + std::to_string(cured) + " of them pass now: cured by the fix for " + by);
    if (!batch->revealed.empty()) {
      for (auto& d : batch->revealed) reveal(std::move(d));
      if (revealed_by_.empty()) revealed_by_ = "recheck";
    }
  }
  return Status::ok();
}

Result<AutofixResult> Autofix::run() {
  repo_ = cfg_.repo;
  store_ = opts_.store_dir;
  agent_ = !opts_.agent.empty() ? opts_.agent : cfg_.agent;
  if (!git::is_repository(repo_)) {
    res_.error = "'" + repo_.string() + "' is not a git repository: autofix works in a git worktree so your "
                 "checkout is never touched; run `git init && git add -A && git commit` there first";
    res_.exit_code = k_exit_cannot_run;
    return res_;
  }
  auto head = git::head(repo_);
  if (!head) {
    res_.error = "'" + repo_.string() + "' has no commit yet: autofix branches from HEAD; commit first";
    res_.exit_code = k_exit_cannot_run;
    return res_;
  }
  base_ = *head;
  auto common = git::common_dir(repo_);
  if (!common) {
    res_.error = "cannot find the .git directory of '" + repo_.string() + "': " + common.status().message();
    res_.exit_code = k_exit_cannot_run;
    return res_;
  }
  common_ = *common;
  if (agent_.empty()) {
    res_.error = "no agent command: set `agent = \"...\"` in fixhost.toml or pass --agent 'CMD' (see docs/AGENTS.md "
                 "and examples/agents/)";
    res_.exit_code = k_exit_cannot_run;
    return res_;
  }
  auto br = git::current_branch(repo_);
  user_branch_ = br ? *br : "";

  RunOptions ro;
  ro.store_dir = store_;
  ro.extra_plugin_dirs = opts_.extra_plugin_dirs;
  ro.mode = "autofix";
  ro.argv = opts_.argv;
  ro.run_id = new_run_id();
  ro.branch = user_branch_;
  ro.head = base_;
  wt_ = worktree_path(store_, ro.run_id);
  ro.worktree = wt_.string();
  auto run = RunContext::start(cfg_, ro);
  if (!run) return run.status();
  run_ = std::move(*run);
  res_.run_id = run_->id();
  res_.branch = autofix_branch(res_.run_id);
  res_.worktree = wt_.string();
  attempts_dir_ = store_ / "attempts" / res_.run_id;
  deadline_ = Clock::now() + cfg_.run_budget;

  auto fail = [&](const std::string& why) -> Result<AutofixResult> {
    res_.error = why;
    res_.exit_code = k_exit_cannot_run;
    (void)run_->finish("error", k_exit_cannot_run, why);
    return res_;
  };
  bool policy_loaded = false;
  for (const auto& p : run_->plugins().loaded)
    if (p->info.name == "policy") policy_loaded = true;
  if (!policy_loaded)
    return fail("the policy plugin is not loaded (see `hostctl plugins`): autofix will not run an agent without its "
                "safety rails; rebuild fixhost or restore policy.so in the plugin directory");

  if (auto st = prepare_worktree(); !st) return fail("cannot create the run's worktree: " + st.to_string());
  // Refused before any agent ran: nothing of the run is worth keeping.
  auto refuse = [&](const std::string& why) {
    clean_up_worktree();
    return fail(why);
  };
  auto sandbox = run_sandbox(cfg_, store_, common_, wt_);
  if (!sandbox) return refuse(sandbox.status().to_string());
  sandbox_ = std::move(*sandbox);
  if (!sandbox_.warning.empty()) say(sandbox_.warning);
  if (auto st = link_node_modules(); !st) return refuse(st.to_string());
  if (auto st = run_setup(); !st) return refuse(st.to_string());
  if (auto st = check_suites_run(); !st) return refuse(st.to_string());
  for (const auto& s : cfg_.suites)
    if (auto n = narrowing_note(s); !n.empty()) say("note: " + n);

  DetectOptions dopts;
  dopts.root = wt_;
  dopts.progress = opts_.progress;
  auto det = run_detect(*run_, bounded(), dopts);
  if (!det) return det.status();
  if (!det->error.empty()) return refuse(det->error);
  if (!det->wide_protections.empty()) {
    std::string why = "a built-in protection covers most of this repository, so every fix would be refused:";
    for (const auto& w : det->wide_protections)
      why += "\n  '" + w.protection + "' (the word '" + w.matched + "') covers " + std::to_string(w.files_covered) +
             " of " + std::to_string(w.files_total) + " source files, e.g. " + (w.examples.empty() ? "" : w.examples[0]) +
             "\n  write in fixhost.toml:\n    " + [&] {
               std::string t = w.suggestion;
               for (std::size_t p = 0; (p = t.find('\n', p)) != std::string::npos; p += 5) t.replace(p, 1, "\n    ");
               return t;
             }();
    return refuse(why);
  }
  failures_ = std::move(det->failures);
  if (interrupt_requested()) {
    stop_ = true;
    stop_reason_ = "interrupted";
  }
  start_.tests = det->tests;
  for (const auto& f : failures_) start_.failing.insert(f.failure.test_id);
  if (!cfg_.lint.empty() || !cfg_.typecheck.empty()) {
    say("baseline: lint and typecheck before any change");
    auto base = run_checks(false);
    if (!base) return fail(base.status().to_string());
    start_.lint = base->lint;
    start_.typecheck = base->typecheck;
  }

  for (const auto& f : failures_) {
    known_.insert(f.failure.test_id);
    if (f.failure.phase == "collection") uncollected_.insert(f.failure.test_id);
  }
  // Rounds: fix what is known, verify, and fix in a next round what the fixes let appear
  // (tests behind a file that failed to import), within max_rounds and the time budget.
  std::vector<DetectedFailure> queue = failures_;
  std::string found_by = "detect";
  for (round_ = 1;; ++round_) {
    const std::size_t first = res_.fixes.size();
    if (auto st = start_round(round_, found_by, queue); !st) return st;
    if (auto st = run_round(queue, first); !st) return st;
    if (stop_) break;
    if (!kept_.empty()) {
      if (auto st = verify(); !st) return st;
      if (stop_ || !commit_note_.empty()) break;
    }
    if (revealed_.empty()) break;
    queue = std::move(revealed_);
    revealed_.clear();
    found_by = revealed_by_.empty() ? "verify" : revealed_by_;
    revealed_by_.clear();
    assign_fix_order(queue);
    if (static_cast<int>(round_) >= cfg_.max_rounds || over_budget() || interrupt_requested()) {
      const std::string why = interrupt_requested() ? "interrupted"
                              : over_budget()       ? "the run's time budget ran out before round " + std::to_string(round_ + 1)
                                                    : "max_rounds = " + std::to_string(cfg_.max_rounds) + " was reached";
      say(std::to_string(queue.size()) + " failure(s) revealed by round " + std::to_string(round_) +
          " are not attempted: " + why);
      for (auto& d : queue) {
        FixOutcome fo;
        fo.test_id = d.failure.test_id;
        fo.file = d.failure.file;
        fo.line = d.failure.line;
        fo.category = d.category;
        fo.round = round_ + 1;
        fo.outcome = "not_attempted";
        fo.reason = "revealed in round " + std::to_string(round_) + " and not attempted: " + why;
        fo.last_error = d.failure.error_type + ": " + first_line(d.failure.message);
        fo.suggestion = autofix::suggestion_for(d.category, "budget", "");
        ++res_.total;
        res_.fixes.push_back(fo);
        if (auto st = publish_resolved(fo, d.seq); !st) return st;
      }
      break;
    }
  }

  if (!kept_.empty() && commit_note_.empty() && !stop_) {
    if (auto st = commit(); !st) return st;
  } else if (kept_.empty()) {
    commit_note_ = failures_.empty() ? "nothing to fix" : "no fix was kept";
  } else if (commit_note_.empty()) {
    commit_note_ = "the run stopped before verification: " + stop_reason_;
  }
  // What was not committed is not fixed: a fix reverted at verify, or one left uncommitted
  // because the run stopped, gets its final outcome recorded.
  res_.fixed = 0;
  for (auto& fo : res_.fixes) {
    if (fo.outcome == "fixed" && res_.commit.empty()) {
      fo.outcome = "unverified";
      fo.reason = "fixed, but not committed: " + commit_note_;
      if (auto st = publish_resolved(fo); !st) return st;
    } else if (fo.outcome == "unfixable" && fo.reason.find("reverted") != std::string::npos) {
      if (auto st = publish_resolved(fo); !st) return st;
    }
    if (fo.outcome == "fixed") ++res_.fixed;
  }

  autofix::ReportInput ri;
  ri.result = &res_;
  ri.repo = repo_.string();
  ri.base_commit = base_;
  ri.violations = violations_;
  ri.regressions = regressions_;
  ri.verify_note = commit_note_;
  res_.report_markdown = autofix::report_markdown(ri);
  events::ReportWritten rw;
  rw.kind = "autofix";
  rw.path = opts_.report_path;
  rw.markdown.data = res_.report_markdown;
  rw.markdown.total_bytes = res_.report_markdown.size();
  if (!opts_.report_path.empty())
    if (auto st = write_file(opts_.report_path, res_.report_markdown); !st) spdlog::error("{}", st.to_string());
  if (auto r = run_->publish(rw); !r) return r.status();

  std::string outcome;
  if (stop_reason_ == "interrupted") {
    outcome = "aborted";
    res_.exit_code = 130;
  } else if (res_.budget_exceeded) {
    outcome = "budget_exceeded";
    res_.exit_code = k_exit_budget;
  } else if (res_.fixed + res_.cured == res_.total && commit_note_.find("verification failed") == std::string::npos &&
             !stop_) {
    outcome = "ok";
    res_.exit_code = k_exit_ok;
  } else {
    outcome = "unfixable";
    res_.exit_code = k_exit_failures;
  }
  std::uint32_t unverified = 0;
  for (const auto& fo : res_.fixes) unverified += fo.outcome == "unverified";
  std::string summary = std::to_string(res_.fixed + res_.cured) + "/" + std::to_string(res_.total) + " failures fixed";
  if (res_.cured > 0) summary += " (" + std::to_string(res_.cured) + " of them cured by another's fix, no agent call)";
  if (res_.rounds.size() > 1) summary += " in " + std::to_string(res_.rounds.size()) + " rounds";
  summary += "; " + std::to_string(res_.agent_calls) + " agent call" + (res_.agent_calls == 1 ? "" : "s");
  if (!res_.commit.empty()) summary += "; committed " + res_.commit.substr(0, 12);
  else summary += "; nothing committed (" + commit_note_ + ")";
  if (unverified > 0) summary += "; " + std::to_string(unverified) + " fix(es) made but not committed";
  if (auto st = run_->finish(outcome, res_.exit_code, summary); !st) return st;
  return res_;
}

}  // namespace

Result<AutofixResult> run_autofix(const Config& config, const AutofixOptions& options) {
  Autofix a(config, options);
  auto r = a.run();
  if (!r) a.abandon(r.status());
  return r;
}

}  // namespace fixhost::host
