#pragma once
// One agent attempt, the unit every workflow is made of: snapshot, AttemptStarted, the agent
// (sandboxed, in its own process group, under its time budget), snapshot again,
// AttemptFinished (diff, files, git changes, escapes) and the verdicts on it: the policy
// plugin's PolicyViolations and the host's own path rules. The caller decides what to do with
// an attempt that passed the rails (re-run a test, keep it, merge it) and reverts the others.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fixhost/events/payloads.hpp"
#include "fixhost/host/engine/session.hpp"
#include "fixhost/host/engine/workspace.hpp"
#include "fixhost/host/world/process.hpp"

namespace fixhost::host::engine {

struct AgentCall {
  std::string test_id;     // what the attempt is for (a test id, a stream, a Sentry group)
  std::string category;
  std::uint32_t attempt = 1;
  std::uint64_t cause = 0;           // the event it answers (AttemptStarted/Finished causation)
  std::filesystem::path dir;         // the attempt's scratch directory (made; prompt.md written)
  std::string prompt;                // FIXHOST_PROMPT_FILE's contents
  std::map<std::string, std::string> env;  // beyond FIXHOST_PROMPT_FILE/SUMMARY_FILE/USAGE_FILE/ATTEMPT/RUN_ID/REPO
  std::chrono::milliseconds timeout{0};    // 0 = the session's attempt_budget, within the run's
  // Host rules on the paths touched (relative to the worktree, fnmatch globs with ** = any depth):
  std::vector<std::string> allowed;  // non-empty: each touched path must match one (rule `allowed_rule`)
  std::string allowed_rule = "outside_owned";
  std::vector<std::string> frozen;   // no touched path may match one (rule `frozen_path`)
  bool tests_only = false;           // each touched path must be a test file (rule `tests_only`)
};

struct AttemptOutcome {
  Snapshot before, after;
  ProcessResult agent;
  bool deadline_bound = false;        // the run's budget, not the attempt's, set the timeout
  std::chrono::milliseconds timeout{0};
  events::AttemptFinished finished;   // as recorded
  std::uint64_t finished_seq = 0;
  std::vector<std::string> files;     // paths touched (git's status letters stripped)
  std::vector<std::string> rejections;  // "rule path: detail", policy's and the host's
  bool wrote_outside = false;         // the user's checkout changed: the run must stop
  // It reported more than max_attempt_cost_usd: rejected (in `rejections`), BudgetExceeded
  // attempt_cost recorded and the session stopped; the caller reverts it.
  bool over_cost = false;
  std::string usage_warning;          // the usage file was malformed (its usage is unknown)
};

Result<AttemptOutcome> run_attempt(Session& s, const AgentCall& call);

// Puts the worktree back to `before` and records Reverted.
Status revert_attempt(Session& s, const Snapshot& before, const std::string& test_id, std::uint32_t attempt,
                      const std::string& reason, const std::vector<std::string>& files);

// Whether `path` (relative, generic) matches `glob` (fnmatch; "**" spans directories, a
// trailing "/**" matches the directory itself too).
bool path_matches(const std::string& glob, const std::string& path);

// The HumanAlert for an agent that changed the user's checkout; stops the session.
Status alert_wrote_outside(Session& s, const std::string& what, std::uint32_t attempt);

}  // namespace fixhost::host::engine
