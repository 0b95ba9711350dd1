// The autofix workflow, top to bottom: refuse what cannot run; make and prepare the worktree;
// DETECT; rounds of FIX (each failure through the engine's fix loop, cured ones rechecked);
// VERIFY; COMMIT; REPORT. The rails are the engine's (host/src/engine/); this file decides
// only what autofix does with their answers.
#include "fixhost/host/workflows/autofix.hpp"

#include <map>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/engine/attempt.hpp"
#include "fixhost/host/engine/prompt.hpp"
#include "fixhost/host/engine/session.hpp"
#include "fixhost/host/engine/verify.hpp"
#include "fixhost/host/engine/workspace.hpp"
#include "fixhost/host/run_context.hpp"
#include "fixhost/host/world/git.hpp"
#include "fixhost/host/world/sandbox.hpp"

namespace fixhost::host {
namespace fs = std::filesystem;
using engine::Clock;

fs::path worktree_path(const fs::path& store_dir, const std::string& run_id) {
  return store_dir / "worktrees" / run_id;
}
std::string autofix_branch(const std::string& run_id) { return "fixhost/autofix-" + run_id; }

namespace {

std::string first_line(std::string_view s) { return std::string(s.substr(0, s.find('\n'))); }

// The file a test id belongs to ("tests/t.py" of "tests/t.py::test_x").
std::string file_of(const std::string& test_id) { return test_id.substr(0, test_id.find("::")); }

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
  Result<AutofixResult> finish();
  Status commit();
  // One round: every failure of `queue` (already in the ledger from `first`) in fix order.
  Status run_round(std::vector<DetectedFailure>& queue, std::size_t first);
  // After a kept fix: the failures still waiting in the round are run again, all of a suite's
  // in one process; those that pass now are cured by `by` and never reach the agent.
  Status recheck_waiting(std::vector<DetectedFailure>& queue, std::size_t after, std::size_t first, const std::string& by);
  // A failure not seen before, found once other tests could run: kept for the next round.
  void reveal(DetectedFailure d);
  // Whether `test_id` could not run at the start (its file failed to import, or it was revealed).
  bool was_hidden(const std::string& test_id) const;
  Status start_round(std::uint32_t round, const std::string& found_by, const std::vector<DetectedFailure>& queue);

  const Config& cfg_;
  AutofixOptions opts_;
  std::unique_ptr<RunContext> run_;
  std::unique_ptr<engine::Workspace> ws_;
  std::unique_ptr<engine::Session> s_;
  std::unique_ptr<engine::Verifier> verifier_;
  engine::Ledger ledger_;
  AutofixResult res_;
  fs::path repo_, store_, attempts_dir_;
  std::string base_;
  std::vector<DetectedFailure> failures_;
  std::set<std::string> uncollected_;  // files whose tests could not run when first seen
  std::set<std::string> known_;        // every failure id seen in any round
  std::vector<DetectedFailure> revealed_;  // waiting for the next round
  std::string revealed_by_;                // recheck | verify
  std::uint32_t round_ = 1;
};

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
  return s_->record(e);
}

Status Autofix::run_round(std::vector<DetectedFailure>& queue, std::size_t first) {
  auto& fixes = ledger_.fixes;
  fixes.resize(first + queue.size());
  for (std::size_t i = 0; i < queue.size(); ++i) {
    auto& d = queue[i];
    auto& fo = fixes[first + i];
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
      fo.suggestion = engine::suggestion_for("flaky", "", "");
    } else if (s_->stop) {
      fo.outcome = "not_attempted";
      fo.reason = s_->stop_reason;
      fo.suggestion = engine::suggestion_for(d.category, "budget", "");
      ++ledger_.total;
    } else {
      ++ledger_.total;
      engine::FixRequest req;
      req.failure = &d;
      req.order = d.order;
      req.of = failures_.size();
      req.max_attempts = static_cast<std::uint32_t>(cfg_.max_attempts);
      req.attempts_dir = attempts_dir_;
      req.on_revealed = [this](std::vector<DetectedFailure>&& found) {
        if (!found.empty()) revealed_by_ = "recheck";
        for (auto& d2 : found) reveal(std::move(d2));
      };
      auto patch = engine::fix_failure(*s_, req, fo);
      if (!patch) return patch.status();
      if (*patch) {
        ledger_.kept.push_back({first + i, fo.test_id, std::move(**patch)});
        ++ledger_.fixed;
        if (!s_->stop)
          if (auto st = recheck_waiting(queue, i, first, fo.test_id); !st) return st;
      }
    }
    if (auto st = engine::publish_resolved(*s_, fo, d.seq); !st) return st;
  }
  return Status::ok();
}

Status Autofix::recheck_waiting(std::vector<DetectedFailure>& queue, std::size_t after, std::size_t first,
                                const std::string& by) {
  std::map<std::string, std::vector<std::size_t>> by_suite;  // suite -> indexes into queue
  for (std::size_t j = after + 1; j < queue.size(); ++j)
    if (!queue[j].flaky && ledger_.fixes[first + j].outcome.empty()) by_suite[queue[j].failure.suite].push_back(j);
  for (const auto& [suite, idx] : by_suite) {
    std::vector<std::string> ids;
    for (auto j : idx) ids.push_back(queue[j].failure.test_id);
    say("  re-checking the " + std::to_string(ids.size()) + " failure(s) still waiting in '" + suite + "'");
    auto batch = run_tests(*run_, s_->bounded_suite(suite), ws_->path(), ids, "recheck");
    if (!batch) return batch.status();
    std::uint32_t cured = 0;
    for (auto j : idx) {
      auto& d = queue[j];
      if (!batch->passed.count(d.failure.test_id)) continue;
      auto& fo = ledger_.fixes[first + j];
      ++ledger_.total;
      ++ledger_.cured;
      ++cured;
      fo.test_id = d.failure.test_id;
      fo.file = d.failure.file;
      fo.line = d.failure.line;
      fo.category = d.category;
      fo.round = round_;
      fo.outcome = "cured";
      fo.resolved_by = by;
      fo.reason = "it passes since the fix for " + by + "; not handed to the agent";
      if (auto st = engine::publish_resolved(*s_, fo, d.seq); !st) return st;
    }
    if (cured > 0) say("  " + std::to_string(cured) + " of them pass now: cured by the fix for " + by);
    if (!batch->revealed.empty()) {
      for (auto& d : batch->revealed) reveal(std::move(d));
      if (revealed_by_.empty()) revealed_by_ = "recheck";
    }
  }
  return Status::ok();
}

Status Autofix::commit() {
  std::ostringstream msg;
  const auto& kept = ledger_.kept;
  msg << "fixhost: fix " << kept.size() << " failing test" << (kept.size() == 1 ? "" : "s") << " (run "
      << res_.run_id << ")\n\n";
  std::vector<std::string> files, patches;
  for (const auto& k : kept) {
    const auto& f = ledger_.fixes[k.index];
    msg << "- " << f.test_id << "\n  category: " << f.category << "; attempts: " << f.attempts << "\n  files: ";
    for (std::size_t i = 0; i < f.files.size(); ++i) msg << (i ? ", " : "") << f.files[i];
    msg << "\n  approach: " << one_line(f.approach, 200) << "\n";
    files.insert(files.end(), f.files.begin(), f.files.end());
    patches.push_back(k.patch);
  }
  msg << "\nMade by fixhost autofix; verified: all suites" << (cfg_.lint.empty() ? "" : ", lint")
      << (cfg_.typecheck.empty() ? "" : ", typecheck") << ".\n";
  auto sha = engine::commit_judged(*s_, patches, msg.str(), files);
  if (!sha) return sha.status();
  res_.commit = *sha;
  return Status::ok();
}

Result<AutofixResult> Autofix::run() {
  repo_ = cfg_.repo;
  store_ = opts_.store_dir;
  const std::string agent = !opts_.agent.empty() ? opts_.agent : cfg_.agent;
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
  if (auto common = git::common_dir(repo_); !common) {
    res_.error = "cannot find the .git directory of '" + repo_.string() + "': " + common.status().message();
    res_.exit_code = k_exit_cannot_run;
    return res_;
  }
  if (agent.empty()) {
    res_.error = "no agent command: set `agent = \"...\"` in fixhost.toml or pass --agent 'CMD' (see docs/AGENTS.md "
                 "and examples/agents/)";
    res_.exit_code = k_exit_cannot_run;
    return res_;
  }
  auto br = git::current_branch(repo_);

  RunOptions ro;
  ro.store_dir = store_;
  ro.extra_plugin_dirs = opts_.extra_plugin_dirs;
  ro.mode = "autofix";
  ro.argv = opts_.argv;
  ro.run_id = new_run_id();
  ro.branch = br ? *br : "";
  ro.head = base_;
  const fs::path wt = worktree_path(store_, ro.run_id);
  ro.worktree = wt.string();
  auto run = RunContext::start(cfg_, ro);
  if (!run) return run.status();
  run_ = std::move(*run);
  res_.run_id = run_->id();
  res_.branch = autofix_branch(res_.run_id);
  res_.worktree = wt.string();
  attempts_dir_ = store_ / "attempts" / res_.run_id;

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

  // PREPARE: the worktree, its sandbox, what the suites need.
  engine::WorkspaceSpec spec;
  spec.repo = repo_;
  spec.path = wt;
  spec.branch = res_.branch;
  spec.base = base_;
  std::error_code ec;
  fs::create_directories(store_, ec);
  auto ws = engine::Workspace::create(*run_, cfg_, spec, opts_.progress);
  if (!ws) return fail("cannot create the run's worktree: " + ws.status().to_string());
  ws_ = std::move(*ws);
  s_ = std::make_unique<engine::Session>(cfg_, *run_, *ws_);
  s_->agent = agent;
  s_->progress = opts_.progress;
  s_->deadline = Clock::now() + cfg_.run_budget;
  verifier_ = std::make_unique<engine::Verifier>(*s_, ledger_);
  verifier_->hidden = [this](const std::string& id) { return was_hidden(id); };
  verifier_->revealed = [this](const DetectedFailure& d) {
    if (known_.count(d.failure.test_id)) return;
    reveal(d);
    revealed_by_ = "verify";
  };
  // Refused before any agent ran: nothing of the run is worth keeping.
  auto refuse = [&](const std::string& why) {
    ws_->remove(opts_.progress);
    return fail(why);
  };
  auto sandbox = run_sandbox(cfg_, store_, ws_->common(), wt);
  if (!sandbox) return refuse(sandbox.status().to_string());
  s_->sandbox = std::move(*sandbox);
  if (!s_->sandbox.warning.empty()) say(s_->sandbox.warning);
  // A setup, collect or first suite run cut short by the run's budget is the budget, not a bad
  // suite: BudgetExceeded (exit 3), not a refusal (exit 2).
  auto refuse_or_budget = [&](const std::string& why, const std::string& while_doing) -> Result<AutofixResult> {
    if (!s_->over_budget()) return refuse(why);
    const auto total = std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.run_budget).count();
    if (auto e = s_->exceed("run_time", total, total, "", 0); !e) return e;
    s_->commit_note = "the time budget ran out while " + while_doing;
    return finish();
  };
  if (auto st = engine::prepare_suites(*s_); !st)
    return refuse_or_budget(st.to_string(), "the worktree was prepared");

  // DETECT and DIAGNOSE (the parsers, the classifier and the orderer are plugins).
  DetectOptions dopts;
  dopts.root = wt;
  dopts.progress = opts_.progress;
  auto det = run_detect(*run_, s_->bounded(), dopts);
  if (!det) return det.status();
  if (!det->error.empty()) return refuse_or_budget(det->error, "the suites ran in the worktree");
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
    s_->stop = true;
    s_->stop_reason = "interrupted";
  }
  std::set<std::string> failing;
  for (const auto& f : failures_) failing.insert(f.failure.test_id);
  if (auto st = verifier_->baseline(failing, det->tests); !st) return fail(st.to_string());
  for (const auto& f : failures_) {
    known_.insert(f.failure.test_id);
    if (f.failure.phase == "collection") uncollected_.insert(f.failure.test_id);
  }

  // FIX and VERIFY, in rounds: fix what is known, verify, and fix in a next round what the
  // fixes let appear (tests behind a file that failed to import), within max_rounds and the
  // time budget.
  std::vector<DetectedFailure> queue = failures_;
  std::string found_by = "detect";
  for (round_ = 1;; ++round_) {
    const std::size_t first = ledger_.fixes.size();
    if (auto st = start_round(round_, found_by, queue); !st) return st;
    if (auto st = run_round(queue, first); !st) return st;
    if (s_->stop) break;
    if (!ledger_.kept.empty()) {
      if (auto st = verifier_->verify(); !st) return st;
      if (s_->stop || !s_->commit_note.empty()) break;
    }
    if (revealed_.empty()) break;
    queue = std::move(revealed_);
    revealed_.clear();
    found_by = revealed_by_.empty() ? "verify" : revealed_by_;
    revealed_by_.clear();
    assign_fix_order(queue);
    if (static_cast<int>(round_) >= cfg_.max_rounds || s_->over_budget() || interrupt_requested()) {
      const std::string why = interrupt_requested() ? "interrupted"
                              : s_->over_budget()
                                  ? "the run's time budget ran out before round " + std::to_string(round_ + 1)
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
        fo.suggestion = engine::suggestion_for(d.category, "budget", "");
        ++ledger_.total;
        ledger_.fixes.push_back(fo);
        if (auto st = engine::publish_resolved(*s_, fo, d.seq); !st) return st;
      }
      break;
    }
  }

  // COMMIT.
  auto& note = s_->commit_note;
  if (!ledger_.kept.empty() && note.empty() && !s_->stop) {
    if (auto st = commit(); !st) return st;
  } else if (ledger_.kept.empty()) {
    note = failures_.empty() ? "nothing to fix" : "no fix was kept";
  } else if (note.empty()) {
    note = "the run stopped before verification: " + s_->stop_reason;
  }
  return finish();
}

Result<AutofixResult> Autofix::finish() {
  const auto& note = s_->commit_note;
  // What was not committed is not fixed: a fix reverted at verify, or one left uncommitted
  // because the run stopped, gets its final outcome recorded.
  res_.fixes = ledger_.fixes;
  res_.cured = ledger_.cured;
  res_.total = ledger_.total;
  res_.agent_calls = s_->agent_calls;
  res_.budget_exceeded = s_->budget_exceeded;
  res_.cost_exceeded = s_->cost_exceeded;
  res_.stop_reason = s_->stop ? s_->stop_reason : "";
  res_.spend = run_->spend().totals();
  res_.fixed = 0;
  for (auto& fo : res_.fixes) {
    if (fo.outcome == "fixed" && res_.commit.empty()) {
      fo.outcome = "unverified";
      fo.reason = "fixed, but not committed: " + note;
      if (auto st = engine::publish_resolved(*s_, fo); !st) return st;
    } else if (fo.outcome == "unfixable" && fo.reason.find("reverted") != std::string::npos) {
      if (auto st = engine::publish_resolved(*s_, fo); !st) return st;
    }
    if (fo.outcome == "fixed") ++res_.fixed;
  }

  // REPORT.
  autofix::ReportInput ri;
  ri.result = &res_;
  ri.repo = repo_.string();
  ri.base_commit = base_;
  ri.violations = s_->violations;
  ri.regressions = s_->regressions;
  ri.verify_note = note;
  res_.report_markdown = autofix::report_markdown(ri);
  events::ReportWritten rw;
  rw.kind = "autofix";
  rw.path = opts_.report_path;
  rw.markdown.data = res_.report_markdown;
  rw.markdown.total_bytes = res_.report_markdown.size();
  if (!opts_.report_path.empty())
    if (auto st = engine::write_file(opts_.report_path, res_.report_markdown); !st) spdlog::error("{}", st.to_string());
  if (auto st = s_->record(rw); !st) return st;

  std::string outcome;
  if (s_->stop_reason == "interrupted") {
    outcome = "aborted";
    res_.exit_code = 130;
  } else if (res_.budget_exceeded) {
    outcome = "budget_exceeded";
    res_.exit_code = k_exit_budget;
  } else if (res_.fixed + res_.cured == res_.total && note.find("verification failed") == std::string::npos &&
             !s_->stop) {
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
  if (res_.agent_calls > 0) {
    summary += ", cost " + (res_.spend.attempts_costed ? format_usd(res_.spend.cost_usd) : std::string("unknown"));
    if (res_.spend.attempts_costed && res_.spend.attempts_cost_unknown)
      summary += " (+" + std::to_string(res_.spend.attempts_cost_unknown) + " attempt(s) of unknown cost)";
  }
  if (!res_.commit.empty()) summary += "; committed " + res_.commit.substr(0, 12);
  else summary += "; nothing committed (" + note + ")";
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
