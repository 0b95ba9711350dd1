#pragma once
// The autofix workflow: DETECT, DIAGNOSE, FIX, VERIFY, REPORT, COMMIT, in a worktree of its own
// on branch fixhost/autofix-<run>, in rounds, over the shared attempt engine (engine/): the
// rails (attempts per failure, time budgets that kill process groups, the policy plugin's
// verdict on every attempt, revert on regression, never a push or a merge) live there.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fixhost/host/config.hpp"
#include "fixhost/host/engine/fix_loop.hpp"
#include "fixhost/host/spend.hpp"
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

using engine::FixOutcome;  // what became of one failure (engine/fix_loop.hpp)

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
  bool cost_exceeded = false;  // the budget was a cost cap (docs/USAGE.md); its reason below
  std::string stop_reason;     // why the run stopped early ("" when it did not)
  SpendTotals spend;           // what the run's attempts reported spending
  std::string error;  // could not run
  std::string report_markdown;
  int exit_code = 0;  // 0 all fixed and committed, 1 some unfixable, 2 could not run, 3 budget
};

Result<AutofixResult> run_autofix(const Config& config, const AutofixOptions& options);

namespace autofix {
struct ReportInput {
  const AutofixResult* result = nullptr;
  std::string repo;
  std::string base_commit;
  std::vector<std::string> violations;   // "test: rule path: detail"
  std::vector<std::string> regressions;  // "broken (check) by test"
  std::string verify_note;               // why nothing was committed, when nothing was
};
// What a human reads at the end (ReportWritten, --report).
std::string report_markdown(const ReportInput& in);
}  // namespace autofix

// Where a run's worktree lives: <store>/worktrees/<run id>.
std::filesystem::path worktree_path(const std::filesystem::path& store_dir, const std::string& run_id);
std::string autofix_branch(const std::string& run_id);

}  // namespace fixhost::host
