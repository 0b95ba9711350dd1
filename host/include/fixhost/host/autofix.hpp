#pragma once
// The autofix workflow: DETECT, DIAGNOSE, FIX, VERIFY, REPORT, COMMIT, in a worktree of its own
// on branch fixhost/autofix-<run>, with the safety rails enforced here in code (docs/SAFETY.md):
// attempts per failure, time budgets that kill process groups, the policy plugin's verdict on
// every attempt, revert on regression, and never a push or a merge.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fixhost/host/config.hpp"
#include "fixhost/host/detect.hpp"
#include "fixhost/result.hpp"

namespace fixhost::host {

struct AutofixOptions {
  std::filesystem::path store_dir;
  std::vector<std::filesystem::path> extra_plugin_dirs;
  std::vector<std::string> argv;
  // Overrides fixhost.toml's `agent`. Default: ""
  std::string agent;
  // Where the markdown report is also written ("" = only in the store).
  std::string report_path;
  std::function<void(const std::string&)> progress;
};

struct FixOutcome {
  std::string test_id;
  std::string file;
  std::int64_t line = 0;
  std::string category;
  std::uint32_t attempts = 0;
  // fixed | unfixable | flaky | not_attempted | cured (passes once another failure was
  // fixed; no agent call) | unverified (fixed, but the run ended before it was committed)
  std::string outcome;
  std::string approach;
  std::string reason;
  std::string last_error;
  std::string suggestion;
  std::vector<std::string> files;
  std::uint32_t round = 1;  // the round it was found in
  std::string resolved_by;  // for cured: the failure whose fix cured it
  std::string reason_kind;  // FailureResolved::reason_kind
};

// A round of fixing: round 1 holds what detect found; a later one the failures that appeared
// once earlier fixes let more tests run.
struct RoundSummary {
  std::uint32_t round = 0;
  std::string found_by;  // detect | recheck | verify
  std::vector<std::string> test_ids;
};

struct AutofixResult {
  std::string run_id;
  std::string branch;
  std::string worktree;
  std::string commit;  // "" when nothing was committed
  std::vector<FixOutcome> fixes;  // in fix order
  std::uint32_t fixed = 0;   // fixed and committed
  std::uint32_t cured = 0;   // passed once another failure was fixed, without an agent call
  std::uint32_t total = 0;   // failures to fix, over every round (flaky ones are not)
  std::uint32_t agent_calls = 0;
  std::vector<RoundSummary> rounds;
  bool budget_exceeded = false;
  std::string error;  // could not run
  std::string report_markdown;
  int exit_code = 0;  // 0 all fixed and committed, 1 some unfixable, 2 could not run, 3 budget
};

Result<AutofixResult> run_autofix(const Config& config, const AutofixOptions& options);

// Where a run's worktree lives: <store>/worktrees/<run id>.
std::filesystem::path worktree_path(const std::filesystem::path& store_dir, const std::string& run_id);
std::string autofix_branch(const std::string& run_id);

}  // namespace fixhost::host
