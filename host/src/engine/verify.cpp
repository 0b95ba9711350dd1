// VERIFY and COMMIT (verify.hpp).
#include "fixhost/host/engine/verify.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>

#include "fixhost/host/cli_util.hpp"
#include "fixhost/host/engine/prompt.hpp"
#include "fixhost/host/engine/workspace.hpp"
#include "fixhost/host/world/git.hpp"
#include "fixhost/host/world/sandbox.hpp"

namespace fixhost::host::engine {

Status Verifier::baseline(const std::set<std::string>& failing, std::uint32_t tests) {
  start_.failing = failing;
  start_.tests = tests;
  if (s_.cfg.lint.empty() && s_.cfg.typecheck.empty()) return Status::ok();
  s_.say("baseline: lint and typecheck before any change");
  auto base = run_checks(false);
  if (!base) return base.status();
  start_.lint = base->lint;
  start_.typecheck = base->typecheck;
  return Status::ok();
}

Result<std::multiset<std::string>> Verifier::run_tool(const std::string& purpose, const std::vector<std::string>& argv) {
  std::multiset<std::string> findings;
  if (argv.empty()) return findings;
  const auto& wt = s_.ws.path();
  // Its config may be the agent's code: it runs in the sandbox.
  auto pr = record_command(s_.run, purpose, purpose, s_.sandbox.on ? sandbox_argv(s_.sandbox.layout, argv) : argv, wt,
                           std::max(std::chrono::milliseconds(1000), s_.remaining()));
  if (!pr) return pr.status();
  if (!pr->spawn_error.empty())
    return make_error(Errc::invalid_argument, purpose + " command '" + argv[0] + "' could not run: " +
                                                  pr->spawn_error + "; fix `" + purpose + "` in fixhost.toml");
  if (pr->exit_code == 0) return findings;
  // A finding is a line of output with its line and column numbers taken out, so a finding
  // that only moved (lines added above it) is the same finding before and after.
  std::istringstream in(pr->output.data);
  std::string line;
  const std::string prefix = wt.string() + "/";
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

Result<Checks> Verifier::run_checks(bool with_suites) {
  Checks c;
  if (with_suites) {
    auto sweep = sweep_suites(s_.run, s_.bounded(), s_.ws.path(), "verify", s_.progress);
    if (!sweep) return sweep.status();
    for (const auto& f : sweep->failures) {
      c.failing.insert(f.failure.test_id);
      c.suite_of[f.failure.test_id] = f.failure.suite;
      c.failures.emplace(f.failure.test_id, f);
    }
    c.tests = sweep->tests;
  }
  if (s_.over_budget()) c.complete = false;
  auto lint = run_tool("lint", s_.cfg.lint);
  if (!lint) return lint.status();
  c.lint = *lint;
  auto tc = run_tool("typecheck", s_.cfg.typecheck);
  if (!tc) return tc.status();
  c.typecheck = *tc;
  return c;
}

std::vector<std::pair<std::string, std::string>> Verifier::broken(const Checks& now) {
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> fixed;
  for (const auto& k : ledger_.kept) fixed.insert(k.test_id);
  for (const auto& fo : ledger_.fixes)
    if (fo.outcome == "cured") fixed.insert(fo.test_id);
  for (const auto& t : now.failing)
    if ((!start_.failing.count(t) && !is_hidden(t)) || fixed.count(t)) out.emplace_back(t, "suite");
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

Result<std::vector<std::pair<std::string, std::string>>> Verifier::recheck(
    const std::vector<std::pair<std::string, std::string>>& bad, const Checks& found) {
  std::vector<std::pair<std::string, std::string>> still;
  std::optional<Checks> tools, full;
  for (const auto& item : bad) {
    const auto& [what, check] = item;
    if (check == "suite") {
      auto it = found.suite_of.find(what);
      const SuiteConfig* suite = it == found.suite_of.end() ? nullptr : suite_named(s_.cfg, it->second);
      if (!suite) {
        still.push_back(item);
        continue;
      }
      auto passed = run_single_test(s_.run, s_.bounded_suite(suite->name), s_.ws.path(), what, "verify");
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

Status Verifier::verify() {
  s_.say("verify: all suites" + std::string(s_.cfg.lint.empty() ? "" : ", lint") +
         (s_.cfg.typecheck.empty() ? "" : ", typecheck"));
  const auto& wt = s_.ws.path();
  auto& kept = ledger_.kept;
  // Interrupted checks prove nothing (their suites were killed): stop, keep the fixes as they
  // are, commit nothing.
  auto interrupted = [&] {
    if (!interrupt_requested()) return false;
    s_.stop = true;
    s_.stop_reason = "interrupted";
    s_.commit_note = "the run was interrupted during verification";
    return true;
  };
  for (std::size_t round = 0; round <= ledger_.fixes.size(); ++round) {
    auto now = run_checks();
    if (!now) return now.status();
    if (interrupted()) return Status::ok();
    if (!now->complete || s_.over_budget()) {
      auto total = std::chrono::duration_cast<std::chrono::milliseconds>(s_.cfg.run_budget).count();
      s_.commit_note = "the time budget ran out during verification";
      return s_.exceed("run_time", total, total, "", 0);
    }
    // Failures of tests that could not run at the start are new work for a next round.
    if (revealed)
      for (const auto& [id, d] : now->failures)
        if (!start_.failing.count(id) && is_hidden(id)) revealed(d);
    auto bad = broken(*now);
    if (bad.empty()) return Status::ok();
    std::string what;
    for (std::size_t i = 0; i < bad.size() && i < 3; ++i) what += (i ? ", " : "") + bad[i].first;
    s_.say("verify found " + std::to_string(bad.size()) + " problem(s): " + one_line(what, 160));
    if (kept.empty()) {
      s_.commit_note = "verification failed without any kept fix: " + what;
      return Status::ok();
    }
    // Take fixes back, newest first, until the checks pass: the last one taken is the culprit.
    std::vector<std::size_t> taken;
    std::optional<std::size_t> culprit;
    for (std::size_t i = kept.size(); i-- > 0;) {
      s_.say("  taking back the fix for " + kept[i].test_id);
      if (auto st = git::apply_patch(wt, kept[i].patch, true); !st) return st;
      taken.push_back(i);
      // The culprit is the fix whose removal makes every problem found go away.
      auto still = recheck(bad, *now);
      if (!still) return still.status();
      if (interrupted()) {
        for (auto it = taken.rbegin(); it != taken.rend(); ++it) (void)git::apply_patch(wt, kept[*it].patch, false);
        return Status::ok();
      }
      if (still->empty()) {
        culprit = i;
        break;
      }
    }
    if (!culprit) {
      for (auto it = taken.rbegin(); it != taken.rend(); ++it) (void)git::apply_patch(wt, kept[*it].patch, false);
      s_.commit_note = "verification failed even with every fix taken back (flaky or environment): " + what;
      return Status::ok();
    }
    // Put back the newer fixes that were innocent.
    std::vector<std::size_t> dropped{*culprit};
    for (auto it = taken.rbegin(); it != taken.rend(); ++it) {
      if (*it == *culprit) continue;
      if (auto st = git::apply_patch(wt, kept[*it].patch, false); !st) dropped.push_back(*it);
    }
    const KeptFix bad_fix = kept[*culprit];
    auto& fo = ledger_.fixes[bad_fix.index];
    for (const auto& [item, check] : bad) {
      events::RegressionDetected rd;
      rd.broken = item;
      rd.caused_by = bad_fix.test_id;
      rd.check = check == "collected" ? "suite" : check;
      rd.detail = "fails after the fix for " + bad_fix.test_id + " and passes without it";
      if (auto st = s_.record(rd); !st) return st;
      s_.regressions.push_back("`" + item + "` (" + check + ") broken by the fix for `" + bad_fix.test_id + "`");
      if (check == "collected") {
        events::PolicyViolation pv;
        pv.test_id = bad_fix.test_id;
        pv.rule = "tests_collected_dropped";
        pv.detail = item;
        if (auto st = s_.record(pv); !st) return st;
        s_.violations.push_back("`" + bad_fix.test_id + "`: tests_collected_dropped: " + item);
      }
    }
    events::Reverted rv;
    rv.test_id = bad_fix.test_id;
    rv.attempt = fo.attempts;
    rv.reason = "regression";
    rv.files = fo.files;
    if (auto st = s_.record(rv); !st) return st;
    fo.outcome = "unfixable";
    fo.reason_kind = "regression";
    fo.reason = "its fix broke " + bad.front().first + (bad.size() > 1 ? " and more" : "") + "; reverted";
    fo.suggestion = suggestion_for(fo.category, "regression", "");
    --ledger_.fixed;
    for (std::size_t idx : dropped) {
      if (idx == *culprit) continue;
      auto& other = ledger_.fixes[kept[idx].index];
      other.outcome = "unfixable";
      other.reason_kind = "regression";
      other.reason = "its fix no longer applies once the fix for " + bad_fix.test_id + " was reverted";
      --ledger_.fixed;
    }
    for (std::size_t idx : dropped)
      for (auto& other : ledger_.fixes)
        if (other.outcome == "cured" && other.resolved_by == kept[idx].test_id) {
          other.outcome = "unfixable";
          other.reason_kind = "regression";
          other.reason = "it passed once the fix for " + other.resolved_by + " was made, and that fix was reverted";
          other.suggestion = suggestion_for(other.category, "regression", "");
          --ledger_.cured;
        }
    std::sort(dropped.rbegin(), dropped.rend());
    for (std::size_t idx : dropped) kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(idx));
  }
  return Status::ok();
}

Result<std::string> commit_judged(Session& s, const std::vector<std::string>& patches, const std::string& message,
                                  std::vector<std::string> files) {
  // The commit is built from what was judged (the base and the kept attempts' patches), never
  // from what the worktree holds now: a process the agent left behind may have written since.
  // The worktree must be what was judged: the state before the first attempt (which may hold
  // files the suites wrote) with the kept patches on it.
  const auto& wt = s.ws.path();
  const auto& base = s.ws.base();
  auto tree = git::tree_from_patches(wt, base, patches);
  if (!tree) return tree.status();
  auto judged = git::tree_from_patches(wt, s.ws.first_tree.empty() ? base : s.ws.first_tree, patches);
  if (!judged) return judged.status();
  auto live = git::snapshot_tree(wt, s.ws.excludes());
  if (!live) return live.status();
  if (*live != *judged) {
    auto changed = git::changed_files(wt, *judged, *live);
    std::string list;
    if (changed)
      for (std::size_t i = 0; i < changed->size() && i < 10; ++i) list += (i ? ", " : "") + (*changed)[i];
    events::PolicyViolation pv;
    pv.rule = "unjudged_change";
    pv.detail = "the worktree changed after its last judged state (a process left behind by an agent?): " + list;
    if (auto st = s.record(pv); !st) return st;
    s.violations.push_back("unjudged_change: " + pv.detail);
    events::HumanAlert alert;
    alert.reason = "other";
    alert.summary = "files in the run's worktree changed after every attempt had been judged; nothing was committed";
    alert.detail = "run " + s.run.id() + ": " + list + "; see `git -C " + wt.string() + " status`";
    if (auto st = s.record(alert); !st) return st;
    s.say("stopped: " + pv.detail);
    s.stop = true;
    s.stop_reason = "the worktree changed after it was judged (unjudged_change); nothing was committed";
    s.commit_note = s.stop_reason;
    return std::string();
  }
  auto args = git::identity_args(wt);
  args.insert(args.end(), {"commit-tree", *tree, "-p", base, "-m", message});
  auto sha = git::run(wt, args);
  if (!sha) return sha.status();
  if (auto r = git::run(wt, {"update-ref", "refs/heads/" + s.ws.branch(), *sha, base}); !r) return r.status();
  if (auto r = git::run(wt, {"reset", "-q"}); !r) return r.status();
  events::Committed c;
  c.branch = s.ws.branch();
  c.commit = *sha;
  c.message = message;
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  c.files = files;
  if (auto st = s.record(c); !st) return st;
  s.say("committed " + sha->substr(0, 12) + " on " + s.ws.branch());
  return *sha;
}

}  // namespace fixhost::host::engine
