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

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
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
  Result<Snapshot> snapshot();
  Status restore(const Snapshot& before);
  std::vector<std::string> git_changes(const Snapshot& before, const Snapshot& after);
  std::vector<std::string> escapes(const std::vector<std::string>& touched);
  Status fix_one(DetectedFailure& d, FixOutcome& out);
  Status revert_attempt(const Snapshot& before, const std::string& test_id, std::uint32_t attempt,
                        const std::string& reason, const std::vector<std::string>& files);

  struct Checks {
    std::set<std::string> failing;
    std::map<std::string, std::string> suite_of;  // failing test -> its suite
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
  bool stop_ = false;
  std::string stop_reason_;
  std::string commit_note_;
  std::vector<std::string> violations_, regressions_;
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
  if (!fs::exists(store_ / ".gitignore", ec)) (void)write_file(store_ / ".gitignore", "*\n");
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

Result<Snapshot> Autofix::snapshot() {
  Snapshot s;
  s.meta = git_meta(common_, wt_);
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
  const auto now = git_meta(common_, wt_);
  for (const auto& [path, text] : before.meta)
    if (auto it = now.find(path); it == now.end() || it->second != text)
      if (auto st = write_file(path, text); !st) return st;
  for (const auto& [path, text] : now)
    if (!before.meta.count(path) && path.find("/hooks/") != std::string::npos) {
      std::error_code ec;
      fs::remove(path, ec);
    }
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

    events::AttemptStarted as;
    as.test_id = f.test_id;
    as.attempt = attempt;
    as.agent = agent_;
    as.category = d.category;
    as.prompt.data = prompt;
    as.prompt.total_bytes = prompt.size();
    if (auto r = run_->publish(as, d.seq); !r) return r.status();

    ProcessSpec spec;
    spec.argv = {"/bin/sh", "-c", agent_};
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

    auto after = snapshot();
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
    auto passed = run_single_test(*run_, bounded_suite(f.suite), wt_, f.test_id, "rerun", &last_error);
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
  }
  return Status::ok();
}

Result<std::multiset<std::string>> Autofix::run_tool(const std::string& purpose, const std::vector<std::string>& argv) {
  std::multiset<std::string> findings;
  if (argv.empty()) return findings;
  events::SuiteStarted s;
  s.suite = purpose;
  s.runner = "command";
  s.purpose = purpose;
  s.argv = argv;
  s.cwd = wt_.string();
  auto started = run_->publish(s);
  if (!started) return started.status();
  ProcessSpec spec;
  spec.argv = argv;
  spec.cwd = wt_.string();
  spec.timeout = std::max(std::chrono::milliseconds(1000), remaining());
  auto pr = run_process(spec);
  if (!pr) return pr.status();
  events::SuiteFinished f;
  f.suite = purpose;
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
  for (const auto& t : now.failing)
    if (!start_.failing.count(t) || fixed.count(t)) out.emplace_back(t, "suite");
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
    fo.reason = "its fix broke " + bad.front().first + (bad.size() > 1 ? " and more" : "") + "; reverted";
    fo.suggestion = autofix::suggestion_for(fo.category, "regression", "");
    --res_.fixed;
    for (std::size_t idx : dropped) {
      if (idx == *culprit) continue;
      auto& other = res_.fixes[kept_[idx].index];
      other.outcome = "unfixable";
      other.reason = "its fix no longer applies once the fix for " + bad_fix.test_id + " was reverted";
      --res_.fixed;
    }
    std::sort(dropped.rbegin(), dropped.rend());
    for (std::size_t idx : dropped) kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(idx));
  }
  return Status::ok();
}

Status Autofix::commit() {
  auto tree = git::snapshot_tree(wt_, excludes_);
  if (!tree) return tree.status();
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

  DetectOptions dopts;
  dopts.root = wt_;
  dopts.progress = opts_.progress;
  auto det = run_detect(*run_, bounded(), dopts);
  if (!det) return det.status();
  if (!det->error.empty()) return fail(det->error);
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

  res_.fixes.resize(failures_.size());
  for (std::size_t i = 0; i < failures_.size(); ++i) {
    auto& d = failures_[i];
    auto& fo = res_.fixes[i];
    fo.test_id = d.failure.test_id;
    fo.file = d.failure.file;
    fo.line = d.failure.line;
    fo.category = d.category;
    fo.last_error = d.failure.error_type + ": " + first_line(d.failure.message);
    if (d.flaky) {
      fo.outcome = "flaky";
      fo.reason = "it passed when re-run alone: flaky, not handed to the agent";
      fo.suggestion = autofix::suggestion_for("flaky", "", "");
    } else if (stop_) {
      fo.outcome = "not_attempted";
      fo.reason = stop_reason_;
      fo.suggestion = autofix::suggestion_for(d.category, "budget", "");
      ++res_.total;
    } else {
      ++res_.total;
      if (auto st = fix_one(d, fo); !st) return st;
      if (fo.outcome == "fixed") ++res_.fixed;
    }
    events::FailureResolved fr;
    fr.test_id = fo.test_id;
    fr.outcome = fo.outcome == "not_attempted" ? "unfixable" : fo.outcome;
    fr.attempts = fo.attempts;
    fr.reason = fo.reason;
    fr.last_error = fo.last_error;
    fr.suggestion = fo.suggestion;
    fr.approach = fo.approach;
    fr.files = fo.files;
    if (auto r = run_->publish(fr, d.seq); !r) return r.status();
  }

  if (!kept_.empty() && !stop_) {
    if (auto st = verify(); !st) return st;
    if (!kept_.empty() && commit_note_.empty() && !stop_)
      if (auto st = commit(); !st) return st;
  } else if (kept_.empty()) {
    commit_note_ = failures_.empty() ? "nothing to fix" : "no fix was kept";
  } else {
    commit_note_ = "the run stopped before verification: " + stop_reason_;
  }
  // A fix later reverted for a regression is no longer "fixed": record its final outcome.
  for (const auto& fo : res_.fixes)
    if (fo.outcome == "unfixable" && fo.reason.find("reverted") != std::string::npos) {
      events::FailureResolved fr;
      fr.test_id = fo.test_id;
      fr.outcome = "unfixable";
      fr.attempts = fo.attempts;
      fr.reason = fo.reason;
      fr.suggestion = fo.suggestion;
      fr.files = fo.files;
      if (auto r = run_->publish(fr); !r) return r.status();
    }
  if (res_.fixed > 0 && res_.commit.empty() && commit_note_.empty()) commit_note_ = stop_reason_;

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
  } else if (res_.fixed == res_.total && commit_note_.find("verification failed") == std::string::npos &&
             !stop_) {
    outcome = "ok";
    res_.exit_code = k_exit_ok;
  } else {
    outcome = "unfixable";
    res_.exit_code = k_exit_failures;
  }
  const std::string summary = std::to_string(res_.fixed) + "/" + std::to_string(res_.total) + " failures fixed" +
                              (res_.commit.empty() ? "" : ", committed " + res_.commit.substr(0, 12));
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
