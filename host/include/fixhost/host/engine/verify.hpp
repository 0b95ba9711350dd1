#pragma once
// VERIFY and COMMIT, shared by the workflows: every suite, lint and typecheck against the
// baseline taken before any change; a problem that was not there is a regression, traced to a
// kept fix newest-first and reverted (RegressionDetected, Reverted). The commit is built from
// the base and the kept patches, never from what the worktree holds (docs/SAFETY.md).
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fixhost/host/engine/detect.hpp"
#include "fixhost/host/engine/fix_loop.hpp"
#include "fixhost/host/engine/session.hpp"

namespace fixhost::host::engine {

struct Checks {
  std::set<std::string> failing;
  std::map<std::string, std::string> suite_of;      // failing test -> its suite
  std::map<std::string, DetectedFailure> failures;  // failing test -> what was derived of it
  std::uint32_t tests = 0;
  std::multiset<std::string> lint, typecheck;
  bool complete = true;  // false when the budget ran out mid-way
};

// What a workflow's run has fixed so far: every failure's outcome and the kept patches.
struct Ledger {
  std::vector<FixOutcome> fixes;
  std::vector<KeptFix> kept;
  std::uint32_t fixed = 0;  // kept and not reverted
  std::uint32_t cured = 0;
  std::uint32_t total = 0;
};

class Verifier {
 public:
  Verifier(Session& s, Ledger& ledger) : s_(s), ledger_(ledger) {}
  // What failed before any change (suites from detect; lint and typecheck run here).
  Status baseline(const std::set<std::string>& failing, std::uint32_t tests);
  const Checks& start() const { return start_; }

  // Tests that could not run at the start (behind a file that failed to import): their
  // failures are new work, not regressions. Default: none.
  std::function<bool(const std::string&)> hidden;
  // Called for each failure of such a test found by verification.
  std::function<void(const DetectedFailure&)> revealed;

  // Runs every check and takes back the kept fixes that broke something, until the checks
  // pass; sets the session's commit_note when nothing may be committed, and its stop flag
  // when interrupted.
  Status verify();

  Result<Checks> run_checks(bool with_suites = true);
  // A lint/typecheck command's findings, line numbers taken out (a finding that moved is the same).
  Result<std::multiset<std::string>> run_tool(const std::string& purpose, const std::vector<std::string>& argv);

 private:
  std::vector<std::pair<std::string, std::string>> broken(const Checks& now);  // (what, check)
  // Which of `bad` still fail, checking only them (one test alone, one tool), not everything.
  Result<std::vector<std::pair<std::string, std::string>>> recheck(
      const std::vector<std::pair<std::string, std::string>>& bad, const Checks& found);
  bool is_hidden(const std::string& id) const { return hidden && hidden(id); }

  Session& s_;
  Ledger& ledger_;
  Checks start_;
};

// The commit on the workspace's branch, from its base and `patches` in order, with
// `message`; Committed recorded with `files`. When the worktree differs from what was judged
// (first_tree + patches), records unjudged_change (PolicyViolation + HumanAlert), commits
// nothing, stops the session and returns "".
Result<std::string> commit_judged(Session& s, const std::vector<std::string>& patches, const std::string& message,
                                  std::vector<std::string> files);

}  // namespace fixhost::host::engine
