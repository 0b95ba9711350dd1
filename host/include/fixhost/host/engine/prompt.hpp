#pragma once
// What an agent is told about one failure (FIXHOST_PROMPT_FILE, FIXHOST_FAILURE_FILE,
// FIXHOST_HISTORY_FILE; docs/AGENTS.md), and the manual next step for one left unfixed.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fixhost/host/engine/detect.hpp"

namespace fixhost::host::engine {

// One earlier attempt on the same failure.
struct AttemptRecord {
  std::uint32_t attempt = 0;
  std::string diff;
  std::string outcome;  // test_failed | policy_violation | no_change | gave_up | budget
  std::string reason;
};

struct PromptInput {
  const DetectedFailure* failure = nullptr;
  std::filesystem::path worktree;
  std::string suite_cwd;  // the suite's cwd, relative to the worktree
  std::vector<AttemptRecord> history;
  std::vector<std::string> protected_globs;       // the configured ones
  bool may_edit_tests = false;
  std::uint32_t attempt = 1;
  std::uint32_t max_attempts = 3;
  // Non-empty: the failure is this command failing (FixRequest::command), not a test.
  std::vector<std::string> command;
};

std::string prompt_markdown(const PromptInput& in);
nlohmann::json history_json(const std::vector<AttemptRecord>& history);

// A manual next step for a failure that stays unfixed.
std::string suggestion_for(const std::string& category, const std::string& reason_kind, const std::string& error_type);

}  // namespace fixhost::host::engine
