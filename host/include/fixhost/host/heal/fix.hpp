#pragma once
// heal's FIX phase for one group (docs/HEAL.md), over the shared engine: in a worktree on
// branch fix/sentry-<id>, REPRODUCE (the agent, FIXHOST_PHASE=reproduce, may only add tests; the
// host requires them to fail on the unchanged code with the error's type three times in a row),
// FIX (engine::fix_failure on the reproducing test, which no attempt may touch), VERIFY (every
// suite, lint, typecheck; a regression reverts), COMMIT from the judged patches, PUSH that one
// branch, and `gh pr create`. A group whose PR is already open (recorded or found by
// `gh pr list --head`) is not fixed again.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/host/config.hpp"
#include "fixhost/host/engine/session.hpp"
#include "fixhost/host/heal/triage_view.hpp"
#include "fixhost/host/run_context.hpp"

namespace fixhost::host::heal {

struct GroupFix {
  // pr_opened | existing_pr | not_reproduced | unfixable | regression | refused | error |
  // budget_exceeded (a cost cap, docs/USAGE.md: the run stops fixing)
  std::string outcome;
  std::string why;
  std::string branch;
  std::string commit;
  std::vector<std::string> tests;  // the reproducing tests' ids
  std::string approach;            // the fix's summary
  std::string pr_url;
  std::uint64_t pr_number = 0;
  std::uint32_t agent_calls = 0;
};

struct FixGroupOptions {
  std::filesystem::path store_dir;
  std::string agent;
  engine::Clock::time_point deadline;
  std::function<void(const std::string&)> progress;
};

// `latest` is the group's newest SentryIssueIngested (its frames and raw payload feed
// FIXHOST_ERROR_FILE). Errors are the host's own (a store that cannot be written, git broken).
Result<GroupFix> fix_group(RunContext& run, const Config& cfg, const TriageGroup& group,
                           const events::SentryIssueIngested& latest, const FixGroupOptions& options);

// The branch for a group: fix/sentry-<issue id>, the id kept to what a ref name allows.
std::string fix_branch(const TriageGroup& group);

}  // namespace fixhost::host::heal
