// The fix loop for one failure (fix_loop.hpp). The rails are in run_attempt; this decides,
// per attempt, keep, revert and retry, or stop.
#include "fixhost/host/engine/fix_loop.hpp"

#include <algorithm>

#include "fixhost/events/json.hpp"
#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/engine/attempt.hpp"
#include "fixhost/host/engine/prompt.hpp"
#include "fixhost/host/engine/workspace.hpp"
#include "fixhost/host/world/git.hpp"

namespace fixhost::host::engine {
namespace fs = std::filesystem;

namespace {
std::string first_line(std::string_view s) { return std::string(s.substr(0, s.find('\n'))); }
}  // namespace

Result<std::optional<std::string>> fix_failure(Session& s, const FixRequest& req, FixOutcome& out) {
  DetectedFailure& d = *req.failure;
  const auto& f = d.failure;
  const auto& wt = s.ws.path();
  const SuiteConfig* suite = suite_named(s.cfg, f.suite);
  std::vector<AttemptRecord> history;
  const bool may_edit_tests =
      std::find(s.cfg.test_edit_categories.begin(), s.cfg.test_edit_categories.end(), d.category) !=
      s.cfg.test_edit_categories.end();
  std::string reason_kind = "attempts";
  out.reason = "";
  for (std::uint32_t attempt = 1; attempt <= req.max_attempts; ++attempt) {
    if (interrupt_requested()) {
      s.stop = true;
      s.stop_reason = "interrupted";
      out.reason = "the run was interrupted";
      reason_kind = "budget";
      break;
    }
    if (s.over_budget()) {
      auto used = std::chrono::duration_cast<std::chrono::milliseconds>(s.cfg.run_budget).count();
      if (auto st = s.exceed("run_time", used, used - s.remaining().count(), f.test_id, attempt); !st) return st;
      reason_kind = "budget";
      out.reason = "the run's time budget ran out";
      break;
    }
    auto capped = s.cost_cap_reached(f.test_id, attempt);
    if (!capped) return capped.status();
    if (*capped) {
      reason_kind = attempt == 1 ? "not_attempted" : "budget";
      out.reason = s.stop_reason;
      break;
    }
    s.say("[" + std::to_string(req.order) + "/" + std::to_string(req.of) + "] " + f.test_id + " (" + d.category +
          "): attempt " + std::to_string(attempt) + "/" + std::to_string(req.max_attempts));
    out.attempts = attempt;
    AgentCall call;
    call.test_id = f.test_id;
    call.category = d.category;
    call.attempt = attempt;
    call.cause = d.seq;
    call.dir = req.attempts_dir / (std::to_string(req.order) + "-" + std::to_string(attempt));
    call.frozen = req.frozen;
    std::error_code ec;
    fs::create_directories(call.dir, ec);
    PromptInput pin;
    pin.failure = &d;
    pin.worktree = wt;
    pin.suite_cwd = suite ? suite->cwd : ".";
    pin.history = history;
    pin.protected_globs = s.cfg.protected_paths;
    pin.may_edit_tests = may_edit_tests;
    pin.attempt = attempt;
    pin.max_attempts = req.max_attempts;
    pin.command = req.command;
    call.prompt = prompt_markdown(pin) + req.prompt_extra;
    if (auto st = write_file(call.dir / "failure.json", events::dump_json(failure_json(d), 2) + "\n"); !st) return st;
    if (auto st = write_file(call.dir / "history.json", events::dump_json(history_json(history), 2) + "\n"); !st)
      return st;
    call.env = req.env;
    call.env["FIXHOST_FAILURE_FILE"] = (call.dir / "failure.json").string();
    call.env["FIXHOST_HISTORY_FILE"] = (call.dir / "history.json").string();
    call.env["FIXHOST_TEST_ID"] = f.test_id;
    call.env["FIXHOST_CATEGORY"] = d.category;

    auto at = run_attempt(s, call);
    if (!at) return at.status();
    if (const auto& u = at->finished.usage; u.known && u.cost_usd >= 0) {
      out.cost_usd += u.cost_usd;
      ++out.attempts_costed;
    } else {
      ++out.attempts_cost_unknown;
    }
    const auto& pr = at->agent;
    const auto& files = at->files;
    AttemptRecord rec;
    rec.attempt = attempt;
    rec.diff = at->finished.diff.data;

    if (pr.interrupted) {
      if (auto st = revert_attempt(s, at->before, f.test_id, attempt, "interrupted", files); !st) return st;
      s.stop = true;
      s.stop_reason = "interrupted";
      out.reason = "the run was interrupted";
      reason_kind = "budget";
      break;
    }
    if (at->over_cost) {
      // run_attempt recorded BudgetExceeded attempt_cost and stopped the session.
      if (auto st = revert_attempt(s, at->before, f.test_id, attempt, "budget", files); !st) return st;
      out.reason = s.stop_reason;
      reason_kind = "budget";
      break;
    }
    if (pr.timed_out) {
      if (auto st = revert_attempt(s, at->before, f.test_id, attempt, "budget", files); !st) return st;
      const auto total = std::chrono::duration_cast<std::chrono::milliseconds>(s.cfg.run_budget).count();
      if (auto st = at->deadline_bound
                        ? s.exceed("run_time", total, total, f.test_id, attempt)
                        : s.exceed("attempt_time", at->timeout.count(), pr.duration_ms, f.test_id, attempt);
          !st)
        return st;
      out.reason = at->deadline_bound ? "the run's time budget ran out during attempt " + std::to_string(attempt)
                                      : "attempt " + std::to_string(attempt) + " ran past the agent time budget (" +
                                            std::to_string(at->timeout.count() / 1000) + " s) and was killed";
      reason_kind = "budget";
      break;
    }
    if (!at->rejections.empty()) {
      const auto& found = at->rejections;
      if (auto st = revert_attempt(s, at->before, f.test_id, attempt, "policy", files); !st) return st;
      rec.outcome = "policy_violation";
      rec.reason = "Rejected by fixhost's rails: " + found.front() +
                   (found.size() > 1 ? " (and " + std::to_string(found.size() - 1) + " more)" : "");
      s.say("  rejected: " + found.front());
      history.push_back(rec);
      out.reason = "every attempt was rejected or failed; last: " + rec.reason;
      reason_kind = "policy";
      if (at->wrote_outside) {
        if (auto st = alert_wrote_outside(s, "test " + f.test_id, attempt); !st) return st;
        break;
      }
      continue;
    }
    if (pr.exit_code != 0) {
      if (auto st = revert_attempt(s, at->before, f.test_id, attempt, "gave_up", files); !st) return st;
      out.reason = pr.spawn_error.empty() ? "the agent gave up (exit " + std::to_string(pr.exit_code) + ") on attempt " +
                                                std::to_string(attempt)
                                          : "the agent could not be started: " + pr.spawn_error;
      reason_kind = "gave_up";
      s.say("  agent gave up (exit " + std::to_string(pr.exit_code) + ")");
      break;
    }
    if (files.empty()) {
      rec.outcome = "no_change";
      rec.reason = "The agent exited 0 but changed no file.";
      history.push_back(rec);
      out.reason = "the agent changed nothing";
      s.say("  no change");
      continue;
    }
    std::string last_error;
    Result<bool> passed = false;
    if (req.verify) {
      passed = req.verify(last_error);
    } else if (f.phase == "collection") {
      // A file that failed to import is fixed when it imports; its tests that then fail were
      // hidden behind it and are failures of a next round, not a reason to take this back.
      auto batch = run_tests(s.run, s.bounded_suite(f.suite), wt, {f.test_id}, "rerun");
      if (!batch) return batch.status();
      passed = batch->passed.count(f.test_id) > 0;
      if (auto it = batch->failures.find(f.test_id); it != batch->failures.end())
        last_error = it->second.failure.error_type + ": " + first_line(it->second.failure.message);
      else if (!*passed)
        last_error = batch->note;
      if (*passed && req.on_revealed) req.on_revealed(std::move(batch->revealed));
    } else {
      passed = run_single_test(s.run, s.bounded_suite(f.suite), wt, f.test_id, "rerun", &last_error);
    }
    if (!passed) return passed.status();
    events::TestRerun tr;
    tr.test_id = f.test_id;
    tr.attempt = attempt;
    tr.passed = *passed;
    tr.detail = last_error;
    if (auto st = s.record(tr, at->finished_seq); !st) return st;
    if (*passed) {
      auto patch = git::diff_trees(wt, at->before.tree, at->after.tree, true);
      if (!patch) return patch.status();
      out.outcome = "fixed";
      out.files = files;
      auto stat = git::diffstat(wt, at->before.tree, at->after.tree);
      out.approach = !at->finished.summary.empty() ? at->finished.summary : stat ? *stat : "";
      out.reason.clear();
      s.say("  fixed: " + out.approach);
      return std::optional<std::string>(std::move(*patch));
    }
    if (auto st = revert_attempt(s, at->before, f.test_id, attempt, "test_failed", files); !st) return st;
    rec.outcome = "test_failed";
    rec.reason = (req.command.empty() ? "The test still fails after this change: "
                                      : "The command still fails after this change: ") + last_error;
    out.last_error = last_error;
    out.reason = "still failing after " + std::to_string(attempt) + " attempt(s)";
    s.say("  test still fails: " + one_line(last_error, 100));
    history.push_back(rec);
  }
  out.outcome = reason_kind == "not_attempted" ? "not_attempted" : "unfixable";
  if (out.last_error.empty()) out.last_error = f.error_type + ": " + first_line(f.message);
  if (out.reason.empty()) out.reason = "no attempt left";
  if (reason_kind == "attempts" && out.attempts >= req.max_attempts)
    out.reason = "used all " + std::to_string(req.max_attempts) + " attempts; " + out.reason;
  out.suggestion = suggestion_for(d.category, reason_kind, f.error_type);
  out.reason_kind = reason_kind;
  return std::optional<std::string>();
}

Status publish_resolved(Session& s, const FixOutcome& fo, std::uint64_t cause) {
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
  fr.reason_kind = fo.outcome == "not_attempted" ? "not_attempted"
                   : fo.outcome == "unverified"  ? "unverified"
                                                 : fo.reason_kind;
  return s.record(fr, cause);
}

}  // namespace fixhost::host::engine
